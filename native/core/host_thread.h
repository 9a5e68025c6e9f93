// HostThread: an OS thread with a stack of a chosen size, and the bounds of that stack.
//
// Contract: start() runs fn(arg) on a new thread; join() waits for it to return and is called
// exactly once, from another thread. currentStack() works on threads started here.
#ifndef ASYNCJOB_CORE_HOST_THREAD_H
#define ASYNCJOB_CORE_HOST_THREAD_H

#include <cstddef>
#include <cstdint>

namespace asyncjob {

class HostThread {
 public:
  // nullptr when the thread cannot be created; then *error (if given) is the errno saying why.
  static HostThread* start(size_t stackSize, void (*fn)(void*), void* arg, int* error = nullptr);
  void join();  // also frees the HostThread

  // The calling thread's stack, if it was started by HostThread::start.
  static bool currentStack(uintptr_t* low, uintptr_t* high);

 private:
  HostThread() = default;
  struct Platform;
  Platform* platform_ = nullptr;
};

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_HOST_THREAD_H
