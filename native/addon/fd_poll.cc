#include "fd_poll.h"

#include <v8.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "errors.h"

#include <chrono>
#include <climits>

#ifdef _WIN32
#include <winsock2.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#endif

namespace asyncjob::addon {

namespace {

std::vector<int> WithoutDuplicates(const std::vector<int>& fds) {
  std::vector<int> unique;
  for (int fd : fds) {
    if (std::find(unique.begin(), unique.end(), fd) == unique.end()) unique.push_back(fd);
  }
  return unique;
}

std::string BadFdMessage(int fd, int uvErr) {
  char name[64];
  uv_err_name_r(uvErr, name, sizeof name);
  return "fd " + std::to_string(fd) + " cannot be watched: " + name + " (" + uv_strerror(uvErr) + ")";
}

// Whether a failure to watch an fd is the process's or the system's (out of fds or memory),
// not the fd's: it is then reported as what it is, a SystemError, not as a bad fd.
bool OutOfResources(int uvErr) {
  // (UV_ENOBUFS: Winsock out of buffers for a duplicate socket.)
  return uvErr == UV_EMFILE || uvErr == UV_ENFILE || uvErr == UV_ENOMEM || uvErr == UV_ENOSPC ||
         uvErr == UV_ENOBUFS;
}

// A coded Error, with the `fd` it is about when fd >= 0.
Napi::Error WaitError(Napi::Env env, const std::string& code, const std::string& message, int fd) {
  Napi::Error error = CodedError(env, code.c_str(), message);
  if (fd >= 0) error.Set("fd", Napi::Number::New(env, fd));
  return error;
}

// What a poll watches for an fd: a duplicate of its own, closed with the watch.
#ifdef _WIN32
using Watched = uv_os_sock_t;  // a SOCKET
constexpr Watched kNotWatched = INVALID_SOCKET;
void CloseWatched(Watched watched) { closesocket(watched); }
#else
using Watched = int;
constexpr Watched kNotWatched = -1;
void CloseWatched(Watched watched) { close(watched); }
#endif

// The socket behind a Windows C runtime fd (node.exe's, as Node's fs uses). Returns 0, or the
// libuv error: UV_EBADF when fd is not open, UV_ENOTSOCK when it is no socket (libuv watches
// sockets only on Windows).
#ifdef _WIN32
int SocketOf(int fd, SOCKET* socket) {
  uv_os_fd_t handle = uv_get_osfhandle(fd);
  if (handle == INVALID_HANDLE_VALUE) return UV_EBADF;
  *socket = reinterpret_cast<SOCKET>(handle);
  int type = 0;
  int length = sizeof type;
  // Fails for any handle but a socket's (a file, a pipe, a console), not always with WSAENOTSOCK.
  return getsockopt(*socket, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &length) == 0
             ? 0
             : UV_ENOTSOCK;
}
#endif

// A duplicate of fd for one poll to watch: libuv watches an fd once per loop on POSIX, and on
// Windows the duplicate keeps the socket alive until the watch is closed, whatever happens to
// fd. Returns 0 or the libuv error, with *call naming the call that failed.
int DuplicateToWatch(int fd, Watched* watched, const char** call) {
#ifdef _WIN32
  SOCKET socket;
  *call = "_get_osfhandle";
  if (int err = SocketOf(fd, &socket)) return err;
  WSAPROTOCOL_INFOW protocol;
  *call = "WSADuplicateSocketW";
  if (WSADuplicateSocketW(socket, GetCurrentProcessId(), &protocol) != 0) {
    return uv_translate_sys_error(WSAGetLastError());
  }
  *call = "WSASocketW";
  *watched = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &protocol, 0,
                        WSA_FLAG_NO_HANDLE_INHERIT);
  if (*watched == INVALID_SOCKET) return uv_translate_sys_error(WSAGetLastError());
  SetHandleInformation(reinterpret_cast<HANDLE>(*watched), HANDLE_FLAG_INHERIT, 0);
  return 0;
#else
  *call = "fcntl";
  *watched = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return *watched < 0 ? uv_translate_sys_error(errno) : 0;
#endif
}

int InitWatch(uv_loop_t* loop, uv_poll_t* handle, Watched watched) {
#ifdef _WIN32
  return uv_poll_init_socket(loop, handle, watched);
#else
  return uv_poll_init(loop, handle, watched);
#endif
}

// Which of `fds` (no duplicates) are readable, waiting up to timeoutMs (negative: forever):
// poll(2), or on Windows WSAPoll on the fds' sockets. Returns 0, or the error of that call
// (errno; on Windows the Winsock error); *badFd is the first fd that cannot be polled (not
// open; on Windows also no socket) with *badFdErr its libuv error, or -1.
int PollReadable(const std::vector<int>& fds, int64_t timeoutMs, std::vector<int>* readable,
                 int* badFd, int* badFdErr) {
  *badFd = -1;
#ifdef _WIN32
  std::vector<WSAPOLLFD> polled(fds.size());
  for (size_t i = 0; i < fds.size(); i++) {
    SOCKET socket;
    if (int err = SocketOf(fds[i], &socket)) {
      *badFd = fds[i];
      *badFdErr = err;
      return 0;
    }
    polled[i] = WSAPOLLFD{socket, POLLRDNORM, 0};
  }
#else
  std::vector<pollfd> polled(fds.size());
  for (size_t i = 0; i < fds.size(); i++) polled[i] = pollfd{fds[i], POLLIN, 0};
#endif
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(timeoutMs, 0));
  for (;;) {
    int wait = -1;
    if (timeoutMs >= 0) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wait = static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
    }
#ifdef _WIN32
    if (WSAPoll(polled.data(), static_cast<ULONG>(polled.size()), wait) != SOCKET_ERROR) break;
    if (WSAGetLastError() != WSAEINTR) return WSAGetLastError();
#else
    if (poll(polled.data(), static_cast<nfds_t>(polled.size()), wait) >= 0) break;
    if (errno != EINTR) return errno;
#endif
  }
  for (size_t i = 0; i < fds.size(); i++) {
    if (polled[i].revents & POLLNVAL) {
      if (*badFd < 0) {
        *badFd = fds[i];
        *badFdErr = UV_EBADF;
      }
    } else if (polled[i].revents & (POLLIN | POLLHUP | POLLERR)) {
      readable->push_back(fds[i]);
    }
  }
  return 0;
}

}  // namespace

