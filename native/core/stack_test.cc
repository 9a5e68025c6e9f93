// Stacks: size setting, custom allocators, and the guard page below every default stack.
#include <climits>
#include <csignal>
#include <cstdint>

#include "asyncjob.h"
#include "stack.h"
#include "testing.h"

#ifndef _WIN32
#include <unistd.h>
#endif

namespace {

volatile int g_never = INT_MAX;

// Recurses until depth, using ~1 KiB of stack per frame (never tail-called).
int recurse(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth == 0 || depth == g_never) return frame[0];
  return recurse(depth - 1) + frame[0];
}

int recurseArg(void* arg) { return recurse(*static_cast<int*>(arg)) == INT_MIN ? 1 : 0; }

int runJob(int (*fn)(void*), int arg) {
  asyncjob_job* job = nullptr;
  int ret = -1;
  const int status = asyncjob_start_job(&job, nullptr, &ret, fn, &arg, sizeof arg);
  return status == ASYNCJOB_FINISH ? ret : -1000 - status;
}

}  // namespace

TEST(stack_size_is_configurable) {
  const size_t original = asyncjob_get_stack_size();
  EXPECT(original == ASYNCJOB_DEFAULT_STACK_SIZE, "default %zu", original);
  EXPECT(asyncjob_set_stack_size(ASYNCJOB_MIN_STACK_SIZE - 1) == 0, "below the minimum");
  EXPECT(asyncjob_set_stack_size(SIZE_MAX) == 0, "a size that wraps when rounded");
  EXPECT(asyncjob_get_stack_size() == original, "unchanged by refusals");
  EXPECT(asyncjob_set_stack_size(100000) == 1, "an odd size");
  EXPECT(asyncjob_get_stack_size() % asyncjob::pageSize() == 0 &&
             asyncjob_get_stack_size() >= 100000,
         "rounded up to whole pages: %zu", asyncjob_get_stack_size());

  // 4 MiB of recursion needs a bigger stack than the default: give new jobs 8 MiB.
  asyncjob_cleanup_thread();
  REQUIRE(asyncjob_set_stack_size(8u << 20) == 1, "8 MiB");
  EXPECT(runJob(recurseArg, 4096) == 0, "4096 frames of 1 KiB run on an 8 MiB stack");
  asyncjob_cleanup_thread();
  asyncjob_set_stack_size(original);
}

#ifndef _WIN32

namespace {

struct Counting {
  asyncjob_stack_alloc_fn alloc;
  asyncjob_stack_free_fn free;
  int allocs;
  int frees;
  void* lastBase;
  size_t lastSize;
};
Counting g_counting;

void* countingAlloc(size_t* num) {
  g_counting.allocs++;
  void* base = g_counting.alloc(num);
  g_counting.lastBase = base;
  g_counting.lastSize = *num;
  return base;
}

void countingFree(void* addr) {
  g_counting.frees++;
  g_counting.free(addr);
}

void installCountingAllocator() {
  asyncjob_get_mem_functions(&g_counting.alloc, &g_counting.free);
  asyncjob_set_mem_functions(countingAlloc, countingFree);
}

}  // namespace

