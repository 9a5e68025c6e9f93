#include "wait_ctx.h"

#include <v8.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../core/engine.h"
#include "errors.h"
#include "fd_poll.h"

namespace asyncjob::addon {

namespace {

// Marks WaitCtx objects, whatever their prototype, so that FromValue can trust napi_unwrap.
constexpr napi_type_tag kWaitCtxTag = {0x6173796e636a6f62ULL /* "asyncjob" */,
                                       0x2e57616974437478ULL /* ".WaitCtx" */};

constexpr int64_t kMaxFd = INT32_MAX;  // as OpenSSL's int fds
constexpr int64_t kMaxTimeoutMs = INT32_MAX;

std::vector<int> FdList(Napi::Value value, const std::string& name) {
  if (!value.IsArray()) throw InvalidArgType(value.Env(), name, "an instance of Array", value);
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int> fds(array.Length());
  for (uint32_t i = 0; i < fds.size(); i++) {
    fds[i] = static_cast<int>(IntegerArg(array.Get(i), name + "[" + std::to_string(i) + "]", 0, kMaxFd));
  }
  return fds;
}

}  // namespace

// Calls fn(recv, ...argv) without letting node-addon-api see a failure: its Error::New aborts
// the process (FATAL ERROR Error::Error napi_define_properties) when the call failed because
// execution is terminating. Returns true when the call returned (with *result); else
// *exception is what it threw, or nullptr when it was terminated or JavaScript cannot run
// (the environment is stopping).
bool CallWithoutThrowing(napi_env env, napi_value fn, napi_value recv, size_t argc,
                         const napi_value* argv, napi_value* exception, napi_value* result) {
  napi_value ignored;
  if (napi_call_function(env, recv, fn, argc, argv, result != nullptr ? result : &ignored) == napi_ok) {
    return true;
  }
  *exception = ForgetFailedCall(env);
  if (v8::Isolate::GetCurrent()->IsExecutionTerminating()) *exception = nullptr;
  return false;
}

napi_value ForgetFailedCall(napi_env env) {
  // Cleared even under termination: Node-API keeps the termination's stand-in value as its last
  // exception and would throw it, as an ordinary `null`, when the native callback returns.
  napi_value caught = nullptr;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_get_and_clear_last_exception(env, &caught);
  }
  return caught;
}

namespace {

Napi::Array ToArray(Napi::Env env, const asyncjob_fd* fds, size_t count) {
  Napi::Array array = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) array.Set(static_cast<uint32_t>(i), static_cast<double>(fds[i]));
  return array;
}

}  // namespace

// Per environment; lives as long as the class (its constructor's finalizer deletes it), which
// every instance keeps alive through its prototype.
struct WaitCtx::ClassState {
  // wrapper -> store { keys: Map<key, slot id>, entries: Map<entry id, [key, customData,
  // cleanup]>, callback, arg }. A WeakMap, so only the wrapper keeps its store alive.
  Napi::ObjectReference stores;
  Napi::FunctionReference weakMapGet, weakMapSet, weakMapDelete;
  Napi::FunctionReference map, mapGet, mapSet, mapDelete;
};

struct WaitCtx::KeySlot {
  uint64_t id;
  size_t entries = 0;  // FdEntry records with this key
};

struct WaitCtx::FdEntry {
  WaitCtx* owner;
  KeySlot* slot;
  uint64_t id;
};

// The core's callback_arg. Two owners, both on the JS thread: the WaitCtx (until free() or
// finalization) and, once created, the callback queue (until Node finalizes it).
struct WaitCtx::CallbackRecord {
  WaitCtx* owner;                            // nullptr once freed or collected
  v8::Isolate* isolate;                      // immutable: read on any thread
  napi_threadsafe_function queue = nullptr;  // immutable once the core holds the record
  bool ownerGone = false;
  bool queueGone = false;
};

