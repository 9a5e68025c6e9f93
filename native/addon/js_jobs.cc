#include "js_jobs.h"

#include <asyncjob.h>
#include <v8.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../core/engine.h"
#include "errors.h"
#include "wait_ctx.h"

namespace asyncjob::addon {
namespace {

int kConstructToken;  // its address lets only this file construct its handle classes

// V8 checks the stack against a limit this far above the host thread's stack end; less than
// 4 KiB crashed the prototype, 128 KiB was always safe.
constexpr uintptr_t kStackMargin = 128 * 1024;


// The async context (AsyncContextFrame, where Node keeps AsyncLocalStorage) lives in V8's
// continuation-preserved embedder data, one value per isolate, not per stack. V8 14.6 (Node 26)
// deprecates its getter and setter for V2 ones, which hold any v8::Data in the same place.
#if V8_MAJOR_VERSION > 14 || (V8_MAJOR_VERSION == 14 && V8_MINOR_VERSION >= 6)
using AsyncContext = v8::Local<v8::Data>;
AsyncContext GetAsyncContext(v8::Isolate* isolate) { return isolate->GetContinuationPreservedEmbedderDataV2(); }
void SetAsyncContext(v8::Isolate* isolate, AsyncContext value) { isolate->SetContinuationPreservedEmbedderDataV2(value); }
#elif V8_MAJOR_VERSION >= 12
using AsyncContext = v8::Local<v8::Value>;
AsyncContext GetAsyncContext(v8::Isolate* isolate) { return isolate->GetContinuationPreservedEmbedderData(); }
void SetAsyncContext(v8::Isolate* isolate, AsyncContext value) { isolate->SetContinuationPreservedEmbedderData(value); }
#else
using AsyncContext = v8::Local<v8::Value>;
AsyncContext GetAsyncContext(v8::Isolate* isolate) {
  return isolate->GetCurrentContext()->GetContinuationPreservedEmbedderData();
}
void SetAsyncContext(v8::Isolate* isolate, AsyncContext value) {
  isolate->GetCurrentContext()->SetContinuationPreservedEmbedderData(value);
}
#endif

// The JS thread's side of a hand-off: unlock the isolate while a host thread runs.
//
// V8 keeps one stack start per isolate for its conservative stack scan (cppgc scans the stack
// of the thread that runs a GC from its stack pointer up to that start), and sets it only when
// a thread enters the isolate. A host thread enters it to run JavaScript; this thread stays
// entered across the hand-off and relocking does not touch the stack start (Node 20's V8), so
// after the first JS job the main thread's GCs scanned an empty range (stacks mapped below it)
// or ran off the stack (mapped above it, as under qemu). Entering once more after relocking
// (and leaving: the isolate stays entered as before) makes V8 take this thread's stack start.
class JsThreadHandOff final : public asyncjob::HandOff {
 public:
  explicit JsThreadHandOff(v8::Isolate* isolate) : isolate_(isolate) {}
  void release() override {
    if (!v8::Locker::IsLocked(isolate_)) return;
    unlocker_.emplace(isolate_);
    releases++;
  }
  void reacquire() override {
    if (!unlocker_) return;
    unlocker_.reset();
    isolate_->Enter();  // V8 takes this thread's stack start (test/stack-start.test.ts)
    isolate_->Exit();
  }

  // How often this thread has let another thread have the isolate: while it had, a termination
  // request (worker.terminate()) may have gone to that thread (see StartJob).
  uint64_t releases = 0;

 private:
  v8::Isolate* isolate_;
  std::optional<v8::Unlocker> unlocker_;
};

// A host thread's side: while it runs JS (isolate set), exit the isolate and unlock it around
// every hand-off, and re-enter and relock after. Entering also gives V8 this thread's stack
// start (see JsThreadHandOff).
//
// Re-entering comes first because relocking restores this thread's archived V8 state, and with
// breakpoints set that re-applies them (Debug::RestoreDebug), which needs Isolate::GetCurrent()
// on this thread: relocking first crashed on Node 20 as soon as a debugger had set any
// breakpoint. Entering without the lock is safe here only because control passes strictly: the
// thread that handed control over has unlocked and waits, so nothing else touches the isolate's
// entry stack until this thread hands control on again.
class HostThreadHandOff final : public asyncjob::HandOff {
 public:
  static HostThreadHandOff& forThisThread() {
    thread_local HostThreadHandOff handOff;
    thread_local bool installed = asyncjob::setThreadHandOff(&handOff);
    (void)installed;
    return handOff;
  }
  void release() override {
    if (isolate == nullptr) return;
    isolate->Exit();
    unlocker_ = new (unlockerStorage_) v8::Unlocker(isolate);
  }
  void reacquire() override {
    if (isolate == nullptr) return;
    isolate->Enter();
    unlocker_->~Unlocker();
    unlocker_ = nullptr;
    // Resumed to be cancelled at teardown (JavaScript can no longer run there): whether it
    // paused in pauseJob() or in another addon's native code, its JavaScript ends by
    // termination (RunJsJob cancels that at the job's end). cancelJob() unwinds instead.
    if (terminateCancelled != nullptr && *terminateCancelled && asyncjob::currentJobCancelled()) {
      isolate->TerminateExecution();
    }
  }
  v8::Isolate* isolate = nullptr;
  const bool* terminateCancelled = nullptr;  // its environment's JsEnv::terminating

