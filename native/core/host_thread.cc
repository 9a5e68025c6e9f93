#include "host_thread.h"

#include <cerrno>
#include <new>

#ifdef _WIN32
#include <process.h>
#include <windows.h>
#else
#include <pthread.h>
#endif

namespace asyncjob {

namespace {

struct Start {
  void (*fn)(void*);
  void* arg;
  size_t stackSize;
};

// The running host thread's stack, recorded as it starts.
thread_local uintptr_t t_stackLow = 0;
thread_local uintptr_t t_stackHigh = 0;

void recordStack(size_t stackSize) {
  volatile char here = 0;
  const auto top = reinterpret_cast<uintptr_t>(&here);
#if defined(__linux__)
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    size_t size = 0;
    const bool known = pthread_attr_getstack(&attr, &low, &size) == 0;
    pthread_attr_destroy(&attr);
    if (known) {
      t_stackLow = reinterpret_cast<uintptr_t>(low);
      t_stackHigh = t_stackLow + size;
      return;
    }
  }
#endif
  // Elsewhere: the stack began a little above this frame and is stackSize long; a caller that
  // needs a limit keeps a margin well beyond that difference.
  t_stackHigh = top;
  t_stackLow = top - stackSize;
}

}  // namespace

struct HostThread::Platform {
#ifdef _WIN32
  HANDLE handle = nullptr;
#else
  pthread_t thread{};
#endif
  Start start{};
};

#ifdef _WIN32
static unsigned __stdcall threadMain(void* p) {
  auto* start = static_cast<Start*>(p);
  recordStack(start->stackSize);
  start->fn(start->arg);
  return 0;
}
#else
static void* threadMain(void* p) {
  auto* start = static_cast<Start*>(p);
  recordStack(start->stackSize);
  start->fn(start->arg);
  return nullptr;
}
#endif

HostThread* HostThread::start(size_t stackSize, void (*fn)(void*), void* arg, int* error) {
  int ignored = 0;
  if (error == nullptr) error = &ignored;
  auto* thread = new (std::nothrow) HostThread;
  auto* platform = new (std::nothrow) Platform;
  if (thread == nullptr || platform == nullptr) {
    delete thread;
    delete platform;
    *error = ENOMEM;
    return nullptr;
  }
  platform->start = Start{fn, arg, stackSize};
  thread->platform_ = platform;
#ifdef _WIN32
  platform->handle = reinterpret_cast<HANDLE>(_beginthreadex(
      nullptr, static_cast<unsigned>(stackSize), threadMain, &platform->start,
      STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr));
  const bool started = platform->handle != nullptr;
  if (!started) *error = errno;
#else
  pthread_attr_t attr;
  *error = pthread_attr_init(&attr);
  if (*error == 0) {
    *error = pthread_attr_setstacksize(&attr, stackSize);
    if (*error == 0) *error = pthread_create(&platform->thread, &attr, threadMain, &platform->start);
    pthread_attr_destroy(&attr);
  }
  const bool started = *error == 0;
#endif
  if (!started) {
    delete platform;
    delete thread;
    return nullptr;
  }
  return thread;
}

void HostThread::join() {
#ifdef _WIN32
  WaitForSingleObject(platform_->handle, INFINITE);
  CloseHandle(platform_->handle);
#else
  pthread_join(platform_->thread, nullptr);
#endif
  delete platform_;
  delete this;
}

bool HostThread::currentStack(uintptr_t* low, uintptr_t* high) {
  if (t_stackHigh == 0) return false;
  *low = t_stackLow;
  *high = t_stackHigh;
  return true;
}

}  // namespace asyncjob
