/*
 * asyncjob_client.h — asyncjob's C API for other Node.js addons, from headers only.
 *
 * Contract
 * --------
 * asyncjob publishes its C API as a versioned table of function pointers: a type-tagged
 * external, `require('asyncjob').nativeApi`, also stored on the global object under
 * Symbol.for('asyncjob.nativeApi') of every environment that has loaded asyncjob. A client addon
 *
 *   1. requires 'asyncjob' before loading itself (in its own JavaScript, or its users do),
 *   2. calls asyncjob_client_init(env) once in its module init, which fetches the table,
 *   3. then calls the asyncjob_* functions of asyncjob.h as usual: here they are inline calls
 *      through the table, into the one asyncjob binary of the process.
 *
 * It compiles against this header and asyncjob.h only and never links to asyncjob: there is
 * exactly one job engine per process, the one every addon shares. Add asyncjob's include dir to
 * the client's binding.gyp with "<!(node -p \"require('asyncjob/native').include_dir\")".
 *
 * Beyond asyncjob.h, asyncjob_native_function_new() wraps a native job function and its
 * argument bytes as a NativeJobFunction object, which JavaScript passes to startJob() or runJob()
 * to run the function as a job on a fiber stack.
 *
 * Native code running as a job on a fiber stack must not call into JavaScript (no napi_* call
 * that runs JS, no callbacks): JavaScript cannot live on a fiber stack. asyncjob makes such a call
 * crash at once with a clear V8 message instead of corrupting memory later.
 *
 * In C++ the table pointer is an inline variable shared by every translation unit. A client
 * written in C only defines ASYNCJOB_CLIENT_IMPLEMENTATION in exactly one .c file before
 * including this header; one with any C++ file must not (the C++ side defines the pointer).
 */
#ifndef ASYNCJOB_CLIENT_H
#define ASYNCJOB_CLIENT_H

/* asyncjob itself includes this header with ASYNCJOB_API_TABLE_ONLY, for the table's layout. */
#ifndef ASYNCJOB_API_TABLE_ONLY
#define ASYNCJOB_CLIENT_SHIM 1
#endif
#include <node_api.h>

#include "asyncjob.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version 1 of the table. Later versions only append members: a client checks `version`, and
 * `size` tells how many members the publishing asyncjob has. */
#define ASYNCJOB_API_VERSION 1

typedef struct asyncjob_api {
  uint32_t version;
  uint32_t size;
  int (*init_thread)(size_t max_size, size_t init_size);
  void (*cleanup_thread)(void);
  int (*start_job)(asyncjob_job **job, asyncjob_wait_ctx *ctx, int *ret, int (*func)(void *),
                   void *args, size_t size);
  int (*pause_job)(void);
  asyncjob_job *(*get_current_job)(void);
  asyncjob_wait_ctx *(*get_wait_ctx)(asyncjob_job *job);
  void (*block_pause)(void);
  void (*unblock_pause)(void);
  int (*is_capable)(void);
  asyncjob_wait_ctx *(*wait_ctx_new)(void);
  void (*wait_ctx_free)(asyncjob_wait_ctx *ctx);
  int (*wait_ctx_set_wait_fd)(asyncjob_wait_ctx *ctx, const void *key, asyncjob_fd fd,
                              void *custom_data, asyncjob_wait_fd_cleanup_fn cleanup);
  int (*wait_ctx_get_fd)(asyncjob_wait_ctx *ctx, const void *key, asyncjob_fd *fd,
                         void **custom_data);
  int (*wait_ctx_get_all_fds)(asyncjob_wait_ctx *ctx, asyncjob_fd *fd, size_t *numfds);
  int (*wait_ctx_get_changed_fds)(asyncjob_wait_ctx *ctx, asyncjob_fd *addfd, size_t *numaddfds,
                                  asyncjob_fd *delfd, size_t *numdelfds);
  int (*wait_ctx_clear_fd)(asyncjob_wait_ctx *ctx, const void *key);
  int (*wait_ctx_set_callback)(asyncjob_wait_ctx *ctx, asyncjob_callback_fn callback,
                               void *callback_arg);
  int (*wait_ctx_get_callback)(asyncjob_wait_ctx *ctx, asyncjob_callback_fn *callback,
                               void **callback_arg);
  int (*wait_ctx_set_status)(asyncjob_wait_ctx *ctx, int status);
  int (*wait_ctx_get_status)(asyncjob_wait_ctx *ctx);
  int (*set_mem_functions)(asyncjob_stack_alloc_fn alloc_fn, asyncjob_stack_free_fn free_fn);
  void (*get_mem_functions)(asyncjob_stack_alloc_fn *alloc_fn, asyncjob_stack_free_fn *free_fn);
  int (*set_stack_size)(size_t size);
  size_t (*get_stack_size)(void);
  const char *(*fiber_backend)(void);
  size_t (*jobs_in_use)(void);
  /* A NativeJobFunction for JavaScript: func runs as a job with its own copy of the `size` bytes
   * at `args` (NULL and 0: the job gets NULL), like asyncjob_start_job's arguments. */
  napi_status (*native_function_new)(napi_env env, int (*func)(void *), const void *args,
                                     size_t size, napi_value *result);
} asyncjob_api;