 private:
  // Made and destroyed by hand, not a std::optional, so that this thread_local has no
  // destructor: with mingw-w64's emulated TLS a thread's thread_locals are freed before their
  // destructors run, and an optional destroyed there read freed memory as engaged and ran
  // ~Unlocker on garbage, which blocked the exiting host thread on the isolate's lock for
  // ever (held by the JS thread, waiting to join that host thread). release() and reacquire()
  // pair up, so when a host thread ends there is nothing to destroy.
  alignas(v8::Unlocker) unsigned char unlockerStorage_[sizeof(v8::Unlocker)];
  v8::Unlocker* unlocker_ = nullptr;
};
static_assert(std::is_trivially_destructible<HostThreadHandOff>::value,
              "a thread_local: no destructor may run when a host thread ends (see unlocker_)");

struct JsJobState;

// One per environment (the main thread's or a worker's).
struct JsEnv {
  napi_env env = nullptr;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  Napi::FunctionReference asyncJobClass;
  Napi::FunctionReference nativeFunctionClass;
  Napi::ObjectReference outcome;  // its "value": what takeOutcome() hands out next
  std::optional<JsThreadHandOff> handOff;
  bool lockerHeld = false;
  // Set while Teardown cancels: cancelled jobs end by termination instead of unwinding.
  bool terminating = false;
  std::unordered_set<JsJobState*> paused;  // started, not finished, not running
  // What to say on stderr about jobs still paused when the thread ends (src/warnings.ts sets it;
  // empty: nothing), for 1 job and for %n jobs. Said once: by Teardown, or at exit() for a
  // process.exit(), which runs no teardown.
  std::string exitWarningOne, exitWarningMany;
  // Every JavaScript or native job started and not finished, by id: how a job whose handle was
  // garbage-collected is found again (cancelCollected).
  std::unordered_map<double, JsJobState*> live;
  double nextId = 1;
};

// How a cancelled job ends: its pauses throw the reason (cancelJob, a collected handle), or
// its JavaScript is terminated (teardown, where no JavaScript may run).
enum class CancelMode { None, Unwind, Terminate };

// A started job, JavaScript (a host-thread job) or native (a fiber job from a NativeJobFunction).
struct JsJobState {
  JsEnv* env = nullptr;
  asyncjob_job* core = nullptr;  // known from its first pause on
  bool native = false;
  bool running = false;
  bool quietAtExit = false;  // not counted by the exit warning (a Fiber: see src/fibers.ts)
  CancelMode cancelMode = CancelMode::None;
  double id = 0;
  // The function and its arguments (an array), for the host thread to read as the job starts:
  // handles of the startJob() call that starts it, which stays on the JS thread's stack until
  // the job first pauses or ends (and V8 keeps a locked-out thread's handles alive and up to
  // date). No reference per job: making and deleting them cost a pooled start->finish ~1 µs.
  napi_value startFunc = nullptr;
  napi_value startArgs = nullptr;
  // Made when first needed (HoldHandle): when the job first pauses or asks for getCurrentJob(),
  // so that a job that runs to its end at once costs no handle. Weak: a paused job nobody can
  // reach any more is collected (cancelCollected). A running job's handle, once made, is
  // reachable: its resumer's call (startJob, cancelJob) or getCurrentJob()'s caller holds it.
  // A handle is made again if a job runs after its handle was collected.
  Napi::ObjectReference handle;
  class AsyncJob* handleWrap = nullptr;  // goes stale (state = nullptr) when the job finishes
  Napi::ObjectReference waitCtxObject;
  WaitCtx* waitCtx = nullptr;
  // A cancelled job's reason, in its "reason" property (N-API references cannot hold primitives
  // on every Node version); made by Cancel(). The outcome of a job (what its function returned
  // or threw) goes to JsEnv::outcome at once: whoever resumed it takes it before anything else.
  Napi::ObjectReference box;
  bool threw = false;
  bool terminated = false;
};

// An ObjectWrap only this file constructs (from JavaScript, `new` throws
// ERR_ILLEGAL_CONSTRUCTOR) whose instances carry T::kTag, so that FromValue recognises them
// whatever JavaScript does to their prototypes.
template <typename T>
class PrivateHandle : public Napi::ObjectWrap<T> {
 public:
  // Raw Node-API with every status checked, never a throw: this also runs outside any
  // node-addon-api callback (asyncjob_native_function_new, called from another addon's C code),
  // and a worker may start stopping at any moment, after which napi_unwrap fails.
  static T* FromValue(Napi::Value value) {
    napi_valuetype type = napi_undefined;
    if (value.IsEmpty() || napi_typeof(value.Env(), value, &type) != napi_ok ||
        (type != napi_object && type != napi_function)) {
      return nullptr;
    }
    bool tagged = false;
    void* unwrapped = nullptr;
    if (napi_check_object_type_tag(value.Env(), value, &T::kTag, &tagged) != napi_ok || !tagged ||
        napi_unwrap(value.Env(), value, &unwrapped) != napi_ok) {
      return nullptr;
    }
    return static_cast<T*>(unwrapped);
  }

  // A new instance, from this file's side.
  static napi_status New(napi_env env, const Napi::FunctionReference& ctor, napi_value* result) {
    napi_value token;
    napi_value constructor;
    napi_status status = napi_create_external(env, &kConstructToken, nullptr, nullptr, &token);
    if (status == napi_ok) status = napi_get_reference_value(env, ctor, &constructor);
    if (status == napi_ok) status = napi_new_instance(env, constructor, 1, &token, result);
    return status;
  }

 protected:
  PrivateHandle(const Napi::CallbackInfo& info, const char* whereFrom)
      : Napi::ObjectWrap<T>(info) {
    if (info.Length() != 1 || !info[0].IsExternal() ||
        info[0].As<Napi::External<int>>().Data() != &kConstructToken) {
      Napi::Error error = Napi::TypeError::New(info.Env(), std::string("Illegal constructor: ") + whereFrom);
      error.Set("code", "ERR_ILLEGAL_CONSTRUCTOR");
      throw error;
    }
    napi_type_tag_object(info.Env(), info.This(), &T::kTag);
  }
};

class AsyncJob : public PrivateHandle<AsyncJob> {
 public:
  static constexpr napi_type_tag kTag = {0x6173796e636a6f62ULL, 0x4a4f4248414e444cULL};
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "AsyncJob", {}); }
  explicit AsyncJob(const Napi::CallbackInfo& info)
      : PrivateHandle(info, "AsyncJob handles come from startJob()") {}
  ~AsyncJob() override;

