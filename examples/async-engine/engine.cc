// engine.cc — an async engine in the manner of OpenSSL's (dasync, afalg, QAT), as a client addon
// of asyncjob: built against asyncjob_client.h only, never linked to asyncjob.
//
// hashJob(data, mode) returns a HashRequest { fn, mode, digest(), pauses(), abort() }. `fn` is a
// NativeJobFunction: startJob()/runJob() run HashJob() below as a job on a fiber stack. The job
// hands SHA-256 of the data to a worker thread, which hashes it in 1 MiB chunks and signals
// after each one; the job pauses until the worker is done and counts its pauses. It is woken
//   - mode 'fd': through a wait fd (an eventfd on Linux, a pipe elsewhere, and on Windows, where
//     asyncjob waits on sockets only, a loopback socket pair whose read end it registers as a C
//     runtime fd of node.exe) that it registers in its WaitCtx and clears (and drains) on the way
//     out;
//   - mode 'callback': through the WaitCtx callback, which the worker thread calls (asyncjob's
//     callback may be called from any thread: it queues the wake to the JavaScript thread). The
//     job sets the status ASYNCJOB_STATUS_EAGAIN before every pause, so runJob() waits for it.
// The job returns 1 with the digest stored in the request (0 on failure: digest() throws why).
//
// Threads: hashJob, the job (a fiber of the JavaScript thread) and the HashRequest methods run
// on the JavaScript thread; only the worker runs elsewhere. The job runs no JavaScript and calls
// no napi_* function: native code on a fiber must not.
//
// Ownership of a Request (an atomic reference count; whoever drops the last one deletes it and
// closes its wake fds):
//   1. the HashRequest object hashJob returns: released by its GC finalizer;
//   2. its `fn`: released by its GC finalizer. The job's argument bytes are only the Request's
//      address, so fn keeps the Request alive until the job has taken its own reference;
//   3. the job, from its first instruction to its return. cancelJob() discards a paused native
//      job's stack without running anything more on it: in mode 'fd' the job's reference sits in
//      its WaitCtx entry meanwhile (custom_data, with a cleanup), so freeing the WaitCtx releases
//      it; in mode 'callback' nothing can, and the Request leaks (a few hundred bytes: the
//      worker frees the data when it stops);
//   4. the worker thread, until it is joined: whoever joins it drops its reference (the job,
//      once the worker is done; for a cancelled job the next job to start a worker, or the
//      environment's cleanup hook). Workers are joined, never detached: Node unloads an addon
//      with the last environment that loaded it (a worker_thread's, say), and a detached thread
//      could still be running this binary's code then.
// The wake fds belong to the Request, not the WaitCtx, so the worker never writes to an fd that
// was closed (and maybe reused). The WaitCtx callback may be called only until its WaitCtx is
// freed, so the worker calls it under the Request's mutex and only while it is set: the job
// unsets it before it returns, abort() unsets it for a job that will never return (call it
// before cancelJob() of a paused job), and so does the environment's cleanup hook.
#ifdef _WIN32
#include <winsock2.h>  // before anything that brings windows.h
#include <uv.h>        // node.exe's uv_open_osfhandle and uv_fs_close: its C runtime's fds
#endif
#include <asyncjob_client.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "sha256.h"

namespace {

constexpr size_t kChunkSize = 1 << 20;  // the worker signals after each chunk

enum class Mode { Fd, Callback };

struct EnvState;

struct Request {
  std::atomic<int> refs{1};  // the creator's (it becomes the HashRequest object's)
  EnvState* env = nullptr;
  Mode mode = Mode::Fd;

  // The worker's: the data (freed once hashed) and what it publishes.
  std::vector<uint8_t> data;
  uint8_t digest[engine::Sha256::kDigestSize] = {};
  std::atomic<bool> complete{false};  // the digest is written (before `done`)
  std::atomic<bool> done{false};      // the worker has finished (or stopped); it signals after
  std::atomic<bool> stop{false};      // abort() or environment cleanup: stop after this chunk
  std::atomic<bool> exited{false};    // the worker's last act: it can be joined at once

  // The job's, read by the HashRequest methods (all on the JavaScript thread).
  bool started = false;
  bool finished = false;  // the job returned 1: digest is valid
  const char* error = nullptr;
  int pauses = 0;