Napi::Function WaitCtx::Define(Napi::Env env) {
  auto* state = new ClassState;
  Napi::Object global = env.Global();
  Napi::Function weakMap = global.Get("WeakMap").As<Napi::Function>();
  Napi::Object weakMapPrototype = weakMap.Get("prototype").As<Napi::Object>();
  state->stores = Napi::Persistent(weakMap.New({}));
  state->weakMapGet = Napi::Persistent(weakMapPrototype.Get("get").As<Napi::Function>());
  state->weakMapSet = Napi::Persistent(weakMapPrototype.Get("set").As<Napi::Function>());
  state->weakMapDelete = Napi::Persistent(weakMapPrototype.Get("delete").As<Napi::Function>());
  Napi::Function map = global.Get("Map").As<Napi::Function>();
  Napi::Object mapPrototype = map.Get("prototype").As<Napi::Object>();
  state->map = Napi::Persistent(map);
  state->mapGet = Napi::Persistent(mapPrototype.Get("get").As<Napi::Function>());
  state->mapSet = Napi::Persistent(mapPrototype.Get("set").As<Napi::Function>());
  state->mapDelete = Napi::Persistent(mapPrototype.Get("delete").As<Napi::Function>());

  Napi::Function constructor = DefineClass(env, "WaitCtx", {}, state);
  // On the prototype, not as class members: Napi::ObjectWrap reads any wrapped receiver (an
  // AsyncJob too) as a WaitCtx, napi_define_class checks an accessor's receiver not at all and a
  // method's with an uncoded "Illegal invocation". Checked<> checks the type tag instead.
  const auto method = [](const char* name, Napi::Function function) {
    return Napi::PropertyDescriptor::Value(name, function, napi_default);
  };
  constructor.Get("prototype").As<Napi::Object>().DefineProperties({
      method("setWaitFd", Napi::Function::New<Checked<&WaitCtx::SetWaitFd>>(env, "setWaitFd")),
      method("getFd", Napi::Function::New<Checked<&WaitCtx::GetFd>>(env, "getFd")),
      method("getAllFds", Napi::Function::New<Checked<&WaitCtx::GetAllFds>>(env, "getAllFds")),
      method("getChangedFds", Napi::Function::New<Checked<&WaitCtx::GetChangedFds>>(env, "getChangedFds")),
      method("clearFd", Napi::Function::New<Checked<&WaitCtx::ClearFd>>(env, "clearFd")),
      method("setCallback", Napi::Function::New<Checked<&WaitCtx::SetCallback>>(env, "setCallback")),
      method("getCallback", Napi::Function::New<Checked<&WaitCtx::GetCallback>>(env, "getCallback")),
      method("setStatus", Napi::Function::New<Checked<&WaitCtx::SetStatus>>(env, "setStatus")),
      method("getStatus", Napi::Function::New<Checked<&WaitCtx::GetStatus>>(env, "getStatus")),
      method("pollFds", Napi::Function::New<Checked<&WaitCtx::PollFds>>(env, "pollFds")),
      method("pollFdsSync", Napi::Function::New<Checked<&WaitCtx::PollFdsSync>>(env, "pollFdsSync")),
      method("free", Napi::Function::New<Checked<&WaitCtx::Free>>(env, "free")),
      Napi::PropertyDescriptor::Accessor<Checked<&WaitCtx::GetFreed>>("freed", napi_default),
  });
  constructor.AddFinalizer([](Napi::Env, ClassState* classState) { delete classState; }, state);
  return constructor;
}

