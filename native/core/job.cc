// The job engine: OpenSSL's job state machine and per-thread pool on top of Fiber.
//
// Every thread that runs jobs has a ThreadJobs: its own fiber (the thread's stack, which jobs
// switch back to), its pool, and the job running now. A job remembers who started or resumed it
// last (another job, or the thread itself) and pauses or finishes back to exactly that one; this
// is what lets jobs nest, where OpenSSL's single dispatcher per thread cannot.
//
// The side that gives up control does the bookkeeping before it switches (a pausing job fills in
// its caller's job handle, a finishing job the return value), and hands the status over through
// the switch. So asyncjob_start_job and asyncjob_pause_job end in the switch itself, and the
// resumed side returns straight to its caller: a round trip costs the two unavoidable
// mispredicted returns and no more.
#include <cstdlib>
#include <cstring>
#include <new>

#include "asyncjob.h"
#include "fiber.h"
#include "wait_ctx.h"

namespace {

enum class JobState {
  Idle,     // in the pool's free list
  Running,  // on its fiber now, or resuming a job nested in it
  Paused,   // asyncjob_start_job returned ASYNCJOB_PAUSE for it
};

// What a resumed job's pending asyncjob_pause_job returns.
constexpr int kPauseReturns = 1;

struct ThreadJobs;

}  // namespace

struct asyncjob_job {
  asyncjob::Fiber* fiber = nullptr;
  ThreadJobs* owner = nullptr;
  JobState state = JobState::Idle;
  int (*func)(void*) = nullptr;
  void* args = nullptr;  // the job's own copy, or nullptr
  asyncjob_wait_ctx* waitCtx = nullptr;
  asyncjob_job** callerJob = nullptr;  // where the last start/resume wants the handle
  int* callerRet = nullptr;            // where the last start/resume wants the return value
  asyncjob_job* resumer = nullptr;  // who started or resumed it last; nullptr: the thread
  unsigned int pauseBlocks = 0;
  asyncjob_job* nextFree = nullptr;     // the pool's idle jobs
  asyncjob_job* nextCreated = nullptr;  // every job the pool made, idle or not
};

namespace {

using asyncjob::Fiber;

struct Pool {
  size_t maxSize = 0;  // 0: no limit
  size_t created = 0;
  size_t idle = 0;
  asyncjob_job* freeList = nullptr;
  asyncjob_job* createdList = nullptr;
};

void jobMain(void* arg);

// Trivially destructible, so that the hot paths reach it with a plain thread-local access (a
// destructor would add an initialisation check to every access); ThreadExit frees it instead.
struct ThreadJobs {
  Fiber* threadFiber = nullptr;
  Pool* pool = nullptr;
  asyncjob_job* current = nullptr;

  bool ensureThreadFiber();

  Fiber* resumerFiber(const asyncjob_job* job) const {
    return job->resumer != nullptr ? job->resumer->fiber : threadFiber;
  }

  size_t jobsInUse() const { return pool == nullptr ? 0 : pool->created - pool->idle; }

  asyncjob_job* createJob() {
    auto* job = new (std::nothrow) asyncjob_job;
    if (job == nullptr) return nullptr;
    job->owner = this;
    job->fiber = Fiber::create(asyncjob_get_stack_size(), jobMain, job);
    if (job->fiber == nullptr) {
      delete job;
      return nullptr;
    }
    job->nextCreated = pool->createdList;
    pool->createdList = job;
    pool->created++;
    return job;
  }

  static void destroyJob(asyncjob_job* job) {
    Fiber::destroy(job->fiber);
    std::free(job->args);
    delete job;
  }

  void release(asyncjob_job* job) {
    std::free(job->args);
    job->args = nullptr;
    job->func = nullptr;
    job->waitCtx = nullptr;
    job->resumer = nullptr;
    job->callerJob = nullptr;
    job->callerRet = nullptr;
    job->state = JobState::Idle;
    job->nextFree = pool->freeList;
    pool->freeList = job;
    pool->idle++;
  }

  // An idle or new job; nullptr with *failure ASYNCJOB_NO_JOBS when the pool is full, or
  // ASYNCJOB_ERR when a job cannot be created.
  asyncjob_job* take(int* failure) {
    asyncjob_job* job = pool->freeList;
    if (job != nullptr) {
      pool->freeList = job->nextFree;
      pool->idle--;
      return job;
    }
    if (pool->maxSize != 0 && pool->created >= pool->maxSize) {
      *failure = ASYNCJOB_NO_JOBS;
      return nullptr;
    }
    job = createJob();
    if (job == nullptr) *failure = ASYNCJOB_ERR;
    return job;
  }

  bool createPool(size_t maxSize, size_t initSize) {
    auto* fresh = new (std::nothrow) Pool;
    if (fresh == nullptr) return false;
    fresh->maxSize = maxSize;
    pool = fresh;
    for (size_t i = 0; i < initSize; i++) {
      asyncjob_job* job = createJob();
      if (job == nullptr) {
        destroyPool();
        return false;
      }
      release(job);
    }
    return true;
  }

  // Frees every job and the pool. Callers make sure no job is in use, except at thread exit,
  // when paused jobs can never be resumed again and whatever their stacks hold is abandoned.
  void destroyPool() {
    while (pool->createdList != nullptr) {
      asyncjob_job* job = pool->createdList;
      pool->createdList = job->nextCreated;
      destroyJob(job);
    }
    delete pool;
    pool = nullptr;
  }

