// The job engine: OpenSSL's job state machine and per-thread pool, over two kinds of stack.
//
// Every thread that runs jobs has a ThreadJobs: its pool, the job running now, and the OS
// thread it lives on. A job remembers who started or resumed it last (another job, or the
// thread itself) and pauses or finishes back to exactly that one; this is what lets jobs nest,
// where OpenSSL's single dispatcher per thread cannot.
//
// Control moves between *contexts*: a thread's own stack, a fiber job's stack, or a host
// thread's stack. Each context has a home OS thread. Between two contexts at home on the same
// OS thread, control moves by a fiber switch. To a context at home elsewhere, it goes through
// that OS thread's mailbox. A thread's own stack (a host-thread job's too) waits for the
// answer right where it is: nobody else ever runs on it or frees it. A fiber job's stack must
// be left first, since the receiver may at once reuse it for a new job (the pool holds it),
// resume it, or free it: this OS thread switches to its *dispatcher*, a small fiber that posts
// the message once it runs, waits on the mailbox and switches to whichever context here is
// handed control next. Only threads that run fiber jobs have a dispatcher, so a host thread
// that runs JavaScript is its stack and nothing more.
//
// The side that gives up control does the bookkeeping before it goes (a pausing job fills in its
// caller's job handle, a finishing job the return value), and the status travels with control.
// So asyncjob_start_job and asyncjob_pause_job end in the switch itself, and the resumed side
// returns straight to its caller: a fiber round trip costs the two unavoidable mispredicted
// returns and no more.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <new>
#include <thread>

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#endif

#include "asyncjob.h"
#include "engine.h"
#include "fiber.h"
#include "host_thread.h"
#include "job_budget.h"
#include "mailbox.h"
#include "stack.h"
#include "test_hooks.h"
#include "wait_ctx.h"

std::atomic<void (*)()> asyncjob::testing::afterCrossThreadPost{nullptr};

namespace {

using asyncjob::Fiber;
using asyncjob::JobKind;

enum class JobState {
  Idle,     // in the pool's free list
  Running,  // running now, or resuming a job nested in it
  Paused,   // asyncjob_start_job returned ASYNCJOB_PAUSE for it
};

// Values handed over with control, beyond ASYNCJOB_PAUSE and ASYNCJOB_FINISH.
constexpr int kPauseReturns = 1;    // a resumed job's asyncjob_pause_job returns this
constexpr int kCancelReturns = 0;   // ... or this, when the job is being cancelled
constexpr int kQuit = -1;           // an idle host thread ends

struct OsThread;

struct Context {
  Fiber* fiber = nullptr;
  OsThread* home = nullptr;
};

struct Message {
  Context* target;
  int value;
};

// One per OS thread that takes part: a thread running jobs, or a host thread.
struct OsThread {
  Fiber* threadFiber = nullptr;  // this thread's own stack
  Context own;
  Fiber* dispatcher = nullptr;   // created when a fiber job first runs here
  asyncjob::Mailbox<Message> mailbox;
  asyncjob::HandOff* handOff = nullptr;
  Message outgoing{nullptr, 0};  // for the dispatcher to post once nothing else runs here
  // What a thread handing control to this one needs to know to wait well (mailbox.h), in one
  // word that this thread updates as it hands control over, just before it waits (the only
  // time others read it): the CPU it ran on, plus one (0: unknown), and kAnsweredFast if its
  // mailbox is usually answered fast.
  std::atomic<uint32_t> hint{0};
  static constexpr uint32_t kAnsweredFast = 1u << 31;

  void updateHint() {
    const int cpu = asyncjob::SpinBudget::currentCpu();
    hint.store(static_cast<uint32_t>(cpu + 1) | (mailbox.answeredFast() ? kAnsweredFast : 0),
               std::memory_order_relaxed);
  }
};

struct ThreadJobs;

// Whether `context` is its home thread's own stack (a thread's, or a host-thread job's), which
// nothing but that thread ever runs on or frees; the other contexts are fiber jobs' stacks.
inline bool ownStack(const Context* context) {
  return context->fiber == context->home->threadFiber;
}

}  // namespace