WaitCtx* WaitCtx::FromValue(Napi::Value value) {
  napi_valuetype type;
  if (value.IsEmpty() || napi_typeof(value.Env(), value, &type) != napi_ok ||
      (type != napi_object && type != napi_function)) {
    return nullptr;
  }
  bool tagged = false;
  void* instance = nullptr;
  if (napi_check_object_type_tag(value.Env(), value, &kWaitCtxTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(value.Env(), value, &instance) != napi_ok) {
    return nullptr;
  }
  return static_cast<WaitCtx*>(instance);
}

template <Napi::Value (WaitCtx::*Method)(const Napi::CallbackInfo&)>
Napi::Value WaitCtx::Checked(const Napi::CallbackInfo& info) {
  WaitCtx* self = FromValue(info.This());
  if (self == nullptr) throw InvalidArgType(info.Env(), "this", "an instance of WaitCtx", info.This());
  return (self->*Method)(info);
}

WaitCtx::WaitCtx(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<WaitCtx>(info),
      state_(static_cast<ClassState*>(info.Data())),
      isolate_(v8::Isolate::GetCurrent()),
      core_(asyncjob_wait_ctx_new()) {
  Napi::Env env = info.Env();
  if (core_ == nullptr) throw CodedError(env, "ERR_ASYNCJOB_NO_MEMORY", "Out of memory creating a WaitCtx");
  Napi::Object self = info.This().As<Napi::Object>();
  self.TypeTag(&kWaitCtxTag);
  Napi::Object store = Napi::Object::New(env);
  store.Set("keys", state_->map.New({}));
  store.Set("entries", state_->map.New({}));
  state_->weakMapSet.Call(state_->stores.Value(), {self, store});
  callbackRecord_ = new CallbackRecord{this, isolate_};
}

WaitCtx::~WaitCtx() {
  // No JavaScript from here: this may be a garbage-collection finalizer or environment teardown.
  if (core_ != nullptr && jobHolds_ > 0) {
    // Only at teardown (a held context is never collected): the job engine may still resume the
    // job, which touches the core context, so it and everything it points to are left alone.
    if (callbackRecord_ != nullptr) callbackRecord_->owner = nullptr;
    for (auto& entry : entries_) entry.second.release();
    for (auto& slot : slots_) slot.second.release();
    return;
  }
  if (callbackRecord_ != nullptr) ReleaseCallbackRecord(callbackRecord_);
  // cleanupErrors_ is nullptr, so RunCleanup skips the JavaScript cleanups.
  if (core_ != nullptr) asyncjob_wait_ctx_free(core_);
}

bool WaitCtx::freed() const { return freed_; }

Napi::Value WaitCtx::InspectState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WaitCtx* self = FromValue(info[0]);
  if (self == nullptr) throw InvalidArgType(env, "ctx", "an instance of WaitCtx", info[0]);
  if (self->freed_ || self->core_ == nullptr) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("keys", self->state_->map.New({self->Store().Get("keys")}));
  result.Set("callback", asyncjob_wait_ctx_get_callback(self->core_, nullptr, nullptr) != 0);
  return result;
}

asyncjob_wait_ctx* WaitCtx::core() const { return core_; }

void WaitCtx::retainForJob() {
  if (jobHolds_++ == 0) Ref();
}

void WaitCtx::releaseForJob() {
  if (jobHolds_ > 0 && --jobHolds_ == 0) Unref();
}

void WaitCtx::ThrowIfFreed(Napi::Env env) const {
  if (freed_) throw CodedError(env, "ERR_ASYNCJOB_WAIT_CTX_FREED", "The WaitCtx has been freed");
}

Napi::Object WaitCtx::Store() const {
  napi_value store = StoreRaw();
  if (store == nullptr) throw Napi::Error::New(Env());  // what the failed call left pending
  return Napi::Object(Env(), store);
}

WaitCtx::KeySlot* WaitCtx::FindSlot(Napi::Object store, Napi::Value key) const {
  Napi::Value id = state_->mapGet.Call(store.Get("keys"), {key});
  if (!id.IsNumber()) return nullptr;
  auto slot = slots_.find(static_cast<uint64_t>(id.As<Napi::Number>().DoubleValue()));
  return slot == slots_.end() ? nullptr : slot->second.get();
}

// nullptr when custom_data is not one of ours (native code may set fds on core() directly).
WaitCtx::FdEntry* WaitCtx::FindEntry(void* customData) const {
  auto entry = entries_.find(static_cast<const FdEntry*>(customData));
  return entry == entries_.end() ? nullptr : entry->second.get();
}

// Forgets an entry the core no longer hands out: its values, and its key once no entry uses it.
void WaitCtx::DropEntry(Napi::Object store, Napi::Value key, FdEntry* entry) {
  KeySlot* slot = entry->slot;
  if (--slot->entries == 0) {
    state_->mapDelete.Call(store.Get("keys"), {key});
    slots_.erase(slot->id);
  }
  state_->mapDelete.Call(store.Get("entries"), {Napi::Number::New(store.Env(), static_cast<double>(entry->id))});
  entries_.erase(entry);
}

Napi::Value WaitCtx::SetWaitFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  Napi::Value key = info[0];
  auto fd = static_cast<asyncjob_fd>(IntegerArg(info[1], "fd", 0, kMaxFd));
  Napi::Value customData = info[2];
  Napi::Value cleanup = info[3];
  if (!cleanup.IsUndefined() && !cleanup.IsFunction()) {
    throw InvalidArgType(env, "cleanup", "of type function", cleanup);
  }
  Napi::Object store = Store();
  KeySlot* slot = FindSlot(store, key);
  if (slot == nullptr) {
    auto newSlot = std::make_unique<KeySlot>(KeySlot{nextId_++});
    slot = newSlot.get();
    state_->mapSet.Call(store.Get("keys"), {key, Napi::Number::New(env, static_cast<double>(slot->id))});
    slots_.emplace(slot->id, std::move(newSlot));
  }
  auto entry = std::make_unique<FdEntry>(FdEntry{this, slot, nextId_++});
  // Every step that runs JavaScript (and so may throw) comes before the core learns of the
  // entry: once it holds entry.get() as custom data, the entry must outlive it.
  Napi::Array values = Napi::Array::New(env, 3);
  const napi_property_descriptor elements[] = {
      {"0", nullptr, nullptr, nullptr, nullptr, key, napi_default_jsproperty, nullptr},
      {"1", nullptr, nullptr, nullptr, nullptr, customData, napi_default_jsproperty, nullptr},
      {"2", nullptr, nullptr, nullptr, nullptr, cleanup, napi_default_jsproperty, nullptr},
  };
  // Defined, not assigned: setters on Array.prototype never run.
  NAPI_THROW_IF_FAILED(env, napi_define_properties(env, values, 3, elements), env.Undefined());
  Napi::Object entries = store.Get("entries").As<Napi::Object>();
  Napi::Value entryId = Napi::Number::New(env, static_cast<double>(entry->id));
  state_->mapSet.Call(entries, {entryId, values});
  if (!asyncjob_wait_ctx_set_wait_fd(core_, slot, fd, entry.get(),
                                     cleanup.IsFunction() ? RunCleanup : nullptr)) {
    state_->mapDelete.Call(entries, {entryId});
    if (slot->entries == 0) {
      state_->mapDelete.Call(store.Get("keys"), {key});
      slots_.erase(slot->id);
    }
    return Napi::Boolean::New(env, false);
  }
  slot->entries++;
  entries_.emplace(entry.get(), std::move(entry));
  return Napi::Boolean::New(env, true);
}

