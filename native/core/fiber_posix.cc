// POSIX fibers: a register-only switch on x86-64 and aarch64, the ucontext functions elsewhere.
//
// glibc's swapcontext saves and restores the signal mask with a system call on every switch
// (~650 ns per round trip here). On x86-64 and aarch64 a switch is a few instructions instead:
// it saves the callee-saved registers and the floating-point control on the stack it leaves,
// stores the stack pointer, loads the other fiber's and restores what was saved there. create()
// writes a new stack's first frame by hand, as that switch would have left it, with a trampoline
// as the return address: the first switch to the fiber "returns" into the trampoline, which
// calls the fiber's start. Nothing needs ucontext, so this runs on musl and macOS as on glibc.
//
// The register-only switch would desynchronise a shadow stack (x86-64 CET, aarch64 GCS). When
// one is active, or ASYNCJOB_FIBER=ucontext is set, every switch goes through swapcontext
// where the C library has it (glibc); where it does not, fibers are then unsupported.
//
// AddressSanitizer and ThreadSanitizer cannot see a switch: ASan would keep checking against the
// stack it last knew, TSan would keep one call stack and one clock for every fiber on a thread.
// In their builds each switch tells them (see SwitchNotes); in production that code is absent.
#if !defined(_WIN32)

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
//
// asyncjob_fiber_trampoline is where a new fiber's first switch returns to: it calls
// start(fiber), both taken from the callee-saved registers of the hand-made frame, and must never
// be returned to. Its unwind information marks the return address undefined, so unwinders
// (exceptions, backtrace(), debuggers, profilers) stop there instead of reading past the stack.
extern "C" __attribute__((visibility("hidden"))) void asyncjob_fiber_trampoline();

#if defined(__APPLE__)
#define ASYNCJOB_ASM_FN(name, align) \
  ".globl _" #name "\n.private_extern _" #name "\n.p2align " #align "\n_" #name ":\n"
#define ASYNCJOB_ASM_END(name) ""
#else
#define ASYNCJOB_ASM_FN(name, align)                                                   \
  ".globl " #name "\n.hidden " #name "\n.type " #name ",%function\n.p2align " #align "\n" \
  #name ":\n"
#define ASYNCJOB_ASM_END(name) ".size " #name ", .-" #name "\n"
#endif

#if defined(__x86_64__)
#define ASYNCJOB_ASM_BACKEND "asm-x86_64"

// The frame a switch leaves, from the saved stack pointer up: MXCSR and the x87 control word
// (the System V ABI makes their control bits callee-saved), r15 r14 r13 r12 rbx rbp, then the
// return address. 64 bytes: the stack pointer stays 16-byte aligned across the switch.
namespace {
enum X64Frame { kFpControl, kR15, kR14, kR13, kR12, kRbx, kRbp, kReturn, kFrameWords };
}

asm(".text\n"
    ASYNCJOB_ASM_FN(asyncjob_fiber_switch, 4)
    "pushq %rbp\n pushq %rbx\n pushq %r12\n pushq %r13\n pushq %r14\n pushq %r15\n"
    "subq $8, %rsp\n stmxcsr (%rsp)\n fnstcw 4(%rsp)\n"
    "movq %rsp, (%rdi)\n"
    "movq %rsi, %rsp\n"
    "ldmxcsr (%rsp)\n fldcw 4(%rsp)\n addq $8, %rsp\n"
    "popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbx\n popq %rbp\n"
    "movl %edx, %eax\n"  // the value handed over becomes the resumed side's return value
    "ret\n"
    ASYNCJOB_ASM_END(asyncjob_fiber_switch)
    // Entered by the switch's ret, with the stack pointer 16-byte aligned: the call then gives
    // start() the alignment the ABI promises at a function's entry.
    ASYNCJOB_ASM_FN(asyncjob_fiber_trampoline, 4)
    ".cfi_startproc\n"
    ".cfi_undefined rip\n"
    "movq %rbx, %rdi\n"
    "callq *%r12\n"
    "ud2\n"
    ".cfi_endproc\n"
    ASYNCJOB_ASM_END(asyncjob_fiber_trampoline));