  // How the worker wakes the job.
  int readFd = -1;   // mode 'fd': registered in the WaitCtx (an eventfd is both ends)
  int writeFd = -1;
#ifdef _WIN32
  SOCKET readSocket = INVALID_SOCKET;   // behind readFd, which owns it once made
  SOCKET writeSocket = INVALID_SOCKET;  // the worker's end (writeFd is unused)
#endif
  std::mutex wakeMutex;  // guards callback/callbackArg against abort() and the job's return
  asyncjob_callback_fn callback = nullptr;  // mode 'callback': the WaitCtx's, while valid
  void* callbackArg = nullptr;

  ~Request() {
#ifndef _WIN32
    if (writeFd >= 0 && writeFd != readFd) close(writeFd);
    if (readFd >= 0) close(readFd);
#else
    if (writeSocket != INVALID_SOCKET) closesocket(writeSocket);
    if (readFd >= 0) {
      uv_fs_t req;  // closes the fd and its socket; no callback: at once, on this thread
      uv_fs_close(nullptr, &req, readFd, nullptr);
      uv_fs_req_cleanup(&req);
    } else if (readSocket != INVALID_SOCKET) {
      closesocket(readSocket);
    }
#endif
  }
};

void Retain(Request* r) { r->refs.fetch_add(1, std::memory_order_relaxed); }

void Release(Request* r) {
  if (r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete r;
}

// Per environment (main thread or worker_thread): the worker threads not joined yet. Touched
// on the JavaScript thread only (hashJob, the jobs, the cleanup hook); workers never touch it.
struct EnvState {
  struct Worker {
    Request* request;  // holds the worker's reference until the join
    std::thread thread;
  };
  std::vector<Worker> workers;
  bool closing = false;
};

// Stops the request's worker after its current chunk and forgets the WaitCtx callback.
void Abort(Request* r) {
  r->stop.store(true, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(r->wakeMutex);
  r->callback = nullptr;
  r->callbackArg = nullptr;
}

// Joins the workers that have exited (all of them with `all`, stopping them first) and drops
// their references.
void JoinWorkers(EnvState* state, bool all) {
  if (all) {
    for (EnvState::Worker& w : state->workers) Abort(w.request);
  }
  std::vector<EnvState::Worker> keep;
  for (EnvState::Worker& w : state->workers) {
    if (all || w.request->exited.load(std::memory_order_acquire)) {
      w.thread.join();  // an exited worker is joined at once; a stopped one within a chunk
      Release(w.request);
    } else {
      keep.push_back(std::move(w));
    }
  }
  state->workers.swap(keep);
}

// The environment is going away (its WaitCtx callbacks with it, maybe this binary too): stop
// every worker and join it, so none calls a callback or outlives the environment.
void CleanupEnv(void* arg) {
  auto* state = static_cast<EnvState*>(arg);
  state->closing = true;
  JoinWorkers(state, true);
}

// ---- the worker thread ----

void Signal(Request* r) {
  if (r->mode == Mode::Fd) {
#ifdef __linux__
    const uint64_t one = 1;
    (void)!write(r->writeFd, &one, sizeof one);  // non-blocking; fails only on counter overflow
#elif !defined(_WIN32)
    const char byte = 1;
    (void)!write(r->writeFd, &byte, 1);  // non-blocking: a full pipe is readable anyway
#else
    const char byte = 1;
    send(r->writeSocket, &byte, 1, 0);  // non-blocking: a full socket is readable anyway
#endif
    return;
  }
  std::lock_guard<std::mutex> lock(r->wakeMutex);
  if (r->callback != nullptr) r->callback(r->callbackArg);  // queued to the JavaScript thread
}

void Work(Request* r) {
  engine::Sha256 sha;
  const size_t size = r->data.size();
  size_t offset = 0;
  do {
    const size_t n = std::min(kChunkSize, size - offset);
    sha.Update(r->data.data() + offset, n);
    offset += n;
    if (offset == size) {
      sha.Final(r->digest);
      r->complete.store(true, std::memory_order_release);
      std::vector<uint8_t>().swap(r->data);
      r->done.store(true, std::memory_order_release);
    }
    Signal(r);  // progress, and after the last chunk: done
  } while (offset < size && !r->stop.load(std::memory_order_relaxed));
  if (!r->done.load(std::memory_order_relaxed)) {  // stopped early
    std::vector<uint8_t>().swap(r->data);
    r->done.store(true, std::memory_order_release);
    Signal(r);
  }
  r->exited.store(true, std::memory_order_release);  // the joiner drops our reference
}

// ---- the native job (on a fiber stack: no JavaScript, no napi_*) ----

int Fail(Request* r, const char* why) {
  r->error = why;
  return 0;
}

// The WaitCtx entry's cleanup: runs only if the WaitCtx is freed with the fd still set, which
// happens only when the job was discarded (cancelJob) while paused. It drops the job's reference.
void FdCleanup(asyncjob_wait_ctx*, const void*, asyncjob_fd, void* customData) {
  auto* r = static_cast<Request*>(customData);
  r->error = "the job was cancelled";
  r->stop.store(true, std::memory_order_relaxed);
  Release(r);
}

bool OpenWakeFds(Request* r) {
#if defined(__linux__)
  r->readFd = r->writeFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return r->readFd >= 0;
#elif !defined(_WIN32)
  int fds[2];
  if (pipe(fds) != 0) return false;
  r->readFd = fds[0];
  r->writeFd = fds[1];
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  return true;
#else
  // asyncjob waits on sockets only on Windows, given as C runtime fds of node.exe: connect two
  // through a listener on 127.0.0.1 that accepts nothing but our own connection.
  SOCKET listener = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  r->writeSocket = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in writeEnd{};
  int length = sizeof address;
  int writeEndLength = sizeof writeEnd;
  BOOL on = TRUE;
  bool ok = listener != INVALID_SOCKET && r->writeSocket != INVALID_SOCKET &&
            setsockopt(listener, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&on), sizeof on) == 0 &&
            bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
            getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
            listen(listener, 1) == 0 &&
            connect(r->writeSocket, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
            getsockname(r->writeSocket, reinterpret_cast<sockaddr*>(&writeEnd), &writeEndLength) == 0;
  for (int attempt = 0; ok && attempt < 8 && r->readSocket == INVALID_SOCKET; attempt++) {
    sockaddr_in peer{};
    length = sizeof peer;
    SOCKET accepted = accept(listener, reinterpret_cast<sockaddr*>(&peer), &length);
    if (accepted == INVALID_SOCKET) break;
    if (peer.sin_port == writeEnd.sin_port && peer.sin_addr.s_addr == writeEnd.sin_addr.s_addr) {
      r->readSocket = accepted;
    } else {
      closesocket(accepted);  // someone else's connection
    }
  }
  if (listener != INVALID_SOCKET) closesocket(listener);
  u_long nonBlocking = 1;
  if (r->readSocket == INVALID_SOCKET || ioctlsocket(r->readSocket, FIONBIO, &nonBlocking) != 0 ||
      ioctlsocket(r->writeSocket, FIONBIO, &nonBlocking) != 0) {
    return false;  // the destructor closes what is open
  }
  r->readFd = uv_open_osfhandle(reinterpret_cast<uv_os_fd_t>(r->readSocket));
  return r->readFd >= 0;
#endif
}

void DrainWakeFd(Request* r) {
#if defined(__linux__)
  uint64_t count;
  (void)!read(r->readFd, &count, sizeof count);  // resets the counter; EAGAIN if it was 0
#elif !defined(_WIN32)
  char buf[64];
  while (read(r->readFd, buf, sizeof buf) > 0) {
  }
#else
  char buf[64];
  while (recv(r->readSocket, buf, sizeof buf, 0) > 0) {
  }
#endif
}

bool StartWorker(Request* r) {
  EnvState* state = r->env;
  if (state->closing) return false;
  JoinWorkers(state, false);  // those of cancelled jobs, exited by now
  try {
    state->workers.reserve(state->workers.size() + 1);  // push_back below cannot throw
  } catch (const std::bad_alloc&) {
    return false;
  }
  Retain(r);  // the worker's reference
  try {
    state->workers.push_back({r, std::thread(Work, r)});
  } catch (const std::system_error&) {  // no thread
    Release(r);
    return false;
  }
  return true;
}

// Joins r's worker, which has finished or been stopped (it exits within a chunk).
void JoinWorker(Request* r) {
  std::vector<EnvState::Worker>& workers = r->env->workers;
  for (auto w = workers.begin(); w != workers.end(); ++w) {
    if (w->request != r) continue;
    w->thread.join();
    workers.erase(w);
    Release(r);  // the worker's reference (the job still holds its own)
    return;
  }
}

int RunHash(Request* r) {
  asyncjob_job* job = asyncjob_get_current_job();
  asyncjob_wait_ctx* ctx = job != nullptr ? asyncjob_get_wait_ctx(job) : nullptr;
  if (ctx == nullptr) return Fail(r, "the job has no WaitCtx: start it with one (runJob gives it one)");

  // Register how the worker wakes us, then start the worker.
  if (r->mode == Mode::Fd) {
    if (!OpenWakeFds(r)) return Fail(r, "could not create the wake fd");
    // The Request's address is the key (several jobs may share a WaitCtx); the entry holds the
    // job's reference while the fd is set (see FdCleanup).
    if (!asyncjob_wait_ctx_set_wait_fd(ctx, r, r->readFd, r, FdCleanup)) {
      return Fail(r, "asyncjob_wait_ctx_set_wait_fd failed");
    }
  } else {
    asyncjob_callback_fn callback = nullptr;
    void* callbackArg = nullptr;
    if (!asyncjob_wait_ctx_get_callback(ctx, &callback, &callbackArg)) {
      return Fail(r, "the WaitCtx has no callback (runJob installs one)");
    }
    std::lock_guard<std::mutex> lock(r->wakeMutex);
    r->callback = callback;
    r->callbackArg = callbackArg;
  }
  const bool working = StartWorker(r);

  // Pause until the worker is done. Every signal comes after the state it announces, so a
  // wake is never lost: an fd stays readable until drained, and runJob remembers a callback
  // call that comes before the pause.
  while (working && !r->done.load(std::memory_order_acquire)) {
    if (r->mode == Mode::Callback) asyncjob_wait_ctx_set_status(ctx, ASYNCJOB_STATUS_EAGAIN);
    if (!asyncjob_pause_job()) break;  // not pausable after all (not the case for JS-started jobs)
    r->pauses++;
    if (r->mode == Mode::Fd) DrainWakeFd(r);
  }

  // Unregister, whatever happened: the WaitCtx must not hand out our fd, nor the worker call
  // the callback, once we have returned.
  if (r->mode == Mode::Fd) {
    asyncjob_wait_ctx_clear_fd(ctx, r);  // the cleanup does not run: the job keeps its reference
  } else {
    asyncjob_wait_ctx_set_status(ctx, ASYNCJOB_STATUS_OK);
    std::lock_guard<std::mutex> lock(r->wakeMutex);
    r->callback = nullptr;
    r->callbackArg = nullptr;
  }
  if (!working) return Fail(r, "could not start the worker thread");
  const bool done = r->done.load(std::memory_order_acquire);
  if (!done) Abort(r);
  JoinWorker(r);  // it has signalled for the last time and is exiting
  if (!done) return Fail(r, "asyncjob_pause_job() failed");
  if (!r->complete.load(std::memory_order_acquire)) return Fail(r, "aborted");
  r->finished = true;
  return 1;
}

// The job function: its argument bytes are the Request's address (see hashJob).
int HashJob(void* arg) {
  Request* r = *static_cast<Request**>(arg);
  if (r->started) return 0;  // a HashRequest's fn runs once; the first run's outcome stands
  r->started = true;
  Retain(r);  // the job's reference
  const int ret = RunHash(r);
  Release(r);
  return ret;
}

// ---- JavaScript ----

napi_value Throw(napi_env env, const char* code, const char* message, bool typeError = false) {
  if (typeError) {
    napi_throw_type_error(env, code, message);
  } else {
    napi_throw_error(env, code, message);
  }
  return nullptr;
}

void ReleaseFinalizer(napi_env, void* data, void*) { Release(static_cast<Request*>(data)); }

// The Request behind `this` of a HashRequest method.
Request* This(napi_env env, napi_callback_info info) {
  napi_value self;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, nullptr, nullptr, &self, nullptr) != napi_ok ||
      napi_unwrap(env, self, &data) != napi_ok || data == nullptr) {
    Throw(env, "ERR_INVALID_THIS", "not a HashRequest", true);
    return nullptr;
  }
  return static_cast<Request*>(data);
}

// digest(): the hex digest once the job has returned 1; null before; throws if it failed.
napi_value Digest(napi_env env, napi_callback_info info) {
  Request* r = This(env, info);
  if (r == nullptr) return nullptr;
  napi_value result;
  if (r->finished) {
    static const char kHex[] = "0123456789abcdef";
    char hex[2 * engine::Sha256::kDigestSize];
    for (size_t i = 0; i < engine::Sha256::kDigestSize; i++) {
      hex[2 * i] = kHex[r->digest[i] >> 4];
      hex[2 * i + 1] = kHex[r->digest[i] & 15];
    }
    napi_create_string_latin1(env, hex, sizeof hex, &result);
    return result;
  }
  if (r->error != nullptr) return Throw(env, "ERR_ASYNC_ENGINE_FAILED", r->error);
  napi_get_null(env, &result);
  return result;
}

// pauses(): how many times the job has paused so far.
napi_value Pauses(napi_env env, napi_callback_info info) {
  Request* r = This(env, info);
  if (r == nullptr) return nullptr;
  napi_value result;
  napi_create_int32(env, r->pauses, &result);
  return result;
}

// abort(): stops the worker and forgets the WaitCtx callback. Call it before cancelJob() of a
// paused job (or before freeing its WaitCtx by other means); resumed after it, the job fails.
napi_value AbortMethod(napi_env env, napi_callback_info info) {
  Request* r = This(env, info);
  if (r != nullptr) Abort(r);
  return nullptr;
}

// hashJob(data: ArrayBufferView, mode: 'fd' | 'callback' = 'fd') -> HashRequest.
napi_value HashJobFactory(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  EnvState* state = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_get_instance_data(env, reinterpret_cast<void**>(&state));

  bool isView = false;
  if (argc >= 1) napi_is_typedarray(env, argv[0], &isView);
  if (!isView) return Throw(env, "ERR_INVALID_ARG_TYPE", "hashJob(data, mode): data must be a Buffer or TypedArray", true);
  napi_typedarray_type type;
  size_t length;
  void* bytes;
  napi_value arrayBuffer;
  size_t byteOffset;
  napi_get_typedarray_info(env, argv[0], &type, &length, &bytes, &arrayBuffer, &byteOffset);
  size_t elementSize = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: elementSize = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elementSize = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elementSize = 8; break;
    default: break;
  }

