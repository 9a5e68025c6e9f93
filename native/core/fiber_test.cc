// Fiber: the stack switch on its own, below the job engine.
#include <cfenv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#if !defined(_WIN32)
#include <unwind.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define ASYNCJOB_TEST_SSE 1
#endif

#include "asyncjob.h"
#include "fiber.h"
#include "testing.h"

using asyncjob::Fiber;

#if ASYNCJOB_FIBER_INLINE_SWITCH
// fiber_posix.cc: where a new fiber's first switch returns to.
extern "C" void asyncjob_fiber_trampoline();
#endif

namespace {

struct PingPong {
  Fiber* main = nullptr;
  Fiber* worker = nullptr;
  std::vector<int> trace;
};

// Records what it is handed and hands back 100 more.
void pingPongWorker(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  int received = 0;  // the first entry is handed nothing
  for (;;) {
    p->trace.push_back(received);
    received = p->worker->switchTo(p->main, received + 100);
  }
}

}  // namespace

TEST(fiber_switches_back_and_forth_handing_over_values) {
  PingPong p;
  p.main = Fiber::createFromCurrentThread();
  REQUIRE(p.main != nullptr, "thread fiber");
  p.worker = Fiber::create(64 * 1024, pingPongWorker, &p);
  REQUIRE(p.worker != nullptr, "worker fiber");
  for (int i = 1; i <= 3; i++) p.trace.push_back(p.main->switchTo(p.worker, i));
  const std::vector<int> expected{0, 100, 2, 102, 3, 103};
  EXPECT(p.trace == expected, "interleaving (%zu events)", p.trace.size());
  Fiber::destroy(p.worker);
  Fiber::destroy(p.main);
}

#if ASYNCJOB_TEST_SSE
namespace {

// The SSE rounding mode (MXCSR.RC), which every x86-64 ABI makes callee-saved.
unsigned int sseRounding() { return _mm_getcsr() & _MM_ROUND_MASK; }

struct Rounding {
  Fiber* main;
  Fiber* worker;
  unsigned int seenInWorker;
};

void changeRounding(void* arg) {
  auto* r = static_cast<Rounding*>(arg);
  std::fesetround(FE_UPWARD);  // glibc and mingw set both the x87 and the SSE unit
  for (;;) {
    r->worker->switchTo(r->main, 0);
    r->seenInWorker = sseRounding();
  }
}

}  // namespace

TEST(fiber_switch_keeps_each_side_floating_point_control) {
  // A switch is a function call to each side: callee-saved FP control must come back intact.
  Rounding r{};
  r.main = Fiber::createFromCurrentThread();
  r.worker = Fiber::create(64 * 1024, changeRounding, &r);
  REQUIRE(r.main != nullptr && r.worker != nullptr, "fibers");
  std::fesetround(FE_TONEAREST);
  r.main->switchTo(r.worker, 0);
  EXPECT(sseRounding() == _MM_ROUND_NEAREST, "the worker's round-up leaked back: 0x%x",
         sseRounding());
#ifndef _WIN32
  // Windows leaves the x87 unit to FIBER_FLAG_FLOAT_SWITCH, which Wine ignores.
  EXPECT(std::fegetround() == FE_TONEAREST, "x87 rounding after the switch: %d",
         std::fegetround());
#endif
  _MM_SET_ROUNDING_MODE(_MM_ROUND_TOWARD_ZERO);
  r.main->switchTo(r.worker, 0);
  EXPECT(r.seenInWorker == _MM_ROUND_UP, "the worker kept its own mode: 0x%x", r.seenInWorker);
  EXPECT(sseRounding() == _MM_ROUND_TOWARD_ZERO, "main kept its own mode: 0x%x", sseRounding());
  std::fesetround(FE_TONEAREST);
  Fiber::destroy(r.worker);
  Fiber::destroy(r.main);
}
#endif  // ASYNCJOB_TEST_SSE

