// Host-thread jobs, mixed with fiber jobs, through the embedder API (engine.h).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "asyncjob.h"
#include "engine.h"
#include "test_hooks.h"
#include "testing.h"

#if !defined(_WIN32)
#endif

using asyncjob::JobKind;

namespace {

int startHost(asyncjob_job** job, int* ret, int (*fn)(void*), void* args = nullptr,
              size_t size = 0) {
  return asyncjob::startJob(JobKind::HostThread, job, nullptr, ret, fn, args, size);
}

int resume(asyncjob_job** job, int* ret) {
  return asyncjob_start_job(job, nullptr, ret, nullptr, nullptr, 0);
}

std::thread::id g_ids[4];

int recordThreadAcrossPauses(void*) {
  g_ids[0] = std::this_thread::get_id();
  asyncjob_pause_job();
  g_ids[1] = std::this_thread::get_id();
  asyncjob_pause_job();
  g_ids[2] = std::this_thread::get_id();
  return 42;
}

}  // namespace

TEST(host_thread_job_pauses_and_finishes_on_its_own_thread) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(startHost(&job, &ret, recordThreadAcrossPauses) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(job != nullptr && asyncjob::jobKind(job) == JobKind::HostThread, "a host-thread job");
  EXPECT(asyncjob_get_current_job() == nullptr, "the caller runs no job while it is paused");
  EXPECT(resume(&job, &ret) == ASYNCJOB_PAUSE, "pauses again");
  EXPECT(resume(&job, &ret) == ASYNCJOB_FINISH && ret == 42 && job == nullptr, "finishes, ret %d",
         ret);
  EXPECT(g_ids[0] != std::this_thread::get_id(), "ran on another OS thread");
  EXPECT(g_ids[0] == g_ids[1] && g_ids[1] == g_ids[2], "the same host thread across pauses");
  EXPECT(asyncjob_jobs_in_use() == 0, "released, in use %zu", asyncjob_jobs_in_use());
}