  Mode mode = Mode::Fd;
  napi_valuetype modeType = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &modeType);
  if (modeType != napi_undefined) {
    char name[16] = "";
    size_t nameLength = 0;
    if (modeType == napi_string) napi_get_value_string_utf8(env, argv[1], name, sizeof name, &nameLength);
    if (std::strcmp(name, "callback") == 0) {
      mode = Mode::Callback;
    } else if (std::strcmp(name, "fd") != 0) {
      return Throw(env, "ERR_INVALID_ARG_VALUE", "hashJob(data, mode): mode must be 'fd' or 'callback'", true);
    }
  }

  auto* r = new (std::nothrow) Request;
  if (r == nullptr) return Throw(env, "ERR_ASYNC_ENGINE_NO_MEMORY", "out of memory");
  r->env = state;
  r->mode = mode;
  try {
    const auto* begin = static_cast<const uint8_t*>(bytes);
    r->data.assign(begin, begin + length * elementSize);  // a copy: the worker reads it off-thread
  } catch (const std::bad_alloc&) {
    delete r;
    return Throw(env, "ERR_ASYNC_ENGINE_NO_MEMORY", "out of memory");
  }

  // The HashRequest object holds the creator's reference (released by its finalizer).
  napi_value request;
  napi_create_object(env, &request);
  if (napi_wrap(env, request, r, ReleaseFinalizer, nullptr, nullptr) != napi_ok) {
    delete r;
    return Throw(env, "ERR_ASYNC_ENGINE", "napi_wrap failed");
  }

  // fn: the job function and its argument bytes (the Request's address); fn holds a reference.
  napi_value fn;
  if (asyncjob_native_function_new(env, HashJob, &r, sizeof r, &fn) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    return pending ? nullptr : Throw(env, "ERR_ASYNC_ENGINE", "asyncjob_native_function_new failed");
  }
  Retain(r);
  if (napi_add_finalizer(env, fn, r, ReleaseFinalizer, nullptr, nullptr) != napi_ok) {
    Release(r);
    return Throw(env, "ERR_ASYNC_ENGINE", "napi_add_finalizer failed");
  }

  napi_value modeName;
  napi_create_string_utf8(env, mode == Mode::Fd ? "fd" : "callback", NAPI_AUTO_LENGTH, &modeName);
  const napi_property_descriptor properties[] = {
      {"fn", nullptr, nullptr, nullptr, nullptr, fn, napi_enumerable, nullptr},
      {"mode", nullptr, nullptr, nullptr, nullptr, modeName, napi_enumerable, nullptr},
      {"digest", nullptr, Digest, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pauses", nullptr, Pauses, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"abort", nullptr, AbortMethod, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, request, sizeof properties / sizeof properties[0], properties);
  return request;
}

void DeleteEnvState(napi_env, void* data, void*) { delete static_cast<EnvState*>(data); }

}  // namespace

NAPI_MODULE_INIT() {
  // Fetch asyncjob's C API table (require('asyncjob') must have run: see engine.js).
  if (asyncjob_client_init(env) != napi_ok) return nullptr;  // its exception is pending

  auto* state = new EnvState;
  napi_set_instance_data(env, state, DeleteEnvState, nullptr);  // deleted after the hook below
  napi_add_env_cleanup_hook(env, CleanupEnv, state);

  const napi_property_descriptor properties[] = {
      {"hashJob", nullptr, HashJobFactory, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