TEST(fiber_creation_fails_cleanly_for_an_impossible_stack) {
  Fiber* main = Fiber::createFromCurrentThread();
  REQUIRE(main != nullptr, "thread fiber");
  // More address space than a 64-bit process can map.
  Fiber* huge = Fiber::create(static_cast<size_t>(1) << 62, pingPongWorker, nullptr);
  EXPECT(huge == nullptr, "an unmappable stack gives nullptr");
  Fiber::destroy(main);
}

// What a switch must preserve, and what a new fiber's first frame must give it.
namespace {

struct Pair {
  Fiber* main = nullptr;
  Fiber* worker = nullptr;
  bool make(Fiber::Entry entry, void* arg, size_t stackSize = 64 * 1024) {
    main = Fiber::createFromCurrentThread();
    worker = main != nullptr ? Fiber::create(stackSize, entry, arg) : nullptr;
    return worker != nullptr;
  }
  ~Pair() {
    Fiber::destroy(worker);
    Fiber::destroy(main);
  }
};

volatile long g_seed = 3;  // keeps the compiler from folding the values below

// Leaves garbage in every callee-saved register the compiler lets asm name, then switches back.
void clobberCalleeSaved(void* arg) {
  auto* p = static_cast<Pair*>(arg);
  for (;;) {
#if defined(__x86_64__) && !defined(_WIN32)
    asm volatile("movq $-1, %%rbx\n movq $-1, %%r12\n movq $-1, %%r13\n movq $-1, %%r14\n"
                 "movq $-1, %%r15"
                 :
                 :
                 : "rbx", "r12", "r13", "r14", "r15");
#elif defined(__aarch64__)
    asm volatile(
        "mov x19, #-1\n mov x20, #-1\n mov x21, #-1\n mov x22, #-1\n mov x23, #-1\n"
        "mov x24, #-1\n mov x25, #-1\n mov x26, #-1\n mov x27, #-1\n mov x28, #-1\n"
        "fmov d8, #-1.0\n fmov d9, #-1.0\n fmov d10, #-1.0\n fmov d11, #-1.0\n"
        "fmov d12, #-1.0\n fmov d13, #-1.0\n fmov d14, #-1.0\n fmov d15, #-1.0"
        :
        :
        : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "d8", "d9",
          "d10", "d11", "d12", "d13", "d14", "d15");
#endif
    p->worker->switchTo(p->main, 0);
  }
}

}  // namespace

TEST(fiber_switch_keeps_values_live_across_it) {
  // More integers and doubles live across the switch than there are caller-saved registers to
  // hold them: the compiler keeps them in callee-saved registers (x86-64: rbx, r12-r15;
  // aarch64: x19-x28, d8-d15), which the other side has just filled with garbage.
  Pair p;
  REQUIRE(p.make(clobberCalleeSaved, &p), "fibers");
  for (int round = 0; round < 3; round++) {
    const long s = g_seed + round;
    long i0 = s * 3, i1 = s * 5, i2 = s * 7, i3 = s * 11, i4 = s * 13, i5 = s * 17, i6 = s * 19,
         i7 = s * 23, i8 = s * 29, i9 = s * 31;
    double d0 = s * 0.5, d1 = s * 1.5, d2 = s * 2.5, d3 = s * 3.5, d4 = s * 4.5, d5 = s * 5.5,
           d6 = s * 6.5, d7 = s * 7.5;
    p.main->switchTo(p.worker, 0);
    const long ints = i0 + 2 * i1 + 3 * i2 + 4 * i3 + 5 * i4 + 6 * i5 + 7 * i6 + 8 * i7 + 9 * i8 +
                      10 * i9;
    const double doubles = d0 + 2 * d1 + 3 * d2 + 4 * d3 + 5 * d4 + 6 * d5 + 7 * d6 + 8 * d7;
    EXPECT(ints == s * 1133, "integers after the switch: %ld, expected %ld", ints, s * 1133);
    EXPECT(doubles == s * 186.0, "doubles after the switch: %g, expected %g", doubles, s * 186.0);
  }
}

