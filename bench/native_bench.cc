// npm run bench:native — asyncjob's core against OpenSSL's own ASYNC jobs (libcrypto), in one
// process, alternating rounds so that both see the same machine state. Prints medians (ns per
// operation) and ratios to OpenSSL, with glibc swapcontext and asyncjob's bare stack switch as
// the floor a job engine is built on.
#include <openssl/async.h>
#include <openssl/crypto.h>
#include <ucontext.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "asyncjob.h"
#include "../native/core/fiber.h"

namespace {

constexpr int kRounds = 15;
constexpr int kOpsPerRound = 200000;

double nsPerOp(const std::function<void(int)>& run, int ops) {
  const auto start = std::chrono::steady_clock::now();
  run(ops);
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(end - start).count() / ops;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "native_bench: %s\n", what);
  std::exit(1);
}

// ---- asyncjob ----
volatile bool g_stop = false;

int asyncjobPauseForever(void*) {
  while (!g_stop) asyncjob_pause_job();
  return 0;
}
int asyncjobReturn(void*) { return 1; }

void asyncjobRoundTrips(int ops) {
  asyncjob_job* job = nullptr;
  int ret = 0;
  g_stop = false;
  if (asyncjob_start_job(&job, nullptr, &ret, asyncjobPauseForever, nullptr, 0) != ASYNCJOB_PAUSE)
    fail("asyncjob job did not pause");
  for (int i = 0; i < ops; i++) asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0);
  g_stop = true;
  if (asyncjob_start_job(&job, nullptr, &ret, nullptr, nullptr, 0) != ASYNCJOB_FINISH)
    fail("asyncjob job did not finish");
}

void asyncjobStartFinish(int ops) {
  int ret = 0;
  for (int i = 0; i < ops; i++) {
    asyncjob_job* job = nullptr;
    if (asyncjob_start_job(&job, nullptr, &ret, asyncjobReturn, nullptr, 0) != ASYNCJOB_FINISH)
      fail("asyncjob job did not finish");
  }
}

// ---- OpenSSL ----
int opensslPauseForever(void*) {
  while (!g_stop) ASYNC_pause_job();
  return 0;
}
int opensslReturn(void*) { return 1; }

void opensslRoundTrips(int ops) {
  ASYNC_JOB* job = nullptr;
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  int ret = 0;
  g_stop = false;
  if (ASYNC_start_job(&job, ctx, &ret, opensslPauseForever, nullptr, 0) != ASYNC_PAUSE)
    fail("OpenSSL job did not pause");
  for (int i = 0; i < ops; i++) ASYNC_start_job(&job, ctx, &ret, nullptr, nullptr, 0);
  g_stop = true;
  if (ASYNC_start_job(&job, ctx, &ret, nullptr, nullptr, 0) != ASYNC_FINISH)
    fail("OpenSSL job did not finish");
  ASYNC_WAIT_CTX_free(ctx);
}

void opensslStartFinish(int ops) {
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  int ret = 0;
  for (int i = 0; i < ops; i++) {
    ASYNC_JOB* job = nullptr;
    if (ASYNC_start_job(&job, ctx, &ret, opensslReturn, nullptr, 0) != ASYNC_FINISH)
      fail("OpenSSL job did not finish");
  }
  ASYNC_WAIT_CTX_free(ctx);
}

// ---- glibc swapcontext: two contexts ping-pong ----
ucontext_t g_mainContext;
ucontext_t g_otherContext;

void swapcontextPeer() {
  for (;;) swapcontext(&g_otherContext, &g_mainContext);
}

void swapcontextRoundTrips(int ops) {
  for (int i = 0; i < ops; i++) swapcontext(&g_mainContext, &g_otherContext);
}

// ---- asyncjob's bare stack switch (no job engine) ----
asyncjob::Fiber* g_threadFiber;
asyncjob::Fiber* g_peerFiber;