struct asyncjob_job {
  JobKind kind = JobKind::Fiber;
  Context context;
  Fiber* fiber = nullptr;                  // fiber jobs: their stack
  asyncjob::HostThread* host = nullptr;    // host-thread jobs: their thread
  asyncjob::JobCost charge;                // what it holds of the process's job budget
  ThreadJobs* owner = nullptr;
  JobState state = JobState::Idle;
  bool cancelled = false;
  int (*func)(void*) = nullptr;
  void* args = nullptr;  // the job's own copy, or nullptr
  asyncjob_wait_ctx* waitCtx = nullptr;
  asyncjob_job** callerJob = nullptr;  // where the last start/resume wants the handle
  int* callerRet = nullptr;            // where the last start/resume wants the return value
  asyncjob_job* resumer = nullptr;     // who started or resumed it last; nullptr: the thread
  unsigned int pauseBlocks = 0;
  asyncjob_job* nextFree = nullptr;     // the pool's idle jobs of its kind
  asyncjob_job* nextCreated = nullptr;  // every job the pool made, idle or not
  std::atomic<bool> hostStarted{false};  // host-thread jobs: context is filled in, or ...
  const char* hostFailure = nullptr;     // ... why the host thread could not set itself up
};

namespace {

struct Pool {
  size_t maxSize = 0;  // 0: no limit
  size_t created = 0;
  size_t idle = 0;
  asyncjob_job* freeFibers = nullptr;
  asyncjob_job* freeHosts = nullptr;
  asyncjob_job* createdList = nullptr;
};

thread_local OsThread* t_os = nullptr;

// The calling OS thread's record, with its own fiber. nullptr when they cannot be allocated.
OsThread* currentOs() {
  if (t_os == nullptr) t_os = new (std::nothrow) OsThread;
  OsThread* os = t_os;
  if (os != nullptr && os->threadFiber == nullptr) {
    os->threadFiber = Fiber::createFromCurrentThread();
    if (os->threadFiber == nullptr) return nullptr;
    os->own = Context{os->threadFiber, os};
  }
  return os;
}

// Gives the thread its own stack back (on Windows: converts the fiber back to a thread); the
// record, with its HandOff, stays until the thread ends. Only when none of its contexts runs.
void releaseOsFibers() {
  if (t_os == nullptr) return;
  Fiber::destroy(t_os->dispatcher);
  Fiber::destroy(t_os->threadFiber);
  t_os->dispatcher = nullptr;
  t_os->threadFiber = nullptr;
}

void destroyCurrentOs() {
  releaseOsFibers();
  delete t_os;
  t_os = nullptr;
}

constexpr size_t kDispatcherStackSize = 256 * 1024;  // room for the HandOff (V8's unlock/lock)

using Receiver = asyncjob::Mailbox<Message>::Receiver;

// A hand-off to another OS thread, as the thread handing over sees it.
struct Posted {
  Receiver receiver;  // what Mailbox::post found there
  int partnerCpu;     // where the receiver last ran
  bool partnerFast;   // whether it is usually answered fast
};

// Hands `message` to its target's OS thread. What the waiting needs to know of the receiver is
// read before: once posted, the receiver may end and free its records (a thread that ends when
// its job pauses back to it).
Posted postAway(OsThread* here, const Message& message) {
  const uint32_t hint = message.target->home->hint.load(std::memory_order_relaxed);
  Posted posted{Receiver::Other, static_cast<int>(hint & ~OsThread::kAnsweredFast) - 1,
                (hint & OsThread::kAnsweredFast) != 0};
  here->updateHint();
  posted.receiver = message.target->home->mailbox.post(message);
  if (auto hook = asyncjob::testing::afterCrossThreadPost.load(std::memory_order_acquire)) {
    hook();
  }
  return posted;
}

// Waits for the next message to this OS thread, having handed control over as `posted`, and
// takes the HandOff back.
Message takeHere(OsThread* here, const Posted& posted) {
  const Message message = here->mailbox.take(posted.receiver, posted.partnerCpu, posted.partnerFast);
  if (here->handOff != nullptr) here->handOff->reacquire();
  return message;
}

void dispatcherMain(void* arg) {
  auto* os = static_cast<OsThread*>(arg);
  for (;;) {
    // Whoever switched here has left its stack: only now may another OS thread take control
    // (and with it, perhaps, that stack).
    const Message out = os->outgoing;
    os->outgoing.target = nullptr;
    const Posted posted = postAway(os, out);
    const Message message = takeHere(os, posted);
    os->dispatcher->switchTo(message.target->fiber, message.value);
  }
}

// Gives `os` its dispatcher now, while a failure can still be reported: transfer, which needs
// it, runs when control is already promised elsewhere and can only abort.
bool prepareDispatcher(OsThread* os) {
  if (os->dispatcher == nullptr) {
    os->dispatcher = Fiber::create(kDispatcherStackSize, dispatcherMain, os);
  }
  return os->dispatcher != nullptr;
}

// Gives control from `from` (running here now) to `to`; returns what is handed back to `from`.
// Another OS thread gets control only after this one has released its HandOff (the receiver
// would otherwise wake up only to block on what this thread still holds) and has left `from`'s
// stack, if that is a fiber's (the dispatcher posts the message).
//
// `here` is from's home, not a thread-local read: a pooled fiber runs successive jobs on
// whichever OS thread starts them, and a compiler may keep a thread-local address across the
// switch in between.
inline int transfer(Context* from, Context* to, int value) {
  OsThread* here = from->home;
  if (to->home == here) return from->fiber->switchTo(to->fiber, value);
  if (here->handOff != nullptr) here->handOff->release();
  if (!ownStack(from)) {
    here->outgoing = Message{to, value};
    if (here->dispatcher == nullptr) std::abort();  // resume() made it (prepareDispatchers)
    return from->fiber->switchTo(here->dispatcher, 0);
  }
  // This thread's own stack: wait on it.
  const Posted posted = postAway(here, Message{to, value});
  const Message message = takeHere(here, posted);
  if (ownStack(message.target)) return message.value;
  // A fiber job at home here; control comes back to this stack by a switch to it.
  return here->threadFiber->switchTo(message.target->fiber, message.value);
}

void fiberJobMain(void* arg);
void hostThreadMain(void* arg);
void runJobs(asyncjob_job* job);

size_t g_hostStackSize = 8u << 20;

// Why the calling OS thread last failed to create a job (jobCreationFailure()).
thread_local char t_creationFailure[200];

#if defined(__MINGW32__)
__attribute__((format(gnu_printf, 1, 2)))  // with __USE_MINGW_ANSI_STDIO, as the Makefile sets
#elif defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void recordCreationFailure(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(t_creationFailure, sizeof t_creationFailure, format, args);
  va_end(args);
}

