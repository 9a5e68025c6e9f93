// A client addon of asyncjob for the test suite and bench/native-from-js.mjs, built only with
// asyncjob_client.h: every asyncjob_* call below goes through the table asyncjob publishes.
// Raw N-API (no node-addon-api), no C++ exceptions.
#include <asyncjob_client.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

namespace {

// ---- helpers ----

napi_value Throw(napi_env env, const char* message) {
  napi_throw_error(env, "ERR_TEST_CLIENT", message);
  return nullptr;
}

bool Int32Arg(napi_env env, napi_callback_info info, size_t index, int32_t* out, int32_t fallback) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return false;
  if (index >= argc) {
    *out = fallback;
    return true;
  }
  napi_valuetype type;
  napi_typeof(env, argv[index], &type);
  if (type == napi_undefined) {
    *out = fallback;
    return true;
  }
  if (type == napi_boolean) {
    bool b = false;
    napi_get_value_bool(env, argv[index], &b);
    *out = b ? 1 : 0;
    return true;
  }
  if (type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a number");
    return false;
  }
  return napi_get_value_int32(env, argv[index], out) == napi_ok;
}

napi_value Int(napi_env env, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

napi_value Bool(napi_env env, bool value) {
  napi_value v;
  napi_get_boolean(env, value, &v);
  return v;
}

napi_value NativeFunction(napi_env env, int (*func)(void*), const void* args, size_t size) {
  napi_value fn = nullptr;
  const napi_status status = asyncjob_native_function_new(env, func, args, size, &fn);
  if (status != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return nullptr;
    char message[96];
    snprintf(message, sizeof message, "asyncjob_native_function_new failed: napi_status %d", static_cast<int>(status));
    return Throw(env, message);
  }
  return fn;
}

// ---- native job functions (they run on a fiber stack: no JavaScript, no napi_* that runs it) ----

struct PauserArgs {
  int32_t n;
};

// Pauses n times; returns n (or a negative number if a pause reported a cancellation).
int PauserJob(void* arg) {
  const int32_t n = static_cast<PauserArgs*>(arg)->n;
  for (int32_t i = 0; i < n; i++) {
    if (!asyncjob_pause_job()) return -1 - i;
  }
  return n;
}

// Pauses until a pause returns 0; returns how many pauses returned 1.
int PauseForeverJob(void*) {
  int count = 0;
  while (asyncjob_pause_job()) count++;
  return count;
}

const int kFdKey = 0;  // its address is the key, as an engine would use its own static
int kFdCustomData = 0;

struct SetFdArgs {
  int32_t fd;
  int32_t pauseAfterClear;
};

// Sets fd in its WaitCtx, pauses, clears it (and pauses again if asked); returns 0, or a
// negative step number where the WaitCtx said no.
int SetFdJob(void* arg) {
  const SetFdArgs a = *static_cast<SetFdArgs*>(arg);
  asyncjob_job* job = asyncjob_get_current_job();
  if (job == nullptr) return -1;
  asyncjob_wait_ctx* ctx = asyncjob_get_wait_ctx(job);
  if (ctx == nullptr) return -2;
  if (!asyncjob_wait_ctx_set_wait_fd(ctx, &kFdKey, a.fd, &kFdCustomData, nullptr)) return -3;
  asyncjob_fd fd = -1;
  void* custom = nullptr;
  if (!asyncjob_wait_ctx_get_fd(ctx, &kFdKey, &fd, &custom) || fd != a.fd || custom != &kFdCustomData) {
    return -4;
  }
  if (!asyncjob_pause_job()) return -5;
  if (!asyncjob_wait_ctx_clear_fd(ctx, &kFdKey)) return -6;
  if (a.pauseAfterClear && !asyncjob_pause_job()) return -7;
  return 0;
}

// The core job of the last CaptureJob, for the other-thread test.
std::atomic<asyncjob_job*> g_captured{nullptr};

int CaptureJob(void*) {
  g_captured.store(asyncjob_get_current_job());
  if (!asyncjob_pause_job()) return -1;
  return 42;
}

struct CallsJsArgs {
  napi_env env;
  napi_ref ref;
};

// Calls into JavaScript from a fiber, which asyncjob forbids: it must crash the process loudly.
// Wakes its runner through the WaitCtx callback before it pauses (an engine that completes at
// once), sets ASYNCJOB_STATUS_EAGAIN, pauses once; returns 7, or -1 without a callback.
int WakeThenPauseJob(void*) {
  asyncjob_wait_ctx* ctx = asyncjob_get_wait_ctx(asyncjob_get_current_job());
  asyncjob_callback_fn callback = nullptr;
  void* arg = nullptr;
  if (ctx == nullptr || !asyncjob_wait_ctx_get_callback(ctx, &callback, &arg)) return -1;
  callback(arg);
  asyncjob_wait_ctx_set_status(ctx, ASYNCJOB_STATUS_EAGAIN);
  asyncjob_pause_job();
  return 7;
}

int CallsJsJob(void* arg) {
  const CallsJsArgs a = *static_cast<CallsJsArgs*>(arg);
  napi_value fn = nullptr;
  napi_value undefined = nullptr;
  napi_value result = nullptr;
  if (napi_get_reference_value(a.env, a.ref, &fn) != napi_ok) return -1000;
  napi_get_undefined(a.env, &undefined);
  const napi_status status = napi_call_function(a.env, undefined, fn, 0, nullptr, &result);
  return 1000 + static_cast<int>(status);  // only if it did not crash
}

// ---- JavaScript-callable functions ----

// pauser(n) -> NativeJobFunction: pauses n times and returns n.
napi_value Pauser(napi_env env, napi_callback_info info) {
  PauserArgs args{};
  if (!Int32Arg(env, info, 0, &args.n, 1)) return nullptr;
  return NativeFunction(env, PauserJob, &args, sizeof args);
}

// pauseForever() -> NativeJobFunction: while (asyncjob_pause_job()) count++; return count.
napi_value PauseForever(napi_env env, napi_callback_info) {
  return NativeFunction(env, PauseForeverJob, nullptr, 0);
}

// setFdJob(fd, pauseAfterClear = false) -> NativeJobFunction (see SetFdJob).
napi_value SetFd(napi_env env, napi_callback_info info) {
  SetFdArgs args{};
  if (!Int32Arg(env, info, 0, &args.fd, -1) || !Int32Arg(env, info, 1, &args.pauseAfterClear, 0)) {
    return nullptr;
  }
  return NativeFunction(env, SetFdJob, &args, sizeof args);
}

// wakeThenPause() -> NativeJobFunction (see WakeThenPauseJob).
napi_value WakeThenPause(napi_env env, napi_callback_info) {
  return NativeFunction(env, WakeThenPauseJob, nullptr, 0);
}

// captureJob() -> NativeJobFunction: keeps its core job for resumeCaptured(), pauses once,
// returns 42.
napi_value Capture(napi_env env, napi_callback_info) {
  return NativeFunction(env, CaptureJob, nullptr, 0);
}

// resumeCaptured() -> the status of asyncjob_start_job on the captured job, from this thread.
napi_value ResumeCaptured(napi_env env, napi_callback_info) {
  asyncjob_job* job = g_captured.load();
  if (job == nullptr) return Throw(env, "no job captured");
  int ret = -1;
  return Int(env, asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0));
}

