// The job engine against OpenSSL's semantics (ASYNC_start_job(3)) and asyncjob's additions.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#endif

#include "asyncjob.h"
#include "sanitizers.h"
#include "testing.h"

namespace {

int returnArg(void* args) { return args == nullptr ? -1 : *static_cast<int*>(args); }

int pauseOnceThenReturn7(void*) {
  asyncjob_pause_job();
  return 7;
}

// Pauses `*count` times, then returns how many pauses it made.
int pauseNTimes(void* args) {
  const int count = *static_cast<int*>(args);
  for (int i = 0; i < count; i++) asyncjob_pause_job();
  return count;
}

// Runs a paused job to the end, returning its value (or -1000 - status on a wrong status); the
// handle is cleared as asyncjob_start_job clears it.
int finish(asyncjob_job*& job) {
  int ret = -1;
  for (int i = 0; i < 1000000 && job != nullptr; i++) {
    const int status = asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0);
    if (status == ASYNCJOB_FINISH) return ret;
    if (status != ASYNCJOB_PAUSE) return -1000 - status;
  }
  return -2000;
}

}  // namespace

TEST(start_finish_returns_value_and_clears_job) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  int value = 42;
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, returnArg, &value, sizeof value) == ASYNCJOB_FINISH,
         "a job that returns at once finishes");
  EXPECT(ret == 42, "ret=%d", ret);
  EXPECT(job == nullptr, "job=%p", static_cast<void*>(job));
  EXPECT(asyncjob_jobs_in_use() == 0, "in use %zu", asyncjob_jobs_in_use());
}

TEST(args_are_copied_and_size_zero_passes_null) {
  struct Seen {
    const void* where;
    int value;
  };
  static Seen seen;
  auto record = [](void* args) -> int {
    seen.where = args;
    asyncjob_pause_job();
    seen.value = *static_cast<int*>(args);
    return 0;
  };
  int value = 5;
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, record, &value, sizeof value) == ASYNCJOB_PAUSE,
          "job pauses");
  EXPECT(seen.where != &value, "the job got the caller's pointer %p instead of a copy", seen.where);
  value = 99;  // the job's copy must not change
  EXPECT(finish(job) == 0, "finishes");
  EXPECT(seen.value == 5, "copy holds %d", seen.value);

  EXPECT(asyncjob_start_job(&job, nullptr, &ret, returnArg, &value, 0) == ASYNCJOB_FINISH,
         "size 0 starts");
  EXPECT(ret == -1, "size 0 gives the job NULL, it saw %d", ret);
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, returnArg, nullptr, 0) == ASYNCJOB_FINISH,
         "NULL args start");
  EXPECT(ret == -1, "NULL args give NULL, saw %d", ret);
}

TEST(pause_resume_finish) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "first start pauses");
  EXPECT(job != nullptr, "a paused job is handed back");
  EXPECT(asyncjob_jobs_in_use() == 1, "in use %zu", asyncjob_jobs_in_use());
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0) == ASYNCJOB_FINISH,
         "resume finishes");
  EXPECT(ret == 7, "ret=%d", ret);
  EXPECT(job == nullptr, "job cleared");
  EXPECT(asyncjob_jobs_in_use() == 0, "in use %zu", asyncjob_jobs_in_use());
}

TEST(restart_ignores_func_args_and_ctx) {
  asyncjob_wait_ctx* first = asyncjob_wait_ctx_new();
  asyncjob_wait_ctx* second = asyncjob_wait_ctx_new();
  static asyncjob_wait_ctx* seenCtx;
  auto job1 = [](void*) -> int {
    asyncjob_pause_job();
    seenCtx = asyncjob_get_wait_ctx(asyncjob_get_current_job());
    return 1;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, first, &ret, job1, nullptr, 0) == ASYNCJOB_PAUSE, "pauses");
  int other = 2;
  EXPECT(asyncjob_start_job(&job, second, &ret, returnArg, &other, sizeof other) ==
             ASYNCJOB_FINISH,
         "resume runs the paused job");
  EXPECT(ret == 1, "the paused job's own function finished, ret=%d", ret);
  EXPECT(seenCtx == first, "the job kept its first wait ctx");
  asyncjob_wait_ctx_free(first);
  asyncjob_wait_ctx_free(second);
}