/* The type tag of the nativeApi external (and so of nothing else). */
#define ASYNCJOB_API_TYPE_TAG_LOWER 0x61737963706a6f62ULL
#define ASYNCJOB_API_TYPE_TAG_UPPER 0x6e61746976656170ULL

#ifndef ASYNCJOB_API_TABLE_ONLY

/* The table, once fetched. Hidden: one per client binary, never merged with another addon's. */
#if defined(__GNUC__) && !defined(_WIN32)
#define ASYNCJOB_CLIENT_HIDDEN __attribute__((visibility("hidden")))
#else
#define ASYNCJOB_CLIENT_HIDDEN
#endif

#ifdef __cplusplus
ASYNCJOB_CLIENT_HIDDEN inline const asyncjob_api *asyncjob_client_api = NULL;
#elif defined(ASYNCJOB_CLIENT_IMPLEMENTATION)
ASYNCJOB_CLIENT_HIDDEN const asyncjob_api *asyncjob_client_api = NULL;
#else
ASYNCJOB_CLIENT_HIDDEN extern const asyncjob_api *asyncjob_client_api;
#endif

/* Takes the table from `native_api` (the value of require('asyncjob').nativeApi). On failure it
 * throws a JavaScript Error with a `code` and returns napi_pending_exception. */
static inline napi_status asyncjob_client_init_from(napi_env env, napi_value native_api) {
  static const napi_type_tag tag = {ASYNCJOB_API_TYPE_TAG_LOWER, ASYNCJOB_API_TYPE_TAG_UPPER};
  bool tagged = false;
  void *data = NULL;
  const asyncjob_api *api;
  napi_valuetype type = napi_undefined;
  /* napi_check_object_type_tag() throws for undefined and null (and would leave that exception
   * pending instead of this one): look at the type first. */
  if (native_api == NULL || napi_typeof(env, native_api, &type) != napi_ok ||
      (type != napi_object && type != napi_external && type != napi_function) ||
      napi_check_object_type_tag(env, native_api, &tag, &tagged) != napi_ok ||
      !tagged || napi_get_value_external(env, native_api, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_ASYNCJOB_NOT_LOADED",
                          "asyncjob's nativeApi was not found: require('asyncjob') before loading "
                          "this addon, or pass require('asyncjob').nativeApi");
    return napi_pending_exception;
  }
  api = (const asyncjob_api *)data;
  if (api->version < ASYNCJOB_API_VERSION || api->size < sizeof(asyncjob_api)) {
    napi_throw_error(env, "ERR_ASYNCJOB_API_VERSION",
                     "the loaded asyncjob is older than the asyncjob_client.h this addon was built "
                     "with: upgrade asyncjob");
    return napi_pending_exception;
  }
  asyncjob_client_api = api;
  return napi_ok;
}

/* Fetches the table from this environment's global object (asyncjob puts it there when it
 * loads). Call it once in the module init. */
static inline napi_status asyncjob_client_init(napi_env env) {
  napi_value global, symbol_ctor, symbol_for, name, key, native_api = NULL;
  napi_get_global(env, &global);
  if (napi_get_named_property(env, global, "Symbol", &symbol_ctor) == napi_ok &&
      napi_get_named_property(env, symbol_ctor, "for", &symbol_for) == napi_ok &&
      napi_create_string_utf8(env, "asyncjob.nativeApi", NAPI_AUTO_LENGTH, &name) == napi_ok &&
      napi_call_function(env, symbol_ctor, symbol_for, 1, &name, &key) == napi_ok) {
    napi_get_property(env, global, key, &native_api);
  }
  return asyncjob_client_init_from(env, native_api);
}