// callsJs(fn) -> NativeJobFunction whose job calls fn through N-API (it must crash).
napi_value CallsJs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value fn;
  napi_get_cb_info(env, info, &argc, &fn, nullptr, nullptr);
  CallsJsArgs args{env, nullptr};
  if (argc < 1 || napi_create_reference(env, fn, 1, &args.ref) != napi_ok) {
    return Throw(env, "callsJs(fn): fn must be an object or function");
  }
  return NativeFunction(env, CallsJsJob, &args, sizeof args);
}

// pauseFromNative() -> asyncjob_pause_job() from a plain native function (JS calls it, so inside
// a JavaScript job it pauses that job).
napi_value PauseFromNative(napi_env env, napi_callback_info) { return Int(env, asyncjob_pause_job()); }

napi_value CurrentJobIsNull(napi_env env, napi_callback_info) {
  return Bool(env, asyncjob_get_current_job() == nullptr);
}

napi_value JobsInUse(napi_env env, napi_callback_info) {
  return Int(env, static_cast<int32_t>(asyncjob_jobs_in_use()));
}

napi_value FiberBackend(napi_env env, napi_callback_info) {
  napi_value s;
  napi_create_string_utf8(env, asyncjob_fiber_backend(), NAPI_AUTO_LENGTH, &s);
  return s;
}

// sleepMs(ms): blocks the calling thread in native code, running no JavaScript. A JS job made of
// it alone ends with no JavaScript between the sleep and the job's end, which is where a
// termination request that arrives during the sleep is left pending.
napi_value SleepMs(napi_env env, napi_callback_info info) {
  int32_t ms = 0;
  if (!Int32Arg(env, info, 0, &ms, 0)) return nullptr;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return nullptr;
}