TEST(host_thread_jobs_share_the_callers_pool_current_job_and_wait_ctx) {
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  static asyncjob_job* seenJob;
  static asyncjob_wait_ctx* seenCtx;
  static size_t seenInUse;
  auto fn = [](void*) -> int {
    seenJob = asyncjob_get_current_job();
    seenCtx = asyncjob_get_wait_ctx(seenJob);
    seenInUse = asyncjob_jobs_in_use();
    asyncjob_wait_ctx_set_wait_fd(seenCtx, &seenJob, 5, nullptr, nullptr);
    asyncjob_pause_job();
    return 0;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob::startJob(JobKind::HostThread, &job, ctx, &ret, fn, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "pauses");
  EXPECT(seenJob == job, "the current job seen inside is the handle the caller got");
  EXPECT(seenCtx == ctx, "the job's wait ctx");
  EXPECT(seenInUse == 1, "the caller's pool, in use %zu", seenInUse);
  size_t added = 0;
  size_t deleted = 0;
  asyncjob_wait_ctx_get_changed_fds(ctx, nullptr, &added, nullptr, &deleted);
  EXPECT(added == 1, "the fd set on the host thread is seen by the caller: %zu", added);
  EXPECT(resume(&job, &ret) == ASYNCJOB_FINISH, "finishes");
  asyncjob_wait_ctx_free(ctx);
}

namespace {

struct Mixed {
  asyncjob_job* fiber = nullptr;
  int fiberStatus = -1;
  std::thread::id hostThread;
  std::thread::id fiberRanOn[2];
};
Mixed g_mixed;

int fiberInsideHost(void*) {
  g_mixed.fiberRanOn[0] = std::this_thread::get_id();
  asyncjob_pause_job();  // back to the host-thread job that started it
  g_mixed.fiberRanOn[1] = std::this_thread::get_id();
  return 7;
}

int hostStartingFiber(void*) {
  g_mixed.hostThread = std::this_thread::get_id();
  int r = 0;
  g_mixed.fiberStatus = asyncjob_start_job(&g_mixed.fiber, nullptr, &r, fiberInsideHost, nullptr, 0);
  asyncjob_pause_job();  // back to the thread
  return 9;
}

}  // namespace

TEST(fiber_job_nested_in_a_host_job_is_resumed_on_its_host_thread) {
  g_mixed = Mixed{};
  asyncjob_job* host = nullptr;
  int ret = 0;
  REQUIRE(startHost(&host, &ret, hostStartingFiber) == ASYNCJOB_PAUSE, "host job pauses");
  EXPECT(g_mixed.fiberStatus == ASYNCJOB_PAUSE, "the fiber job paused to the host job");
  EXPECT(g_mixed.fiberRanOn[0] == g_mixed.hostThread, "the fiber started on the host thread");
  // Resume the fiber job straight from this thread: it goes on where its stack lives.
  asyncjob_job* fiber = g_mixed.fiber;
  EXPECT(resume(&fiber, &ret) == ASYNCJOB_FINISH && ret == 7, "fiber finishes, ret %d", ret);
  EXPECT(g_mixed.fiberRanOn[1] == g_mixed.hostThread, "and ran on the host thread again");
  EXPECT(resume(&host, &ret) == ASYNCJOB_FINISH && ret == 9, "host job finishes, ret %d", ret);
  // The fiber's stack is free again: a new fiber job on this thread reuses it.
  int value = 3;
  asyncjob_job* again = nullptr;
  auto plain = [](void* a) -> int { return *static_cast<int*>(a); };
  EXPECT(asyncjob_start_job(&again, nullptr, &ret, plain, &value, sizeof value) ==
                 ASYNCJOB_FINISH &&
             ret == 3,
         "a reused fiber runs here, ret %d", ret);
}

namespace {

int innerHost(void*) {
  asyncjob_pause_job();
  return 2;
}

int outerHost(void*) {
  asyncjob_job* inner = nullptr;
  int r = 0;
  int total = 0;
  if (startHost(&inner, &r, innerHost) != ASYNCJOB_PAUSE) return -1;
  asyncjob_pause_job();  // to the thread, with the inner job paused
  if (resume(&inner, &r) != ASYNCJOB_FINISH) return -2;
  total += r;
  return total + 10;
}

}  // namespace

TEST(host_jobs_nest) {
  asyncjob_job* outer = nullptr;
  int ret = 0;
  REQUIRE(startHost(&outer, &ret, outerHost) == ASYNCJOB_PAUSE, "outer pauses");
  EXPECT(asyncjob_jobs_in_use() == 2, "outer and inner in use: %zu", asyncjob_jobs_in_use());
  EXPECT(resume(&outer, &ret) == ASYNCJOB_FINISH && ret == 12, "outer resumes inner, ret %d", ret);
}

TEST(pool_bounds_both_kinds_and_an_idle_one_makes_room) {
  REQUIRE(asyncjob::initThread(JobKind::HostThread, 2, 2) == 1, "2 host threads up front");
  EXPECT(asyncjob_jobs_in_use() == 0, "none in use");
  asyncjob_job* a = nullptr;
  asyncjob_job* b = nullptr;
  asyncjob_job* c = nullptr;
  int ret = 0;
  auto pauseOnce = [](void*) -> int {
    asyncjob_pause_job();
    return 1;
  };
  EXPECT(startHost(&a, &ret, pauseOnce) == ASYNCJOB_PAUSE, "a");
  EXPECT(asyncjob_start_job(&b, nullptr, &ret, pauseOnce, nullptr, 0) == ASYNCJOB_PAUSE,
         "a fiber job replaces the idle host thread");
  EXPECT(asyncjob_start_job(&c, nullptr, &ret, pauseOnce, nullptr, 0) == ASYNCJOB_NO_JOBS,
         "max_size counts both kinds");
  EXPECT(startHost(&c, &ret, pauseOnce) == ASYNCJOB_NO_JOBS, "for host threads too");
  EXPECT(resume(&a, &ret) == ASYNCJOB_FINISH && resume(&b, &ret) == ASYNCJOB_FINISH, "finish");
  asyncjob_cleanup_thread();  // joins the idle host thread
  EXPECT(asyncjob_jobs_in_use() == 0, "all freed");
}

TEST(cancel_makes_every_pause_return_zero_until_the_job_ends) {
  static int pausesSeen;
  auto stubborn = [](void*) -> int {
    pausesSeen = 0;
    while (asyncjob_pause_job() == 1) pausesSeen++;
    EXPECT(asyncjob::currentJobCancelled(), "the job can tell it is being cancelled");
    EXPECT(asyncjob_pause_job() == 0, "later pauses return 0 at once too");
    return 5;
  };
  for (JobKind kind : {JobKind::HostThread, JobKind::Fiber}) {
    asyncjob_job* job = nullptr;
    int ret = 0;
    REQUIRE(asyncjob::startJob(kind, &job, nullptr, &ret, stubborn, nullptr, 0) == ASYNCJOB_PAUSE,
            "pauses");
    EXPECT(resume(&job, &ret) == ASYNCJOB_PAUSE, "an ordinary resume pauses again");
    EXPECT(asyncjob::cancelJob(&job, &ret) == ASYNCJOB_FINISH && ret == 5 && job == nullptr,
           "cancelled to the end, ret %d", ret);
    EXPECT(pausesSeen == 1, "one pause returned 1 before the cancel: %d", pausesSeen);
  }
  asyncjob_job* none = nullptr;
  int ret = 0;
  EXPECT(asyncjob::cancelJob(&none, &ret) == ASYNCJOB_ERR, "nothing to cancel");
}

namespace {

struct CountingHandOff final : asyncjob::HandOff {
  int released = 0;
  int reacquired = 0;
  void release() override { released++; }
  void reacquire() override { reacquired++; }
};

}  // namespace

TEST(hand_off_is_released_and_reacquired_around_every_cross_thread_wait) {
  CountingHandOff handOff;
  REQUIRE(asyncjob::setThreadHandOff(&handOff), "installed");
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(startHost(&job, &ret, recordThreadAcrossPauses) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(resume(&job, &ret) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(resume(&job, &ret) == ASYNCJOB_FINISH, "finishes");
  EXPECT(handOff.released == 3 && handOff.reacquired == 3, "released %d reacquired %d",
         handOff.released, handOff.reacquired);
  // Fiber jobs never leave this OS thread: no hand-off.
  auto pauseOnce = [](void*) -> int {
    asyncjob_pause_job();
    return 1;
  };
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, pauseOnce, nullptr, 0) == ASYNCJOB_PAUSE &&
             resume(&job, &ret) == ASYNCJOB_FINISH,
         "fiber job");
  EXPECT(handOff.released == 3, "no hand-off for fibers: %d", handOff.released);
  asyncjob::setThreadHandOff(nullptr);
}

TEST(host_thread_knows_its_stack) {
  static bool known;
  static uintptr_t low, high, local;
  auto fn = [](void*) -> int {
    volatile char here = 0;
    local = reinterpret_cast<uintptr_t>(&here);
    known = asyncjob::currentHostThreadStack(&low, &high);
    return 0;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(startHost(&job, &ret, fn) == ASYNCJOB_FINISH, "runs");
  EXPECT(known && low < local && local < high, "a local lies within [%p, %p)",
         reinterpret_cast<void*>(low), reinterpret_cast<void*>(high));
  EXPECT(high - low >= asyncjob::hostThreadStackSize(), "the stack is %zu bytes",
         static_cast<size_t>(high - low));
  uintptr_t l = 0, h = 0;
  EXPECT(!asyncjob::currentHostThreadStack(&l, &h), "this thread is no host thread");
}

TEST(many_hand_offs_keep_strict_order) {
  constexpr int kRounds = 20000;
  static std::vector<int> log;
  log.clear();
  log.reserve(2 * kRounds + 2);
  auto fn = [](void*) -> int {
    for (int i = 0; i < kRounds; i++) {
      log.push_back(2 * i);  // unsynchronised on purpose: strict hand-off orders every access
      asyncjob_pause_job();
    }
    return 0;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  int status = startHost(&job, &ret, fn);
  int i = 0;
  while (status == ASYNCJOB_PAUSE) {
    log.push_back(2 * i++ + 1);
    status = resume(&job, &ret);
  }
  EXPECT(status == ASYNCJOB_FINISH, "status %d", status);
  bool ordered = log.size() == 2 * static_cast<size_t>(kRounds);
  for (size_t k = 0; ordered && k < log.size(); k++) ordered = log[k] == static_cast<int>(k);
  EXPECT(ordered, "%zu entries, strictly alternating", log.size());
}

TEST(a_thread_ending_with_host_jobs_paused_or_idle_does_not_hang) {
  std::thread other([] {
    asyncjob::initThread(JobKind::HostThread, 0, 2);  // two idle host threads: joined at exit
    asyncjob_job* job = nullptr;
    int ret = 0;
    startHost(&job, &ret, recordThreadAcrossPauses);  // paused: left to the OS
  });
  other.join();
  EXPECT(asyncjob_jobs_in_use() == 0, "this thread's pool is untouched: %zu",
         asyncjob_jobs_in_use());
}

TEST(discard_frees_a_paused_fiber_job_without_running_it) {
  static bool ranOn;
  ranOn = false;
  auto fn = [](void*) -> int {
    asyncjob_pause_job();
    ranOn = true;
    return 1;
  };
  REQUIRE(asyncjob_init_thread(1, 0) == 1, "a pool of one");
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, fn, nullptr, 0) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(asyncjob::currentJobPausesBlocked() == false, "no job runs here");
  EXPECT(asyncjob::discardJob(job), "discarded");
  EXPECT(!ranOn, "nothing more ran on its stack");
  EXPECT(asyncjob_jobs_in_use() == 0, "its slot is free: in use %zu", asyncjob_jobs_in_use());
  asyncjob_job* again = nullptr;
  EXPECT(asyncjob_start_job(&again, nullptr, &ret, fn, nullptr, 0) == ASYNCJOB_PAUSE,
         "the pool of one has room again");
  EXPECT(resume(&again, &ret) == ASYNCJOB_FINISH && ranOn, "and runs jobs");
  EXPECT(!asyncjob::discardJob(nullptr), "nothing to discard");
  asyncjob_job* host = nullptr;
  REQUIRE(startHost(&host, &ret, fn) == ASYNCJOB_PAUSE, "a host-thread job");
  EXPECT(!asyncjob::discardJob(host), "host-thread jobs are not discarded (cancel them)");
  EXPECT(asyncjob::cancelJob(&host, &ret) == ASYNCJOB_FINISH, "cancelled instead");
  asyncjob_cleanup_thread();
}

TEST(pauses_blocked_is_seen_inside_the_job) {
  static bool before, during, after;
  auto fn = [](void*) -> int {
    before = asyncjob::currentJobPausesBlocked();
    asyncjob_block_pause();
    during = asyncjob::currentJobPausesBlocked();
    asyncjob_unblock_pause();
    after = asyncjob::currentJobPausesBlocked();
    return 0;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, fn, nullptr, 0) == ASYNCJOB_FINISH, "runs");
  EXPECT(!before && during && !after, "before %d during %d after %d", before, during, after);
}

// A fiber job's stack must not be reused or freed until every OS thread has left it. A fiber job
// resumed from a host-thread job runs on its own OS thread and hands control back across
// threads when it finishes or pauses; the receiving side may at once start a new job on the
// same pooled fiber, or free it. The hook holds the sending thread right after its post until
// the receiver has done that: were the post made while still on the job's stack, the two
// threads would share the stack (the reuse case) or the sender would return into unmapped
// memory (the free case). Each case runs in a child process, so that a crash is a failure.
namespace {

// Set by the job just before it hands control across; the next post is the one to hold.
std::atomic<bool> g_holdNextPost{false};
// Set by the host-thread job once it has reused or freed the stack.
std::atomic<bool> g_stackTaken{false};

void holdUntilStackTaken() {
  if (!g_holdNextPost.exchange(false)) return;
  for (int waited = 0; waited < 2000 && !g_stackTaken.load(); waited++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct Reuse {
  asyncjob_job* fiber = nullptr;
  asyncjob_job* first = nullptr;  // the job each function saw itself run as
  asyncjob_job* second = nullptr;
  int firstStatus = -1;
  int firstRet = 0;
  int secondStatus = -1;
  int secondRet = 0;
  std::thread::id hostThread;
  std::thread::id secondRanOn;
};
Reuse g_reuse;

int firstFiberJob(void*) {
  g_reuse.first = asyncjob_get_current_job();
  asyncjob_pause_job();  // to this thread; next resumed by the host-thread job
  g_holdNextPost = true;
  return 1;  // finishes to the host-thread job, across threads
}

int secondFiberJob(void*) {
  g_reuse.second = asyncjob_get_current_job();
  g_reuse.secondRanOn = std::this_thread::get_id();
  return 2;
}

int hostResumesThenStartsAnother(void*) {
  g_reuse.hostThread = std::this_thread::get_id();
  g_reuse.firstStatus = resume(&g_reuse.fiber, &g_reuse.firstRet);
  asyncjob_job* second = nullptr;
  g_reuse.secondStatus = asyncjob_start_job(&second, nullptr, &g_reuse.secondRet, secondFiberJob,
                                            nullptr, 0);
  g_stackTaken = true;
  return 0;
}

}  // namespace

CHILD(finished_fiber_reused_across_threads) {
  asyncjob::testing::afterCrossThreadPost.store(holdUntilStackTaken);
  int ret = 0;
  if (asyncjob_start_job(&g_reuse.fiber, nullptr, &ret, firstFiberJob, nullptr, 0) !=
      ASYNCJOB_PAUSE) {
    return 2;
  }
  asyncjob_job* host = nullptr;
  EXPECT(startHost(&host, &ret, hostResumesThenStartsAnother) == ASYNCJOB_FINISH, "host job ends");
  EXPECT(g_reuse.firstStatus == ASYNCJOB_FINISH && g_reuse.firstRet == 1,
         "the first job finished to the host-thread job: status %d ret %d", g_reuse.firstStatus,
         g_reuse.firstRet);
  EXPECT(g_reuse.second == g_reuse.first, "the second job got the first one's fiber from the pool");
  EXPECT(g_reuse.secondStatus == ASYNCJOB_FINISH && g_reuse.secondRet == 2,
         "the second job ran its own function: status %d ret %d", g_reuse.secondStatus,
         g_reuse.secondRet);
  EXPECT(g_reuse.secondRanOn == g_reuse.hostThread, "on the host thread");
  asyncjob::testing::afterCrossThreadPost.store(nullptr);
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

TEST(a_finished_fiber_is_reused_by_another_thread_only_after_its_thread_left_it) {
  int code = -1;
  int sig = 0;
  REQUIRE(asyncjob::testing::runChild("finished_fiber_reused_across_threads", &code, &sig),
          "child ran");
  EXPECT(sig == 0 && code == 0, "child exit %d signal %d", code, sig);
}

namespace {

struct Discard {
  asyncjob_job* fiber = nullptr;
  int status = -1;
  bool discarded = false;
  bool ranAfterDiscard = false;
};
Discard g_discard;

int pausesTwice(void*) {
  asyncjob_pause_job();  // to this thread; next resumed by the host-thread job
  g_holdNextPost = true;
  asyncjob_pause_job();  // to the host-thread job, across threads: discarded there
  g_discard.ranAfterDiscard = true;
  return 1;
}

int hostResumesThenDiscards(void*) {
  int ret = 0;
  g_discard.status = resume(&g_discard.fiber, &ret);
  g_discard.discarded = asyncjob::discardJob(g_discard.fiber);
  g_stackTaken = true;
  return 0;
}

}  // namespace

CHILD(paused_fiber_discarded_across_threads) {
  asyncjob::testing::afterCrossThreadPost.store(holdUntilStackTaken);
  int ret = 0;
  if (asyncjob_start_job(&g_discard.fiber, nullptr, &ret, pausesTwice, nullptr, 0) !=
      ASYNCJOB_PAUSE) {
    return 2;
  }
  asyncjob_job* host = nullptr;
  EXPECT(startHost(&host, &ret, hostResumesThenDiscards) == ASYNCJOB_FINISH, "host job ends");
  EXPECT(g_discard.status == ASYNCJOB_PAUSE, "the job paused to the host-thread job: %d",
         g_discard.status);
  EXPECT(g_discard.discarded && !g_discard.ranAfterDiscard, "and was discarded there");
  EXPECT(asyncjob_jobs_in_use() == 0, "nothing left in use: %zu", asyncjob_jobs_in_use());
  asyncjob::testing::afterCrossThreadPost.store(nullptr);
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

TEST(a_paused_fiber_is_freed_by_another_thread_only_after_its_thread_left_it) {
  int code = -1;
  int sig = 0;
  REQUIRE(asyncjob::testing::runChild("paused_fiber_discarded_across_threads", &code, &sig),
          "child ran");
  EXPECT(sig == 0 && code == 0, "child exit %d signal %d", code, sig);
}

namespace {

struct HomedFiber {
  asyncjob_job* job = nullptr;
  int status = -1;
};
HomedFiber g_homed;

int pauseOnceReturn1(void*) {
  asyncjob_pause_job();
  return 1;
}

// Starts a fiber job on this host thread and finishes, leaving it paused: this host thread,
// idle from then on, is its home.
int hostLeavingAFiberPaused(void*) {
  int r = 0;
  g_homed.status = asyncjob_start_job(&g_homed.job, nullptr, &r, pauseOnceReturn1, nullptr, 0);
  return 0;
}

}  // namespace

TEST(max_size_counts_jobs_in_use_not_an_idle_host_thread_kept_as_a_fibers_home) {
  g_homed = HomedFiber{};
  REQUIRE(asyncjob::initThread(JobKind::HostThread, 2, 0) == 1, "a pool of 2");
  asyncjob_job* host = nullptr;
  int ret = 0;
  REQUIRE(startHost(&host, &ret, hostLeavingAFiberPaused) == ASYNCJOB_FINISH, "host job ends");
  REQUIRE(g_homed.status == ASYNCJOB_PAUSE, "leaving its fiber job paused");
  EXPECT(asyncjob_jobs_in_use() == 1, "1 in use: %zu", asyncjob_jobs_in_use());
  asyncjob_job* second = nullptr;
  asyncjob_job* third = nullptr;
  EXPECT(asyncjob_start_job(&second, nullptr, &ret, pauseOnceReturn1, nullptr, 0) ==
             ASYNCJOB_PAUSE,
         "a second job fits: the idle host thread is no job in use");
  EXPECT(asyncjob_jobs_in_use() == 2, "2 in use: %zu", asyncjob_jobs_in_use());
  EXPECT(asyncjob_start_job(&third, nullptr, &ret, pauseOnceReturn1, nullptr, 0) ==
             ASYNCJOB_NO_JOBS,
         "a third fiber job does not");
  EXPECT(startHost(&third, &ret, pauseOnceReturn1) == ASYNCJOB_NO_JOBS, "nor a host job");
  EXPECT(resume(&g_homed.job, &ret) == ASYNCJOB_FINISH && ret == 1, "the homed fiber finishes");
  EXPECT(resume(&second, &ret) == ASYNCJOB_FINISH, "the second finishes");
  EXPECT(asyncjob_jobs_in_use() == 0, "none in use: %zu", asyncjob_jobs_in_use());
  // Every slot is usable again, by either kind, and discarding gives one back too.
  asyncjob_job* a = nullptr;
  asyncjob_job* b = nullptr;
  EXPECT(startHost(&a, &ret, pauseOnceReturn1) == ASYNCJOB_PAUSE, "a host job");
  EXPECT(asyncjob_start_job(&b, nullptr, &ret, pauseOnceReturn1, nullptr, 0) == ASYNCJOB_PAUSE,
         "and a fiber job");
  EXPECT(asyncjob::discardJob(b) && asyncjob_jobs_in_use() == 1, "discarded: %zu in use",
         asyncjob_jobs_in_use());
  b = nullptr;
  EXPECT(asyncjob_start_job(&b, nullptr, &ret, pauseOnceReturn1, nullptr, 0) == ASYNCJOB_PAUSE,
         "its slot is free");
  EXPECT(resume(&a, &ret) == ASYNCJOB_FINISH && resume(&b, &ret) == ASYNCJOB_FINISH, "finish");
  asyncjob_cleanup_thread();
}

#if !defined(_WIN32)
namespace {

asyncjob_stack_alloc_fn g_systemAlloc;

// Stacks for everything but host threads, which get none.
void* noStacksOnHostThreads(size_t* num) {
  uintptr_t low = 0, high = 0;
  if (asyncjob::currentHostThreadStack(&low, &high)) return nullptr;
  return g_systemAlloc(num);
}

// Stacks of every size but the dispatchers' (256 KiB: the test's fibers get 128 KiB).
void* noDispatcherStacks(size_t* num) {
  if (*num == 256 * 1024) return nullptr;
  return g_systemAlloc(num);
}

asyncjob_job* g_pausedFiber;
int g_fiberResumeStatus;
bool g_dispatcherNamed;

int resumesAFiberOfAnotherThread(void*) {
  int ret = 0;
  g_fiberResumeStatus = resume(&g_pausedFiber, &ret);
  // (the reason is the calling OS thread's)
  g_dispatcherNamed = std::strstr(asyncjob::jobCreationFailure(), "dispatcher") != nullptr;
  return 7;
}

}  // namespace

// A host thread that runs JavaScript-style jobs (no fiber job of its own) needs no stack but
// its thread's: its jobs start, pause across threads and finish with an allocator that refuses
// every stack on host threads.
CHILD(host_thread_needs_no_stack_of_its_own) {
  asyncjob_get_mem_functions(&g_systemAlloc, nullptr);
  if (asyncjob_set_mem_functions(noStacksOnHostThreads, nullptr) != 1) return 2;
  asyncjob_job* job = nullptr;
  int ret = 0;
  EXPECT(startHost(&job, &ret, recordThreadAcrossPauses) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(resume(&job, &ret) == ASYNCJOB_PAUSE, "pauses again");
  EXPECT(resume(&job, &ret) == ASYNCJOB_FINISH && ret == 42, "finishes: ret %d", ret);
  EXPECT(asyncjob_jobs_in_use() == 0, "nothing in use: %zu", asyncjob_jobs_in_use());
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

TEST(a_host_thread_needs_no_stack_beyond_its_own) {
  int exitCode = -1, signal = -1;
  REQUIRE(asyncjob::testing::runChild("host_thread_needs_no_stack_of_its_own", &exitCode, &signal),
          "child ran");
  EXPECT(exitCode == 0 && signal == 0, "exit %d, signal %d", exitCode, signal);
}

// A resume that would leave a fiber for another OS thread needs a dispatcher there; when its
// stack cannot be allocated, the resume is refused with the reason (before, control was
// already promised and the process aborted), and the fiber job can still be resumed at home.
CHILD(fiber_resumed_across_threads_without_a_dispatcher) {
  asyncjob_get_mem_functions(&g_systemAlloc, nullptr);
  if (asyncjob_set_mem_functions(noDispatcherStacks, nullptr) != 1) return 2;
  if (asyncjob_set_stack_size(128 * 1024) != 1) return 3;
  int ret = 0;
  if (asyncjob_start_job(&g_pausedFiber, nullptr, &ret, pauseOnceReturn1, nullptr, 0) !=
      ASYNCJOB_PAUSE) {
    return 4;
  }
  asyncjob_job* host = nullptr;
  EXPECT(startHost(&host, &ret, resumesAFiberOfAnotherThread) == ASYNCJOB_FINISH && ret == 7,
         "the host job goes on and finishes");
  EXPECT(g_fiberResumeStatus == ASYNCJOB_ERR, "the resume was refused: %d", g_fiberResumeStatus);
  EXPECT(g_dispatcherNamed, "the reason names the dispatcher");
  EXPECT(g_pausedFiber != nullptr && resume(&g_pausedFiber, &ret) == ASYNCJOB_FINISH && ret == 1,
         "the fiber job is still paused, and finishes at home");
  EXPECT(asyncjob_jobs_in_use() == 0, "nothing in use: %zu", asyncjob_jobs_in_use());
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

TEST(a_resume_across_threads_without_a_dispatcher_is_refused_with_the_reason) {
  int exitCode = -1, signal = -1;
  REQUIRE(asyncjob::testing::runChild("fiber_resumed_across_threads_without_a_dispatcher",
                                      &exitCode, &signal),
          "child ran");
  EXPECT(exitCode == 0 && signal == 0, "exit %d, signal %d", exitCode, signal);
}
#endif  // !_WIN32

#if defined(__linux__)
// pthread_create failing (no address space left for the thread's stack) is ASYNCJOB_ERR with
// the reason, and the process goes on.
CHILD(host_thread_without_address_space) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  if (asyncjob_start_job(&job, nullptr, &ret, pauseOnceReturn1, nullptr, 0) != ASYNCJOB_PAUSE ||
      resume(&job, &ret) != ASYNCJOB_FINISH) {
    return 2;
  }
  // Now less room than one host thread's stack.
  if (!asyncjob::testing::lowerAddressSpace(asyncjob::hostThreadStackSize() / 2)) {
    return asyncjob::testing::kChildSkipped;
  }
  EXPECT(startHost(&job, &ret, recordThreadAcrossPauses) == ASYNCJOB_ERR && job == nullptr,
         "refused");
  EXPECT(std::strstr(asyncjob::jobCreationFailure(), "could not create a thread") != nullptr,
         "why: '%s'", asyncjob::jobCreationFailure());
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, pauseOnceReturn1, nullptr, 0) == ASYNCJOB_PAUSE &&
             resume(&job, &ret) == ASYNCJOB_FINISH,
         "fiber jobs still run");
  return asyncjob::testing::failureCount() == 0 ? 0 : 1;
}

TEST(a_host_thread_that_cannot_be_created_is_reported_to_its_creator) {
  int exitCode = -1, signal = -1;
  REQUIRE(asyncjob::testing::runChild("host_thread_without_address_space", &exitCode, &signal),
          "child ran");
  if (exitCode == asyncjob::testing::kChildSkipped) {
    asyncjob::testing::skip("RLIMIT_AS is not enforced here");
    return;
  }
  EXPECT(exitCode == 0 && signal == 0, "exit %d, signal %d", exitCode, signal);
}
#endif  // __linux__