template <typename Handle>
struct FdPoll::Holder {
  Handle handle;
  std::shared_ptr<FdPoll> poll;
  int fd;
  Watched watched;  // a uv_poll's own duplicate of fd (none for the others), closed with it

  static void Close(Holder* holder) {
    uv_close(reinterpret_cast<uv_handle_t*>(&holder->handle), [](uv_handle_t* handle) {
      auto* closed = static_cast<Holder*>(handle->data);
      std::shared_ptr<FdPoll> poll = std::move(closed->poll);
      if (closed->watched != kNotWatched) CloseWatched(closed->watched);
      delete closed;
      poll->HandleClosed();
    });
  }
};

FdPoll::FdPoll(Napi::Env env, Napi::Function done)
    : env_(env), isolate_(v8::Isolate::GetCurrent()), done_(Napi::Persistent(done)) {}

FdPoll::~FdPoll() = default;

std::shared_ptr<FdPoll> FdPoll::Start(Napi::Env env, const std::vector<int>& fds,
                                      int64_t timeoutMs, Napi::Function done) {
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env);
  std::shared_ptr<FdPoll> poll(new FdPoll(env, done));
  poll->fds_ = WithoutDuplicates(fds);
  if (napi_async_init(env, Napi::Object::New(env), Napi::String::New(env, "asyncjob.WaitCtx.wait"),
                      &poll->asyncContext_) != napi_ok) {
    throw Napi::Error::New(env);
  }
  auto* timer = new Holder<uv_timer_t>{{}, poll, -1, kNotWatched};
  uv_timer_init(loop, &timer->handle);
  timer->handle.data = timer;
  poll->timer_ = timer;
  poll->openHandles_ = 1;
  if (napi_add_async_cleanup_hook(env, OnTeardown, poll.get(), &poll->teardownHook_) != napi_ok) {
    poll->teardownHook_ = nullptr;
  }
  for (int fd : poll->fds_) {
    // Waits that share an fd (two jobs woken by one engine's fd) each watch a duplicate of
    // their own.
    Watched watched;
    const char* call;
    if (int err = DuplicateToWatch(fd, &watched, &call)) {
      poll->CannotWatch(fd, call, err);
      break;
    }
    auto* watch = new Holder<uv_poll_t>{{}, poll, fd, watched};
    int err = InitWatch(loop, &watch->handle, watched);
    if (err != 0) {
      CloseWatched(watched);
      delete watch;  // never initialised: nothing to close
      poll->CannotWatch(fd, "uv_poll_init", err);
      break;
    }
    watch->handle.data = watch;
    poll->watches_.push_back(watch);
    poll->openHandles_++;
    err = uv_poll_start(&watch->handle, UV_READABLE, OnReadable);
    if (err != 0) {
      poll->CannotWatch(fd, "uv_poll_start", err);
      break;
    }
  }
  if (poll->state_ == State::kWatching) {
    if (poll->fds_.empty() || timeoutMs == 0) {
      poll->RunSoon();
    } else if (timeoutMs > 0) {
      // From now, not from the loop's cached time, which lags by however long the JavaScript
      // since the loop last woke took (tens of ms seen in node.exe under Wine).
      uv_update_time(loop);
      uv_timer_start(&timer->handle, OnTimer, static_cast<uint64_t>(timeoutMs), 0);
    }
  }
  return poll;
}

