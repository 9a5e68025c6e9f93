#include "native_api.h"

#define ASYNCJOB_API_TABLE_ONLY 1  // the table's layout, with asyncjob.h's real functions
#include <asyncjob_client.h>

#include "js_jobs.h"

namespace asyncjob::addon {
namespace {

// The process's one table: every environment hands out the same functions.
const asyncjob_api kApi = {
    ASYNCJOB_API_VERSION,
    sizeof(asyncjob_api),
    ::asyncjob_init_thread,
    ::asyncjob_cleanup_thread,
    ::asyncjob_start_job,
    ::asyncjob_pause_job,
    ::asyncjob_get_current_job,
    ::asyncjob_get_wait_ctx,
    ::asyncjob_block_pause,
    ::asyncjob_unblock_pause,
    ::asyncjob_is_capable,
    ::asyncjob_wait_ctx_new,
    ::asyncjob_wait_ctx_free,
    ::asyncjob_wait_ctx_set_wait_fd,
    ::asyncjob_wait_ctx_get_fd,
    ::asyncjob_wait_ctx_get_all_fds,
    ::asyncjob_wait_ctx_get_changed_fds,
    ::asyncjob_wait_ctx_clear_fd,
    ::asyncjob_wait_ctx_set_callback,
    ::asyncjob_wait_ctx_get_callback,
    ::asyncjob_wait_ctx_set_status,
    ::asyncjob_wait_ctx_get_status,
    ::asyncjob_set_mem_functions,
    ::asyncjob_get_mem_functions,
    ::asyncjob_set_stack_size,
    ::asyncjob_get_stack_size,
    ::asyncjob_fiber_backend,
    ::asyncjob_jobs_in_use,
    NewNativeJobFunction,
};

}  // namespace

void InitNativeApi(Napi::Env env, Napi::Object exports) {
  static const napi_type_tag tag = {ASYNCJOB_API_TYPE_TAG_LOWER, ASYNCJOB_API_TYPE_TAG_UPPER};
  auto external = Napi::External<asyncjob_api>::New(env, const_cast<asyncjob_api*>(&kApi));
  napi_type_tag_object(env, external, &tag);
  exports.Set("nativeApi", external);
  Napi::Object global = env.Global();
  Napi::Value key = global.Get("Symbol").As<Napi::Object>().Get("for").As<Napi::Function>().Call(
      global.Get("Symbol"), {Napi::String::New(env, "asyncjob.nativeApi")});
  // A second copy of asyncjob in this environment (a nested dependency) keeps the first one's
  // table: clients then share the engine that got there first.
  if (!global.Has(key)) {
    global.DefineProperty(Napi::PropertyDescriptor::Value(key, external, napi_default));
  }
}

}  // namespace asyncjob::addon
