#include "job_budget.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#if !defined(_WIN32)
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace asyncjob {

namespace {

constexpr uint64_t kNoLimit = UINT64_MAX;

enum Resource { kMaps, kBytes, kThreads, kResources };

uint64_t amount(const JobCost& cost, int resource) {
  return resource == kMaps ? cost.maps : resource == kBytes ? cost.bytes : cost.threads;
}

// glibc gives each new thread that allocates a malloc arena, reserving this much address space
// for good: an ended thread's arena, if there is one, or else a new one while there are fewer
// than MALLOC_ARENA_MAX (by default 8 per CPU). A host thread's V8 allocates, so under an
// address-space limit a new host thread can cost far more than its stack.
constexpr uint64_t kArenaBytes = sizeof(void*) == 8 ? 64u << 20 : 1u << 20;

struct Budget {
  uint64_t limit[kResources] = {kNoLimit, kNoLimit, kNoLimit};
  uint64_t used[kResources] = {};
  uint64_t arenaSlots = 0;  // arenas new threads could still create when the budget was derived
  uint64_t arenasMade = 0;  // ... that the jobs' threads have created since (never freed)
  std::mutex lock;
};

// Whether one more job of this cost makes glibc create an arena: it brings a thread, and every
// arena the jobs' threads made is taken.
bool needsArena(const Budget& b, const JobCost& cost) {
  return cost.threads != 0 && b.used[kThreads] >= b.arenasMade && b.arenasMade < b.arenaSlots;
}

#if !defined(_WIN32)
// Tightens *budget to half of what is left of `limit` with `used` of it taken already.
void allowHalfOf(uint64_t* budget, uint64_t limit, uint64_t used) {
  if (limit == kNoLimit) return;
  *budget = std::min(*budget, limit > used ? (limit - used) / 2 : 0);
}
#endif

#if defined(__linux__)
// The first number in a file such as /proc/sys/vm/max_map_count; kNoLimit when there is none
// (no such file, or "max").
uint64_t readNumber(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return kNoLimit;
  unsigned long long value = 0;
  const bool read = std::fscanf(file, "%llu", &value) == 1;
  std::fclose(file);
  return read ? value : kNoLimit;
}

uint64_t countLines(const char* path) {
  FILE* file = std::fopen(path, "r");
  if (file == nullptr) return 0;
  uint64_t lines = 0;
  char chunk[8192];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) {
    lines += static_cast<uint64_t>(std::count(chunk, chunk + n, '\n'));
  }
  std::fclose(file);
  return lines;
}

// A field of /proc/self/status ("VmSize" in bytes, "Threads" as a count); 0 if unknown.
uint64_t selfStatus(const char* field) {
  FILE* file = std::fopen("/proc/self/status", "r");
  if (file == nullptr) return 0;
  char line[256];
  uint64_t value = 0;
  const size_t length = std::strlen(field);
  while (std::fgets(line, sizeof line, file) != nullptr) {
    if (std::strncmp(line, field, length) == 0 && line[length] == ':') {
      unsigned long long number = 0;
      char unit[8] = "";
      const int got = std::sscanf(line + length + 1, "%llu %7s", &number, unit);
      value = got == 2 && std::strcmp(unit, "kB") == 0 ? number * 1024 : number;
      break;
    }
  }
  std::fclose(file);
  return value;
}

// Threads in the whole system: /proc/loadavg's "running/total".
uint64_t systemThreads() {
  FILE* file = std::fopen("/proc/loadavg", "r");
  if (file == nullptr) return 0;
  unsigned long long total = 0;
  const bool read = std::fscanf(file, "%*s %*s %*s %*u/%llu", &total) == 1;
  std::fclose(file);
  return read ? total : 0;
}

// Every cgroup v2 from this process's own up to the root may cap its tasks (pids.max).
void allowHalfOfCgroupTasks(uint64_t* budget) {
  FILE* file = std::fopen("/proc/self/cgroup", "r");
  if (file == nullptr) return;
  char line[4096];
  std::string path;
  while (std::fgets(line, sizeof line, file) != nullptr) {
    if (std::strncmp(line, "0::", 3) == 0) {
      path = line + 3;
      while (!path.empty() && path.back() == '\n') path.pop_back();
      break;
    }
  }
  std::fclose(file);
  if (path.empty() || path[0] != '/') return;
  for (;;) {
    const std::string dir = "/sys/fs/cgroup" + (path == "/" ? std::string() : path);
    const uint64_t max = readNumber(dir + "/pids.max");
    if (max != kNoLimit) {
      const uint64_t current = readNumber(dir + "/pids.current");
      allowHalfOf(budget, max, current == kNoLimit ? 0 : current);
    }
    if (path == "/") return;
    const size_t slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}
#endif  // __linux__

#if !defined(_WIN32)
uint64_t softLimit(int resource) {
  rlimit limit{};
  if (getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kNoLimit;
  return static_cast<uint64_t>(limit.rlim_cur);
}
#endif

void derive(Budget* b) {
#if defined(__GLIBC__) && defined(__linux__)
  const char* arenaMax = std::getenv("MALLOC_ARENA_MAX");
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const uint64_t arenas = arenaMax != nullptr && std::atoi(arenaMax) > 0
                              ? static_cast<uint64_t>(std::atoi(arenaMax))
                              : 8 * static_cast<uint64_t>(cpus > 0 ? cpus : 1);
  const uint64_t threadsNow = std::max<uint64_t>(selfStatus("Threads"), 1);  // each may have one
  b->arenaSlots = arenas > threadsNow ? arenas - threadsNow : 0;
#endif
#if defined(__linux__)
  allowHalfOf(&b->limit[kMaps], readNumber("/proc/sys/vm/max_map_count"),
              countLines("/proc/self/maps"));
  allowHalfOf(&b->limit[kBytes], softLimit(RLIMIT_AS), selfStatus("VmSize"));
  // Since Linux 4.7 RLIMIT_DATA counts private writable mappings, stacks included.
  allowHalfOf(&b->limit[kBytes], softLimit(RLIMIT_DATA), selfStatus("VmData"));
  const uint64_t tasks = systemThreads();
  allowHalfOf(&b->limit[kThreads], readNumber("/proc/sys/kernel/threads-max"), tasks);
  allowHalfOf(&b->limit[kThreads], readNumber("/proc/sys/kernel/pid_max"), tasks);
  allowHalfOfCgroupTasks(&b->limit[kThreads]);
  // RLIMIT_NPROC counts all of the user's threads; this process's are what can be known here.
  if (getuid() != 0) allowHalfOf(&b->limit[kThreads], softLimit(RLIMIT_NPROC), selfStatus("Threads"));
#elif !defined(_WIN32)
  allowHalfOf(&b->limit[kBytes], softLimit(RLIMIT_AS), 0);
  allowHalfOf(&b->limit[kBytes], softLimit(RLIMIT_DATA), 0);
  if (getuid() != 0) allowHalfOf(&b->limit[kThreads], softLimit(RLIMIT_NPROC), 0);
#else
  (void)b;
#endif
}

// Never freed: threads ending at process exit still refund their jobs.
Budget& budget() {
  static Budget* const instance = [] {
    auto* b = new Budget;
    derive(b);
    return b;
  }();
  return *instance;
}

}  // namespace

bool chargeJob(const JobCost& cost) {
  Budget& b = budget();
  std::lock_guard<std::mutex> guard(b.lock);
  const uint64_t arena = needsArena(b, cost) ? kArenaBytes : 0;
  for (int r = 0; r < kResources; r++) {
    const uint64_t needed = amount(cost, r) + (r == kBytes ? arena : 0);
    if (b.limit[r] != kNoLimit && needed > b.limit[r] - b.used[r]) return false;
  }
  for (int r = 0; r < kResources; r++) b.used[r] += amount(cost, r);
  if (arena != 0) {
    // The arena outlives the thread: the budget shrinks for good.
    b.arenasMade++;
    if (b.limit[kBytes] != kNoLimit) b.limit[kBytes] -= arena;
  }
  return true;
}

void refundJob(const JobCost& cost) {
  Budget& b = budget();
  std::lock_guard<std::mutex> guard(b.lock);
  for (int r = 0; r < kResources; r++) b.used[r] -= amount(cost, r);
}

uint64_t jobCapacity(const JobCost& cost) {
  Budget& b = budget();
  std::lock_guard<std::mutex> guard(b.lock);
  uint64_t capacity = kNoLimit;
  for (int r = 0; r < kResources; r++) {
    if (b.limit[r] == kNoLimit || amount(cost, r) == 0) continue;
    uint64_t room = b.limit[r];
    uint64_t fit = 0;
    if (r == kBytes && cost.threads != 0) {
      // The first threads reuse the arenas made already, the next ones each make one.
      const uint64_t reusing = std::min(b.arenasMade, room / amount(cost, r));
      fit = reusing;
      room -= reusing * amount(cost, r);
      const uint64_t slots = reusing == b.arenasMade ? b.arenaSlots - b.arenasMade : 0;
      const uint64_t making = std::min(slots, room / (amount(cost, r) + kArenaBytes));
      fit += making;
      room = making == slots ? room - making * (amount(cost, r) + kArenaBytes) : 0;
    }
    capacity = std::min(capacity, fit + room / amount(cost, r));
  }
  return capacity;
}

}  // namespace asyncjob
