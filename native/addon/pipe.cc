#include "pipe.h"

#include "errors.h"

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace asyncjob::addon {

#if defined(_WIN32)

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  throw CodedError(info.Env(), "ERR_ASYNCJOB_UNSUPPORTED", "pipe() is not supported on Windows yet");
}

#else

namespace {

// Opens the pipe with both ends non-blocking and close-on-exec. Returns 0, or the errno of the
// failed call with *syscall naming it (nothing is left open then).
int OpenPipe(int fds[2], const char** syscall) {
#if defined(__linux__)
  // One call, so no other thread can fork and exec between creating the fds and marking them.
  *syscall = "pipe2";
  return pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : errno;
#else
  *syscall = "pipe";
  if (pipe(fds) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    int fdFlags = fcntl(fds[i], F_GETFD);
    int statusFlags = fcntl(fds[i], F_GETFL);
    if (fdFlags == -1 || statusFlags == -1 || fcntl(fds[i], F_SETFD, fdFlags | FD_CLOEXEC) == -1 ||
        fcntl(fds[i], F_SETFL, statusFlags | O_NONBLOCK) == -1) {
      int err = errno;
      close(fds[0]);
      close(fds[1]);
      *syscall = "fcntl";
      return err;
    }
  }
  return 0;
#endif
}

}  // namespace

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  const char* syscall;
  if (int err = OpenPipe(fds, &syscall)) throw SystemError(env, syscall, err);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

#endif

}  // namespace asyncjob::addon