Napi::Value WaitCtx::GetFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  Napi::Object store = Store();
  KeySlot* slot = FindSlot(store, info[0]);
  asyncjob_fd fd;
  void* customData;
  if (slot == nullptr || !asyncjob_wait_ctx_get_fd(core_, slot, &fd, &customData)) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", static_cast<double>(fd));
  Napi::Value data = env.Undefined();
  if (FdEntry* entry = FindEntry(customData)) {
    Napi::Value id = Napi::Number::New(env, static_cast<double>(entry->id));
    data = state_->mapGet.Call(store.Get("entries"), {id}).As<Napi::Array>().Get(1u);
  }
  result.Set("customData", data);
  return result;
}

Napi::Value WaitCtx::GetAllFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  size_t count = 0;
  asyncjob_wait_ctx_get_all_fds(core_, nullptr, &count);
  std::vector<asyncjob_fd> fds(count);
  asyncjob_wait_ctx_get_all_fds(core_, fds.data(), &count);
  return ToArray(env, fds.data(), count);
}

Napi::Value WaitCtx::GetChangedFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  size_t numAdded = 0;
  size_t numDeleted = 0;
  asyncjob_wait_ctx_get_changed_fds(core_, nullptr, &numAdded, nullptr, &numDeleted);
  std::vector<asyncjob_fd> added(numAdded);
  std::vector<asyncjob_fd> deleted(numDeleted);
  asyncjob_wait_ctx_get_changed_fds(core_, added.data(), &numAdded, deleted.data(), &numDeleted);
  Napi::Object result = Napi::Object::New(env);
  result.Set("added", ToArray(env, added.data(), numAdded));
  result.Set("deleted", ToArray(env, deleted.data(), numDeleted));
  return result;
}

