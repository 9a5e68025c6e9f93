// Waiting for file descriptors to become readable, on the event loop (FdPoll) or blocking
// (PollFdsSync): what WaitCtx.wait() and waitSync() run on.
//
// Contract
// - JS thread only. "Readable" means a read would not block: POLLIN, and also POLLHUP and
//   POLLERR (end of file, or an error the read reports).
// - An FdPoll watches each fd with a uv_poll (UV_READABLE) and its timeout with a uv_timer on
//   the environment's loop. The handles keep the loop alive while the poll is pending, like any
//   pending I/O. done(error, readableFds) is called at most once, always from the loop (never
//   from within Start, Fail or Cancel), through napi_make_callback; an exception it throws is
//   reported as uncaught.
// - Each poll watches its own duplicate of every fd (F_DUPFD_CLOEXEC), so any number of polls,
//   and the loop's own users (a net.Socket), can wait on the same fd at once. As libuv does,
//   watching puts the fd's open file into non-blocking mode.
// - Windows: fds are node.exe's C runtime fds (Node's fs fds), and each must be a socket, as
//   libuv watches nothing else there (uv_poll_init_socket); the duplicate is a
//   WSADuplicateSocket copy, and readiness checks and PollFdsSync use WSAPoll. An fd that is no
//   socket is ERR_ASYNCJOB_BAD_FD (ENOTSOCK).
// - At environment teardown a pending poll closes its handles without calling done.
#ifndef ASYNCJOB_ADDON_FD_POLL_H
#define ASYNCJOB_ADDON_FD_POLL_H

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace v8 {
class Isolate;
}

namespace asyncjob::addon {

class FdPoll {
 public:
  // Starts watching `fds` (duplicates allowed). done(null, readable) follows on the first
  // readiness, with every fd readable at that moment; done(null, fds readable by then, usually
  // []) after timeoutMs (negative: never; with no fds: on the next turn of the loop);
  // done(error) with code ERR_ASYNCJOB_BAD_FD (and `fd`) when an fd cannot be watched (not
  // open: EBADF; on Windows no socket: ENOTSOCK), or with a SystemError (code EMFILE, negative
  // errno, syscall, and `fd`) when the watch cannot be set up for want of fds or memory. The
  // handles hold the poll until closed.
  static std::shared_ptr<FdPoll> Start(Napi::Env env, const std::vector<int>& fds,
                                       int64_t timeoutMs, Napi::Function done);
  // A JavaScript function that cancels `poll` (if it still exists): done is then never called.
  static Napi::Function CancelFunction(Napi::Env env, std::weak_ptr<FdPoll> poll);

  // Stops watching; done is never called.
  void Cancel();
  // Stops watching and calls done(Error with `code`) from the loop, unless done is already due.
  void Fail(const char* code, const std::string& message);
  bool pending() const;

  ~FdPoll();

 private:
  enum class State { kWatching, kFailing, kDone };
  template <typename Handle>
  struct Holder;  // a uv handle and a reference to its poll, freed by its close callback

  explicit FdPoll(Napi::Env env, Napi::Function done);
  void SetError(const char* code, const std::string& message, int fd);  // for Finish(true)
  void FailSoon(const char* code, const std::string& message, int fd);
  // `call` failed with uvErr while setting up the watch of fd: ERR_ASYNCJOB_BAD_FD, or a
  // SystemError (with `fd`) when the process or system is out of fds or memory (EMFILE, …).
  void CannotWatch(int fd, const char* call, int uvErr);
  // done(error built from errorCode_…) when failed, else done(null, readable).
  void Finish(bool failed, const std::vector<int>& readable);
  void ClosePolls();
  void CloseAll();
  void ReleaseJs();
  void HandleClosed();

  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  // The timeout, a failure or a readiness check is due: finish.
  void Due();
  // Calls Due() on the next turn of the loop, after its I/O phase, as setImmediate does: a check
  // handle, with an idle handle so that the I/O phase does not block. Not a zero-delay timer:
  // libuv before 1.47 runs a timer started from a timer callback again in the same phase, so a
  // loop of such waits (`while (paused) await ctx.wait()`) would starve every other timer.
  void RunSoon();
  static void OnTeardown(napi_async_cleanup_hook_handle hook, void* poll);

  napi_env env_;
  v8::Isolate* isolate_;
  State state_ = State::kWatching;
  std::vector<int> fds_;
  std::vector<Holder<uv_poll_t>*> watches_;
  Holder<uv_timer_t>* timer_ = nullptr;
  Holder<uv_check_t>* soon_ = nullptr;
  Holder<uv_idle_t>* soonIdle_ = nullptr;
  bool soonPhasePassed_ = false;  // RunSoon: the first check phase has passed
  size_t openHandles_ = 0;
  Napi::FunctionReference done_;
  napi_async_context asyncContext_ = nullptr;
  napi_async_cleanup_hook_handle teardownHook_ = nullptr;
  std::string errorCode_;
  std::string errorMessage_;
  int errorFd_ = -1;
  const char* errorSyscall_ = nullptr;  // set: the error is a SystemError of this call
  int errorUvErr_ = 0;
};

// poll(2) (Windows: WSAPoll): which of `fds` are readable within timeoutMs (negative: wait
// forever). No fds: [] at once. Throws ERR_ASYNCJOB_BAD_FD for an fd that is not open (on
// Windows also no socket), a SystemError if the poll fails.
std::vector<int> PollFdsSync(Napi::Env env, const std::vector<int>& fds, int64_t timeoutMs);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_FD_POLL_H
