// The process-wide job budget, under a real RLIMIT_AS lowered in a child process so that the
// limit is small: jobs run out (ASYNCJOB_NO_JOBS) while the process still has room of its own.
#if defined(__linux__)


#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "asyncjob.h"
#include "engine.h"
#include "sanitizers.h"
#include "testing.h"

using asyncjob::JobKind;

namespace {

constexpr size_t kRoom = 256u << 20;  // address space left to the child beyond what it uses

int pauseOnce(void*) {
  asyncjob_pause_job();
  return 1;
}

int resume(asyncjob_job** job) {
  int ret = 0;
  return asyncjob_start_job(job, nullptr, &ret, nullptr, nullptr, 0);
}

// Starts paused jobs of `kind` until one is refused; returns the refusal.
int fill(JobKind kind, std::vector<asyncjob_job*>* held) {
  for (;;) {
    asyncjob_job* job = nullptr;
    int ret = 0;
    const int status = asyncjob::startJob(kind, &job, nullptr, &ret, pauseOnce, nullptr, 0);
    if (status != ASYNCJOB_PAUSE) return status;
    held->push_back(job);
  }
}

bool finishAll(std::vector<asyncjob_job*>* held) {
  bool all = true;
  for (asyncjob_job*& job : *held) all = resume(&job) == ASYNCJOB_FINISH && all;
  held->clear();
  return all;
}

}  // namespace

CHILD(job_budget_under_a_low_address_space_limit) {
  if (!asyncjob::testing::lowerAddressSpace(kRoom)) return asyncjob::testing::kChildSkipped;
  // Half the room left, at a fiber stack and its guard page (or a host thread's stack, guard,
  // dispatcher stack and guard) each.
  const size_t page = 4096;
  const size_t fiberCost = asyncjob_get_stack_size() + page;
  const size_t hostCost = asyncjob::hostThreadStackSize() + page + 256 * 1024 + page;
  const size_t fibers = asyncjob::processJobLimit(JobKind::Fiber);
  const size_t hosts = asyncjob::processJobLimit(JobKind::HostThread);
  EXPECT(fibers <= kRoom / 2 / fiberCost && fibers + 8 >= kRoom / 2 / fiberCost,
         "fiber limit %zu, about %zu", fibers, kRoom / 2 / fiberCost);
  EXPECT(hosts <= kRoom / 2 / hostCost && hosts >= 1, "host limit %zu, about %zu", hosts,
         kRoom / 2 / hostCost);

  std::vector<asyncjob_job*> held;
  EXPECT(fill(JobKind::Fiber, &held) == ASYNCJOB_NO_JOBS, "refused with NO_JOBS");
  EXPECT(held.size() == fibers, "%zu fiber jobs paused, limit %zu", held.size(), fibers);
  // The rest of the process has not been starved: the other half is still there.
  void* block = std::malloc(kRoom / 4);
  EXPECT(block != nullptr && std::memset(block, 1, kRoom / 4) != nullptr, "malloc after the limit");
  std::free(block);
  // The budget is the process's: another thread's pool is full too, until a job ends here.
  int other = -1;
  std::thread([&other] {
    std::vector<asyncjob_job*> mine;
    other = fill(JobKind::Fiber, &mine);
    finishAll(&mine);
  }).join();
  EXPECT(other == ASYNCJOB_NO_JOBS, "another thread: %d", other);
  // A finished job stays in its pool, with its share; freeing the pool gives the share back.
  EXPECT(finishAll(&held), "all finish");
  asyncjob_cleanup_thread();
  size_t otherStarted = 0;
  std::thread([&otherStarted] {
    std::vector<asyncjob_job*> mine;
    fill(JobKind::Fiber, &mine);
    otherStarted = mine.size();
    finishAll(&mine);
    asyncjob_cleanup_thread();
  }).join();
  EXPECT(otherStarted == fibers, "the other thread got it all: %zu", otherStarted);

  // Idle fiber jobs of this pool give their share back to make room for host-thread jobs.
  EXPECT(fill(JobKind::Fiber, &held) == ASYNCJOB_NO_JOBS && finishAll(&held), "idle fibers");
  EXPECT(fill(JobKind::HostThread, &held) == ASYNCJOB_NO_JOBS, "host jobs up to the limit");
  EXPECT(held.size() == hosts, "%zu host jobs paused, limit %zu", held.size(), hosts);
  EXPECT(finishAll(&held), "all finish");

  // initThread with more jobs than the process can hold is refused at once.
  EXPECT(asyncjob::initThread(JobKind::HostThread, 0, hosts + 1) == 0, "init beyond the limit");
  EXPECT(std::strstr(asyncjob::jobCreationFailure(), "limit") != nullptr, "why: '%s'",
         asyncjob::jobCreationFailure());
  EXPECT(asyncjob::initThread(JobKind::HostThread, 0, hosts) == 1, "init within it");
  asyncjob_cleanup_thread();
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

// Not built under ThreadSanitizer: TSan keeps over 1 MiB of its own for every fiber, which no
// budget of asyncjob's can count, so under the lowered RLIMIT_AS TSan's allocator runs out
// before the budget does. The plain and ASan runs check it.
#if !ASYNCJOB_TSAN
TEST(jobs_run_out_at_the_process_budget_before_the_process_does) {
  int exitCode = -1, signal = -1;
  REQUIRE(asyncjob::testing::runChild("job_budget_under_a_low_address_space_limit", &exitCode,
                                      &signal),
          "child ran");
  if (exitCode == asyncjob::testing::kChildSkipped) {
    asyncjob::testing::skip("RLIMIT_AS is not enforced here");
    return;
  }
  EXPECT(exitCode == 0 && signal == 0, "exit %d, signal %d", exitCode, signal);
}
#endif

TEST(the_default_budget_is_finite_and_holds_no_more_host_threads_than_fibers) {
  const size_t fibers = asyncjob::processJobLimit(JobKind::Fiber);
  const size_t hosts = asyncjob::processJobLimit(JobKind::HostThread);
  // vm.max_map_count binds on every Linux: about half of it, at 2 maps a job of either kind;
  // host threads also take threads and 8 MiB of address space each, which may bind first.
  EXPECT(fibers != SIZE_MAX && hosts != SIZE_MAX, "fibers %zu hosts %zu", fibers, hosts);
  EXPECT(hosts <= fibers && hosts >= 16, "fibers %zu hosts %zu", fibers, hosts);
}

#endif  // __linux__