TEST(pause_outside_job_is_a_successful_noop) {
  EXPECT(asyncjob_pause_job() == 1, "pause outside a job returns 1");
  EXPECT(asyncjob_get_current_job() == nullptr, "no current job outside");
}

TEST(current_job_is_the_paused_handle) {
  static asyncjob_job* inside;
  auto fn = [](void*) -> int {
    inside = asyncjob_get_current_job();
    asyncjob_pause_job();
    return asyncjob_get_current_job() == inside ? 1 : 0;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, fn, nullptr, 0) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(inside == job, "inside %p, handed back %p", static_cast<void*>(inside),
         static_cast<void*>(job));
  EXPECT(asyncjob_get_current_job() == nullptr, "no current job after the pause");
  EXPECT(finish(job) == 1, "same job after resume");
}

TEST(wait_ctx_of_job) {
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  static asyncjob_wait_ctx* seen;
  auto fn = [](void*) -> int {
    seen = asyncjob_get_wait_ctx(asyncjob_get_current_job());
    asyncjob_pause_job();
    return 0;
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, ctx, &ret, fn, nullptr, 0) == ASYNCJOB_PAUSE, "pauses");
  EXPECT(seen == ctx, "inside the job");
  EXPECT(asyncjob_get_wait_ctx(job) == ctx, "from the caller");
  EXPECT(asyncjob_get_wait_ctx(nullptr) == nullptr, "NULL job");
  EXPECT(finish(job) == 0, "finishes");
  asyncjob_wait_ctx_free(ctx);
}

TEST(pool_exhaustion_and_reuse) {
  REQUIRE(asyncjob_init_thread(2, 0) == 1, "init 2/0");
  asyncjob_job* a = nullptr;
  asyncjob_job* b = nullptr;
  asyncjob_job* c = nullptr;
  int ret = 0;
  EXPECT(asyncjob_start_job(&a, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) == ASYNCJOB_PAUSE,
         "a");
  EXPECT(asyncjob_start_job(&b, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) == ASYNCJOB_PAUSE,
         "b");
  EXPECT(asyncjob_jobs_in_use() == 2, "in use %zu", asyncjob_jobs_in_use());
  EXPECT(asyncjob_start_job(&c, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
             ASYNCJOB_NO_JOBS,
         "third job refused");
  EXPECT(c == nullptr, "no job handed out");
  asyncjob_job* freed = a;
  EXPECT(finish(a) == 7, "a finishes");
  EXPECT(a == nullptr, "the handle is cleared");
  EXPECT(asyncjob_start_job(&c, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) == ASYNCJOB_PAUSE,
         "a slot is free again");
  EXPECT(c == freed, "the finished job's slot is reused");
  EXPECT(finish(b) == 7 && finish(c) == 7, "both finish");
  asyncjob_cleanup_thread();
}

TEST(init_thread_validates_and_replaces_idle_pools_only) {
  EXPECT(asyncjob_init_thread(2, 3) == 0, "init_size above max_size is refused");
  EXPECT(asyncjob_init_thread(0, 4) == 1, "no limit with 4 created");
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "pauses");
  EXPECT(asyncjob_init_thread(1, 1) == 0, "a pool with a paused job is not replaced");
  EXPECT(finish(job) == 7, "the paused job survived the refused init");
  EXPECT(asyncjob_init_thread(1, 1) == 1, "an idle pool is replaced");
  asyncjob_job* a = nullptr;
  asyncjob_job* b = nullptr;
  EXPECT(asyncjob_start_job(&a, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) == ASYNCJOB_PAUSE,
         "one job");
  EXPECT(asyncjob_start_job(&b, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
             ASYNCJOB_NO_JOBS,
         "the new max_size of 1 applies");
  EXPECT(finish(a) == 7, "finishes");
  asyncjob_cleanup_thread();
}

TEST(default_pool_on_first_use_and_after_cleanup) {
  asyncjob_cleanup_thread();
  EXPECT(asyncjob_jobs_in_use() == 0, "no pool");
  int ret = 0;
  asyncjob_job* job = nullptr;
  int value = 3;
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, returnArg, &value, sizeof value) ==
             ASYNCJOB_FINISH,
         "a default pool is created");
  asyncjob_cleanup_thread();
  asyncjob_cleanup_thread();  // twice is harmless
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, returnArg, &value, sizeof value) ==
             ASYNCJOB_FINISH,
         "and again after cleanup");
  // No limit: many at once.
  std::vector<asyncjob_job*> paused(64, nullptr);
  for (auto& p : paused) {
    EXPECT(asyncjob_start_job(&p, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
               ASYNCJOB_PAUSE,
           "default pool has no limit");
  }
  for (auto* p : paused) EXPECT(finish(p) == 7, "finishes");
}