Napi::Function FdPoll::CancelFunction(Napi::Env env, std::weak_ptr<FdPoll> poll) {
  return Napi::Function::New(
      env,
      [poll = std::move(poll)](const Napi::CallbackInfo& info) {
        if (auto live = poll.lock()) live->Cancel();
        return info.Env().Undefined();
      },
      "cancel");
}

bool FdPoll::pending() const { return state_ != State::kDone; }

void FdPoll::Cancel() {
  if (state_ == State::kDone) return;
  state_ = State::kDone;
  ReleaseJs();
  CloseAll();
}

void FdPoll::Fail(const char* code, const std::string& message) { FailSoon(code, message, -1); }

void FdPoll::SetError(const char* code, const std::string& message, int fd) {
  state_ = State::kFailing;
  errorCode_ = code;
  errorMessage_ = message;
  errorFd_ = fd;
}

void FdPoll::FailSoon(const char* code, const std::string& message, int fd) {
  if (state_ != State::kWatching) return;
  SetError(code, message, fd);
  ClosePolls();
  RunSoon();
}

void FdPoll::RunSoon() {
  if (soon_ != nullptr || timer_ == nullptr) return;
  uv_loop_t* loop = timer_->handle.loop;
  soon_ = new Holder<uv_check_t>{{}, timer_->poll, -1, kNotWatched};
  uv_check_init(loop, &soon_->handle);
  soon_->handle.data = soon_;
  soonIdle_ = new Holder<uv_idle_t>{{}, timer_->poll, -1, kNotWatched};
  uv_idle_init(loop, &soonIdle_->handle);
  soonIdle_->handle.data = soonIdle_;
  openHandles_ += 2;
  // libuv runs a check handle started later ahead of earlier ones (Node's immediates among them):
  // let the first check phase pass, so that setImmediate callbacks queued before this wait run
  // before it ends, as they would before a later setImmediate.
  uv_check_start(&soon_->handle, [](uv_check_t* handle) {
    FdPoll* poll = static_cast<Holder<uv_check_t>*>(handle->data)->poll.get();
    if (!poll->soonPhasePassed_) {
      poll->soonPhasePassed_ = true;
      return;
    }
    poll->Due();
  });
  uv_idle_start(&soonIdle_->handle, [](uv_idle_t*) {});
}

void FdPoll::CannotWatch(int fd, const char* call, int uvErr) {
  if (!OutOfResources(uvErr)) return FailSoon("ERR_ASYNCJOB_BAD_FD", BadFdMessage(fd, uvErr), fd);
  if (state_ != State::kWatching) return;
  errorSyscall_ = call;  // Finish reports a SystemError
  errorUvErr_ = uvErr;
  FailSoon(uv_err_name(uvErr), uv_strerror(uvErr), fd);
}

void FdPoll::OnReadable(uv_poll_t* handle, int /*status*/, int /*events*/) {
  auto* watch = static_cast<Holder<uv_poll_t>*>(handle->data);
  std::shared_ptr<FdPoll> poll = watch->poll;  // Finish closes the handle
  if (poll->state_ != State::kWatching) return;
  // Report every fd readable now, not only this one (libuv reports a POLLERR as EBADF).
  std::vector<int> readable;
  int badFd = -1;
  int badFdErr = 0;
  if (PollReadable(poll->fds_, 0, &readable, &badFd, &badFdErr) != 0) readable.clear();
  if (badFd >= 0) {
    poll->SetError("ERR_ASYNCJOB_BAD_FD", BadFdMessage(badFd, badFdErr), badFd);
    poll->Finish(true, {});
    return;
  }
  if (readable.empty()) readable.push_back(watch->fd);  // trust libuv over a racing poll(2)
  poll->Finish(false, readable);
}

