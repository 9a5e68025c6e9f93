// Fiber: one execution context with its own stack, and a switch between two of them.
//
// Contract
// - A fiber runs on one OS thread at a time. One made by create() may be switched to from any
//   OS thread once the thread it last ran on has left it (job.cc runs a pooled fiber on whichever
//   thread starts its next job); a thread's own fiber runs only on that thread.
// - createFromCurrentThread() wraps the calling thread's own stack so that other fibers can
//   switch back to it; call it once per thread before creating or switching to other fibers and
//   destroy it last, after every fiber the thread created (on Windows this converts the thread
//   to a fiber and back).
// - create() makes a fiber that runs entry(arg) on a new stack of stackSize bytes the first time
//   something switches to it. entry must never return: it switches away for good instead, and
//   the fiber is then destroyed by another fiber.
// - switchTo(to, value) must be called on the fiber that is running now (`this`). It hands
//   `value` to `to`, whose own pending switchTo returns it (a fiber entered for the first time
//   drops it), and returns the value handed over by whichever fiber switches back to `this`.
//   Callers can make it their tail call, so that the resumed side returns straight to their
//   caller: every return between two switches costs a misprediction.
//
// - Under AddressSanitizer or ThreadSanitizer (POSIX), every switch tells the sanitizer that
//   the stack changes; a production build has none of that code.
//
// One implementation per platform (fiber_posix.cc, fiber_windows.cc), chosen at compile time.
// Nothing else in the core knows which one it runs on.
#ifndef ASYNCJOB_CORE_FIBER_H
#define ASYNCJOB_CORE_FIBER_H

#include <cstddef>

#include "sanitizers.h"

namespace asyncjob {

// x86-64 and aarch64 (every POSIX system: Linux with glibc or musl, macOS, the BSDs) switch
// with a few instructions, inline (unless disabled at run time, see fiber_posix.cc). The
// ucontext functions are the switch on other POSIX architectures, and the fallback on glibc
// under a shadow stack. musl declares them but does not implement them; macOS deprecates them
// and never needs them.
#if !defined(_WIN32) && (defined(__x86_64__) || defined(__aarch64__))
#define ASYNCJOB_FIBER_INLINE_SWITCH 1
extern "C" int asyncjob_fiber_switch(void** saveSp, void* loadSp, int value);
#else
#define ASYNCJOB_FIBER_INLINE_SWITCH 0
#endif

#if !defined(_WIN32) && !defined(__APPLE__) && __has_include(<ucontext.h>) && \
    (!defined(__linux__) || defined(__GLIBC__) || defined(__ANDROID__))
#define ASYNCJOB_HAVE_UCONTEXT 1
#else
#define ASYNCJOB_HAVE_UCONTEXT 0
#endif

class Fiber {
 public:
  using Entry = void (*)(void* arg);

  static Fiber* createFromCurrentThread();
  // nullptr when the stack or the fiber cannot be allocated.
  static Fiber* create(size_t stackSize, Entry entry, void* arg);
  static void destroy(Fiber* fiber);

  inline int switchTo(Fiber* to, int value);

  // The backend this process uses ("asm-x86_64", "asm-aarch64", "ucontext", "windows-fibers",
  // "none").
  static const char* backendName();
  // Whether fibers can be created on this platform at all.
  static bool isSupported();

 protected:
  // Each platform derives its own fiber type holding what it needs to switch.
  Fiber() = default;
  ~Fiber() = default;

#if ASYNCJOB_FIBER_INLINE_SWITCH
  void* sp_ = nullptr;  // the saved stack pointer while this fiber is not running
  static bool asmSwitch_;  // chosen once per process, before the first fiber exists
#endif

 private:
  int switchToSlow(Fiber* to, int value);
};

// Under a sanitizer the switch goes out of line, to where the sanitizer is told about it.
#if ASYNCJOB_FIBER_INLINE_SWITCH && !ASYNCJOB_ASAN && !ASYNCJOB_TSAN
inline int Fiber::switchTo(Fiber* to, int value) {
  return asmSwitch_ ? asyncjob_fiber_switch(&sp_, to->sp_, value) : switchToSlow(to, value);
}
#else
inline int Fiber::switchTo(Fiber* to, int value) { return switchToSlow(to, value); }
#endif

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_FIBER_H