  JsJobState* state = nullptr;  // nullptr once the job has finished
  bool native = false;          // its job is (was) a native one, for util.inspect
};

// Collected while its job is paused: the job no longer has a handle (one is made again if it
// runs: HandleOf).
AsyncJob::~AsyncJob() {
  if (state != nullptr && state->handleWrap == this) state->handleWrap = nullptr;
}

// A native job function and its argument bytes, made by a client addon
// (asyncjob_native_function_new) for startJob()/runJob().
class NativeJobFunction : public PrivateHandle<NativeJobFunction> {
 public:
  static constexpr napi_type_tag kTag = {0x6173796e636e6174ULL, 0x4e41544956454a46ULL};
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "NativeJobFunction", {}); }
  explicit NativeJobFunction(const Napi::CallbackInfo& info)
      : PrivateHandle(info, "NativeJobFunctions come from native addons (asyncjob_native_function_new)") {}

  int (*func)(void*) = nullptr;
  std::vector<unsigned char> args;  // copied again by the job that starts (0 bytes: it gets NULL)
};

JsEnv* GetJsEnv(Napi::Env env) { return env.GetInstanceData<JsEnv>(); }

// Whether the environment is stopping (worker.terminate(), process.exit() in a worker). Node-API
// then refuses every call that may run JavaScript, which is how we can tell: even
// napi_coerce_to_bool, the cheapest such call, answers napi_pending_exception (nothing else is
// pending where this is called). It runs after every hand-off, so cheap matters: a property
// lookup here cost 5% of a JS job's pause+resume.
bool EnvStopping(napi_env env) {
  napi_value undefined = nullptr;
  napi_value ignored = nullptr;
  return napi_get_undefined(env, &undefined) == napi_ok &&
         napi_coerce_to_bool(env, undefined, &ignored) == napi_pending_exception;
}

// Makes a stopping environment's termination take effect on this thread. V8 delivers
// TerminateExecution to whichever thread holds the isolate at that moment; one that lands on a
// host thread after its JavaScript has returned is dropped when the next thread restores its own
// state (interrupt requests are per-thread state in V8). Node-API refuses calls meanwhile, and
// node-addon-api swallows the errors that causes, so without this the JS thread would go on for
// ever with every call quietly doing nothing.
bool TerminateIfStopping(JsEnv* je) {
  if (!EnvStopping(je->env)) return false;
  je->isolate->TerminateExecution();
  return true;
}

// Sets an own data property by definition: setters that JavaScript put on Object.prototype never
// run, and a later read of the property calls no getter. Returns false if that failed.
bool DefineValue(napi_env env, napi_value object, const char* name, napi_value value) {
  const napi_property_descriptor property = {name,    nullptr, nullptr, nullptr,
                                             nullptr, value,   napi_default_jsproperty, nullptr};
  return napi_define_properties(env, object, 1, &property) == napi_ok;
}

// This thread's environment, for calls that come in with another addon's napi_env (each addon
// has its own napi_env and instance data, even on the same thread).
thread_local JsEnv* tThreadJsEnv = nullptr;

