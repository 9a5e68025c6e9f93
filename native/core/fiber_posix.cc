// POSIX fibers: makecontext prepares each stack; switches are register-only where that is safe.
//
// glibc's swapcontext saves and restores the signal mask with a system call on every switch
// (~650 ns per round trip here). On x86-64 we switch with a few instructions instead: each new
// fiber is entered once through setcontext, parks itself with the register-only switch, and from
// then on every switch saves and loads only the callee-saved registers and the stack pointer.
// The register-only switch would desynchronise a CET shadow stack, so when one is active (or
// ASYNCJOB_FIBER=ucontext is set) every switch goes through swapcontext instead.
//
// AddressSanitizer and ThreadSanitizer cannot see a switch: ASan would keep checking against the
// stack it last knew, TSan would keep one call stack and one clock for every fiber on a thread.
// In their builds each switch tells them (see SwitchNotes); in production that code is absent.
#if !defined(_WIN32)

#if defined(__APPLE__) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 600  // macOS hides the ucontext functions without it
#endif

#include "fiber.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "stack.h"

#if ASYNCJOB_HAVE_UCONTEXT  // fiber.h decides
#include <ucontext.h>
#endif

#if ASYNCJOB_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if ASYNCJOB_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define ASYNCJOB_SANITIZED_SWITCH (ASYNCJOB_ASAN || ASYNCJOB_TSAN)

#define ASYNCJOB_HAVE_ASM_SWITCH ASYNCJOB_FIBER_INLINE_SWITCH  // fiber.h decides

#if ASYNCJOB_HAVE_ASM_SWITCH
// asyncjob_fiber_switch (declared in fiber.h) saves the callee-saved registers on the current
// stack, stores the stack pointer in *saveSp, then loads loadSp and restores the registers saved
// there, returning `value` into that fiber.
extern "C" {
// Saves like asyncjob_fiber_switch, then calls fn(arg) on the same stack; fn never returns. A
// later asyncjob_fiber_switch to *saveSp returns from this call.
void asyncjob_fiber_save_and_call(void** saveSp, void (*fn)(void*), void* arg);
}

#if defined(__APPLE__)
#define ASYNCJOB_ASM_FN(name) ".globl _" #name "\n.private_extern _" #name "\n.p2align 4\n_" #name ":\n"
#define ASYNCJOB_ASM_END(name) ""
#else
#define ASYNCJOB_ASM_FN(name) \
  ".globl " #name "\n.hidden " #name "\n.type " #name ",@function\n.p2align 4\n" #name ":\n"
#define ASYNCJOB_ASM_END(name) ".size " #name ", .-" #name "\n"
#endif

// The frame both functions leave: r15 r14 r13 r12 rbx rbp, MXCSR and the x87 control word (the
// System V ABI makes their control bits callee-saved), then the return address: 56 bytes plus
// the return address keep the stack 16-byte aligned at the call in save_and_call.
#define ASYNCJOB_X64_SAVE                                                                \
  "pushq %rbp\n pushq %rbx\n pushq %r12\n pushq %r13\n pushq %r14\n pushq %r15\n"      \
  "subq $8, %rsp\n stmxcsr (%rsp)\n fnstcw 4(%rsp)\n"

asm(".text\n"
    ASYNCJOB_ASM_FN(asyncjob_fiber_switch)
    ASYNCJOB_X64_SAVE
    "movq %rsp, (%rdi)\n"
    "movq %rsi, %rsp\n"
    "ldmxcsr (%rsp)\n fldcw 4(%rsp)\n addq $8, %rsp\n"
    "popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbx\n popq %rbp\n"
    "movl %edx, %eax\n"  // the value handed over becomes the resumed side's return value
    "ret\n"
    ASYNCJOB_ASM_END(asyncjob_fiber_switch)
    ASYNCJOB_ASM_FN(asyncjob_fiber_save_and_call)
    ASYNCJOB_X64_SAVE
    "movq %rsp, (%rdi)\n"
    "movq %rdx, %rdi\n"
    "callq *%rsi\n"
    "ud2\n"
    ASYNCJOB_ASM_END(asyncjob_fiber_save_and_call));
#endif  // ASYNCJOB_HAVE_ASM_SWITCH