#if !defined(_WIN32)
// Windows leaves the x87 unit to FIBER_FLAG_FLOAT_SWITCH, which Wine ignores; elsewhere
// fegetround() reads what a switch must keep (x86-64: the x87 control word and MXCSR, which
// glibc and musl set together; aarch64: FPCR).
namespace {

struct StartRounding {
  Pair pair;
  int seenAtStart = -1;
};

void recordStartRounding(void* arg) {
  auto* r = static_cast<StartRounding*>(arg);
  r->seenAtStart = std::fegetround();
  for (;;) r->pair.worker->switchTo(r->pair.main, 0);
}

}  // namespace

TEST(fiber_starts_with_its_creators_rounding_mode) {
  // As a new thread starts with its creator's floating-point environment.
  StartRounding r;
  std::fesetround(FE_DOWNWARD);
  const bool made = r.pair.make(recordStartRounding, &r);
  std::fesetround(FE_TONEAREST);
  REQUIRE(made, "fibers");
  r.pair.main->switchTo(r.pair.worker, 0);
  EXPECT(r.seenAtStart == FE_DOWNWARD, "rounding at the fiber's start: %d, expected %d",
         r.seenAtStart, FE_DOWNWARD);
  EXPECT(std::fegetround() == FE_TONEAREST, "main's rounding after the switch: %d",
         std::fegetround());
}

#if defined(__aarch64__)
namespace {

uint64_t readFpcr() {
  uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  return fpcr;
}

void writeFpcr(uint64_t fpcr) { asm volatile("msr fpcr, %0" : : "r"(fpcr)); }

constexpr uint64_t kFpcrFlushToZero = uint64_t{1} << 24;
constexpr uint64_t kFpcrRoundTowardZero = uint64_t{3} << 22;

struct FpcrSides {
  Pair pair;
  uint64_t workerFpcr = 0;
  uint64_t seenInWorker = 0;
};

void setOwnFpcr(void* arg) {
  auto* f = static_cast<FpcrSides*>(arg);
  writeFpcr(f->workerFpcr);
  for (;;) {
    f->pair.worker->switchTo(f->pair.main, 0);
    f->seenInWorker = readFpcr();
  }
}

}  // namespace

TEST(fiber_switch_keeps_each_side_fpcr) {
  // AAPCS64: FPCR's rounding mode and flush-to-zero bits belong to the caller.
  FpcrSides f;
  const uint64_t mainFpcr = readFpcr();
  f.workerFpcr = mainFpcr | kFpcrFlushToZero | kFpcrRoundTowardZero;
  REQUIRE(f.pair.make(setOwnFpcr, &f), "fibers");
  f.pair.main->switchTo(f.pair.worker, 0);
  EXPECT(readFpcr() == mainFpcr, "main's FPCR after the switch: 0x%llx, expected 0x%llx",
         static_cast<unsigned long long>(readFpcr()), static_cast<unsigned long long>(mainFpcr));
  f.pair.main->switchTo(f.pair.worker, 0);
  EXPECT(f.seenInWorker == f.workerFpcr, "the worker's FPCR: 0x%llx, expected 0x%llx",
         static_cast<unsigned long long>(f.seenInWorker),
         static_cast<unsigned long long>(f.workerFpcr));
  EXPECT(readFpcr() == mainFpcr, "main's FPCR again: 0x%llx",
         static_cast<unsigned long long>(readFpcr()));
}
#endif  // __aarch64__