// Runs on the host thread: the job's function, with the isolate locked and entered.
int RunJsJob(void* arg) {
  JsJobState* st = *static_cast<JsJobState**>(arg);
  JsEnv* je = st->env;
  v8::Isolate* isolate = je->isolate;
  HostThreadHandOff& handOff = HostThreadHandOff::forThisThread();
  tThreadJsEnv = je;  // a host thread serves its owner's environment only
  v8::Locker locker(isolate);
  isolate->Enter();
  uintptr_t low = 0;
  uintptr_t high = 0;
  if (asyncjob::currentHostThreadStack(&low, &high)) isolate->SetStackLimit(low + kStackMargin);
  handOff.isolate = isolate;
  handOff.terminateCancelled = &je->terminating;
  {
    v8::HandleScope handleScope(isolate);
    v8::Context::Scope contextScope(je->context.Get(isolate));
    napi_env env = je->env;
    // Raw N-API from here on: a C++ exception on a host thread would have nobody to catch it.
    napi_value args = st->startArgs;
    st->startArgs = nullptr;
    uint32_t argc = 0;
    napi_get_array_length(env, args, &argc);
    std::vector<napi_value> argv(argc);
    for (uint32_t i = 0; i < argc; i++) napi_get_element(env, args, i, &argv[i]);
    napi_value func = st->startFunc;
    st->startFunc = nullptr;
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_value result = nullptr;
    const napi_status status = napi_call_function(env, undefined, func, argv.size(), argv.data(), &result);
    napi_value outcome = result;
    if (status != napi_ok) {
      napi_get_and_clear_last_exception(env, &outcome);
      // Termination is over by now (V8 ends it where the host thread's JavaScript ends), so ask
      // the environment: one that is stopping (worker.terminate(), process.exit() in a worker)
      // refuses any further call into JavaScript.
      napi_value box = nullptr;
      napi_get_reference_value(env, je->outcome, &box);
      bool probe = false;
      const bool stopping = napi_has_named_property(env, box, "value", &probe) == napi_pending_exception;
      const bool ourTermination = st->cancelMode == CancelMode::Terminate;
      if (ourTermination || stopping || isolate->IsExecutionTerminating()) {
        st->terminated = true;
        outcome = nullptr;
        // Our own termination ends here; termination from outside is raised again on the JS
        // thread.
        if (ourTermination) isolate->CancelTerminateExecution();
      } else {
        st->threw = true;
      }
    }
    if (outcome != nullptr) {
      napi_value box = nullptr;
      napi_get_reference_value(env, je->outcome, &box);
      DefineValue(env, box, "value", outcome);
      // Nothing can be left pending here: the host thread has no JS caller to report it to.
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  handOff.isolate = nullptr;
  isolate->Exit();
  return 0;
}

// The outcome waiting in je->outcome (an own data property: no getter runs), which it no
// longer holds.
Napi::Value TakeOutcomeValue(JsEnv* je) {
  Napi::Env env(je->env);
  Napi::Object box = je->outcome.Value();
  Napi::Value value = box.Get("value");
  DefineValue(env, box, "value", env.Undefined());
  return value;
}

Napi::Error StateError(Napi::Env env, const char* code, const std::string& message) {
  return CodedError(env, code, message);
}

// Ends the bookkeeping of a finished job: its handle goes stale, its WaitCtx is released. Makes
// no JavaScript call: it also runs while the isolate is terminating.
void Retire(JsJobState* st) {
  st->env->paused.erase(st);
  st->env->live.erase(st->id);
  if (st->handleWrap != nullptr) st->handleWrap->state = nullptr;
  if (st->waitCtx != nullptr) st->waitCtx->releaseForJob();
  delete st;
}

void MoveTeardownLast(JsEnv* je);

void Paused(JsJobState* st, asyncjob_job* core) {
  st->core = core;
  st->env->paused.insert(st);
}

// Makes sure the job has a live handle: one is made when it first pauses or asks for it, and
// again if the one it had was collected (a job cancelled then). The calling callback's handle
// scope keeps it alive while the job runs. False when none could be made (the environment is
// stopping).
bool HoldHandle(JsJobState* st) {
  napi_env env = st->env->env;
  napi_value handle = nullptr;
  if (!st->handle.IsEmpty() && napi_get_reference_value(env, st->handle, &handle) == napi_ok &&
      handle != nullptr) {
    return true;
  }
  // The old handle's wrap may not be finalized yet: it must not reach this job afterwards.
  if (st->handleWrap != nullptr) st->handleWrap->state = nullptr;
  st->handleWrap = nullptr;
  napi_value created = nullptr;
  if (AsyncJob::New(env, st->env->asyncJobClass, &created) != napi_ok) return false;
  st->handleWrap = AsyncJob::FromValue(Napi::Value(env, created));
  if (st->handleWrap == nullptr) return false;
  st->handleWrap->state = st;
  st->handleWrap->native = st->native;
  st->handle = Napi::Weak(Napi::Object(env, created));
  return true;
}

Napi::Value StartJob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JsEnv* je = GetJsEnv(env);
  if (!je->lockerHeld) {
    throw StateError(env, "ERR_ASYNCJOB_JS_JOBS_UNAVAILABLE",
                     "JavaScript jobs need the thread to hold a v8::Locker, and this one does not");
  }
  if (info.Length() < 4 || !info[3].IsArray()) {
    throw Napi::TypeError::New(env, "startJob(job, ctx, func, args): bad internal call");
  }
  v8::Isolate* isolate = je->isolate;

  JsJobState* st = nullptr;
  NativeJobFunction* nativeFunction = nullptr;
  const bool resuming = !info[0].IsNull() && !info[0].IsUndefined();
  if (resuming) {
    AsyncJob* handle = AsyncJob::FromValue(info[0]);
    if (handle == nullptr) throw InvalidArgType(env, "job", "an instance of AsyncJob or null", info[0]);
    st = handle->state;
    if (st == nullptr) throw StateError(env, "ERR_ASYNCJOB_JOB_FINISHED", "This job has finished; it cannot be resumed");
    if (st->env != je) throw StateError(env, "ERR_ASYNCJOB_WRONG_THREAD", "This job belongs to another thread");
    if (st->running) {
      throw StateError(env, "ERR_ASYNCJOB_JOB_RUNNING",
                       "This job is running (it is the current job or one that resumed it); only a paused job can be resumed");
    }
  } else {
    // Nothing new starts in a stopping environment: its handle could not even be made.
    if (TerminateIfStopping(je)) return env.Undefined();
    nativeFunction = NativeJobFunction::FromValue(info[2]);
    if (!info[2].IsFunction() && nativeFunction == nullptr) {
      throw InvalidArgType(env, "func", "of type function or a NativeJobFunction", info[2]);
    }
    WaitCtx* waitCtx = nullptr;
    if (!info[1].IsNull() && !info[1].IsUndefined()) {
      waitCtx = WaitCtx::FromValue(info[1]);
      if (waitCtx == nullptr) throw InvalidArgType(env, "ctx", "an instance of WaitCtx or null", info[1]);
      if (waitCtx->freed()) throw StateError(env, "ERR_ASYNCJOB_WAIT_CTX_FREED", "This WaitCtx has been freed");
    }
    MoveTeardownLast(je);
    st = new JsJobState;
    st->env = je;
    st->native = nativeFunction != nullptr;
    if (!st->native) {
      st->startFunc = info[2];
      st->startArgs = info[3];
    }
    st->id = je->nextId++;
    je->live.emplace(st->id, st);
    if (waitCtx != nullptr) {
      waitCtx->retainForJob();
      st->waitCtx = waitCtx;
      st->waitCtxObject = Napi::Persistent(info[1].As<Napi::Object>());
    }
  }

  asyncjob_job* core = st->core;
  asyncjob_wait_ctx* ctx = st->waitCtx != nullptr ? st->waitCtx->core() : nullptr;
  int ret = 0;
  int status;
  const uint64_t releasesBefore = je->handOff->releases;
  st->running = true;
  je->paused.erase(st);
  if (st->native) {
    // Native code on a fiber must not call into JavaScript, which cannot live on a fiber stack:
    // make any attempt crash at once, with V8 saying why.
    v8::Isolate::DisallowJavascriptExecutionScope noJavaScript(
        isolate, v8::Isolate::DisallowJavascriptExecutionScope::CRASH_ON_FAILURE);
    if (core != nullptr) {
      status = asyncjob_start_job(&core, nullptr, &ret, nullptr, nullptr, 0);
    } else {
      std::vector<unsigned char>& bytes = nativeFunction->args;
      status = asyncjob_start_job(&core, ctx, &ret, nativeFunction->func,
                                  bytes.empty() ? nullptr : bytes.data(), bytes.size());
    }
  } else {
    JsJobState* args = st;
    AsyncContext callerContext = GetAsyncContext(isolate);
    status = asyncjob::startJob(asyncjob::JobKind::HostThread, &core, ctx, &ret, RunJsJob, &args,
                                sizeof args);
    SetAsyncContext(isolate, callerContext);
  }
  st->running = false;

  // Termination (worker.terminate(), process.exit() in a worker) that landed on a host thread is
  // meant for this thread, which goes on unwinding; so is one that a host thread held when it
  // handed control back (see TerminateIfStopping). A paused job stays paused: teardown cancels
  // it. (A cancelled job ends in Cancel().)
  if ((status == ASYNCJOB_FINISH && st->terminated) ||
      (je->handOff->releases != releasesBefore && TerminateIfStopping(je))) {
    if (status == ASYNCJOB_PAUSE) {
      Paused(st, core);
    } else {
      Retire(st);
    }
    isolate->TerminateExecution();
    return env.Undefined();
  }
  // The hot path (a resume that pauses again) returns the handle and sets nothing: property
  // stores cost more than the stack switch. Outcomes wait in je->outcome for takeOutcome().
  switch (status) {
    case ASYNCJOB_PAUSE: {
      Paused(st, core);
      if (resuming) return info[0];
      if (!HoldHandle(st)) {
        // The environment began to stop (Node-API refuses napi_wrap then): the job stays
        // paused, for teardown to end.
        if (TerminateIfStopping(je)) return env.Undefined();
        throw StateError(env, "ERR_ASYNCJOB_START_FAILED", "Could not make the paused job's handle");
      }
      return st->handle.Value();
    }
    case ASYNCJOB_FINISH: {
      if (st->native) {
        Retire(st);
        DefineValue(env, je->outcome.Value(), "value", Napi::Number::New(env, ret));
        return Napi::Number::New(env, status);
      }
      const bool threw = st->threw;
      Retire(st);  // first: nothing below may leave the handle alive with its job recycled
      if (threw) {
        // Rethrow the job's own value, whatever it is; it does not stay for takeOutcome().
        napi_throw(env, TakeOutcomeValue(je));
        return env.Undefined();
      }
      return Napi::Number::New(env, status);  // the value waits for takeOutcome()
    }
    default:
      // NO_JOBS or ERR: only a new job gets here (a paused one always resumes).
      Retire(st);
      if (status == ASYNCJOB_ERR) {
        Napi::Error error = asyncjob_is_capable() == 0
                                ? CodedError(env, "ERR_ASYNCJOB_UNSUPPORTED",
                                             "This platform cannot run jobs: it has no stack "
                                             "switching asyncjob can use (isCapable() is false; "
                                             "musl libc, for one, has no ucontext)")
                                : CodedError(env, "ERR_ASYNCJOB_START_FAILED",
                                             std::string("Could not start a job: ") +
                                                 asyncjob::jobCreationFailure());
        DefineValue(env, je->outcome.Value(), "value", error.Value());
      }
      return Napi::Number::New(env, status);
  }
}

// What the last startJob() that finished a job (its return value) or failed (its error) left.
Napi::Value TakeOutcome(const Napi::CallbackInfo& info) { return TakeOutcomeValue(GetJsEnv(info.Env())); }

JsJobState* CurrentJsJob() {
  asyncjob_job* current = asyncjob_get_current_job();
  if (current == nullptr || asyncjob::jobKind(current) != asyncjob::JobKind::HostThread) return nullptr;
  return *static_cast<JsJobState**>(asyncjob::jobArgs(current));
}

Napi::Value PauseJob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JsEnv* je = GetJsEnv(env);
  v8::Isolate* isolate = je->isolate;
  if (asyncjob_get_current_job() == nullptr) return Napi::Boolean::New(env, true);
  AsyncContext jobContext = GetAsyncContext(isolate);
  const int resumed = asyncjob_pause_job();
  SetAsyncContext(isolate, jobContext);
  if (resumed == 0 && asyncjob::currentJobCancelled()) {
    JsJobState* st = CurrentJsJob();
    if (st != nullptr && st->cancelMode == CancelMode::Unwind) {
      // cancelJob() or a collected handle: this pause, and every later one, throws the reason,
      // so that the job's catch and finally blocks run and it ends.
      napi_value box = nullptr;
      napi_value reason = nullptr;
      if (napi_get_reference_value(env, st->box, &box) == napi_ok && box != nullptr &&
          napi_get_named_property(env, box, "reason", &reason) == napi_ok) {
        napi_throw(env, reason);
        return env.Undefined();
      }
    }
    // Teardown: terminate this job's JavaScript. The exception stops the code after pauseJob()
    // at once; termination (already requested on resuming) keeps catch blocks from going on.
    isolate->TerminateExecution();
    napi_throw_error(env, "ERR_ASYNCJOB_JOB_CANCELLED", "This job was cancelled");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, resumed != 0);
}

