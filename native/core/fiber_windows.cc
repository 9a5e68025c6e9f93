// Windows fibers: the system's own (CreateFiberEx / SwitchToFiber), which switch in user mode
// and allocate each stack with a guard page of their own.
#if defined(_WIN32)

#include "fiber.h"

#include <windows.h>
#include <xmmintrin.h>

#include <cstdlib>
#include <new>

namespace asyncjob {

namespace {

struct WindowsFiber final : Fiber {
  LPVOID handle = nullptr;
  bool isThread = false;         // wraps a thread rather than owning a fiber
  bool convertedThread = false;  // createFromCurrentThread converted it and must convert back
  int handedOver = 0;            // the value the last switch to this fiber passed
  Fiber::Entry entry = nullptr;
  void* arg = nullptr;
};

void WINAPI fiberStart(LPVOID parameter) {
  auto* self = static_cast<WindowsFiber*>(parameter);
  self->entry(self->arg);
  std::abort();  // a fiber's entry switches away for good; returning is a bug
}

}  // namespace

Fiber* Fiber::createFromCurrentThread() {
  auto* fiber = new (std::nothrow) WindowsFiber;
  if (fiber == nullptr) return nullptr;
  fiber->isThread = true;
  if (IsThreadAFiber()) {  // somebody else converted this thread; leave it as we found it
    fiber->handle = GetCurrentFiber();
  } else {
    fiber->handle = ConvertThreadToFiberEx(nullptr, FIBER_FLAG_FLOAT_SWITCH);
    fiber->convertedThread = fiber->handle != nullptr;
  }
  if (fiber->handle == nullptr) {
    delete fiber;
    return nullptr;
  }
  return fiber;
}

Fiber* Fiber::create(size_t stackSize, Entry entry, void* arg) {
  auto* fiber = new (std::nothrow) WindowsFiber;
  if (fiber == nullptr) return nullptr;
  fiber->entry = entry;
  fiber->arg = arg;
  // Commit lazily (0 = the image's default); reserve the whole requested size.
  fiber->handle = CreateFiberEx(0, stackSize, FIBER_FLAG_FLOAT_SWITCH, fiberStart, fiber);
  if (fiber->handle == nullptr) {
    delete fiber;
    return nullptr;
  }
  return fiber;
}

void Fiber::destroy(Fiber* fiber) {
  if (fiber == nullptr) return;
  auto* self = static_cast<WindowsFiber*>(fiber);
  if (!self->isThread) {
    DeleteFiber(self->handle);
  } else if (self->convertedThread) {
    ConvertFiberToThread();
  }
  delete self;
}

int Fiber::switchToSlow(Fiber* to, int value) {
  // The x64 ABI makes MXCSR's control bits callee-saved. FIBER_FLAG_FLOAT_SWITCH asks Windows to
  // switch them, but not every implementation does (Wine does not), so keep our own.
  const unsigned int mxcsr = _mm_getcsr();
  auto* next = static_cast<WindowsFiber*>(to);
  next->handedOver = value;
  SwitchToFiber(next->handle);
  _mm_setcsr(mxcsr);
  return static_cast<WindowsFiber*>(this)->handedOver;
}

const char* Fiber::backendName() { return "windows-fibers"; }

bool Fiber::isSupported() { return true; }

}  // namespace asyncjob

#endif  // _WIN32
