// What an embedder (the Node addon) uses of the job engine beyond the C API in asyncjob.h.
//
// Contract
// - Jobs come in two kinds that share one engine: one pool per thread, one current job, one
//   pause-block count, one WaitCtx per job. A *fiber* job runs on a stack of its own on the
//   thread that switches to it (the C API's jobs). A *host-thread* job runs on an OS thread of
//   its own (a "host thread"), for code that cannot live on a fiber stack, such as JavaScript.
//   Control passes strictly: exactly one of a thread and its host threads runs at a time.
// - While a host thread runs a job it acts for the thread that owns the job: asyncjob_pause_job,
//   asyncjob_get_current_job, asyncjob_start_job (nested jobs) and the rest see that thread's
//   pool and current job, so native code called from a host-thread job pauses that job.
// - A thread hands control to another OS thread through a HandOff, which it installs for itself:
//   release() runs just before it blocks, reacquire() just after it gets control back (for V8,
//   they unlock and relock the isolate). A thread without one just blocks.
#ifndef ASYNCJOB_CORE_ENGINE_H
#define ASYNCJOB_CORE_ENGINE_H

#include <cstddef>
#include <cstdint>

#include "asyncjob.h"

namespace asyncjob {

enum class JobKind { Fiber, HostThread };

class HandOff {
 public:
  virtual void release() = 0;
  virtual void reacquire() = 0;

 protected:
  ~HandOff() = default;
};

// The HandOff of the calling OS thread (nullptr removes it). Returns false when the thread's
// engine state cannot be allocated.
bool setThreadHandOff(HandOff* handOff);

// asyncjob_init_thread, with init_size jobs of `kind` created at once.
int initThread(JobKind kind, size_t maxSize, size_t initSize);

// asyncjob_start_job, starting a job of `kind` (a resumed job keeps its kind).
int startJob(JobKind kind, asyncjob_job** job, asyncjob_wait_ctx* ctx, int* ret,
             int (*func)(void*), void* args, size_t size);

// Resumes a paused job with every pause, this one included, returning 0 at once, and runs it
// to its end; for unwinding jobs at teardown. Same results as asyncjob_start_job.
int cancelJob(asyncjob_job** job, int* ret);

// Frees a paused fiber job of the calling thread without running anything more on its stack
// (whatever its frames hold is abandoned); its handle becomes invalid. For jobs whose code cannot
// be trusted to end when cancelled. Returns false (and does nothing) for anything else.
bool discardJob(asyncjob_job* job);

// The most jobs of `kind` the process may hold at once, those of all its threads together and
// with no job of the other kind (job_budget.h says how it is derived); SIZE_MAX: no limit. At
// the limit, startJob returns ASYNCJOB_NO_JOBS, as for a full pool.
size_t processJobLimit(JobKind kind);

// Why the calling OS thread last failed to create a job (the ASYNCJOB_ERR of startJob, the 0
// of initThread), in a sentence; "" if it never did.
const char* jobCreationFailure();

// Whether asyncjob_pause_job returns 0 at once in the current job (it is being cancelled).
bool currentJobCancelled();

// Whether pauses are blocked in the current job (asyncjob_pause_job would return at once).
bool currentJobPausesBlocked();

JobKind jobKind(const asyncjob_job* job);
// The job's copy of the args it was started with.
void* jobArgs(const asyncjob_job* job);

// Host threads' stack size (default 8 MiB): applies to host threads created from now on.
bool setHostThreadStackSize(size_t size);
size_t hostThreadStackSize();
// On a host thread: the bounds of its stack, for engines that need a stack limit.
bool currentHostThreadStack(uintptr_t* low, uintptr_t* high);

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_ENGINE_H