// How a cancelled job ended (the value cancelJob returns to src/jobs.ts).
enum CancelOutcome {
  kCancelReturned = 0,     // its function returned: takeOutcome() gives the value
  kCancelThrewReason = 1,  // it threw the very reason it was cancelled with
  kCancelThrewOther = 2,   // it threw something else: takeOutcome() gives it
  kCancelEnded = 3,        // a native job (discarded) or a terminated one: no outcome
};

// Resumes a paused job to end it: with `reason` (Unwind) each of its pauses, the pending one
// included, throws the reason until it ends; with no reason (Terminate, at teardown) its
// JavaScript is terminated, which ends on the host thread (RunJsJob). Native code pausing in it
// sees asyncjob_pause_job() return 0 either way. A native (fiber) job is freed as it is.
CancelOutcome Cancel(JsJobState* st, napi_value reason) {
  JsEnv* je = st->env;
  je->paused.erase(st);
  if (st->native) {
    // Native code gets no say: a loop around asyncjob_pause_job() might never end. Its stack
    // is freed as it is, without running anything more on it.
    asyncjob::discardJob(st->core);
    Retire(st);
    return kCancelEnded;
  }
  napi_env env = je->env;
  napi_value box = nullptr;
  bool unwind = false;
  if (reason != nullptr && !je->terminating) {
    if (st->box.IsEmpty() && napi_create_object(env, &box) == napi_ok) {
      st->box = Napi::Persistent(Napi::Object(env, box));
    }
    unwind = !st->box.IsEmpty() && napi_get_reference_value(env, st->box, &box) == napi_ok &&
             box != nullptr && DefineValue(env, box, "reason", reason);
  }
  st->cancelMode = unwind ? CancelMode::Unwind : CancelMode::Terminate;
  if (unwind) HoldHandle(st);  // its catch and finally blocks may ask for getCurrentJob()
  st->running = true;
  asyncjob_job* core = st->core;
  int ret = 0;
  const uint64_t releasesBefore = je->handOff->releases;
  AsyncContext callerContext = GetAsyncContext(je->isolate);
  asyncjob::cancelJob(&core, &ret);  // pauses return 0 at once from now on: it runs to its end
  SetAsyncContext(je->isolate, callerContext);
  st->running = false;
  if (!unwind || st->terminated) {
    const bool raise = unwind;  // termination from outside landed on the host thread
    Retire(st);
    if (raise) je->isolate->TerminateExecution();
    return kCancelEnded;
  }
  if (je->handOff->releases != releasesBefore && TerminateIfStopping(je)) {
    Retire(st);
    return kCancelEnded;
  }
  const bool threw = st->threw;
  Retire(st);
  // Its outcome waits in je->outcome for takeOutcome(), unless it is the reason itself.
  if (threw) {
    napi_value outcome = nullptr;
    napi_value slot = nullptr;
    bool same = false;
    if (napi_get_reference_value(env, je->outcome, &slot) == napi_ok &&
        napi_get_named_property(env, slot, "value", &outcome) == napi_ok &&
        napi_strict_equals(env, outcome, reason, &same) == napi_ok && same) {
      TakeOutcomeValue(je);
      return kCancelThrewReason;
    }
  }
  return threw ? kCancelThrewOther : kCancelReturned;
}

