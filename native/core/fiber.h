// Fiber: one execution context with its own stack, and a switch between two of them.
//
// Contract
// - A Fiber is created and switched on one OS thread and never migrates to another.
// - createFromCurrentThread() wraps the calling thread's own stack so that other fibers can
//   switch back to it; call it once per thread before creating or switching to other fibers and
//   destroy it last, after every fiber the thread created (on Windows this converts the thread
//   to a fiber and back).
// - create() makes a fiber that runs entry(arg) on a new stack of stackSize bytes the first time
//   something switches to it. entry must never return: it switches away for good instead, and
//   the fiber is then destroyed by another fiber.
// - switchTo(to) must be called on the fiber that is running now (`this`); it returns when some
//   fiber switches back to `this`.
//
// One implementation per platform (fiber_posix.cc, fiber_windows.cc), chosen at compile time.
// Nothing else in the core knows which one it runs on.
#ifndef ASYNCJOB_CORE_FIBER_H
#define ASYNCJOB_CORE_FIBER_H

#include <cstddef>

namespace asyncjob {

class Fiber {
 public:
  using Entry = void (*)(void* arg);

  static Fiber* createFromCurrentThread();
  // nullptr when the stack or the fiber cannot be allocated.
  static Fiber* create(size_t stackSize, Entry entry, void* arg);
  static void destroy(Fiber* fiber);

  void switchTo(Fiber* to);

  // The backend this process uses ("asm-x86_64", "ucontext", "windows-fibers", "none").
  static const char* backendName();
  // Whether fibers can be created on this platform at all.
  static bool isSupported();

 protected:
  // Each platform derives its own fiber type holding what it needs to switch.
  Fiber() = default;
  ~Fiber() = default;
};

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_FIBER_H