CHILD(custom_allocator) {
  asyncjob_stack_alloc_fn alloc = nullptr;
  asyncjob_stack_free_fn release = nullptr;
  asyncjob_get_mem_functions(&alloc, &release);
  EXPECT(alloc != nullptr && release != nullptr, "defaults are exposed");
  installCountingAllocator();
  asyncjob_get_mem_functions(&alloc, &release);
  EXPECT(alloc == countingAlloc && release == countingFree, "installed");
  EXPECT(asyncjob_set_mem_functions(nullptr, nullptr) == 1, "NULLs change nothing");
  asyncjob_get_mem_functions(&alloc, &release);
  EXPECT(alloc == countingAlloc && release == countingFree, "still installed");

  EXPECT(asyncjob_init_thread(0, 3) == 1, "init with 3 jobs");
  EXPECT(g_counting.allocs == 3, "3 stacks allocated, saw %d", g_counting.allocs);
  EXPECT(g_counting.lastSize >= asyncjob_get_stack_size(), "size %zu", g_counting.lastSize);
  EXPECT(runJob(recurseArg, 8) == 0, "a job runs on a custom stack");
  EXPECT(g_counting.allocs == 3, "pooled jobs reuse their stacks, saw %d", g_counting.allocs);
  EXPECT(asyncjob_set_mem_functions(countingAlloc, countingFree) == 0,
         "refused once a stack exists");
  asyncjob_cleanup_thread();
  EXPECT(g_counting.frees == 3, "every stack went back to the allocator, saw %d",
         g_counting.frees);
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

TEST(custom_stack_allocator) {
  int code = -1;
  int sig = 0;
  REQUIRE(asyncjob::testing::runChild("custom_allocator", &code, &sig), "child ran");
  EXPECT(sig == 0 && code == 0, "child exit %d signal %d", code, sig);
  // In this process stacks already exist: the allocator is locked.
  EXPECT(asyncjob_set_mem_functions(countingAlloc, countingFree) == 0, "locked");
}

CHILD(overflow_dies) {
  // What a program gets by default; a sanitizer's own handler would report and exit instead.
  std::signal(SIGSEGV, SIG_DFL);
  std::signal(SIGBUS, SIG_DFL);
  runJob(recurseArg, INT_MAX - 1);
  return 0;  // not reached: the guard page stops the recursion
}

TEST(stack_overflow_dies_by_signal) {
  int code = -1;
  int sig = 0;
  REQUIRE(asyncjob::testing::runChild("overflow_dies", &code, &sig), "child ran");
  EXPECT(sig == SIGSEGV || sig == SIGBUS, "died by signal %d (exit code %d)", sig, code);
}

namespace {

constexpr int kGuardHit = 42;
constexpr int kFaultElsewhere = 43;

void onFault(int, siginfo_t* info, void*) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  const auto base = reinterpret_cast<uintptr_t>(g_counting.lastBase);
  const bool inGuard = address < base && address >= base - asyncjob::pageSize();
  _exit(inGuard ? kGuardHit : kFaultElsewhere);
}

}  // namespace

CHILD(overflow_hits_guard_page) {
  installCountingAllocator();
  static char altStack[64 * 1024];
  stack_t alt{};
  alt.ss_sp = altStack;
  alt.ss_size = sizeof altStack;
  sigaltstack(&alt, nullptr);
  struct sigaction action {};
  action.sa_sigaction = onFault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &action, nullptr);
  sigaction(SIGBUS, &action, nullptr);
  runJob(recurseArg, INT_MAX - 1);
  return 0;
}

TEST(stack_overflow_faults_in_the_guard_page) {
  int code = -1;
  int sig = 0;
  REQUIRE(asyncjob::testing::runChild("overflow_hits_guard_page", &code, &sig), "child ran");
  EXPECT(code == kGuardHit, "the fault was %s (exit %d, signal %d)",
         code == kFaultElsewhere ? "outside the guard page" : "not seen", code, sig);
}

#else  // _WIN32

TEST(custom_stack_allocator_is_refused_on_windows) {
  EXPECT(asyncjob_set_mem_functions(nullptr, nullptr) == 0, "fibers allocate their own stacks");
}

constexpr int kSurvived = 77;

CHILD(overflow_dies) {
  runJob(recurseArg, INT_MAX - 1);
  return kSurvived;
}

// Windows ends the process with EXCEPTION_STACK_OVERFLOW (0xC00000FD); Wine ends it too but
// reports another exit code (0 or 1), so all this can check everywhere is that it did not go on.
TEST(stack_overflow_ends_the_process) {
  int code = -1;
  int sig = 0;
  REQUIRE(asyncjob::testing::runChild("overflow_dies", &code, &sig), "child ran");
  EXPECT(code != kSurvived, "the child overflowed its stack and carried on");
}

#endif