  void teardown(bool force) {
    if (pool != nullptr) {
      if (!force && jobsInUse() != 0) return;
      destroyPool();
    }
    Fiber::destroy(threadFiber);
    threadFiber = nullptr;
  }
};

thread_local ThreadJobs t_jobs;

// Frees the thread's jobs when the thread ends. Touched only when a thread first gets its fiber,
// which is when there is anything to free.
struct ThreadExit {
  bool armed = false;
  ~ThreadExit() {
    // If the thread (or the process, through exit()) ends from inside a job, we are running on
    // one of the stacks we would free: leave everything to the OS.
    if (armed && t_jobs.current == nullptr) t_jobs.teardown(/*force=*/true);
  }
};
thread_local ThreadExit t_exit;

bool ThreadJobs::ensureThreadFiber() {
  if (threadFiber == nullptr) {
    threadFiber = Fiber::createFromCurrentThread();
    t_exit.armed = true;
  }
  return threadFiber != nullptr;
}

void jobMain(void* arg) {
  auto* job = static_cast<asyncjob_job*>(arg);
  ThreadJobs& jobs = *job->owner;
  for (;;) {
    const int ret = job->func(job->args);
    if (job->callerRet != nullptr) *job->callerRet = ret;
    *job->callerJob = nullptr;
    jobs.current = job->resumer;
    Fiber* back = jobs.resumerFiber(job);
    // Back in the pool while its stack still runs: nothing else runs before the switch, and the
    // pool hands the job out again only from another fiber.
    jobs.release(job);
    job->fiber->switchTo(back, ASYNCJOB_FINISH);
  }
}

}  // namespace

extern "C" {

int asyncjob_is_capable(void) { return Fiber::isSupported() ? 1 : 0; }

const char* asyncjob_fiber_backend(void) { return Fiber::backendName(); }

int asyncjob_init_thread(size_t max_size, size_t init_size) {
  if (max_size != 0 && init_size > max_size) return 0;
  ThreadJobs& jobs = t_jobs;
  if (jobs.jobsInUse() != 0 || !jobs.ensureThreadFiber()) return 0;
  if (jobs.pool != nullptr) jobs.destroyPool();
  return jobs.createPool(max_size, init_size) ? 1 : 0;
}

void asyncjob_cleanup_thread(void) { t_jobs.teardown(/*force=*/false); }

size_t asyncjob_jobs_in_use(void) { return t_jobs.jobsInUse(); }

int asyncjob_start_job(asyncjob_job** job, asyncjob_wait_ctx* ctx, int* ret, int (*func)(void*),
                       void* args, size_t size) {
  if (job == nullptr) return ASYNCJOB_ERR;
  ThreadJobs& jobs = t_jobs;
  asyncjob_job* target = *job;
  if (target != nullptr) {
    // Resume. func, args and ctx are ignored, as in OpenSSL.
    if (target->owner != &jobs || target->state != JobState::Paused) return ASYNCJOB_ERR;
    // OpenSSL resets the change tracking as the job resumes: nothing runs in between.
    if (target->waitCtx != nullptr) asyncjob::waitCtxResetCounts(target->waitCtx);
  } else {
    if (func == nullptr || !jobs.ensureThreadFiber()) return ASYNCJOB_ERR;
    if (jobs.pool == nullptr && !jobs.createPool(0, 0)) return ASYNCJOB_ERR;
    int failure = ASYNCJOB_ERR;
    target = jobs.take(&failure);
    if (target == nullptr) return failure;
    if (args != nullptr && size != 0) {
      target->args = std::malloc(size);
      if (target->args == nullptr) {
        jobs.release(target);
        return ASYNCJOB_ERR;
      }
      std::memcpy(target->args, args, size);
    }
    target->func = func;
    target->waitCtx = ctx;
    target->pauseBlocks = 0;
  }

  Fiber* from = jobs.current != nullptr ? jobs.current->fiber : jobs.threadFiber;
  target->callerJob = job;
  target->callerRet = ret;
  target->resumer = jobs.current;
  target->state = JobState::Running;
  jobs.current = target;
  // The job hands back ASYNCJOB_PAUSE or ASYNCJOB_FINISH, having filled in *job and *ret.
  return from->switchTo(target->fiber, kPauseReturns);
}

int asyncjob_pause_job(void) {
  ThreadJobs& jobs = t_jobs;
  asyncjob_job* job = jobs.current;
  // Outside a job, or with pauses blocked, pausing is a successful no-op (as in OpenSSL).
  if (job == nullptr || job->pauseBlocks != 0) return 1;
  job->state = JobState::Paused;
  *job->callerJob = job;
  jobs.current = job->resumer;
  return job->fiber->switchTo(jobs.resumerFiber(job), ASYNCJOB_PAUSE);
}

asyncjob_job* asyncjob_get_current_job(void) { return t_jobs.current; }

asyncjob_wait_ctx* asyncjob_get_wait_ctx(asyncjob_job* job) {
  return job == nullptr ? nullptr : job->waitCtx;
}

void asyncjob_block_pause(void) {
  asyncjob_job* job = t_jobs.current;
  if (job != nullptr) job->pauseBlocks++;
}

void asyncjob_unblock_pause(void) {
  asyncjob_job* job = t_jobs.current;
  if (job != nullptr && job->pauseBlocks != 0) job->pauseBlocks--;
}

}  // extern "C"