namespace asyncjob {

namespace {

enum class Switch { None, Asm, Ucontext };

#if ASYNCJOB_HAVE_ASM_SWITCH
// RDSSP reads the shadow-stack pointer; it is a no-op (leaving 0) when shadow stacks are off
// and on processors without CET. Encoded as bytes for assemblers that predate it.
bool shadowStackActive() {
  uint64_t ssp = 0;
  asm volatile(".byte 0xf3, 0x48, 0x0f, 0x1e, 0xc8" : "+a"(ssp));  // rdsspq %rax
  return ssp != 0;
}
#endif

Switch detectSwitch() {
#if !ASYNCJOB_HAVE_UCONTEXT
  return Switch::None;
#else
#if ASYNCJOB_HAVE_ASM_SWITCH
  const char* forced = std::getenv("ASYNCJOB_FIBER");
  if (forced != nullptr && std::strcmp(forced, "ucontext") == 0) return Switch::Ucontext;
  if (shadowStackActive()) return Switch::Ucontext;
  return Switch::Asm;
#else
  return Switch::Ucontext;
#endif
#endif
}

Switch activeSwitch() {
  static const Switch chosen = detectSwitch();
  return chosen;
}

}  // namespace

#if ASYNCJOB_HAVE_ASM_SWITCH
// Set at load time; every fiber is created later, so every switch sees the final value.
bool Fiber::asmSwitch_ = activeSwitch() == Switch::Asm;
#endif

#if ASYNCJOB_HAVE_UCONTEXT

namespace {

#if ASYNCJOB_SANITIZED_SWITCH
// What the sanitizers know of one stack, and the protocol that keeps them in step: leave(from,
// to) runs just before a switch, arrive(self) first thing on the other side. ASan learns a
// thread's own stack bounds there (it reports the bounds of the stack just left), which is
// always before anything switches back to that stack. TSan keeps a fiber (a call stack and a
// clock) per stack; a switch orders everything before it on one stack before everything after
// it on the other, also when a pooled fiber goes on on another OS thread.
struct SwitchNotes {
  SwitchNotes* cameFrom = nullptr;  // whoever switched here last
#if ASYNCJOB_ASAN
  const void* stackBottom = nullptr;
  size_t stackSize = 0;
  void* fakeStack = nullptr;  // the stack's fake frames (detect_stack_use_after_return) while away
#endif
#if ASYNCJOB_TSAN
  void* tsanFiber = nullptr;
#endif
};

void leave(SwitchNotes* from, SwitchNotes* to) {
  to->cameFrom = from;
#if ASYNCJOB_ASAN
  __sanitizer_start_switch_fiber(&from->fakeStack, to->stackBottom, to->stackSize);
#endif
#if ASYNCJOB_TSAN
  // Last: from here to the switch, TSan charges every access to `to`.
  __tsan_switch_to_fiber(to->tsanFiber, 0);
#endif
}

void arrive(SwitchNotes* self) {
#if ASYNCJOB_ASAN
  SwitchNotes* from = self->cameFrom;
  __sanitizer_finish_switch_fiber(self->fakeStack, &from->stackBottom, &from->stackSize);
#else
  (void)self;
#endif
}
#endif  // ASYNCJOB_SANITIZED_SWITCH

struct PosixFiber final : Fiber {
  ucontext_t context;    // every switch with Switch::Ucontext; only the first entry with Asm
  int handedOver = 0;    // Switch::Ucontext: the value the last switch to this fiber passed
  void* creatorSp = nullptr;  // Switch::Asm: where create() waits while the new fiber parks
  Stack stack;           // empty for a thread's own fiber
  Fiber::Entry entry = nullptr;
  void* arg = nullptr;
#if ASYNCJOB_SANITIZED_SWITCH
  SwitchNotes notes;
#endif

#if ASYNCJOB_HAVE_ASM_SWITCH
  // Returns to create(), leaving this fiber where the first switch to it will resume it.
  void park() {
#if ASYNCJOB_SANITIZED_SWITCH
    leave(&notes, notes.cameFrom);  // create() came here
    asyncjob_fiber_switch(&sp_, creatorSp, 0);
    arrive(&notes);
#else
    asyncjob_fiber_switch(&sp_, creatorSp, 0);
#endif
  }
#endif
};

// makecontext passes int arguments only, so the fiber's address travels in two halves.
void fiberStart(unsigned int high, unsigned int low) {
  auto* self = reinterpret_cast<PosixFiber*>(
      static_cast<uintptr_t>((static_cast<uint64_t>(high) << 32) | static_cast<uint64_t>(low)));
#if ASYNCJOB_SANITIZED_SWITCH
  arrive(&self->notes);
#endif
#if ASYNCJOB_HAVE_ASM_SWITCH
  if (activeSwitch() == Switch::Asm) self->park();
#endif
  self->entry(self->arg);
  std::abort();  // a fiber's entry switches away for good; returning is a bug
}

#if ASYNCJOB_HAVE_ASM_SWITCH
void enterThroughContext(void* fiber) {
  setcontext(&static_cast<PosixFiber*>(fiber)->context);
  std::abort();  // setcontext returns only on failure
}
#endif

}  // namespace

Fiber* Fiber::createFromCurrentThread() {
  if (activeSwitch() == Switch::None) return nullptr;
  auto* fiber = new (std::nothrow) PosixFiber;
#if ASYNCJOB_SANITIZED_SWITCH
  if (fiber == nullptr) return nullptr;
#if ASYNCJOB_ASAN
  // ASan's swapcontext interceptor clears the shadow memory of the target's uc_stack, which
  // nothing sets for a thread's own context.
  fiber->context.uc_stack = stack_t{};
#endif
#if ASYNCJOB_TSAN
  fiber->notes.tsanFiber = __tsan_get_current_fiber();
#endif
#endif
  return fiber;
}

Fiber* Fiber::create(size_t stackSize, Entry entry, void* arg) {
  if (activeSwitch() == Switch::None) return nullptr;
  auto* fiber = new (std::nothrow) PosixFiber;
  if (fiber == nullptr) return nullptr;
  if (!stackAllocate(stackSize, &fiber->stack) || getcontext(&fiber->context) != 0) {
    stackFree(&fiber->stack);
    delete fiber;
    return nullptr;
  }
  fiber->entry = entry;
  fiber->arg = arg;
#if ASYNCJOB_ASAN
  fiber->notes.stackBottom = fiber->stack.base;
  fiber->notes.stackSize = fiber->stack.size;
#endif
#if ASYNCJOB_TSAN
  fiber->notes.tsanFiber = __tsan_create_fiber(0);
#endif
  fiber->context.uc_stack.ss_sp = fiber->stack.base;
  fiber->context.uc_stack.ss_size = fiber->stack.size;
  fiber->context.uc_link = nullptr;
  const auto address = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(fiber));
  makecontext(&fiber->context, reinterpret_cast<void (*)()>(fiberStart), 2,
              static_cast<unsigned int>(address >> 32), static_cast<unsigned int>(address));
#if ASYNCJOB_HAVE_ASM_SWITCH
  if (activeSwitch() == Switch::Asm) {
    // Run the fiber up to its parking switch, so that it is resumed like any other.
#if ASYNCJOB_SANITIZED_SWITCH
    // Whatever runs this create() is a stack the sanitizers must be able to come back to.
    SwitchNotes creator;
#if ASYNCJOB_TSAN
    creator.tsanFiber = __tsan_get_current_fiber();
#endif
    leave(&creator, &fiber->notes);
    asyncjob_fiber_save_and_call(&fiber->creatorSp, enterThroughContext, fiber);
    arrive(&creator);
#else
    asyncjob_fiber_save_and_call(&fiber->creatorSp, enterThroughContext, fiber);
#endif
  }
#endif
  return fiber;
}