// What a new job of `kind` takes from the process's job budget, at today's stack sizes. A fiber
// job: its stack with the guard page below it, two maps. A host-thread job: the thread's stack
// and guard (two maps), and the thread. (docs/api.md, Limits,
// has the measured costs.)
asyncjob::JobCost jobCost(JobKind kind) {
  const uint64_t page = asyncjob::pageSize();
  asyncjob::JobCost cost;
  if (kind == JobKind::Fiber) {
    cost.maps = 2;
    cost.bytes = asyncjob_get_stack_size() + page;
  } else {
    // (A host thread that comes to run a fiber job gets a dispatcher too, two more maps that
    // are not counted: rare, and at most one per host thread.)
    cost.maps = 2;
    cost.bytes = g_hostStackSize + page;
    cost.threads = 1;
  }
  return cost;
}

// Trivially destructible, so that the hot paths reach it with a plain thread-local access (a
// destructor would add an initialisation check to every access); ThreadExit frees it instead.
struct ThreadJobs {
  OsThread* os = nullptr;  // the OS thread this logical thread is
  Pool* pool = nullptr;
  asyncjob_job* current = nullptr;

  bool ensureOs();

  Context* selfContext() { return &os->own; }
  Context* resumerContext(const asyncjob_job* job) {
    return job->resumer != nullptr ? &job->resumer->context : selfContext();
  }
  Context* runningContext() { return current != nullptr ? &current->context : selfContext(); }

