// Runs the core's tests: `core_tests [filter]`, or `core_tests --child NAME` for one CHILD
// scenario (used by runChild).
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "asyncjob.h"
#include "testing.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace asyncjob {
namespace testing {

namespace {

struct Named {
  const char* name;
  TestFn test;
  ChildFn child;
};

std::vector<Named>& registry() {
  static std::vector<Named> all;
  return all;
}

std::atomic<int> g_failures{0};
std::string g_self;
std::string g_skipped;  // why the running TEST was skipped; empty when it was not

}  // namespace

Registrar::Registrar(const char* name, TestFn fn) { registry().push_back({name, fn, nullptr}); }
Registrar::Registrar(const char* name, ChildFn fn) { registry().push_back({name, nullptr, fn}); }

void recordFailure(const char* file, int line, const char* condition, const char* format, ...) {
  g_failures++;
  std::fprintf(stderr, "    %s:%d: expected %s: ", file, line, condition);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

int failureCount() { return g_failures.load(); }

void skip(const char* format, ...) {
  char reason[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(reason, sizeof reason, format, args);
  va_end(args);
  g_skipped = reason;
}

size_t processVmSize() {
  FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "VmSize: %zu kB", &kib) == 1) break;
  }
  std::fclose(status);
  return kib * 1024;
}

#if defined(__linux__)
bool lowerAddressSpace(size_t room) {
  const size_t limit = processVmSize() + room;
  const rlimit lowered{limit, limit};
  if (setrlimit(RLIMIT_AS, &lowered) != 0) {
    std::perror("setrlimit(RLIMIT_AS)");
    return false;
  }
  const size_t beyond = 2 * room;
  void* probe = mmap(nullptr, beyond, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) return true;
  munmap(probe, beyond);
  std::fprintf(stderr, "    RLIMIT_AS of %zu bytes is not enforced: a %zu-byte mapping past it succeeded\n",
               limit, beyond);
  return false;
}
#endif

bool runChild(const char* name, int* exitCode, int* signal) {
  *exitCode = -1;
  *signal = 0;
  std::fflush(nullptr);
#ifdef _WIN32
  std::string command = "\"" + g_self + "\" --child " + name;
  STARTUPINFOA startup{};
  startup.cb = sizeof startup;
  PROCESS_INFORMATION process{};
  if (!CreateProcessA(nullptr, &command[0], nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                      &startup, &process)) {
    return false;
  }
  WaitForSingleObject(process.hProcess, INFINITE);
  DWORD code = 0;
  GetExitCodeProcess(process.hProcess, &code);
  CloseHandle(process.hProcess);
  CloseHandle(process.hThread);
  *exitCode = static_cast<int>(code);
  return true;
#else
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execl(g_self.c_str(), g_self.c_str(), "--child", name, static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  if (WIFSIGNALED(status)) {
    *signal = WTERMSIG(status);
  } else {
    *exitCode = WEXITSTATUS(status);
  }
  return true;
#endif
}

}  // namespace testing
}  // namespace asyncjob

int main(int argc, char** argv) {
  using namespace asyncjob::testing;
#ifdef _WIN32
  char path[MAX_PATH];
  GetModuleFileNameA(nullptr, path, MAX_PATH);
  g_self = path;
#else
  g_self = argv[0];
#endif
  if (argc == 3 && std::strcmp(argv[1], "--child") == 0) {
    for (const Named& n : registry()) {
      if (n.child != nullptr && std::strcmp(n.name, argv[2]) == 0) return n.child();
    }
    std::fprintf(stderr, "no child scenario named %s\n", argv[2]);
    return 127;
  }
  const char* filter = argc > 1 ? argv[1] : nullptr;
  std::printf("asyncjob core tests, fiber backend: %s\n", asyncjob_fiber_backend());
  int passed = 0;
  int failed = 0;
  int skipped = 0;
  for (const Named& n : registry()) {
    if (n.test == nullptr || (filter != nullptr && std::strstr(n.name, filter) == nullptr)) continue;
    const int before = g_failures.load();
    g_skipped.clear();
    n.test();
    if (g_failures.load() == before && !g_skipped.empty()) {
      skipped++;
      std::printf("  skip %s: %s\n", n.name, g_skipped.c_str());
    } else if (g_failures.load() == before) {
      passed++;
      std::printf("  ok   %s\n", n.name);
    } else {
      failed++;
      std::printf("  FAIL %s\n", n.name);
    }
    std::fflush(stdout);
  }
  std::printf("core: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 && passed > 0 ? 0 : 1;
}