// callWaitCtxCallback() -> what the current job's WaitCtx callback returns, called from native
// code right now, as an engine that completes at once would.
napi_value CallWaitCtxCallback(napi_env env, napi_callback_info) {
  asyncjob_job* job = asyncjob_get_current_job();
  asyncjob_wait_ctx* ctx = job == nullptr ? nullptr : asyncjob_get_wait_ctx(job);
  asyncjob_callback_fn callback = nullptr;
  void* arg = nullptr;
  if (ctx == nullptr || !asyncjob_wait_ctx_get_callback(ctx, &callback, &arg) || callback == nullptr) {
    return Throw(env, "callWaitCtxCallback(): no job, WaitCtx or callback");
  }
  return Int(env, callback(arg));
}

// For the benchmark's breakdown: the floor of a JS -> N-API call that does nothing.
napi_value Noop(napi_env, napi_callback_info) { return nullptr; }

// For the benchmark's breakdown: n pause+resume round trips of a native job started and
// resumed from C on this thread (the last resume finishes it), no JavaScript involved; returns
// the nanoseconds the n resumes took.
napi_value CRoundTrips(napi_env env, napi_callback_info info) {
  PauserArgs args{};
  if (!Int32Arg(env, info, 0, &args.n, 0)) return nullptr;
  if (args.n < 1) return Throw(env, "cRoundTrips(n): n >= 1");
  asyncjob_job* job = nullptr;
  int ret = 0;
  if (asyncjob_start_job(&job, nullptr, &ret, PauserJob, &args, sizeof args) != ASYNCJOB_PAUSE) {
    return Throw(env, "cRoundTrips: the job did not pause");
  }
  int status = ASYNCJOB_PAUSE;
  const auto t0 = std::chrono::steady_clock::now();
  for (int32_t i = 0; i < args.n && status == ASYNCJOB_PAUSE; i++) {
    status = asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0);
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (status != ASYNCJOB_FINISH || ret != args.n) return Throw(env, "cRoundTrips: the job went wrong");
  const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
  napi_value v;
  napi_create_double(env, ns, &v);
  return v;
}

// initFrom(value) -> true, after asyncjob_client_init_from(env, value) took the table from it
// (it throws for anything but require('asyncjob').nativeApi, and then keeps the table it had).
napi_value InitFrom(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value value = nullptr;
  napi_get_cb_info(env, info, &argc, &value, nullptr, nullptr);
  if (asyncjob_client_init_from(env, argc < 1 ? nullptr : value) != napi_ok) return nullptr;
  return Bool(env, true);
}

// Wrong type tags: a plain object and an external tagged with a tag that is not
// NativeJobFunction's, and an external with no tag at all.
const napi_type_tag kWrongTag = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
int kExternalData = 0;

napi_value WrongTagObject(napi_env env, napi_callback_info) {
  napi_value object;
  napi_create_object(env, &object);
  napi_type_tag_object(env, object, &kWrongTag);
  return object;
}

napi_value WrongTagExternal(napi_env env, napi_callback_info) {
  napi_value external;
  napi_create_external(env, &kExternalData, nullptr, nullptr, &external);
  napi_type_tag_object(env, external, &kWrongTag);
  return external;
}

napi_value UntaggedExternal(napi_env env, napi_callback_info) {
  napi_value external;
  napi_create_external(env, &kExternalData, nullptr, nullptr, &external);
  return external;
}

}  // namespace

NAPI_MODULE_INIT() {
  if (asyncjob_client_init(env) != napi_ok) return nullptr;  // its exception is pending
  const napi_property_descriptor properties[] = {
      {"pauser", nullptr, Pauser, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pauseForever", nullptr, PauseForever, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setFdJob", nullptr, SetFd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"wakeThenPause", nullptr, WakeThenPause, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"captureJob", nullptr, Capture, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"resumeCaptured", nullptr, ResumeCaptured, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"callsJs", nullptr, CallsJs, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pauseFromNative", nullptr, PauseFromNative, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"currentJobIsNull", nullptr, CurrentJobIsNull, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"jobsInUse", nullptr, JobsInUse, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"fiberBackend", nullptr, FiberBackend, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"noop", nullptr, Noop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sleepMs", nullptr, SleepMs, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"callWaitCtxCallback", nullptr, CallWaitCtxCallback, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"cRoundTrips", nullptr, CRoundTrips, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"initFrom", nullptr, InitFrom, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"wrongTagObject", nullptr, WrongTagObject, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"wrongTagExternal", nullptr, WrongTagExternal, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"untaggedExternal", nullptr, UntaggedExternal, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