  size_t jobsInUse() const { return pool == nullptr ? 0 : pool->created - pool->idle; }

  // A new job; nullptr with *failure ASYNCJOB_NO_JOBS when the process's job budget has no room
  // for it, or ASYNCJOB_ERR (the reason recorded) when it cannot be created.
  asyncjob_job* createJob(JobKind kind, int* failure) {
    const asyncjob::JobCost cost = jobCost(kind);
    if (!asyncjob::chargeJob(cost)) {
      recordCreationFailure("the process is at its job limit");
      *failure = ASYNCJOB_NO_JOBS;
      return nullptr;
    }
    *failure = ASYNCJOB_ERR;
    auto* job = new (std::nothrow) asyncjob_job;
    if (job == nullptr) {
      asyncjob::refundJob(cost);
      recordCreationFailure("out of memory for a job's record");
      return nullptr;
    }
    job->owner = this;
    job->kind = kind;
    job->charge = cost;
    bool made;
    if (kind == JobKind::Fiber) {
      job->fiber = Fiber::create(asyncjob_get_stack_size(), fiberJobMain, job);
      job->context.fiber = job->fiber;
      made = job->fiber != nullptr;
      if (!made) {
        recordCreationFailure("could not allocate a %zu KiB stack for a native job",
                              asyncjob_get_stack_size() / 1024);
      }
    } else {
      made = startHostThread(job);
    }
    if (!made) {
      asyncjob::refundJob(cost);
      delete job;
      return nullptr;
    }
    job->nextCreated = pool->createdList;
    pool->createdList = job;
    pool->created++;
    return job;
  }

  // Starts the job's host thread and waits until it is ready to be handed control; false, with
  // the reason recorded, when it cannot start or cannot set itself up.
  static bool startHostThread(asyncjob_job* job) {
    int error = 0;
    job->host = asyncjob::HostThread::start(g_hostStackSize, hostThreadMain, job, &error);
    if (job->host == nullptr) {
      recordCreationFailure("could not create a thread with a %zu KiB stack: %s (errno %d)",
                            g_hostStackSize / 1024, std::strerror(error), error);
      return false;
    }
    // The host thread fills in job->context (or hostFailure) as it starts.
    while (!job->hostStarted.load(std::memory_order_acquire)) std::this_thread::yield();
    if (job->hostFailure != nullptr) {
      job->host->join();
      job->host = nullptr;
      recordCreationFailure("%s", job->hostFailure);
      return false;
    }
    return true;
  }

  static void destroyJob(asyncjob_job* job, bool inUse) {
    if (job->kind == JobKind::Fiber) {
      Fiber::destroy(job->fiber);
    } else if (!inUse) {
      if (job->context.home->mailbox.post(Message{&job->context, kQuit}) == Receiver::Spinning) {
        asyncjob::SpinBudget::release();  // this thread does not wait for an answer
      }
      job->host->join();
    } else {
      return;  // a paused host thread cannot be stopped here: left to the OS, with its job
    }
    asyncjob::refundJob(job->charge);
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
    job->cancelled = false;
    job->state = JobState::Idle;
    asyncjob_job*& freeList = job->kind == JobKind::Fiber ? pool->freeFibers : pool->freeHosts;
    job->nextFree = freeList;
    freeList = job;
    pool->idle++;
  }