#elif defined(__aarch64__)
#define ASYNCJOB_ASM_BACKEND "asm-aarch64"

// The frame a switch leaves, from the saved stack pointer up: x19-x28, x29 (frame pointer),
// x30 (link register: where the switch returns), d8-d15 (AAPCS64 preserves their low halves),
// FPCR, padding to keep the stack pointer 16-byte aligned. x18 is left alone: Apple and Windows
// reserve it, and it belongs to the thread, not to a fiber.
//
// Pointer authentication: the switch saves and reloads x30 exactly as it came and returns with a
// plain ret, so a caller that signs its own return address authenticates it later against its
// own, restored, stack pointer. BTI: `hint #34` (bti c) opens each function, a no-op where BTI
// is not implemented; compiled with -mbranch-protection=standard, GCC then marks this object as
// BTI- and PAC-compatible (.note.gnu.property), truthfully.
namespace {
enum A64Frame {
  kX19, kX20, kX21, kX22, kX23, kX24, kX25, kX26, kX27, kX28, kX29, kX30,
  kD8, kD9, kD10, kD11, kD12, kD13, kD14, kD15, kFpcr, kPadding, kFrameWords
};
}

asm(".text\n"
    ASYNCJOB_ASM_FN(asyncjob_fiber_switch, 2)
    "hint #34\n"  // bti c
    "sub sp, sp, #176\n"
    "stp x19, x20, [sp, #0]\n stp x21, x22, [sp, #16]\n stp x23, x24, [sp, #32]\n"
    "stp x25, x26, [sp, #48]\n stp x27, x28, [sp, #64]\n stp x29, x30, [sp, #80]\n"
    "stp d8, d9, [sp, #96]\n stp d10, d11, [sp, #112]\n stp d12, d13, [sp, #128]\n"
    "stp d14, d15, [sp, #144]\n"
    "mrs x9, fpcr\n str x9, [sp, #160]\n"
    "mov x10, sp\n str x10, [x0]\n"
    "mov sp, x1\n"
    "ldp x19, x20, [sp, #0]\n ldp x21, x22, [sp, #16]\n ldp x23, x24, [sp, #32]\n"
    "ldp x25, x26, [sp, #48]\n ldp x27, x28, [sp, #64]\n ldp x29, x30, [sp, #80]\n"
    "ldp d8, d9, [sp, #96]\n ldp d10, d11, [sp, #112]\n ldp d12, d13, [sp, #128]\n"
    "ldp d14, d15, [sp, #144]\n"
    // Writing FPCR can stall; both sides usually share one.
    "ldr x10, [sp, #160]\n cmp x9, x10\n b.eq 1f\n msr fpcr, x10\n1:\n"
    "add sp, sp, #176\n"
    "mov w0, w2\n"  // the value handed over becomes the resumed side's return value
    "ret\n"
    ASYNCJOB_ASM_END(asyncjob_fiber_switch)
    // Entered by the switch's ret (which BTI does not check), with sp 16-byte aligned.
    ASYNCJOB_ASM_FN(asyncjob_fiber_trampoline, 2)
    ".cfi_startproc\n"
    ".cfi_undefined x30\n"
    "hint #34\n"  // bti c
    "mov x0, x19\n"
    "blr x20\n"
    "brk #1\n"
    ".cfi_endproc\n"
    ASYNCJOB_ASM_END(asyncjob_fiber_trampoline));
#endif

// The frame enums above must match the asm: 8 words pushed on x86-64 (with the return address),
// 176 bytes reserved on aarch64.
#if defined(__x86_64__)
static_assert(kFrameWords * sizeof(uint64_t) == 64, "the x86-64 switch's frame");
#else
static_assert(kFrameWords * sizeof(uint64_t) == 176, "the aarch64 switch's frame");
#endif
#endif  // ASYNCJOB_HAVE_ASM_SWITCH