TEST(cleanup_with_paused_jobs_frees_nothing) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "pauses");
  asyncjob_cleanup_thread();
  EXPECT(asyncjob_jobs_in_use() == 1, "the pool is still there, in use %zu",
         asyncjob_jobs_in_use());
  EXPECT(finish(job) == 7, "the paused job still resumes");
  asyncjob_cleanup_thread();
  EXPECT(asyncjob_jobs_in_use() == 0, "freed once idle");
}

TEST(resuming_a_finished_or_running_job_is_refused) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_init_thread(1, 0) == 1, "init");
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "pauses");
  asyncjob_job* stale = job;
  EXPECT(finish(job) == 7, "finishes");
  EXPECT(asyncjob_start_job(&stale, nullptr, &ret, nullptr, nullptr, 0) == ASYNCJOB_ERR,
         "a finished (idle) job cannot be resumed");

  static int selfResume;
  auto resumeSelf = [](void*) -> int {
    asyncjob_job* me = asyncjob_get_current_job();
    int r = 0;
    selfResume = asyncjob_start_job(&me, nullptr, &r, nullptr, nullptr, 0);
    return 0;
  };
  job = nullptr;
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, resumeSelf, nullptr, 0) == ASYNCJOB_FINISH,
         "finishes");
  EXPECT(selfResume == ASYNCJOB_ERR, "resuming itself gave %d", selfResume);
  EXPECT(asyncjob_start_job(nullptr, nullptr, &ret, returnArg, nullptr, 0) == ASYNCJOB_ERR,
         "NULL job pointer");
  job = nullptr;
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0) == ASYNCJOB_ERR,
         "NULL func for a new job");
  EXPECT(asyncjob_jobs_in_use() == 0, "nothing leaked, in use %zu", asyncjob_jobs_in_use());
  asyncjob_cleanup_thread();
}

namespace {

struct Nest {
  asyncjob_job* inner = nullptr;
  int innerStatus = -1;
  int resumeOuterStatus = -1;
  asyncjob_job* outer = nullptr;
  std::vector<int> order;
};
Nest nest;

int innerJob(void*) {
  nest.order.push_back(2);
  int r = 0;
  // The outer job is running (it resumed us): resuming it is a state error.
  nest.resumeOuterStatus = asyncjob_start_job(&nest.outer, nullptr, &r, nullptr, nullptr, 0);
  asyncjob_pause_job();  // back to the outer job, which started us
  nest.order.push_back(5);
  return 20;
}

int outerJob(void*) {
  nest.outer = asyncjob_get_current_job();
  nest.order.push_back(1);
  int r = 0;
  nest.innerStatus = asyncjob_start_job(&nest.inner, nullptr, &r, innerJob, nullptr, 0);
  nest.order.push_back(3);
  asyncjob_pause_job();  // back to the thread
  nest.order.push_back(6);
  return 10;
}

}  // namespace

