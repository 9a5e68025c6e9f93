// JavaScript jobs: JS functions run as host-thread jobs of the core engine, with the isolate
// handed strictly between the JS thread and the host threads through v8::Locker/Unlocker.
//
// Contract
// - Everything here is called on a JS thread (main or worker) holding its isolate's lock, or
//   on a host thread while it runs a JS job of that thread (then it holds the lock too).
// - A host thread takes the lock (top-level v8::Locker), enters the isolate and sets its stack
//   limit before it runs JS; around every hand-off it exits the isolate before unlocking and
//   enters it again just before relocking, so the isolate's entry stack stays LIFO across
//   threads and V8 finds its isolate while it restores the thread's state (breakpoints).
// - The embedder data that carries async context (AsyncContextFrame) is saved and restored
//   around every hand-off, so a job and its caller each keep their own.
// - At environment teardown every paused job is resumed into termination (its JS unwinds),
//   then the thread's pool is freed. Termination that lands on a host thread (worker.terminate,
//   process.exit in a worker) is raised again on the JS thread that resumed the job.
// - Code of this addon that calls into JavaScript (which may resume a job) must not hold an
//   N-API handle or callback scope of its own (napi_open_handle_scope, Napi::HandleScope): N-API
//   counts them per environment and checks the count around every callback, and a job's
//   pauseJob() callback returns in between. Use v8::HandleScope there.
#ifndef ASYNCJOB_ADDON_JS_JOBS_H
#define ASYNCJOB_ADDON_JS_JOBS_H

#include <napi.h>

namespace asyncjob::addon {

// Adds the job functions and the AsyncJob and NativeJobFunction classes to `exports`, and sets
// up this environment.
void InitJsJobs(Napi::Env env, Napi::Object exports);

// asyncjob_native_function_new of the client API: a NativeJobFunction object that runs
// func(copy of args) as a fiber job when JavaScript starts it. On the environment's JS thread.
napi_status NewNativeJobFunction(napi_env env, int (*func)(void*), const void* args, size_t size,
                                 napi_value* result);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_JS_JOBS_H