namespace asyncjob {

namespace {

enum class Switch { None, Asm, Ucontext };

#if ASYNCJOB_HAVE_ASM_SWITCH
#if defined(__x86_64__)
// RDSSP reads the shadow-stack pointer; it is a no-op (leaving 0) when shadow stacks are off
// and on processors without CET. Encoded as bytes for assemblers that predate it.
bool shadowStackActive() {
  uint64_t ssp = 0;
  asm volatile(".byte 0xf3, 0x48, 0x0f, 0x1e, 0xc8" : "+a"(ssp));  // rdsspq %rax
  return ssp != 0;
}

// The floating-point control a new fiber starts with: its creator's, as a new thread starts
// with its creator's.
uint64_t currentFpControl() {
  uint32_t mxcsr = 0;
  uint16_t x87 = 0;
  asm volatile("stmxcsr %0\n fnstcw %1" : "=m"(mxcsr), "=m"(x87));
  return mxcsr | static_cast<uint64_t>(x87) << 32;
}
#elif defined(__aarch64__)
// CHKFEAT X16 clears bit 0 of x16 when the Guarded Control Stack is enabled. It is a hint: a
// no-op, leaving the bit set, on processors and assemblers that know nothing of it.
bool shadowStackActive() {
  uint64_t features;
  asm volatile("mov x16, #1\n hint #40\n mov %0, x16" : "=r"(features) : : "x16");  // chkfeat
  return (features & 1) == 0;
}

uint64_t currentFpControl() {
  uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  return fpcr;
}
#endif
#endif  // ASYNCJOB_HAVE_ASM_SWITCH

Switch detectSwitch() {
#if ASYNCJOB_HAVE_ASM_SWITCH
#if ASYNCJOB_HAVE_UCONTEXT
  const char* forced = std::getenv("ASYNCJOB_FIBER");
  if (forced != nullptr && std::strcmp(forced, "ucontext") == 0) return Switch::Ucontext;
  if (shadowStackActive()) return Switch::Ucontext;
#else
  if (shadowStackActive()) return Switch::None;
#endif
  return Switch::Asm;
#elif ASYNCJOB_HAVE_UCONTEXT
  return Switch::Ucontext;
#else
  return Switch::None;
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

#if ASYNCJOB_HAVE_ASM_SWITCH || ASYNCJOB_HAVE_UCONTEXT

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
#if ASYNCJOB_HAVE_UCONTEXT
  ucontext_t context;  // Switch::Ucontext only
  int handedOver = 0;  // Switch::Ucontext: the value the last switch to this fiber passed
#endif
  Stack stack;         // empty for a thread's own fiber
  Fiber::Entry entry = nullptr;
  void* arg = nullptr;
#if ASYNCJOB_SANITIZED_SWITCH
  SwitchNotes notes;
#endif

  // The switch itself, without the sanitizers' notes.
  int switchStack(PosixFiber* next, int value) {
#if ASYNCJOB_HAVE_ASM_SWITCH
    if (asmSwitch_) return asyncjob_fiber_switch(&sp_, next->sp_, value);
#endif
#if ASYNCJOB_HAVE_UCONTEXT
    next->handedOver = value;
    if (swapcontext(&context, &next->context) != 0) std::abort();
    return handedOver;
#else
    (void)next;
    (void)value;
    std::abort();  // fibers exist only where a switch does
#endif
  }

#if ASYNCJOB_HAVE_ASM_SWITCH
  // Writes the frame the first switch to this fiber pops; false if the stack cannot hold it.
  bool prepareFirstFrame(void (*start)(void*)) {
    const uintptr_t top = (reinterpret_cast<uintptr_t>(stack.base) + stack.size) & ~uintptr_t{15};
    const size_t frameBytes = kFrameWords * sizeof(uint64_t);
    if (top - reinterpret_cast<uintptr_t>(stack.base) < 2 * frameBytes) return false;
    auto* frame = reinterpret_cast<uint64_t*>(top - frameBytes);
    std::memset(frame, 0, frameBytes);  // the frame pointer 0 ends frame-pointer walks
#if defined(__x86_64__)
    frame[kFpControl] = currentFpControl();
    frame[kRbx] = reinterpret_cast<uintptr_t>(this);
    frame[kR12] = reinterpret_cast<uintptr_t>(start);
    frame[kReturn] = reinterpret_cast<uintptr_t>(asyncjob_fiber_trampoline);
#elif defined(__aarch64__)
    frame[kFpcr] = currentFpControl();
    frame[kX19] = reinterpret_cast<uintptr_t>(this);
    frame[kX20] = reinterpret_cast<uintptr_t>(start);
    frame[kX30] = reinterpret_cast<uintptr_t>(asyncjob_fiber_trampoline);
#endif
    sp_ = frame;
    return true;
  }
#endif
};

// Where every new fiber begins, on its own stack.
void fiberStart(void* fiber) {
  auto* self = static_cast<PosixFiber*>(fiber);
#if ASYNCJOB_SANITIZED_SWITCH
  arrive(&self->notes);
#endif
  self->entry(self->arg);
  std::abort();  // a fiber's entry switches away for good; returning is a bug
}

#if ASYNCJOB_HAVE_UCONTEXT
// makecontext passes int arguments only, so the fiber's address travels in two halves.
void ucontextStart(unsigned int high, unsigned int low) {
  fiberStart(reinterpret_cast<void*>(
      static_cast<uintptr_t>((static_cast<uint64_t>(high) << 32) | static_cast<uint64_t>(low))));
}

bool prepareContext(PosixFiber* fiber) {
  if (getcontext(&fiber->context) != 0) return false;
  fiber->context.uc_stack.ss_sp = fiber->stack.base;
  fiber->context.uc_stack.ss_size = fiber->stack.size;
  fiber->context.uc_link = nullptr;
  const auto address = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(fiber));
  makecontext(&fiber->context, reinterpret_cast<void (*)()>(ucontextStart), 2,
              static_cast<unsigned int>(address >> 32), static_cast<unsigned int>(address));
  return true;
}
#endif

}  // namespace

