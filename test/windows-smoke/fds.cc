// The fd half of the Windows smoke test: the addon's own pipe() and FdPoll (native/addon/pipe.cc,
// fd_poll.cc, the very sources of the real addon) behind a small node-addon-api module, so that
// they run in node.exe under Wine on their own (see scripts/windows-smoke.sh; the V8 calls
// FdPoll makes come from node.exe through native/mingw's name map).
#include "../../native/addon/fd_poll.h"
#include "../../native/addon/pipe.h"

#include <napi.h>

#include <cstdint>
#include <vector>

namespace {

using asyncjob::addon::FdPoll;

std::vector<int> Fds(Napi::Value value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int> fds(array.Length());
  for (uint32_t i = 0; i < fds.size(); i++) fds[i] = array.Get(i).As<Napi::Number>().Int32Value();
  return fds;
}

// pollFds(fds, timeoutMs, done): what WaitCtx.pollFds runs, without the WaitCtx.
Napi::Value PollFds(const Napi::CallbackInfo& info) {
  auto poll = FdPoll::Start(info.Env(), Fds(info[0]), info[1].As<Napi::Number>().Int64Value(),
                            info[2].As<Napi::Function>());
  return FdPoll::CancelFunction(info.Env(), poll);
}

Napi::Value PollFdsSync(const Napi::CallbackInfo& info) {
  std::vector<int> readable = asyncjob::addon::PollFdsSync(info.Env(), Fds(info[0]), info[1].As<Napi::Number>().Int64Value());
  Napi::Array result = Napi::Array::New(info.Env(), readable.size());
  for (uint32_t i = 0; i < readable.size(); i++) result.Set(i, readable[i]);
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New(env, asyncjob::addon::Pipe, "pipe"));
  exports.Set("pollFds", Napi::Function::New(env, PollFds, "pollFds"));
  exports.Set("pollFdsSync", Napi::Function::New(env, PollFdsSync, "pollFdsSync"));
  return exports;
}

}  // namespace

NODE_API_MODULE(fds, Init)
