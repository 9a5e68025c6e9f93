// WaitCtx: OpenSSL's ASYNC_WAIT_CTX for JavaScript, a Napi::ObjectWrap over one
// asyncjob_wait_ctx of the core (types/binding.d.ts, NativeWaitCtx, describes what JavaScript
// sees).
//
// Contract
// - Everything runs on the JS thread of the environment that created the object, or on a host
//   thread while it holds that isolate's v8::Locker (a JavaScript job). The one exception is the
//   callback stored in the core (asyncjob_wait_ctx_get_callback): native code may call it on any
//   thread until free(). With the isolate's lock held it calls the JavaScript callback at once
//   and returns its truthiness (an exception stays pending for the JavaScript caller and the
//   result is 0); on any other thread it queues the call to the JS thread and returns 1.
// - Keys are JavaScript values compared by SameValueZero (as Map keys). Each distinct key gets a
//   native address, which is the key the core sees.
// - The key, custom data and cleanup of an fd, and the callback and its argument, are held for
//   as long as the core can hand them out: until clearFd() or free(). They are reachable from
//   the wrapper object only, so a cleanup or callback that refers back to its WaitCtx does not
//   keep it alive.
// - free() runs the cleanup of every fd still set, newest first, as
//   cleanup(ctx, key, fd, customData); while it runs the context already counts as freed. A
//   throwing cleanup does not stop the others; free() rethrows the first exception at the end.
//   Pending pollFds() calls end with ERR_ASYNCJOB_WAIT_CTX_FREED.
// - Garbage collection without free() releases the core context without calling into
//   JavaScript: cleanups do not run. A context held by a job is never collected; at environment
//   teardown it is left to the job engine (not freed), which may still resume the job.
#ifndef ASYNCJOB_ADDON_WAIT_CTX_H
#define ASYNCJOB_ADDON_WAIT_CTX_H

#include <asyncjob.h>
#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace v8 {
class Isolate;
}

namespace asyncjob::addon {

class FdPoll;

// Calls fn(recv, ...argv) with raw Node-API, safe while execution is terminating (where
// node-addon-api's error handling aborts the process). True when it returned (*result, if
// given); else *exception is what it threw, or nullptr when it was terminated or JavaScript
// cannot run (the environment is stopping).
bool CallWithoutThrowing(napi_env env, napi_value fn, napi_value recv, size_t argc,
                         const napi_value* argv, napi_value* exception,
                         napi_value* result = nullptr);

// After a raw Node-API call failed: takes what Node-API keeps as its pending exception (and
// returns it, or nullptr), so that it is not thrown when the native callback returns (under
// termination, as an ordinary `null`).
napi_value ForgetFailedCall(napi_env env);

class WaitCtx : public Napi::ObjectWrap<WaitCtx> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The WaitCtx behind `value`, or nullptr when value is not a (type-tagged) WaitCtx.
  static WaitCtx* FromValue(Napi::Value value);
  bool freed() const;
  asyncjob_wait_ctx* core() const;  // nullptr once freed
  // A job that starts with this context holds it until it finishes: while held, free() throws
  // ERR_ASYNCJOB_WAIT_CTX_IN_USE and changes nothing, and the object is not collected.
  void retainForJob();
  void releaseForJob();
  // binding.waitCtxInspectState(ctx), for util.inspect (src/wait-ctx.ts): { keys: a copy of the
  // Map of keys with fds, callback: whether any callback is set, C ones included }, or null once
  // freed.
  static Napi::Value InspectState(const Napi::CallbackInfo& info);

  explicit WaitCtx(const Napi::CallbackInfo& info);
  ~WaitCtx() override;

 private:
  struct ClassState;      // per environment: the store WeakMap and Map methods
  struct KeySlot;         // one distinct key; its address is the core's key
  struct FdEntry;         // one setWaitFd; its address is the core's custom_data
  struct CallbackRecord;  // the core's callback_arg; outlives the object while calls are queued

  Napi::Value SetWaitFd(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetAllFds(const Napi::CallbackInfo& info);
  Napi::Value GetChangedFds(const Napi::CallbackInfo& info);
  Napi::Value ClearFd(const Napi::CallbackInfo& info);
  Napi::Value SetCallback(const Napi::CallbackInfo& info);
  Napi::Value GetCallback(const Napi::CallbackInfo& info);
  Napi::Value SetStatus(const Napi::CallbackInfo& info);
  Napi::Value GetStatus(const Napi::CallbackInfo& info);
  Napi::Value PollFds(const Napi::CallbackInfo& info);
  Napi::Value PollFdsSync(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value GetFreed(const Napi::CallbackInfo& info);
  // A method or accessor of the prototype: Method on the receiver if it is a (type-tagged)
  // WaitCtx, else a TypeError ERR_INVALID_ARG_TYPE.
  template <Napi::Value (WaitCtx::*Method)(const Napi::CallbackInfo&)>
  static Napi::Value Checked(const Napi::CallbackInfo& info);

  void ThrowIfFreed(Napi::Env env) const;
  Napi::Object Store() const;
  KeySlot* FindSlot(Napi::Object store, Napi::Value key) const;
  FdEntry* FindEntry(void* customData) const;
  void DropEntry(Napi::Object store, Napi::Value key, FdEntry* entry);
  // The [key, customData, cleanup] array of an entry through raw Node-API, or nullptr when a
  // call fails (termination arrived): safe in the cleanup loop (see RunCleanup).
  napi_value EntryValues(const FdEntry* entry) const;
  // The wrapper's store through raw Node-API: nullptr when the lookup fails (termination), for
  // the paths that must not throw. Store() is the same, throwing instead.
  napi_value StoreRaw() const;

  // Core trampolines, and the JS-thread end of the callback queue.
  static void RunCleanup(asyncjob_wait_ctx* ctx, const void* key, asyncjob_fd fd, void* data);
  static int RunCallback(void* arg);
  static void CallQueued(napi_env env, napi_value unused, void* record, void* data);
  static void QueueFinalized(napi_env env, void* record, void* hint);
  static void ReleaseCallbackRecord(CallbackRecord* record);
  // Calls the JavaScript callback (the isolate's lock held). An exception becomes pending for the
  // JavaScript caller, or, from the event loop, an uncaught exception.
  int CallCallback(bool fromLoop);

  ClassState* state_;
  v8::Isolate* isolate_;
  asyncjob_wait_ctx* core_;
  bool freed_ = false;
  unsigned jobHolds_ = 0;
  // While free() runs cleanups: the array the first exception goes to (a handle of free()'s
  // scope). nullptr otherwise, including in the finalizer, where cleanups must not run.
  napi_value cleanupErrors_ = nullptr;
  bool firstCleanupErrorSet_ = false;
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<KeySlot>> slots_;
  std::unordered_map<const FdEntry*, std::unique_ptr<FdEntry>> entries_;
  CallbackRecord* callbackRecord_ = nullptr;
  std::vector<std::weak_ptr<FdPoll>> polls_;
};

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_WAIT_CTX_H