Napi::Value GetCurrentJob(const Napi::CallbackInfo& info) {
  JsJobState* st = CurrentJsJob();
  if (st == nullptr) return info.Env().Null();
  if (!HoldHandle(st)) {
    TerminateIfStopping(st->env);
    return info.Env().Null();
  }
  return st->handle.Value();
}

JsJobState* LiveJobArgument(const Napi::CallbackInfo& info) {
  AsyncJob* handle = AsyncJob::FromValue(info[0]);
  if (handle == nullptr) throw InvalidArgType(info.Env(), "job", "an instance of AsyncJob", info[0]);
  if (handle->state == nullptr) {
    throw StateError(info.Env(), "ERR_ASYNCJOB_JOB_FINISHED", "This job has finished");
  }
  return handle->state;
}

// cancelJob(job, reason): a CancelOutcome.
Napi::Value CancelJob(const Napi::CallbackInfo& info) {
  JsJobState* st = LiveJobArgument(info);
  if (st->running) {
    throw StateError(info.Env(), "ERR_ASYNCJOB_JOB_RUNNING", "A running job cannot be cancelled");
  }
  if (st->env != GetJsEnv(info.Env())) {
    throw StateError(info.Env(), "ERR_ASYNCJOB_WRONG_THREAD", "This job belongs to another thread");
  }
  return Napi::Number::New(info.Env(), Cancel(st, info[1]));
}

// quietAtExit(job): the exit warning does not count this job.
Napi::Value QuietAtExit(const Napi::CallbackInfo& info) {
  LiveJobArgument(info)->quietAtExit = true;
  return info.Env().Undefined();
}

// A job's id, which src/jobs.ts registers for cancelCollected when its handle is collected.
Napi::Value JobId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), LiveJobArgument(info)->id);
}

// cancelCollected(id, reason): cancels the paused job `id` if its handle has been collected
// (nothing can resume it any more); a CancelOutcome, or -1 when there is nothing to do (the job
// has ended, or has a live handle again).
Napi::Value CancelCollected(const Napi::CallbackInfo& info) {
  JsEnv* je = GetJsEnv(info.Env());
  auto found = je->live.find(info[0].ToNumber().DoubleValue());
  if (found == je->live.end()) return Napi::Number::New(info.Env(), -1);
  JsJobState* st = found->second;
  napi_value handle = nullptr;
  if (st->running || (!st->handle.IsEmpty() &&
                      napi_get_reference_value(info.Env(), st->handle, &handle) == napi_ok &&
                      handle != nullptr)) {
    return Napi::Number::New(info.Env(), -1);
  }
  return Napi::Number::New(info.Env(), Cancel(st, info[1]));
}

Napi::Value GetWaitCtx(const Napi::CallbackInfo& info) {
  JsJobState* st = LiveJobArgument(info);
  return st->waitCtxObject.IsEmpty() ? info.Env().Null() : st->waitCtxObject.Value();
}