TEST(jobs_nest_and_pause_to_their_last_resumer) {
  nest = Nest{};
  asyncjob_job* outer = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&outer, nullptr, &ret, outerJob, nullptr, 0) == ASYNCJOB_PAUSE,
          "outer pauses to the thread");
  EXPECT(nest.innerStatus == ASYNCJOB_PAUSE, "inner paused to outer: %d", nest.innerStatus);
  EXPECT(nest.resumeOuterStatus == ASYNCJOB_ERR, "resuming the running outer job gave %d",
         nest.resumeOuterStatus);
  EXPECT(asyncjob_get_current_job() == nullptr, "the thread runs no job");
  nest.order.push_back(4);
  // The thread resumes the inner job directly: it now finishes back to the thread.
  asyncjob_job* inner = nest.inner;
  EXPECT(asyncjob_start_job(&inner, nullptr, &ret, nullptr, nullptr, 0) == ASYNCJOB_FINISH,
         "inner finishes to the thread");
  EXPECT(ret == 20, "inner ret=%d", ret);
  EXPECT(asyncjob_start_job(&outer, nullptr, &ret, nullptr, nullptr, 0) == ASYNCJOB_FINISH,
         "outer finishes");
  EXPECT(ret == 10, "outer ret=%d", ret);
  const std::vector<int> expected{1, 2, 3, 4, 5, 6};
  EXPECT(nest.order == expected, "order of events (%zu recorded)", nest.order.size());
}

TEST(block_pause_nests_and_belongs_to_the_job) {
  asyncjob_block_pause();  // outside a job: ignored
  asyncjob_unblock_pause();
  asyncjob_unblock_pause();
  static int pausesTaken;
  auto fn = [](void*) -> int {
    asyncjob_block_pause();
    asyncjob_block_pause();
    asyncjob_pause_job();  // blocked: returns at once
    asyncjob_unblock_pause();
    asyncjob_pause_job();  // still blocked once
    asyncjob_unblock_pause();
    asyncjob_unblock_pause();  // below zero: stays at zero
    pausesTaken = 0;
    asyncjob_pause_job();  // pauses
    pausesTaken = 1;
    asyncjob_block_pause();
    return 0;  // ends while blocked
  };
  asyncjob_job* job = nullptr;
  int ret = 0;
  pausesTaken = -1;
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, fn, nullptr, 0) == ASYNCJOB_PAUSE,
         "only the unblocked pause pauses");
  EXPECT(pausesTaken == 0, "paused at the third pause, state %d", pausesTaken);
  EXPECT(finish(job) == 0, "finishes after one resume");
  EXPECT(pausesTaken == 1, "ran to the end");
  // The next job on the same slot starts unblocked.
  EXPECT(asyncjob_start_job(&job, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
             ASYNCJOB_PAUSE,
         "a job ending while blocked does not block the next");
  EXPECT(finish(job) == 7, "finishes");
}

TEST(many_pauses_keep_the_stack_intact) {
  // Locals on a job's stack survive pauses, and so does deep recursion across them.
  struct Frame {
    static int recurse(int depth) {
      volatile char pad[256];
      pad[0] = static_cast<char>(depth);
      if (depth % 16 == 0) asyncjob_pause_job();
      const int below = depth == 0 ? 0 : recurse(depth - 1);
      return below + (pad[0] == static_cast<char>(depth) ? 1 : 0);
    }
  };
  auto fn = [](void* arg) -> int { return Frame::recurse(*static_cast<int*>(arg)); };
  int depth = 200;
  asyncjob_job* job = nullptr;
  int ret = 0;
  int pauses = 0;
  int status = asyncjob_start_job(&job, nullptr, &ret, fn, &depth, sizeof depth);
  while (status == ASYNCJOB_PAUSE) {
    pauses++;
    status = asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0);
  }
  EXPECT(status == ASYNCJOB_FINISH, "status %d", status);
  EXPECT(ret == 201, "every frame kept its local, ret=%d", ret);
  EXPECT(pauses == 13, "pauses=%d", pauses);
}

