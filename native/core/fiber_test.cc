// Fiber: the stack switch on its own, below the job engine.
#include <cfenv>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define ASYNCJOB_TEST_SSE 1
#endif

#include "asyncjob.h"
#include "fiber.h"
#include "testing.h"

using asyncjob::Fiber;

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