namespace {

struct FirstFrame {
  Pair pair;
  size_t stackSize = 0;
  uintptr_t entryFrame = 0;
  size_t deepest = 0;  // bytes of stack used below the entry's frame
  int frames = 0;
  _Unwind_Reason_Code unwound = _URC_NO_REASON;
  std::vector<uintptr_t> ips;
};

__attribute__((noinline)) uintptr_t callersFrame() {
  return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

// About 1 KiB of stack a level, until `left` bytes of the stack remain.
__attribute__((noinline)) size_t recurse(FirstFrame* f, size_t left) {
  volatile char pad[1024];
  pad[0] = 1;
  const uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const size_t used = f->entryFrame - here;
  if (used + left >= f->stackSize) return used + pad[0] - 1;
  return recurse(f, left) + pad[0] - 1;
}

_Unwind_Reason_Code countFrame(_Unwind_Context* context, void* arg) {
  auto* f = static_cast<FirstFrame*>(arg);
  f->ips.push_back(static_cast<uintptr_t>(_Unwind_GetIP(context)));
  return ++f->frames > 100 ? _URC_END_OF_STACK : _URC_NO_REASON;
}

void inspectFirstFrame(void* arg) {
  auto* f = static_cast<FirstFrame*>(arg);
  f->entryFrame = callersFrame();
  f->unwound = _Unwind_Backtrace(countFrame, f);
  // Leave 16 KiB for the switch back, the unwinder above and sanitizers' frames.
  f->deepest = recurse(f, 16 * 1024);
  for (;;) f->pair.worker->switchTo(f->pair.main, 0);
}

}  // namespace

TEST(fiber_first_frame_is_aligned_bottomed_out_and_leaves_the_whole_stack) {
  FirstFrame f;
  f.stackSize = 256 * 1024;
  REQUIRE(f.pair.make(inspectFirstFrame, &f, f.stackSize), "fibers");
  f.pair.main->switchTo(f.pair.worker, 0);
  // The ABI's 16 bytes at every call: a frame address is the stack pointer after the return
  // address and the saved frame pointer, 16-byte aligned when the caller's call site was.
  EXPECT(f.entryFrame % 16 == 0, "frame address in the fiber: 0x%llx",
         static_cast<unsigned long long>(f.entryFrame));
  // Unwinding from inside the fiber ends at its first frame: a handful of frames, not a walk
  // past the top of the stack into whatever lies above it.
  EXPECT(f.unwound == _URC_END_OF_STACK && f.frames <= 12, "unwinding: reason %d after %d frames",
         static_cast<int>(f.unwound), f.frames);
#if ASYNCJOB_FIBER_INLINE_SWITCH
  if (std::strncmp(Fiber::backendName(), "asm-", 4) == 0) {
    // ... at the trampoline, the first frame's return address.
    const auto trampoline = reinterpret_cast<uintptr_t>(asyncjob_fiber_trampoline);
    bool seen = false;
    for (uintptr_t ip : f.ips) seen = seen || (ip > trampoline && ip <= trampoline + 16);
    EXPECT(seen, "the trampoline (0x%llx) among the %zu frames unwound",
           static_cast<unsigned long long>(trampoline), f.ips.size());
  }
#endif
  // The first frame sits at the top: nearly all of the stack is there for the fiber.
  EXPECT(f.deepest + 16 * 1024 >= f.stackSize, "recursed %zu bytes deep in a %zu-byte stack",
         f.deepest, f.stackSize);
}
#endif  // !_WIN32

TEST(fiber_backend_is_the_register_switch_unless_told_otherwise) {
  const char* name = Fiber::backendName();
#if ASYNCJOB_FIBER_INLINE_SWITCH
#if defined(__x86_64__)
  const char* registerSwitch = "asm-x86_64";
#else
  const char* registerSwitch = "asm-aarch64";
#endif
  const char* forced = std::getenv("ASYNCJOB_FIBER");
  const bool ucontext = ASYNCJOB_HAVE_UCONTEXT && forced != nullptr &&
                        std::strcmp(forced, "ucontext") == 0;
  if (ucontext) {
    EXPECT(std::strcmp(name, "ucontext") == 0, "ASYNCJOB_FIBER=ucontext, backend %s", name);
  } else {
    // swapcontext also under a shadow stack, on glibc; without ucontext (musl, macOS) never.
    EXPECT(std::strcmp(name, registerSwitch) == 0 ||
               (ASYNCJOB_HAVE_UCONTEXT && std::strcmp(name, "ucontext") == 0),
           "backend %s", name);
  }
#elif defined(_WIN32)
  EXPECT(std::strcmp(name, "windows-fibers") == 0, "backend %s", name);
#else
  EXPECT(std::strcmp(name, "ucontext") == 0, "backend %s", name);
#endif
}