  // An idle or new job; nullptr with *failure ASYNCJOB_NO_JOBS when the pool is full, or
  // ASYNCJOB_ERR when a job cannot be created.
  asyncjob_job* take(JobKind kind, int* failure) {
    // maxSize bounds the jobs in use, not the jobs created: an idle host thread that a paused
    // fiber job calls home cannot be destroyed, and must not keep a job from starting.
    if (pool->maxSize != 0 && jobsInUse() >= pool->maxSize) {
      *failure = ASYNCJOB_NO_JOBS;
      return nullptr;
    }
    asyncjob_job*& freeList = kind == JobKind::Fiber ? pool->freeFibers : pool->freeHosts;
    asyncjob_job* job = freeList;
    if (job != nullptr) {
      freeList = job->nextFree;
      pool->idle--;
      return job;
    }
    // Idle jobs of the other kind make room, so that the pool keeps to maxSize jobs where it can.
    const JobKind other = kind == JobKind::Fiber ? JobKind::HostThread : JobKind::Fiber;
    while (pool->maxSize != 0 && pool->created >= pool->maxSize && destroyIdle(other)) {
    }
    // At the process's job limit, they give back their share of it too.
    do {
      job = createJob(kind, failure);
    } while (job == nullptr && *failure == ASYNCJOB_NO_JOBS && destroyIdle(other));
    return job;
  }

  // Destroys an idle job of `kind` that can go; false when there is none.
  bool destroyIdle(JobKind kind) {
    asyncjob_job** link = kind == JobKind::Fiber ? &pool->freeFibers : &pool->freeHosts;
    while (*link != nullptr && !removable(*link)) link = &(*link)->nextFree;
    if (*link == nullptr) return false;
    asyncjob_job* spare = *link;
    *link = spare->nextFree;
    removeCreated(spare);
    pool->idle--;
    pool->created--;
    destroyJob(spare, /*inUse=*/false);
    return true;
  }

  // Whether an idle job can be destroyed now: an idle host thread cannot while a fiber job
  // that is not idle has it as its home (it ran there and will be resumed there).
  bool removable(const asyncjob_job* idle) const {
    if (idle->kind == JobKind::Fiber) return true;
    for (const asyncjob_job* job = pool->createdList; job != nullptr; job = job->nextCreated) {
      if (job->kind == JobKind::Fiber && job->state != JobState::Idle &&
          job->context.home == idle->context.home) {
        return false;
      }
    }
    return true;
  }

  void removeCreated(asyncjob_job* job) {
    for (asyncjob_job** link = &pool->createdList; *link != nullptr; link = &(*link)->nextCreated) {
      if (*link == job) {
        *link = job->nextCreated;
        return;
      }
    }
  }

  bool createPool(JobKind kind, size_t maxSize, size_t initSize) {
    auto* fresh = new (std::nothrow) Pool;
    if (fresh == nullptr) return false;
    fresh->maxSize = maxSize;
    pool = fresh;
    for (size_t i = 0; i < initSize; i++) {
      int failure;
      asyncjob_job* job = createJob(kind, &failure);
      if (job == nullptr) {
        destroyPool();
        return false;
      }
      release(job);
    }
    return true;
  }

  // Frees every job and the pool. Callers make sure no job is in use, except at thread exit,
  // when paused jobs can never be resumed again: fiber stacks are freed with whatever they
  // hold, and paused host threads are left to the OS.
  void destroyPool() {
    while (pool->createdList != nullptr) {
      asyncjob_job* job = pool->createdList;
      pool->createdList = job->nextCreated;
      destroyJob(job, job->state != JobState::Idle);
    }
    delete pool;
    pool = nullptr;
  }

  void teardown(bool force) {
    if (pool != nullptr) {
      if (!force && jobsInUse() != 0) return;
      destroyPool();
    }
    os = nullptr;
    releaseOsFibers();
  }
};

// The logical thread the calling OS thread acts for: its own, or (on a host thread) the
// thread whose job it runs.
thread_local ThreadJobs t_ownJobs;
thread_local ThreadJobs* t_jobs = nullptr;

