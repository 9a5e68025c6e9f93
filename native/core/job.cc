// The job engine: OpenSSL's job state machine and per-thread pool on top of Fiber.
//
// Every thread that runs jobs has a ThreadJobs: its own fiber (the thread's stack, which jobs
// switch back to), its pool, and the job running now. A job remembers who started or resumed it
// last (another job, or the thread itself) and pauses or finishes back to exactly that one; this
// is what lets jobs nest, where OpenSSL's single dispatcher per thread cannot.
#include <cstdlib>
#include <cstring>
#include <new>

#include "asyncjob.h"
#include "fiber.h"
#include "wait_ctx.h"

namespace {

enum class JobState {
  Idle,      // in the pool's free list
  Running,   // on its fiber now, or resuming a job nested in it
  Pausing,   // switched back to its resumer from asyncjob_pause_job
  Paused,    // asyncjob_start_job returned ASYNCJOB_PAUSE for it
  Stopping,  // its function returned; its resumer collects the result
};

struct ThreadJobs;

}  // namespace

struct asyncjob_job {
  asyncjob::Fiber* fiber = nullptr;
  ThreadJobs* owner = nullptr;
  JobState state = JobState::Idle;
  int (*func)(void*) = nullptr;
  void* args = nullptr;  // the job's own copy, or nullptr
  int ret = 0;
  asyncjob_wait_ctx* waitCtx = nullptr;
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

struct ThreadJobs {
  Fiber* threadFiber = nullptr;
  Pool* pool = nullptr;
  asyncjob_job* current = nullptr;

  ~ThreadJobs() {
    // At thread exit. If the thread (or the process, through exit()) ends from inside a job, we
    // are running on one of the stacks we would free: leave everything to the OS.
    if (current == nullptr) teardown(/*force=*/true);
  }

  bool ensureThreadFiber() {
    if (threadFiber == nullptr) threadFiber = Fiber::createFromCurrentThread();
    return threadFiber != nullptr;
  }

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

void jobMain(void* arg) {
  auto* job = static_cast<asyncjob_job*>(arg);
  for (;;) {
    job->ret = job->func(job->args);
    job->state = JobState::Stopping;
    job->fiber->switchTo(job->owner->resumerFiber(job));
    // Switched back to only when the pool hands this job out again.
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
  target->resumer = jobs.current;
  target->state = JobState::Running;
  jobs.current = target;
  from->switchTo(target->fiber);
  jobs.current = target->resumer;

  if (target->state == JobState::Pausing) {
    target->state = JobState::Paused;
    *job = target;
    return ASYNCJOB_PAUSE;
  }
  if (ret != nullptr) *ret = target->ret;
  jobs.release(target);
  *job = nullptr;
  return ASYNCJOB_FINISH;
}

int asyncjob_pause_job(void) {
  ThreadJobs& jobs = t_jobs;
  asyncjob_job* job = jobs.current;
  // Outside a job, or with pauses blocked, pausing is a successful no-op (as in OpenSSL).
  if (job == nullptr || job->pauseBlocks != 0) return 1;
  job->state = JobState::Pausing;
  job->fiber->switchTo(jobs.resumerFiber(job));
  if (job->waitCtx != nullptr) asyncjob::waitCtxResetCounts(job->waitCtx);
  return 1;
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