// What util.inspect shows of a job (src/jobs.ts): 0 paused, 1 running, 2 finished; plus 4 for a
// native (fiber) job. Reads state only: safe on any handle, stale ones included.
Napi::Value JobState(const Napi::CallbackInfo& info) {
  AsyncJob* handle = AsyncJob::FromValue(info[0]);
  if (handle == nullptr) throw InvalidArgType(info.Env(), "job", "an instance of AsyncJob", info[0]);
  const JsJobState* st = handle->state;
  const int state = (st == nullptr ? 2 : (st->running ? 1 : 0)) | (handle->native ? 4 : 0);
  return Napi::Number::New(info.Env(), state);
}

Napi::Value PausesBlocked(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), asyncjob::currentJobPausesBlocked());
}

Napi::Value BlockPause(const Napi::CallbackInfo& info) {
  asyncjob_block_pause();
  return info.Env().Undefined();
}

Napi::Value UnblockPause(const Napi::CallbackInfo& info) {
  asyncjob_unblock_pause();
  return info.Env().Undefined();
}

Napi::Value InitThread(const Napi::CallbackInfo& info) {
  // The bounds docs/api.md promises; src/ validates the same ones first.
  const int64_t maxSize = IntegerArg(info[0], "maxSize", 0, 1000000000);
  const int64_t initSize = IntegerArg(info[1], "initSize", 0, 1000000);
  return Napi::Boolean::New(info.Env(), asyncjob::initThread(asyncjob::JobKind::HostThread,
                                                             static_cast<size_t>(maxSize),
                                                             static_cast<size_t>(initSize)) == 1);
}

// The process-wide limits on jobs of each kind (Infinity where none binds).
Napi::Value JobLimits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto limit = [env](asyncjob::JobKind kind) {
    const size_t n = asyncjob::processJobLimit(kind);
    return Napi::Number::New(env, n == SIZE_MAX ? INFINITY : static_cast<double>(n));
  };
  Napi::Object limits = Napi::Object::New(env);
  DefineValue(env, limits, "jsJobs", limit(asyncjob::JobKind::HostThread));
  DefineValue(env, limits, "nativeJobs", limit(asyncjob::JobKind::Fiber));
  return limits;
}

Napi::Value CleanupThread(const Napi::CallbackInfo& info) {
  const size_t inUse = asyncjob_jobs_in_use();
  if (inUse != 0) {
    throw StateError(info.Env(), "ERR_ASYNCJOB_JOBS_IN_USE",
                     "cleanupThread() with " + std::to_string(inUse) +
                         " job(s) not finished: finish them first (nothing was freed)");
  }
  asyncjob_cleanup_thread();
  return info.Env().Undefined();
}

// setExitWarning(textForOne, textForMany) or setExitWarning(): what to say about the jobs still
// paused when this thread ends (textForMany with %n for their number), or nothing.
Napi::Value SetExitWarning(const Napi::CallbackInfo& info) {
  JsEnv* je = GetJsEnv(info.Env());
  const bool on = info.Length() >= 2 && info[0].IsString() && info[1].IsString();
  je->exitWarningOne = on ? info[0].As<Napi::String>().Utf8Value() : std::string();
  je->exitWarningMany = on ? info[1].As<Napi::String>().Utf8Value() : std::string();
  return info.Env().Undefined();
}

// Says on stderr how many jobs are still paused as the thread ends, once. Makes no JavaScript
// call (none may run any more), so it writes to the process's stderr itself.
void WarnOfPausedJobs(JsEnv* je) {
  size_t n = 0;
  for (const JsJobState* st : je->paused) n += st->quietAtExit ? 0 : 1;
  std::string text = n == 1 ? je->exitWarningOne : je->exitWarningMany;
  je->exitWarningOne.clear();
  je->exitWarningMany.clear();
  if (n == 0 || text.empty()) return;
  const size_t at = text.find("%n");
  if (at != std::string::npos) text.replace(at, 2, std::to_string(n));
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

// The environments not torn down yet. process.exit() on the main thread ends the process with
// exit() and runs no environment cleanup (Teardown), so an exit() handler warns for those.
std::mutex& liveEnvsMutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: the exit() handler may still use it
  return *m;
}
std::vector<JsEnv*>& liveEnvs() {
  static auto* v = new std::vector<JsEnv*>;
  return *v;
}

void WarnAtExit() {
  std::lock_guard<std::mutex> lock(liveEnvsMutex());
  for (JsEnv* je : liveEnvs()) WarnOfPausedJobs(je);
}

void RememberAtExit(JsEnv* je) {
  std::lock_guard<std::mutex> lock(liveEnvsMutex());
  static bool registered = false;
  if (!registered) registered = std::atexit(WarnAtExit) == 0;
  liveEnvs().push_back(je);
}

void ForgetAtExit(JsEnv* je) {
  std::lock_guard<std::mutex> lock(liveEnvsMutex());
  auto& envs = liveEnvs();
  for (auto it = envs.begin(); it != envs.end(); ++it) {
    if (*it == je) {
      envs.erase(it);
      break;
    }
  }
}

Napi::Value JsJobsUnavailableReason(const Napi::CallbackInfo& info) {
  JsEnv* je = GetJsEnv(info.Env());
  if (je->lockerHeld) return info.Env().Null();
  return Napi::String::New(info.Env(), "this thread does not hold a v8::Locker for its isolate");
}