ThreadJobs& thisThread() {
  ThreadJobs* jobs = t_jobs;
  return jobs != nullptr ? *jobs : t_ownJobs;
}

// Frees the thread's own jobs when the thread ends. Touched only when a thread first takes
// part, which is when there is anything to free.
struct ThreadExit {
  bool armed = false;
  ~ThreadExit() {
    if (!armed) return;
    // If the thread (or the process, through exit()) ends from inside a job, we are running on
    // one of the stacks we would free: leave everything to the OS.
    if (t_jobs != nullptr || t_ownJobs.current != nullptr) return;
    t_ownJobs.teardown(/*force=*/true);
    destroyCurrentOs();
  }
};
thread_local ThreadExit t_exit;

void armThreadExit() {
#if defined(_WIN32)
  // A thread that took part runs this module's code when it ends, and Node unloads an addon
  // when the last environment that loaded it ends: for a worker, before its thread ends. With
  // mingw-w64, libstdc++ holds a reference on the module for each thread_local destructor and
  // drops it (FreeLibrary) right after the destructor runs, which unloaded the module under the
  // code running it: the thread's end jumped into unmapped memory (under Wine, a page fault
  // whose debugger never came up, so worker.terminate() hung). Pinned, the module stays.
  static const bool pinned = [] {
    HMODULE self = nullptr;
    return GetModuleHandleExW(
               GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
               reinterpret_cast<LPCWSTR>(&armThreadExit), &self) != 0;
  }();
  (void)pinned;
#endif
  t_exit.armed = true;
}

bool ThreadJobs::ensureOs() {
  if (os == nullptr) {
    os = currentOs();
    armThreadExit();
  }
  return os != nullptr;
}

void fiberJobMain(void* arg) {
  runJobs(static_cast<asyncjob_job*>(arg));
  std::abort();  // fibers are never handed kQuit
}

void hostThreadMain(void* arg) {
  auto* job = static_cast<asyncjob_job*>(arg);
  t_jobs = job->owner;  // this thread acts for the thread whose pool it belongs to
  // Everything this thread needs is set up before it says it is ready: until then its creator
  // can still report a failure; from then on control may be handed here.
  OsThread* os = currentOs();
  if (os == nullptr) {
    destroyCurrentOs();
    job->hostFailure = "the new thread ran out of memory for its own records";
    job->hostStarted.store(true, std::memory_order_release);  // the creator joins this thread
    return;
  }
  job->context = os->own;
  job->hostStarted.store(true, std::memory_order_release);
  if (os->handOff != nullptr) os->handOff->release();
  const Message first = takeHere(os, Posted{Receiver::Other, -1, false});
  if (first.value != kQuit) runJobs(job);
  destroyCurrentOs();
}

// Runs the jobs the pool hands this one, each to its end; returns when handed kQuit.
void runJobs(asyncjob_job* job) {
  ThreadJobs& jobs = *job->owner;
  for (;;) {
    const int ret = job->func(job->args);
    if (job->callerRet != nullptr) *job->callerRet = ret;
    *job->callerJob = nullptr;
    jobs.current = job->resumer;
    Context* back = jobs.resumerContext(job);
    // Back in the pool while still running: nothing else runs before control moves on, and the
    // pool hands the job out again only from another context.
    jobs.release(job);
    if (transfer(&job->context, back, ASYNCJOB_FINISH) == kQuit) return;
  }
}

// Makes sure that every fiber this resume may leave for another OS thread has a dispatcher to
// wait on there: `from`, if it is a fiber handing control away; `target`, if it is a fiber at
// home elsewhere (it answers across threads). False, with the reason recorded, when one cannot
// be allocated: now a failure can still be reported; in transfer() it could only abort.
bool prepareDispatchers(const Context* from, const asyncjob_job* target) {
  OsThread* there = target->context.home;
  if (there == from->home) return true;
  const bool ready = (ownStack(from) || prepareDispatcher(from->home)) &&
                     (target->kind != JobKind::Fiber || prepareDispatcher(there));
  if (!ready) {
    recordCreationFailure("out of memory for a thread's dispatcher (a %zu KiB stack)",
                          kDispatcherStackSize / 1024);
  }
  return ready;
}

