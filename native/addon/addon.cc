// Module init: what the binding exports (described for TypeScript in types/binding.d.ts).
#include <asyncjob.h>
#include <napi.h>

#include "js_jobs.h"
#include "native_api.h"
#include "pipe.h"
#include "wait_ctx.h"

namespace asyncjob::addon {
namespace {

Napi::Value IsCapable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), asyncjob_is_capable() != 0);
}

Napi::Value FiberBackend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), asyncjob_fiber_backend());
}

}  // namespace
}  // namespace asyncjob::addon

// Global scope: NODE_API_MODULE needs the unqualified name of the init function.
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace asyncjob::addon;
  exports.Set("isCapable", Napi::Function::New(env, IsCapable, "isCapable"));
  exports.Set("fiberBackend", Napi::Function::New(env, FiberBackend, "fiberBackend"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("WaitCtx", WaitCtx::Define(env));
  exports.Set("waitCtxInspectState", Napi::Function::New(env, WaitCtx::InspectState, "waitCtxInspectState"));
  InitJsJobs(env, exports);
  InitNativeApi(env, exports);
  return exports;
}

NODE_API_MODULE(asyncjob, Init)
