#include "pipe.h"

#include "errors.h"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <uv.h>
#else
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace asyncjob::addon {

#if defined(_WIN32)

namespace {

struct LoopbackPair {
  SOCKET read = INVALID_SOCKET;
  SOCKET write = INVALID_SOCKET;
};

void CloseQuietly(SOCKET* socket) {
  if (*socket != INVALID_SOCKET) closesocket(*socket);
  *socket = INVALID_SOCKET;
}

// A TCP socket that no child process inherits (the close-on-exec of Windows).
SOCKET NewSocket() {
  SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (s != INVALID_SOCKET) SetHandleInformation(reinterpret_cast<HANDLE>(s), HANDLE_FLAG_INHERIT, 0);
  return s;
}

bool SameEndpoint(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_family == b.sin_family && a.sin_port == b.sin_port &&
         a.sin_addr.s_addr == b.sin_addr.s_addr;
}

// Connects two sockets through a listener on 127.0.0.1 that lives only as long as this call.
// Not overlapped sockets: Node's fs reads and writes them with ReadFile/WriteFile and no
// OVERLAPPED structure, which is defined for synchronous handles only. Returns 0, or the
// Winsock error with *syscall naming the call (nothing is left open then).
int OpenLoopbackPair(LoopbackPair* pair, const char** syscall) {
  SOCKET listener = NewSocket();
  sockaddr_in listening{};
  listening.sin_family = AF_INET;
  listening.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int length = sizeof listening;
  BOOL on = TRUE;
  int err = 0;
  // Exclusive: no other socket can take over the port between bind and accept.
  if (listener == INVALID_SOCKET) {
    *syscall = "socket";
  } else if (setsockopt(listener, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&on), sizeof on) != 0) {
    *syscall = "setsockopt";
  } else if (bind(listener, reinterpret_cast<sockaddr*>(&listening), sizeof listening) != 0) {
    *syscall = "bind";
  } else if (getsockname(listener, reinterpret_cast<sockaddr*>(&listening), &length) != 0) {
    *syscall = "getsockname";
  } else if (listen(listener, 1) != 0) {
    *syscall = "listen";
  } else if ((pair->write = NewSocket()) == INVALID_SOCKET) {
    *syscall = "socket";
  } else if (connect(pair->write, reinterpret_cast<sockaddr*>(&listening), sizeof listening) != 0) {
    *syscall = "connect";
  } else {
    sockaddr_in writeEnd{};
    length = sizeof writeEnd;
    if (getsockname(pair->write, reinterpret_cast<sockaddr*>(&writeEnd), &length) != 0) {
      *syscall = "getsockname";
    } else {
      // Another local program may connect to the port first: accept until the peer is ours.
      for (int attempt = 0; attempt < 8 && pair->read == INVALID_SOCKET; attempt++) {
        sockaddr_in peer{};
        length = sizeof peer;
        SOCKET accepted = accept(listener, reinterpret_cast<sockaddr*>(&peer), &length);
        if (accepted == INVALID_SOCKET) {
          *syscall = "accept";
          break;
        }
        if (SameEndpoint(peer, writeEnd)) {
          pair->read = accepted;
        } else {
          closesocket(accepted);
        }
      }
      if (pair->read == INVALID_SOCKET && *syscall == nullptr) {
        *syscall = "accept";
        WSASetLastError(WSAECONNREFUSED);
      }
    }
  }
  if (*syscall != nullptr) err = WSAGetLastError();
  CloseQuietly(&listener);
  if (err == 0) {
    SetHandleInformation(reinterpret_cast<HANDLE>(pair->read), HANDLE_FLAG_INHERIT, 0);
    // Non-blocking, as the POSIX pipe's ends; no delay, so that a small write arrives at once.
    u_long nonBlocking = 1;
    for (SOCKET s : {pair->read, pair->write}) {
      if (ioctlsocket(s, FIONBIO, &nonBlocking) != 0) {
        *syscall = "ioctlsocket";
      } else if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&on), sizeof on) != 0) {
        *syscall = "setsockopt";
      } else {
        continue;
      }
      err = WSAGetLastError();
      break;
    }
  }
  if (err != 0) {
    CloseQuietly(&pair->read);
    CloseQuietly(&pair->write);
  }
  return err;
}

}  // namespace

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env);
  // Winsock is started: node.exe's libuv starts it before any JavaScript runs.
  LoopbackPair pair;
  const char* syscall = nullptr;
  if (int err = OpenLoopbackPair(&pair, &syscall)) throw SystemError(env, syscall, err);
  // node.exe's C runtime fds, the ones Node's fs uses (the addon's own C runtime has others).
  int readFd = uv_open_osfhandle(reinterpret_cast<uv_os_fd_t>(pair.read));
  int writeFd = readFd < 0 ? -1 : uv_open_osfhandle(reinterpret_cast<uv_os_fd_t>(pair.write));
  if (writeFd < 0) {
    if (readFd >= 0) {
      uv_fs_t close;  // closes the fd and its socket; no callback: synchronous
      uv_fs_close(loop, &close, readFd, nullptr);
      uv_fs_req_cleanup(&close);
    } else {
      closesocket(pair.read);
    }
    closesocket(pair.write);
    throw SystemError(env, "_open_osfhandle", ERROR_TOO_MANY_OPEN_FILES);
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, readFd);
  result.Set(1u, writeFd);
  return result;
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