// At environment teardown: unwind every paused job, then free the pool and its host threads.
void Teardown(JsEnv* je) {
  // A V8 scope, not napi_open_handle_scope: N-API counts its scopes per environment and checks
  // the count around each callback, and a host thread's pauseJob() returns during this one.
  v8::HandleScope scope(je->isolate);
  je->terminating = true;
  WarnOfPausedJobs(je);
  ForgetAtExit(je);
  while (!je->paused.empty()) {
    JsJobState* st = *je->paused.begin();
    try {
      Cancel(st, nullptr);
    } catch (...) {
      je->paused.erase(st);  // a hook must not throw; whatever failed, this job is done for
    }
  }
  if (asyncjob_jobs_in_use() == 0) asyncjob_cleanup_thread();
  asyncjob::setThreadHandOff(nullptr);
  if (tThreadJsEnv == je) tThreadJsEnv = nullptr;
}

void TeardownHook(void* arg) { Teardown(static_cast<JsEnv*>(arg)); }

// Environment cleanup hooks run last-registered first, and every other addon's napi_env is
// deleted by a hook registered when that addon loaded. Registering Teardown again at each new
// job makes it the most recent, so it runs before the napi_env of any addon loaded before that
// job started (whose native code a paused JS job may be in) is gone.
void MoveTeardownLast(JsEnv* je) {
  napi_remove_env_cleanup_hook(je->env, TeardownHook, je);
  napi_add_env_cleanup_hook(je->env, TeardownHook, je);
}

}  // namespace

// NewNativeJobFunction's work, which may throw.
static napi_status NewNativeJobFunctionOrThrow(int (*func)(void*), const void* args, size_t size,
                                               napi_value* result);

napi_status NewNativeJobFunction(napi_env env, int (*func)(void*), const void* args, size_t size,
                                 napi_value* result) {
  if (env == nullptr || func == nullptr || result == nullptr || (args == nullptr && size != 0)) {
    return napi_invalid_arg;
  }
  // Called from another addon's C code: no C++ exception may leave (it would end the process).
  try {
    return NewNativeJobFunctionOrThrow(func, args, size, result);
  } catch (...) {
    bool pending = false;
    return napi_is_exception_pending(env, &pending) == napi_ok && pending ? napi_pending_exception
                                                                         : napi_generic_failure;
  }
}

static napi_status NewNativeJobFunctionOrThrow(int (*func)(void*), const void* args, size_t size,
                                               napi_value* result) {
  JsEnv* je = tThreadJsEnv;  // not env's instance data: env is the client addon's
  if (je == nullptr) return napi_generic_failure;
  napi_value object;
  const napi_status status = NativeJobFunction::New(je->env, je->nativeFunctionClass, &object);
  if (status != napi_ok) return status;
  NativeJobFunction* wrapped = NativeJobFunction::FromValue(Napi::Value(je->env, object));
  if (wrapped == nullptr) return napi_generic_failure;
  wrapped->func = func;
  const auto* bytes = static_cast<const unsigned char*>(args);
  wrapped->args.assign(bytes, bytes + size);
  *result = object;
  return napi_ok;
}

void InitJsJobs(Napi::Env env, Napi::Object exports) {
  auto* je = new JsEnv;
  je->env = env;
  je->isolate = v8::Isolate::GetCurrent();
  je->context.Reset(je->isolate, je->isolate->GetCurrentContext());
  je->lockerHeld = v8::Locker::IsLocked(je->isolate);
  if (je->lockerHeld) {
    je->handOff.emplace(je->isolate);
    asyncjob::setThreadHandOff(&*je->handOff);
  }
  Napi::Function asyncJobClass = AsyncJob::Define(env);
  je->asyncJobClass = Napi::Persistent(asyncJobClass);
  Napi::Function nativeFunctionClass = NativeJobFunction::Define(env);
  je->nativeFunctionClass = Napi::Persistent(nativeFunctionClass);
  je->outcome = Napi::Persistent(Napi::Object::New(env));
  env.SetInstanceData<JsEnv>(je);
  tThreadJsEnv = je;
  RememberAtExit(je);
  napi_add_env_cleanup_hook(env, TeardownHook, je);

  exports.Set("AsyncJob", asyncJobClass);
  exports.Set("NativeJobFunction", nativeFunctionClass);
  exports.Set("jsJobsUnavailableReason", Napi::Function::New(env, JsJobsUnavailableReason, "jsJobsUnavailableReason"));
  exports.Set("initThread", Napi::Function::New(env, InitThread, "initThread"));
  exports.Set("cleanupThread", Napi::Function::New(env, CleanupThread, "cleanupThread"));
  exports.Set("jobLimits", Napi::Function::New(env, JobLimits, "jobLimits"));
  exports.Set("startJob", Napi::Function::New(env, StartJob, "startJob"));
  exports.Set("takeOutcome", Napi::Function::New(env, TakeOutcome, "takeOutcome"));
  exports.Set("pauseJob", Napi::Function::New(env, PauseJob, "pauseJob"));
  exports.Set("cancelJob", Napi::Function::New(env, CancelJob, "cancelJob"));
  exports.Set("jobId", Napi::Function::New(env, JobId, "jobId"));
  exports.Set("cancelCollected", Napi::Function::New(env, CancelCollected, "cancelCollected"));
  exports.Set("getCurrentJob", Napi::Function::New(env, GetCurrentJob, "getCurrentJob"));
  exports.Set("getWaitCtx", Napi::Function::New(env, GetWaitCtx, "getWaitCtx"));
  exports.Set("pausesBlocked", Napi::Function::New(env, PausesBlocked, "pausesBlocked"));
  exports.Set("blockPause", Napi::Function::New(env, BlockPause, "blockPause"));
  exports.Set("unblockPause", Napi::Function::New(env, UnblockPause, "unblockPause"));
  exports.Set("jobState", Napi::Function::New(env, JobState, "jobState"));
  exports.Set("quietAtExit", Napi::Function::New(env, QuietAtExit, "quietAtExit"));
  exports.Set("setExitWarning", Napi::Function::New(env, SetExitWarning, "setExitWarning"));
}

}  // namespace asyncjob::addon