Napi::Value WaitCtx::ClearFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  Napi::Object store = Store();
  KeySlot* slot = FindSlot(store, info[0]);
  void* customData;
  // get_fd and clear_fd both act on the newest entry of the key.
  if (slot == nullptr || !asyncjob_wait_ctx_get_fd(core_, slot, nullptr, &customData) ||
      !asyncjob_wait_ctx_clear_fd(core_, slot)) {
    return Napi::Boolean::New(env, false);
  }
  // The core may keep the cleared entry until the next resume to report it as deleted, but it
  // never hands out its custom data or runs its cleanup again: its values can go now.
  if (FdEntry* entry = FindEntry(customData)) DropEntry(store, info[0], entry);
  return Napi::Boolean::New(env, true);
}

Napi::Value WaitCtx::SetCallback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  Napi::Value callback = info[0];
  Napi::Object store = Store();
  if (callback.IsNull() || callback.IsUndefined()) {
    store.Set("callback", env.Undefined());
    store.Set("arg", env.Undefined());
    return Napi::Boolean::New(env, asyncjob_wait_ctx_set_callback(core_, nullptr, nullptr) != 0);
  }
  if (!callback.IsFunction()) throw InvalidArgType(env, "callback", "of type function or null", callback);
  if (callbackRecord_->queue == nullptr) {
    napi_threadsafe_function queue;
    napi_status status = napi_create_threadsafe_function(
        env, nullptr, nullptr, Napi::String::New(env, "asyncjob.WaitCtx.callback"), 0, 1,
        callbackRecord_, QueueFinalized, callbackRecord_, CallQueued, &queue);
    if (status != napi_ok) throw Napi::Error::New(env);
    // Queued calls must not keep the process alive by themselves.
    napi_unref_threadsafe_function(env, queue);
    callbackRecord_->queue = queue;
  }
  store.Set("callback", callback);
  store.Set("arg", info[1]);
  return Napi::Boolean::New(env, asyncjob_wait_ctx_set_callback(core_, RunCallback, callbackRecord_) != 0);
}

Napi::Value WaitCtx::GetCallback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  asyncjob_callback_fn callback;
  void* arg;
  // A C callback that native code installed on core() has no JavaScript form: null.
  if (!asyncjob_wait_ctx_get_callback(core_, &callback, &arg) || callback != RunCallback ||
      arg != callbackRecord_) {
    return env.Null();
  }
  Napi::Object store = Store();
  Napi::Object result = Napi::Object::New(env);
  result.Set("callback", store.Get("callback"));
  result.Set("arg", store.Get("arg"));
  return result;
}

Napi::Value WaitCtx::SetStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  auto status = static_cast<int>(IntegerArg(info[0], "status", INT32_MIN, INT32_MAX));
  return Napi::Boolean::New(env, asyncjob_wait_ctx_set_status(core_, status) != 0);
}

Napi::Value WaitCtx::GetStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  return Napi::Number::New(env, asyncjob_wait_ctx_get_status(core_));
}

Napi::Value WaitCtx::PollFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  std::vector<int> fds = FdList(info[0], "fds");
  int64_t timeoutMs = IntegerArg(info[1], "timeoutMs", -1, kMaxTimeoutMs);
  if (!info[2].IsFunction()) throw InvalidArgType(env, "done", "of type function", info[2]);
  polls_.erase(std::remove_if(polls_.begin(), polls_.end(),
                              [](const std::weak_ptr<FdPoll>& poll) {
                                auto live = poll.lock();
                                return live == nullptr || !live->pending();
                              }),
               polls_.end());
  std::shared_ptr<FdPoll> poll = FdPoll::Start(env, fds, timeoutMs, info[2].As<Napi::Function>());
  polls_.push_back(poll);
  return FdPoll::CancelFunction(env, poll);
}

Napi::Value WaitCtx::PollFdsSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFreed(env);
  std::vector<int> fds = FdList(info[0], "fds");
  int64_t timeoutMs = IntegerArg(info[1], "timeoutMs", -1, kMaxTimeoutMs);
  std::vector<int> readable = addon::PollFdsSync(env, fds, timeoutMs);
  Napi::Array result = Napi::Array::New(env, readable.size());
  for (uint32_t i = 0; i < readable.size(); i++) result.Set(i, readable[i]);
  return result;
}