TEST(ten_thousand_jobs_paused_at_once) {
#if ASYNCJOB_TSAN
  // TSan gives every fiber a thread's state (a trace of over 1 MiB, and it tracks at most 8192
  // threads and fibers at once): a tenth as many there.
  constexpr int kJobs = 1000;
#else
  constexpr int kJobs = 10000;
#endif
  REQUIRE(asyncjob_init_thread(0, 0) == 1, "init");
  std::vector<asyncjob_job*> jobs(kJobs, nullptr);
  int ret = 0;
  int started = 0;
  for (int i = 0; i < kJobs; i++) {
    int value = i;
    auto fn = [](void* arg) -> int {
      const int mine = *static_cast<int*>(arg);
      asyncjob_pause_job();
      asyncjob_pause_job();
      return mine;
    };
    if (asyncjob_start_job(&jobs[i], nullptr, &ret, fn, &value, sizeof value) == ASYNCJOB_PAUSE)
      started++;
  }
  EXPECT(started == kJobs, "paused %d of %d", started, kJobs);
  EXPECT(asyncjob_jobs_in_use() == static_cast<size_t>(kJobs), "in use %zu",
         asyncjob_jobs_in_use());
  int wrong = 0;
  for (int i = kJobs - 1; i >= 0; i--) {  // resume in another order than started
    if (asyncjob_start_job(&jobs[i], nullptr, &ret, nullptr, nullptr, 0) != ASYNCJOB_PAUSE) wrong++;
  }
  for (int i = 0; i < kJobs; i++) {
    if (asyncjob_start_job(&jobs[i], nullptr, &ret, nullptr, nullptr, 0) != ASYNCJOB_FINISH ||
        ret != i) {
      wrong++;
    }
  }
  EXPECT(wrong == 0, "%d jobs did not resume or return their own value", wrong);
  asyncjob_cleanup_thread();
  EXPECT(asyncjob_jobs_in_use() == 0, "all freed");
}

TEST(threads_run_their_own_pools_concurrently) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, &errors] {
      if (asyncjob_init_thread(8, 2) != 1) errors++;
      asyncjob_job* jobs[8] = {};
      int ret = 0;
      for (int round = 0; round < kRounds; round++) {
        for (int j = 0; j < 8; j++) {
          int value = t * 1000000 + round * 8 + j;
          auto fn = [](void* arg) -> int {
            int v = *static_cast<int*>(arg);
            asyncjob_pause_job();
            return v;
          };
          if (asyncjob_start_job(&jobs[j], nullptr, &ret, fn, &value, sizeof value) !=
              ASYNCJOB_PAUSE)
            errors++;
        }
        for (int j = 0; j < 8; j++) {
          if (asyncjob_start_job(&jobs[j], nullptr, &ret, nullptr, nullptr, 0) != ASYNCJOB_FINISH ||
              ret != t * 1000000 + round * 8 + j)
            errors++;
        }
        if (asyncjob_get_current_job() != nullptr) errors++;
      }
      if (asyncjob_jobs_in_use() != 0) errors++;
      asyncjob_cleanup_thread();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT(errors.load() == 0, "%d errors across %d threads", errors.load(), kThreads);
}