void FdPoll::OnTimer(uv_timer_t* handle) {
  static_cast<Holder<uv_timer_t>*>(handle->data)->poll->Due();
}

void FdPoll::Due() {
  std::shared_ptr<FdPoll> self = timer_ != nullptr ? timer_->poll : nullptr;  // Finish closes it
  if (state_ == State::kDone) return;
  if (state_ == State::kFailing) {
    Finish(true, {});
    return;
  }
  // Timed out: what is readable by now still counts (a zero timeout is a readiness check).
  std::vector<int> readable;
  int badFd = -1;
  int badFdErr = 0;
  if (PollReadable(fds_, 0, &readable, &badFd, &badFdErr) != 0) readable.clear();
  Finish(false, readable);
}

void FdPoll::Finish(bool failed, const std::vector<int>& readable) {
  state_ = State::kDone;
  CloseAll();
  Napi::Env env(env_);
  // A V8 scope, not napi_open_handle_scope: Node-API counts its scopes per environment and
  // checks the count around every native call, and done may resume a job whose pauseJob()
  // call was entered at another depth.
  v8::HandleScope scope(isolate_);
  try {
    napi_value argv[2];
    if (failed && errorSyscall_ != nullptr) {
      Napi::Error error = SystemError(env, errorSyscall_, -errorUvErr_);
      error.Set("fd", Napi::Number::New(env, errorFd_));
      argv[0] = error.Value();
      argv[1] = env.Undefined();
    } else if (failed) {
      argv[0] = WaitError(env, errorCode_, errorMessage_, errorFd_).Value();
      argv[1] = env.Undefined();
    } else {
      Napi::Array fds = Napi::Array::New(env, readable.size());
      for (uint32_t i = 0; i < readable.size(); i++) fds.Set(i, readable[i]);
      argv[0] = env.Null();
      argv[1] = fds;
    }
    // napi_make_callback: async hooks see the wait as the cause, and microtasks run afterwards.
    napi_status status = napi_make_callback(env_, asyncContext_, env.Global(), done_.Value(), 2, argv, nullptr);
    if (status == napi_pending_exception) {
      napi_value exception;
      napi_get_and_clear_last_exception(env_, &exception);
      napi_fatal_exception(env_, exception);
    }
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env_, error.Value());
  }
  ReleaseJs();
}

void FdPoll::ReleaseJs() {
  done_.Reset();
  if (asyncContext_ != nullptr) {
    napi_async_destroy(env_, asyncContext_);
    asyncContext_ = nullptr;
  }
}

void FdPoll::ClosePolls() {
  for (Holder<uv_poll_t>* watch : watches_) Holder<uv_poll_t>::Close(watch);
  watches_.clear();
}

void FdPoll::CloseAll() {
  ClosePolls();
  if (timer_ != nullptr) {
    Holder<uv_timer_t>::Close(timer_);
    timer_ = nullptr;
  }
  if (soon_ != nullptr) {
    Holder<uv_check_t>::Close(soon_);
    Holder<uv_idle_t>::Close(soonIdle_);
    soon_ = nullptr;
    soonIdle_ = nullptr;
  }
}

void FdPoll::HandleClosed() {
  if (--openHandles_ == 0 && teardownHook_ != nullptr) {
    napi_async_cleanup_hook_handle hook = teardownHook_;
    teardownHook_ = nullptr;
    napi_remove_async_cleanup_hook(hook);  // lets teardown go on, if it is waiting for this
  }
}

void FdPoll::OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* poll = static_cast<FdPoll*>(arg);
  v8::HandleScope scope(poll->isolate_);
  poll->Cancel();  // done is never called; the last close removes this hook
}

std::vector<int> PollFdsSync(Napi::Env env, const std::vector<int>& fds, int64_t timeoutMs) {
  std::vector<int> unique = WithoutDuplicates(fds);
  std::vector<int> readable;
  if (unique.empty()) return readable;
#ifdef _WIN32
  const char* call = "WSAPoll";
#else
  const char* call = "poll";
#endif
  int badFd = -1;
  int badFdErr = 0;
  if (int err = PollReadable(unique, timeoutMs, &readable, &badFd, &badFdErr)) throw SystemError(env, call, err);
  if (badFd >= 0) throw WaitError(env, "ERR_ASYNCJOB_BAD_FD", BadFdMessage(badFd, badFdErr), badFd);
  return readable;
}

}  // namespace asyncjob::addon