Napi::Value WaitCtx::Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (freed_) return env.Undefined();
  if (jobHolds_ > 0) {
    throw CodedError(env, "ERR_ASYNCJOB_WAIT_CTX_IN_USE",
                     "The WaitCtx is in use by a job that has not finished");
  }
  // From here the context counts as freed, also for the cleanups that run below.
  asyncjob_wait_ctx* core = core_;
  core_ = nullptr;
  freed_ = true;
  for (const std::weak_ptr<FdPoll>& poll : polls_) {
    if (auto live = poll.lock()) {
      live->Fail("ERR_ASYNCJOB_WAIT_CTX_FREED", "The WaitCtx was freed during the wait");
    }
  }
  polls_.clear();
  Napi::Array errors = Napi::Array::New(env);
  cleanupErrors_ = errors;
  firstCleanupErrorSet_ = false;
  asyncjob_wait_ctx_free(core);  // runs RunCleanup for each fd still set
  const bool cutShort = cleanupErrors_ == nullptr;
  cleanupErrors_ = nullptr;
  ReleaseCallbackRecord(callbackRecord_);
  callbackRecord_ = nullptr;
  entries_.clear();
  slots_.clear();
  // Terminated during a cleanup: the context is freed all the same, and termination goes on
  // unwinding. (The store stays in the WeakMap until the object is collected.)
  if (cutShort || isolate_->IsExecutionTerminating()) return env.Undefined();
  state_->weakMapDelete.Call(state_->stores.Value(), {Value()});
  if (errors.Length() > 0) throw Napi::Error(env, errors.Get(0u));
  return env.Undefined();
}

Napi::Value WaitCtx::GetFreed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), freed_);
}

// Runs on the core's free loop, after JavaScript ran (the cleanups before this one), so
// termination may have been requested meanwhile (worker.terminate(), a vm timeout, cancelJob()
// on a job paused in a cleanup): it then fires in whatever JavaScript runs next, even a builtin
// such as Map.prototype.get. Hence raw Node-API only, every failure checked: node-addon-api's
// error handling aborts the process when a call fails under termination.
void WaitCtx::RunCleanup(asyncjob_wait_ctx*, const void*, asyncjob_fd fd, void* data) {
  auto* entry = static_cast<FdEntry*>(data);
  WaitCtx* self = entry->owner;
  // No JavaScript in the finalizer, nor once a cleanup was cut short.
  if (self->cleanupErrors_ == nullptr) return;
  napi_env env = self->Env();
  v8::HandleScope scope(self->isolate_);  // see CallCallback
  napi_value values = self->EntryValues(entry);
  napi_value key = nullptr, customData = nullptr, cleanup = nullptr, fdValue = nullptr;
  napi_value exception = nullptr;
  if (values == nullptr || napi_get_element(env, values, 0, &key) != napi_ok ||
      napi_get_element(env, values, 1, &customData) != napi_ok ||
      napi_get_element(env, values, 2, &cleanup) != napi_ok ||
      napi_create_double(env, static_cast<double>(fd), &fdValue) != napi_ok) {
    ForgetFailedCall(env);  // JavaScript cannot run any more
  } else {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    const napi_value argv[] = {self->Value(), key, fdValue, customData};
    if (CallWithoutThrowing(env, cleanup, undefined, 4, argv, &exception)) return;
  }
  // A cleanup threw: the others still run, and free() rethrows the first exception. Cut short
  // by termination, or unable to run JavaScript at all: the cleanups left are skipped.
  if (exception != nullptr && !self->isolate_->IsExecutionTerminating() &&
      (self->firstCleanupErrorSet_ ||
       napi_set_element(env, self->cleanupErrors_, 0, exception) == napi_ok)) {
    self->firstCleanupErrorSet_ = true;
    return;
  }
  self->cleanupErrors_ = nullptr;
}