/* asyncjob.h's functions, through the table. */
static inline int asyncjob_init_thread(size_t max_size, size_t init_size) {
  return asyncjob_client_api->init_thread(max_size, init_size);
}
static inline void asyncjob_cleanup_thread(void) { asyncjob_client_api->cleanup_thread(); }
static inline int asyncjob_start_job(asyncjob_job **job, asyncjob_wait_ctx *ctx, int *ret,
                                     int (*func)(void *), void *args, size_t size) {
  return asyncjob_client_api->start_job(job, ctx, ret, func, args, size);
}
static inline int asyncjob_pause_job(void) { return asyncjob_client_api->pause_job(); }
static inline asyncjob_job *asyncjob_get_current_job(void) {
  return asyncjob_client_api->get_current_job();
}
static inline asyncjob_wait_ctx *asyncjob_get_wait_ctx(asyncjob_job *job) {
  return asyncjob_client_api->get_wait_ctx(job);
}
static inline void asyncjob_block_pause(void) { asyncjob_client_api->block_pause(); }
static inline void asyncjob_unblock_pause(void) { asyncjob_client_api->unblock_pause(); }
static inline int asyncjob_is_capable(void) { return asyncjob_client_api->is_capable(); }
static inline asyncjob_wait_ctx *asyncjob_wait_ctx_new(void) {
  return asyncjob_client_api->wait_ctx_new();
}
static inline void asyncjob_wait_ctx_free(asyncjob_wait_ctx *ctx) {
  asyncjob_client_api->wait_ctx_free(ctx);
}
static inline int asyncjob_wait_ctx_set_wait_fd(asyncjob_wait_ctx *ctx, const void *key,
                                                asyncjob_fd fd, void *custom_data,
                                                asyncjob_wait_fd_cleanup_fn cleanup) {
  return asyncjob_client_api->wait_ctx_set_wait_fd(ctx, key, fd, custom_data, cleanup);
}
static inline int asyncjob_wait_ctx_get_fd(asyncjob_wait_ctx *ctx, const void *key,
                                           asyncjob_fd *fd, void **custom_data) {
  return asyncjob_client_api->wait_ctx_get_fd(ctx, key, fd, custom_data);
}
static inline int asyncjob_wait_ctx_get_all_fds(asyncjob_wait_ctx *ctx, asyncjob_fd *fd,
                                                size_t *numfds) {
  return asyncjob_client_api->wait_ctx_get_all_fds(ctx, fd, numfds);
}
static inline int asyncjob_wait_ctx_get_changed_fds(asyncjob_wait_ctx *ctx, asyncjob_fd *addfd,
                                                    size_t *numaddfds, asyncjob_fd *delfd,
                                                    size_t *numdelfds) {
  return asyncjob_client_api->wait_ctx_get_changed_fds(ctx, addfd, numaddfds, delfd, numdelfds);
}
static inline int asyncjob_wait_ctx_clear_fd(asyncjob_wait_ctx *ctx, const void *key) {
  return asyncjob_client_api->wait_ctx_clear_fd(ctx, key);
}
static inline int asyncjob_wait_ctx_set_callback(asyncjob_wait_ctx *ctx,
                                                 asyncjob_callback_fn callback,
                                                 void *callback_arg) {
  return asyncjob_client_api->wait_ctx_set_callback(ctx, callback, callback_arg);
}
static inline int asyncjob_wait_ctx_get_callback(asyncjob_wait_ctx *ctx,
                                                 asyncjob_callback_fn *callback,
                                                 void **callback_arg) {
  return asyncjob_client_api->wait_ctx_get_callback(ctx, callback, callback_arg);
}
static inline int asyncjob_wait_ctx_set_status(asyncjob_wait_ctx *ctx, int status) {
  return asyncjob_client_api->wait_ctx_set_status(ctx, status);
}
static inline int asyncjob_wait_ctx_get_status(asyncjob_wait_ctx *ctx) {
  return asyncjob_client_api->wait_ctx_get_status(ctx);
}
static inline int asyncjob_set_mem_functions(asyncjob_stack_alloc_fn alloc_fn,
                                             asyncjob_stack_free_fn free_fn) {
  return asyncjob_client_api->set_mem_functions(alloc_fn, free_fn);
}
static inline void asyncjob_get_mem_functions(asyncjob_stack_alloc_fn *alloc_fn,
                                              asyncjob_stack_free_fn *free_fn) {
  asyncjob_client_api->get_mem_functions(alloc_fn, free_fn);
}
static inline int asyncjob_set_stack_size(size_t size) {
  return asyncjob_client_api->set_stack_size(size);
}
static inline size_t asyncjob_get_stack_size(void) { return asyncjob_client_api->get_stack_size(); }
static inline const char *asyncjob_fiber_backend(void) {
  return asyncjob_client_api->fiber_backend();
}
static inline size_t asyncjob_jobs_in_use(void) { return asyncjob_client_api->jobs_in_use(); }

/* A NativeJobFunction object for JavaScript's startJob()/runJob(): see the table's member. */
static inline napi_status asyncjob_native_function_new(napi_env env, int (*func)(void *),
                                                       const void *args, size_t size,
                                                       napi_value *result) {
  return asyncjob_client_api->native_function_new(env, func, args, size, result);
}

#endif /* ASYNCJOB_API_TABLE_ONLY */

#ifdef __cplusplus
}
#endif

#endif /* ASYNCJOB_CLIENT_H */