int resume(ThreadJobs& jobs, asyncjob_job** job, asyncjob_job* target, int* ret, int value) {
  Context* from = jobs.runningContext();
  if (!prepareDispatchers(from, target)) return ASYNCJOB_ERR;
  target->callerJob = job;
  target->callerRet = ret;
  target->resumer = jobs.current;
  target->state = JobState::Running;
  jobs.current = target;
  // The job hands back ASYNCJOB_PAUSE or ASYNCJOB_FINISH, having filled in *job and *ret.
  return transfer(from, &target->context, value);
}

}  // namespace

namespace asyncjob {

bool setThreadHandOff(HandOff* handOff) {
  if (handOff == nullptr) {
    // Removing it creates nothing: a thread that has just given its stack back (Teardown in
    // the addon, after asyncjob_cleanup_thread) must not be converted to a fiber again.
    if (t_os != nullptr) t_os->handOff = nullptr;
    return true;
  }
  OsThread* os = currentOs();
  if (os == nullptr) return false;
  armThreadExit();
  os->handOff = handOff;
  return true;
}

int initThread(JobKind kind, size_t maxSize, size_t initSize) {
  if (maxSize != 0 && initSize > maxSize) return 0;
  // More than the process can ever hold: refused at once, before anything is created or freed.
  if (initSize > processJobLimit(kind)) {
    recordCreationFailure("%zu jobs are more than the process's limit of %zu", initSize,
                          processJobLimit(kind));
    return 0;
  }
  ThreadJobs& jobs = thisThread();
  if (jobs.jobsInUse() != 0 || !jobs.ensureOs()) return 0;
  if (jobs.pool != nullptr) jobs.destroyPool();
  return jobs.createPool(kind, maxSize, initSize) ? 1 : 0;
}

int startJob(JobKind kind, asyncjob_job** job, asyncjob_wait_ctx* ctx, int* ret,
             int (*func)(void*), void* args, size_t size) {
  if (job == nullptr) return ASYNCJOB_ERR;
  ThreadJobs& jobs = thisThread();
  asyncjob_job* target = *job;
  if (target != nullptr) {
    // Resume. func, args and ctx are ignored, as in OpenSSL.
    if (target->owner != &jobs || target->state != JobState::Paused) return ASYNCJOB_ERR;
    // OpenSSL resets the change tracking as the job resumes: nothing runs in between.
    if (target->waitCtx != nullptr) waitCtxResetCounts(target->waitCtx);
    return resume(jobs, job, target, ret, kPauseReturns);
  }
  if (func == nullptr) return ASYNCJOB_ERR;
  if (!jobs.ensureOs() || (jobs.pool == nullptr && !jobs.createPool(kind, 0, 0))) {
    recordCreationFailure("out of memory for this thread's job records");
    return ASYNCJOB_ERR;
  }
  int failure = ASYNCJOB_ERR;
  target = jobs.take(kind, &failure);
  if (target == nullptr) return failure;
  if (args != nullptr && size != 0) {
    target->args = std::malloc(size);
    if (target->args == nullptr) {
      recordCreationFailure("out of memory for a copy of the job's %zu bytes of args", size);
      jobs.release(target);
      return ASYNCJOB_ERR;
    }
    std::memcpy(target->args, args, size);
  }
  target->func = func;
  target->waitCtx = ctx;
  target->pauseBlocks = 0;
  // A fiber runs on the OS thread that starts it; a host thread on its own.
  if (kind == JobKind::Fiber) target->context.home = t_os;
  return resume(jobs, job, target, ret, kPauseReturns);
}

int cancelJob(asyncjob_job** job, int* ret) {
  if (job == nullptr || *job == nullptr) return ASYNCJOB_ERR;
  ThreadJobs& jobs = thisThread();
  asyncjob_job* target = *job;
  if (target->owner != &jobs || target->state != JobState::Paused) return ASYNCJOB_ERR;
  target->cancelled = true;
  return resume(jobs, job, target, ret, kCancelReturns);
}

bool discardJob(asyncjob_job* job) {
  ThreadJobs& jobs = thisThread();
  if (job == nullptr || job->owner != &jobs || job->state != JobState::Paused ||
      job->kind != JobKind::Fiber) {
    return false;
  }
  jobs.removeCreated(job);
  jobs.pool->created--;
  ThreadJobs::destroyJob(job, /*inUse=*/false);
  return true;
}

const char* jobCreationFailure() { return t_creationFailure; }

size_t processJobLimit(JobKind kind) {
  const uint64_t capacity = jobCapacity(jobCost(kind));
  return capacity >= SIZE_MAX ? SIZE_MAX : static_cast<size_t>(capacity);
}

bool currentJobCancelled() {
  asyncjob_job* job = thisThread().current;
  return job != nullptr && job->cancelled;
}

bool currentJobPausesBlocked() {
  asyncjob_job* job = thisThread().current;
  return job != nullptr && job->pauseBlocks != 0;
}

JobKind jobKind(const asyncjob_job* job) { return job->kind; }

void* jobArgs(const asyncjob_job* job) { return job->args; }

bool setHostThreadStackSize(size_t size) {
  if (size < 256 * 1024) return false;
  g_hostStackSize = size;
  return true;
}

size_t hostThreadStackSize() { return g_hostStackSize; }

bool currentHostThreadStack(uintptr_t* low, uintptr_t* high) {
  return HostThread::currentStack(low, high);
}

}  // namespace asyncjob