Fiber* Fiber::createFromCurrentThread() {
  if (activeSwitch() == Switch::None) return nullptr;
  auto* fiber = new (std::nothrow) PosixFiber;
#if ASYNCJOB_SANITIZED_SWITCH
  if (fiber == nullptr) return nullptr;
#if ASYNCJOB_ASAN && ASYNCJOB_HAVE_UCONTEXT
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
  const Switch active = activeSwitch();
  if (active == Switch::None) return nullptr;
  auto* fiber = new (std::nothrow) PosixFiber;
  if (fiber == nullptr) return nullptr;
  fiber->entry = entry;
  fiber->arg = arg;
  bool prepared = stackAllocate(stackSize, &fiber->stack);
#if ASYNCJOB_HAVE_ASM_SWITCH
  if (prepared && active == Switch::Asm) prepared = fiber->prepareFirstFrame(fiberStart);
#endif
#if ASYNCJOB_HAVE_UCONTEXT
  if (prepared && active == Switch::Ucontext) prepared = prepareContext(fiber);
#endif
  if (!prepared) {
    stackFree(&fiber->stack);
    delete fiber;
    return nullptr;
  }
#if ASYNCJOB_ASAN
  fiber->notes.stackBottom = fiber->stack.base;
  fiber->notes.stackSize = fiber->stack.size;
#endif
#if ASYNCJOB_TSAN
  fiber->notes.tsanFiber = __tsan_create_fiber(0);
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
  leave(&self->notes, &next->notes);
  const int received = self->switchStack(next, value);
  arrive(&self->notes);
  return received;
#else
  return self->switchStack(next, value);
#endif
}

#else  // neither switch

Fiber* Fiber::createFromCurrentThread() { return nullptr; }
Fiber* Fiber::create(size_t, Entry, void*) { return nullptr; }
void Fiber::destroy(Fiber*) {}
int Fiber::switchToSlow(Fiber*, int) { std::abort(); }

#endif  // ASYNCJOB_HAVE_ASM_SWITCH || ASYNCJOB_HAVE_UCONTEXT

const char* Fiber::backendName() {
  switch (activeSwitch()) {
    case Switch::Asm:
#if ASYNCJOB_HAVE_ASM_SWITCH
      return ASYNCJOB_ASM_BACKEND;
#else
      break;
#endif
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