TEST(a_job_cannot_be_resumed_by_another_thread) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&job, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "pauses");
  int foreign = -1;
  asyncjob_job* copy = job;
  std::thread other([&] {
    int r = 0;
    foreign = asyncjob_start_job(&copy, nullptr, &r, nullptr, nullptr, 0);
  });
  other.join();
  EXPECT(foreign == ASYNCJOB_ERR, "another thread's resume gave %d", foreign);
  EXPECT(copy == job, "the handle is left alone");
  EXPECT(finish(job) == 7, "the owning thread still resumes it");
}

TEST(threads_exit_with_jobs_paused) {
  // A thread that ends with a job paused frees it at exit without disturbing this thread's pool.
  asyncjob_job* mine = nullptr;
  int ret = 0;
  REQUIRE(asyncjob_start_job(&mine, nullptr, &ret, pauseOnceThenReturn7, nullptr, 0) ==
              ASYNCJOB_PAUSE,
          "pauses");
  int status = -1;
  std::thread other([&] {
    asyncjob_job* job = nullptr;
    int r = 0;
    status = asyncjob_start_job(&job, nullptr, &r, pauseOnceThenReturn7, nullptr, 0);
  });
  other.join();
  EXPECT(status == ASYNCJOB_PAUSE, "the other thread's job paused: %d", status);
  EXPECT(finish(mine) == 7, "ours is unaffected");
}

// KNOWN BUG on Windows (mingw-w64 build, under Wine; issue 9), found with this test and not
// investigated yet: there the job's stack is still mapped (VirtualQuery: not MEM_FREE) after
// the thread ended, i.e. ThreadExit frees nothing on a std::thread, perhaps because the thread's
// emulated TLS is freed before the destructor reads it (see HostThreadHandOff in the addon).
// Enable it there when fixed.
#if !defined(_WIN32)
namespace {

std::atomic<uintptr_t> pausedJobLocal{0};

int recordStackThenPause(void*) {
  volatile int local = 0;
  pausedJobLocal.store(reinterpret_cast<uintptr_t>(&local));
  asyncjob_pause_job();
  return local;
}

// Whether the page holding address is mapped in this process.
bool mapped(uintptr_t address) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return msync(reinterpret_cast<void*>(address & ~(page - 1)), page, MS_ASYNC) == 0 ||
         errno != ENOMEM;
}

}  // namespace

TEST(a_thread_that_ends_frees_the_stack_of_its_paused_job) {
  // The thread-exit hook runs: the stack of a job left paused is unmapped when its thread ends.
  pausedJobLocal.store(0);
  std::thread other([] {
    asyncjob_job* job = nullptr;
    int r = 0;
    asyncjob_start_job(&job, nullptr, &r, recordStackThenPause, nullptr, 0);
  });
  other.join();
  const uintptr_t local = pausedJobLocal.load();
  REQUIRE(local != 0, "the job ran");
  EXPECT(!mapped(local), "the paused job's stack (%p) is still mapped after its thread ended",
         reinterpret_cast<void*>(local));
}
#endif

TEST(is_capable_and_backend) {
  EXPECT(asyncjob_is_capable() == 1, "fibers are supported on this platform");
  const char* backend = asyncjob_fiber_backend();
  const bool known = std::strcmp(backend, "asm-x86_64") == 0 ||
                     std::strcmp(backend, "asm-aarch64") == 0 ||
                     std::strcmp(backend, "ucontext") == 0 ||
                     std::strcmp(backend, "windows-fibers") == 0;
  EXPECT(known, "backend %s", backend);
}

TEST(a_job_pauses_a_hundred_thousand_times) {
  int count = 100000;
  asyncjob_job* job = nullptr;
  int ret = 0;
  int resumes = 0;
  int status = asyncjob_start_job(&job, nullptr, &ret, pauseNTimes, &count, sizeof count);
  while (status == ASYNCJOB_PAUSE) {
    resumes++;
    status = asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0);
  }
  EXPECT(status == ASYNCJOB_FINISH && ret == count, "status %d ret %d", status, ret);
  EXPECT(resumes == count, "resumed %d times", resumes);
}