void fiberPeer(void*) {
  for (;;) g_peerFiber->switchTo(g_threadFiber, 0);
}

void fiberRoundTrips(int ops) {
  for (int i = 0; i < ops; i++) g_threadFiber->switchTo(g_peerFiber, 0);
}

struct Case {
  std::string group;
  std::string name;
  std::function<void(int)> run;
  std::vector<double> samples;
};

}  // namespace

int main() {
  if (!OPENSSL_init_crypto(OPENSSL_INIT_ASYNC, nullptr) || !ASYNC_is_capable())
    fail("OpenSSL's ASYNC jobs are not available");
  if (!ASYNC_init_thread(0, 0) || !asyncjob_init_thread(0, 0)) fail("init_thread failed");

  std::vector<char> peerStack(256 * 1024);
  getcontext(&g_otherContext);
  g_otherContext.uc_stack.ss_sp = peerStack.data();
  g_otherContext.uc_stack.ss_size = peerStack.size();
  g_otherContext.uc_link = nullptr;
  makecontext(&g_otherContext, swapcontextPeer, 0);

  g_threadFiber = asyncjob::Fiber::createFromCurrentThread();
  g_peerFiber = asyncjob::Fiber::create(256 * 1024, fiberPeer, nullptr);
  if (g_threadFiber == nullptr || g_peerFiber == nullptr) fail("fiber creation failed");

  const std::string backend = asyncjob_fiber_backend();
  std::vector<Case> cases = {
      {"pause+resume round trip", "asyncjob", asyncjobRoundTrips, {}},
      {"pause+resume round trip", "OpenSSL ASYNC", opensslRoundTrips, {}},
      {"pause+resume round trip", "glibc swapcontext (floor)", swapcontextRoundTrips, {}},
      {"pause+resume round trip", "asyncjob stack switch, " + backend + " (floor)",
       fiberRoundTrips, {}},
      {"start->finish cycle", "asyncjob", asyncjobStartFinish, {}},
      {"start->finish cycle", "OpenSSL ASYNC", opensslStartFinish, {}},
  };

  for (Case& c : cases) c.run(kOpsPerRound / 10);  // warm up: pools, caches, page faults
  for (int round = 0; round < kRounds; round++) {
    for (Case& c : cases) c.samples.push_back(nsPerOp(c.run, kOpsPerRound));
  }

  std::printf("asyncjob native benchmark: %s, asyncjob fiber backend %s\n",
              OpenSSL_version(OPENSSL_VERSION), backend.c_str());
  std::printf("median of %d alternating rounds x %d operations\n\n", kRounds, kOpsPerRound);
  std::printf("%-26s %-44s %10s %12s\n", "", "", "ns/op", "vs OpenSSL");
  std::string group;
  double openssl = 0;
  for (const Case& c : cases) {
    if (c.group != group) {
      group = c.group;
      for (const Case& d : cases) {
        if (d.group == group && d.name == "OpenSSL ASYNC") openssl = median(d.samples);
      }
      std::printf("%s\n", group.c_str());
    }
    const double ns = median(c.samples);
    std::printf("%-26s %-44s %10.1f %11.2fx\n", "", c.name.c_str(), ns, ns / openssl);
  }

  Case& trips = cases[0];
  Case& cycles = cases[4];
  const double tripRatio = median(trips.samples) / median(cases[1].samples);
  const double cycleRatio = median(cycles.samples) / median(cases[5].samples);
  std::printf("\ntarget: asyncjob at or below 0.50x OpenSSL in both: round trip %.2fx, cycle %.2fx: %s\n",
              tripRatio, cycleRatio, tripRatio <= 0.5 && cycleRatio <= 0.5 ? "met" : "NOT met");

  asyncjob::Fiber::destroy(g_peerFiber);
  asyncjob::Fiber::destroy(g_threadFiber);
  asyncjob_cleanup_thread();
  ASYNC_cleanup_thread();
  return 0;
}
