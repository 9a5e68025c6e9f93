// A smoke addon for Windows: the asyncjob core (fibers, jobs, wait contexts) behind plain N-API
// C calls, with no V8 and no node-addon-api, so mingw-w64 can build it against node.exe's N-API
// exports (see node.def and scripts/windows-smoke.sh). It is not the real addon.
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdio.h>
#include <string.h>

#include "asyncjob.h"

#define CHECK_NAPI(env, call)                                          \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error((env), NULL, "N-API call failed: " #call);      \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

namespace {

napi_value makeInt(napi_env env, int64_t v) {
  napi_value out = NULL;
  napi_create_int64(env, v, &out);
  return out;
}

napi_value makeBool(napi_env env, bool v) {
  napi_value out = NULL;
  napi_get_boolean(env, v, &out);
  return out;
}

napi_value makeString(napi_env env, const char* s) {
  napi_value out = NULL;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

void setProp(napi_env env, napi_value obj, const char* name, napi_value v) {
  napi_set_named_property(env, obj, name, v);
}

napi_value IsCapable(napi_env env, napi_callback_info) {
  return makeBool(env, asyncjob_is_capable() != 0);
}

napi_value FiberBackend(napi_env env, napi_callback_info) {
  return makeString(env, asyncjob_fiber_backend());
}

// ---- runNativeJobs(n): one fiber job that pauses n times, publishing a wait fd each time ----

struct JobArgs {
  int pauses;
};

int g_key;  // its address is the wait-fd key, as in OpenSSL engines
int g_cleanups;

void countCleanup(asyncjob_wait_ctx*, const void*, asyncjob_fd, void*) { g_cleanups++; }

int pausingJob(void* p) {
  const JobArgs* args = static_cast<const JobArgs*>(p);
  asyncjob_wait_ctx* ctx = asyncjob_get_wait_ctx(asyncjob_get_current_job());
  int sum = 0;
  for (int i = 1; i <= args->pauses; i++) {
    asyncjob_wait_ctx_clear_fd(ctx, &g_key);
    if (!asyncjob_wait_ctx_set_wait_fd(ctx, &g_key, (asyncjob_fd)(1000 + i), NULL, countCleanup))
      return -1;
    if (!asyncjob_pause_job()) return -2;
    sum += i;
  }
  asyncjob_wait_ctx_clear_fd(ctx, &g_key);
  return sum;  // n(n+1)/2
}

napi_value RunNativeJobs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t n = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 0) {
    napi_throw_type_error(env, NULL, "runNativeJobs(n): n must be a non-negative integer");
    return NULL;
  }
  g_cleanups = 0;
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  asyncjob_job* job = NULL;
  int ret = 0;
  JobArgs args = {n};
  int pauses = 0, fdsSeen = 0;
  int status = asyncjob_start_job(&job, ctx, &ret, pausingJob, &args, sizeof args);
  while (status == ASYNCJOB_PAUSE) {
    pauses++;
    asyncjob_fd fd = 0;
    void* data = NULL;
    if (asyncjob_wait_ctx_get_fd(ctx, &g_key, &fd, &data) && fd == (asyncjob_fd)(1000 + pauses))
      fdsSeen++;
    size_t inUse = asyncjob_jobs_in_use();
    if (inUse != 1) break;
    status = asyncjob_start_job(&job, ctx, &ret, pausingJob, &args, sizeof args);
  }
  size_t inUseAfter = asyncjob_jobs_in_use();
  asyncjob_wait_ctx_free(ctx);

  napi_value out;
  CHECK_NAPI(env, napi_create_object(env, &out));
  setProp(env, out, "status", makeInt(env, status));
  setProp(env, out, "ret", makeInt(env, ret));
  setProp(env, out, "pauses", makeInt(env, pauses));
  setProp(env, out, "fdsSeen", makeInt(env, fdsSeen));
  setProp(env, out, "cleanups", makeInt(env, g_cleanups));
  setProp(env, out, "jobsInUse", makeInt(env, (int64_t)inUseAfter));
  return out;
}

// ---- waitCtxRoundTrip(): the wait-context C API, outside any job ----

int g_cbArg;
int someCallback(void*) { return 1; }

napi_value WaitCtxRoundTrip(napi_env env, napi_callback_info) {
  char failed[256] = "";
#define EXPECT(cond)                                                       \
  do {                                                                     \
    if (!(cond) && failed[0] == '\0') snprintf(failed, sizeof failed, "%s", #cond); \
  } while (0)
  static int keyA, keyB;
  g_cleanups = 0;
  asyncjob_wait_ctx* ctx = asyncjob_wait_ctx_new();
  EXPECT(ctx != NULL);
  EXPECT(asyncjob_wait_ctx_set_wait_fd(ctx, &keyA, (asyncjob_fd)11, &keyA, countCleanup) == 1);
  EXPECT(asyncjob_wait_ctx_set_wait_fd(ctx, &keyB, (asyncjob_fd)22, NULL, countCleanup) == 1);
  asyncjob_fd fd = 0;
  void* data = NULL;
  EXPECT(asyncjob_wait_ctx_get_fd(ctx, &keyA, &fd, &data) == 1 && fd == 11 && data == &keyA);
  size_t num = 0;
  EXPECT(asyncjob_wait_ctx_get_all_fds(ctx, NULL, &num) == 1 && num == 2);
  asyncjob_fd all[2] = {0, 0};
  EXPECT(asyncjob_wait_ctx_get_all_fds(ctx, all, &num) == 1 && all[0] + all[1] == 33);
  size_t nAdd = 0, nDel = 0;
  EXPECT(asyncjob_wait_ctx_get_changed_fds(ctx, NULL, &nAdd, NULL, &nDel) == 1 && nAdd == 2 &&
         nDel == 0);
  EXPECT(asyncjob_wait_ctx_clear_fd(ctx, &keyA) == 1);
  EXPECT(asyncjob_wait_ctx_get_all_fds(ctx, NULL, &num) == 1 && num == 1);
  EXPECT(asyncjob_wait_ctx_set_callback(ctx, someCallback, &g_cbArg) == 1);
  asyncjob_callback_fn cb = NULL;
  void* cbArg = NULL;
  EXPECT(asyncjob_wait_ctx_get_callback(ctx, &cb, &cbArg) == 1 && cb == someCallback &&
         cbArg == &g_cbArg);
  EXPECT(asyncjob_wait_ctx_set_status(ctx, ASYNCJOB_STATUS_EAGAIN) == 1);
  EXPECT(asyncjob_wait_ctx_get_status(ctx) == ASYNCJOB_STATUS_EAGAIN);
  asyncjob_wait_ctx_free(ctx);
#undef EXPECT
  napi_value out;
  CHECK_NAPI(env, napi_create_object(env, &out));
  setProp(env, out, "ok", makeBool(env, failed[0] == '\0'));
  setProp(env, out, "failed", makeString(env, failed));
  setProp(env, out, "cleanups", makeInt(env, g_cleanups));
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"isCapable", NULL, IsCapable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fiberBackend", NULL, FiberBackend, NULL, NULL, NULL, napi_enumerable, NULL},
      {"runNativeJobs", NULL, RunNativeJobs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitCtxRoundTrip", NULL, WaitCtxRoundTrip, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK_NAPI(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