napi_value WaitCtx::StoreRaw() const {
  napi_env env = Env();
  napi_value weakMapGet, stores, store;
  const napi_value self = Value();
  if (napi_get_reference_value(env, state_->weakMapGet, &weakMapGet) != napi_ok ||
      napi_get_reference_value(env, state_->stores, &stores) != napi_ok ||
      napi_call_function(env, stores, weakMapGet, 1, &self, &store) != napi_ok) {
    return nullptr;
  }
  return store;
}

napi_value WaitCtx::EntryValues(const FdEntry* entry) const {
  napi_env env = Env();
  napi_value store = StoreRaw();
  napi_value entries, mapGet, id, values;
  if (store == nullptr || napi_get_named_property(env, store, "entries", &entries) != napi_ok ||
      napi_get_reference_value(env, state_->mapGet, &mapGet) != napi_ok ||
      napi_create_double(env, static_cast<double>(entry->id), &id) != napi_ok ||
      napi_call_function(env, entries, mapGet, 1, &id, &values) != napi_ok) {
    return nullptr;
  }
  return values;
}

int WaitCtx::RunCallback(void* arg) {
  auto* record = static_cast<CallbackRecord*>(arg);
  // A native job holds the lock but runs on a fiber stack, where JavaScript cannot run: it is
  // queued like a call from another thread.
  asyncjob_job* job = asyncjob_get_current_job();
  const bool onFiber = job != nullptr && asyncjob::jobKind(job) == asyncjob::JobKind::Fiber;
  if (!onFiber && v8::Locker::IsLocked(record->isolate)) {
    return record->owner != nullptr ? record->owner->CallCallback(false) : 0;
  }
  return napi_call_threadsafe_function(record->queue, nullptr, napi_tsfn_nonblocking) == napi_ok ? 1 : 0;
}

void WaitCtx::CallQueued(napi_env env, napi_value, void* record, void*) {
  WaitCtx* owner = static_cast<CallbackRecord*>(record)->owner;
  if (env != nullptr && owner != nullptr) owner->CallCallback(true);
}

void WaitCtx::QueueFinalized(napi_env, void* record, void*) {
  auto* callbackRecord = static_cast<CallbackRecord*>(record);
  callbackRecord->queueGone = true;
  if (callbackRecord->ownerGone) delete callbackRecord;
}

void WaitCtx::ReleaseCallbackRecord(CallbackRecord* record) {
  record->owner = nullptr;
  if (record->queue == nullptr || record->queueGone) {
    delete record;
    return;
  }
  record->ownerGone = true;  // QueueFinalized deletes it, after the queued calls are dropped
  napi_release_threadsafe_function(record->queue, napi_tsfn_release);
}

int WaitCtx::CallCallback(bool fromLoop) {
  Napi::Env env = Env();
  // A V8 scope, not napi_open_handle_scope: Node-API counts its scopes per environment and
  // checks the count around every native call, and the callback may resume a job whose
  // pauseJob() call was entered at another depth.
  v8::HandleScope scope(isolate_);
  // Raw Node-API, every failure checked: this runs when an engine calls, which may be just as
  // termination arrives (see RunCleanup).
  napi_value store = StoreRaw();
  napi_value callback = nullptr, arg = nullptr, undefined = nullptr, result = nullptr;
  napi_valuetype type = napi_undefined;
  if (store == nullptr || napi_get_named_property(env, store, "callback", &callback) != napi_ok ||
      napi_typeof(env, callback, &type) != napi_ok || type != napi_function ||
      napi_get_named_property(env, store, "arg", &arg) != napi_ok ||
      napi_get_undefined(env, &undefined) != napi_ok) {
    ForgetFailedCall(env);
    return 0;
  }
  napi_value exception = nullptr;
  if (CallWithoutThrowing(env, callback, undefined, 1, &arg, &exception, &result)) {
    bool truthy = false;
    napi_value asBoolean;
    return napi_coerce_to_bool(env, result, &asBoolean) == napi_ok &&
                   napi_get_value_bool(env, asBoolean, &truthy) == napi_ok && truthy
               ? 1
               : 0;
  }
  if (exception == nullptr) return 0;  // terminated: it unwinds on its own
  if (fromLoop) {
    napi_fatal_exception(env, exception);
  } else {
    napi_throw(env, exception);
  }
  return 0;
}

}  // namespace asyncjob::addon