extern "C" {

int asyncjob_is_capable(void) { return Fiber::isSupported() ? 1 : 0; }

const char* asyncjob_fiber_backend(void) { return Fiber::backendName(); }

int asyncjob_init_thread(size_t max_size, size_t init_size) {
  return asyncjob::initThread(JobKind::Fiber, max_size, init_size);
}

void asyncjob_cleanup_thread(void) {
  ThreadJobs& jobs = thisThread();
  if (&jobs != &t_ownJobs) return;  // a host thread never owns a pool
  jobs.teardown(/*force=*/false);
}

size_t asyncjob_jobs_in_use(void) { return thisThread().jobsInUse(); }

int asyncjob_start_job(asyncjob_job** job, asyncjob_wait_ctx* ctx, int* ret, int (*func)(void*),
                       void* args, size_t size) {
  return asyncjob::startJob(JobKind::Fiber, job, ctx, ret, func, args, size);
}

int asyncjob_pause_job(void) {
  ThreadJobs& jobs = thisThread();
  asyncjob_job* job = jobs.current;
  // Outside a job, or with pauses blocked, pausing is a successful no-op (as in OpenSSL).
  if (job == nullptr || job->pauseBlocks != 0) return 1;
  if (job->cancelled) return kCancelReturns;
  job->state = JobState::Paused;
  *job->callerJob = job;
  jobs.current = job->resumer;
  return transfer(&job->context, jobs.resumerContext(job), ASYNCJOB_PAUSE);
}

asyncjob_job* asyncjob_get_current_job(void) { return thisThread().current; }

asyncjob_wait_ctx* asyncjob_get_wait_ctx(asyncjob_job* job) {
  return job == nullptr ? nullptr : job->waitCtx;
}

void asyncjob_block_pause(void) {
  asyncjob_job* job = thisThread().current;
  if (job != nullptr) job->pauseBlocks++;
}

void asyncjob_unblock_pause(void) {
  asyncjob_job* job = thisThread().current;
  if (job != nullptr && job->pauseBlocks != 0) job->pauseBlocks--;
}

}  // extern "C"