void Fiber::destroy(Fiber* fiber) {
  if (fiber == nullptr) return;
  auto* self = static_cast<PosixFiber*>(fiber);
  if (self->stack.base != nullptr) {  // not a thread's own fiber
#if ASYNCJOB_ASAN
    // Frames never returned from leave their redzones poisoned; the memory may become another
    // stack, or anything.
    ASAN_UNPOISON_MEMORY_REGION(self->stack.base, self->stack.size);
#endif
#if ASYNCJOB_TSAN
    __tsan_destroy_fiber(self->notes.tsanFiber);
#endif
  }
  stackFree(&self->stack);
  delete self;
}

// In production, the ucontext switch only. Under a sanitizer, every switch.
int Fiber::switchToSlow(Fiber* to, int value) {
  auto* self = static_cast<PosixFiber*>(this);
  auto* next = static_cast<PosixFiber*>(to);
#if ASYNCJOB_SANITIZED_SWITCH
  int received;
  next->handedOver = value;
  leave(&self->notes, &next->notes);
#if ASYNCJOB_HAVE_ASM_SWITCH
  if (asmSwitch_) {
    received = asyncjob_fiber_switch(&sp_, next->sp_, value);
  } else
#endif
  {
    if (swapcontext(&self->context, &next->context) != 0) std::abort();
    received = self->handedOver;
  }
  arrive(&self->notes);
  return received;
#else
  next->handedOver = value;
  if (swapcontext(&self->context, &next->context) != 0) std::abort();
  return self->handedOver;
#endif
}

#else  // !ASYNCJOB_HAVE_UCONTEXT

Fiber* Fiber::createFromCurrentThread() { return nullptr; }
Fiber* Fiber::create(size_t, Entry, void*) { return nullptr; }
void Fiber::destroy(Fiber*) {}
int Fiber::switchToSlow(Fiber*, int) { std::abort(); }

#endif  // ASYNCJOB_HAVE_UCONTEXT

const char* Fiber::backendName() {
  switch (activeSwitch()) {
    case Switch::Asm:
      return "asm-x86_64";
    case Switch::Ucontext:
      return "ucontext";
    case Switch::None:
      break;
  }
  return "none";
}

bool Fiber::isSupported() { return activeSwitch() != Switch::None; }

}  // namespace asyncjob

#endif  // !_WIN32
