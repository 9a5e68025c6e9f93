// Mailbox: how one OS thread hands control (and a value) to another that is blocked waiting.
//
// Contract: one waiter (the thread that owns the mailbox) and, at any moment, at most one
// message in flight: control passes strictly, so whoever posts has just given control away and
// waits on its own mailbox next. post() may be called from any thread; take() only by the owner.
// The owner may free the mailbox as soon as take() returns (a host thread handed kQuit ends, a
// thread handed control back may exit): after its one atomic exchange, post() touches the
// mailbox only to wake a sleeping owner by address (a futex wake on freed memory wakes nobody)
// or, where there is no futex, to unlock a mutex, which POSIX lets the next holder destroy.
//
// Waiting: a thread answered within microseconds should not pay for an OS sleep and wake-up
// (on a virtual machine each system call costs about a microsecond, a wake-up several), and a
// thread that waits long must not burn a core. So take() spins first, within two limits:
// - a process-wide spin budget (SpinBudget): at most one thread fewer than the machine has CPUs
//   (at least one) spins at any moment, however many jobs wait. A spinner whose message arrives hands
//   its place to the poster, which is about to wait in turn: in a ping-pong between two
//   threads, one place travels back and forth and nobody else needs one.
// - how long: each mailbox learns it, growing while answers come within reach of a spin and
//   shrinking when they come late. It does not spin at all while the thread it waits for last
//   ran on the waiter's own CPU (spinning would only keep it from running: it yields the CPU to
//   it instead, for as long as it would have spun), nor when that thread was asleep and usually
//   sleeps long (a job waiting for I/O: it answers a wake-up later at the earliest, and spinning
//   through every such wake-up would cost far more CPU than sleeping and being woken). A partner that was asleep but usually answers fast gets spun
//   for: from then on the two stay awake and hand over without system calls.
// Then it sleeps on the state word (futex on Linux; a mutex and condition variable elsewhere).
#ifndef ASYNCJOB_CORE_MAILBOX_H
#define ASYNCJOB_CORE_MAILBOX_H

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#define ASYNCJOB_MAILBOX_FUTEX 1
#else
#include <condition_variable>
#include <mutex>
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define ASYNCJOB_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ASYNCJOB_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define ASYNCJOB_CPU_RELAX() ((void)0)
#endif

namespace asyncjob {

#if defined(ASYNCJOB_MAILBOX_FUTEX)
// futex(2)'s FUTEX_WAIT_PRIVATE and FUTEX_WAKE_PRIVATE, whose header (linux/futex.h) not every
// toolchain has (musl's does not).
constexpr int kFutexWaitPrivate = 0 | 128;
constexpr int kFutexWakePrivate = 1 | 128;
#endif

// The process's spin budget (see above).
class SpinBudget {
 public:
  static bool acquire() {
    int spinners = count_.load(std::memory_order_relaxed);
    while (spinners < limit()) {
      if (count_.compare_exchange_weak(spinners, spinners + 1, std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  static void release() { count_.fetch_sub(1, std::memory_order_relaxed); }

  // The CPU the calling thread runs on now, or -1 where that cannot be known cheaply.
  static int currentCpu() {
#if defined(__linux__)
    return sched_getcpu();  // glibc reads it from rseq or the vDSO: no system call
#else
    return -1;
#endif
  }

 private:
  static int limit() {
    static const int spinners = [] {
      const unsigned cpus = std::thread::hardware_concurrency();
      return cpus > 2 ? static_cast<int>(cpus) - 1 : 1;
    }();
    return spinners;
  }
  static inline std::atomic<int> count_{0};
};

template <typename Message>
class Mailbox {
 public:
  // What post() found.
  enum class Receiver {
    Spinning,  // with a place of the spin budget, which now belongs to the poster: it passes
               // it to its next take(), or gives it back (SpinBudget::release())
    Sleeping,  // it had to be woken up
    Other,     // running, or about to wait
  };

  // Hands `message` to the owner.
  Receiver post(const Message& message) {
    message_ = message;
#if defined(ASYNCJOB_MAILBOX_FUTEX)
    const State previous = state_.exchange(State::Full, std::memory_order_acq_rel);
    if (previous == State::Sleeping) {
      syscall(SYS_futex, word(), kFutexWakePrivate, 1, nullptr, nullptr, 0);
    }
    return found(previous);
#else
    State previous = state_.load(std::memory_order_acquire);
    for (;;) {
      if (previous == State::Sleeping) {
        // Under the owner's lock, so that it cannot wake (spuriously or not), see the message
        // and free the mailbox while we still notify.
        std::lock_guard<std::mutex> lock(mutex_);
        state_.store(State::Full, std::memory_order_release);
        wake_.notify_one();
        return Receiver::Sleeping;
      }
      if (state_.compare_exchange_weak(previous, State::Full, std::memory_order_acq_rel)) {
        return found(previous);
      }
    }
#endif
  }

  // Whether the owner usually gets its messages within a short spin (it is answered fast).
  bool answeredFast() const { return spin_.load(std::memory_order_relaxed) > 4 * kMinSpin.count(); }

  // Waits for the next message, having just posted to the thread expected to answer: `posted`
  // is what that post() found, `partnerCpu` where that thread last ran (-1 if unknown),
  // `partnerFast` its answeredFast().
  Message take(Receiver posted, int partnerCpu, bool partnerFast) {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    bool spinPlace = posted == Receiver::Spinning;
    const bool sharesCpu = partnerCpu >= 0 && partnerCpu == SpinBudget::currentCpu();
    if ((posted == Receiver::Sleeping && !partnerFast) || sharesCpu) {
      // It can answer only after a wake-up, or once we stop running.
      if (spinPlace) SpinBudget::release();
      spinPlace = false;
    } else if (!spinPlace) {
      spinPlace = SpinBudget::acquire();
    }
    if (spinPlace) {
      State expected = State::Empty;
      if (!state_.compare_exchange_strong(expected, State::Spinning, std::memory_order_acq_rel)) {
        SpinBudget::release();  // the message is here already
        return receive(start, true);
      }
      const Clock::time_point spinUntil = start + Duration(spin_.load(std::memory_order_relaxed));
      for (unsigned i = 1;; i++) {
        if (state_.load(std::memory_order_acquire) == State::Full) {
          // Our place went to the poster with the message.
          return receive(start, true);
        }
        ASYNCJOB_CPU_RELAX();
        if (i % kCheckEvery == 0 && Clock::now() >= spinUntil) break;
      }
      expected = State::Spinning;
      if (!state_.compare_exchange_strong(expected, State::Empty, std::memory_order_acq_rel)) {
        return receive(start, true);  // came just now: the place went with it
      }
      SpinBudget::release();
    } else if (sharesCpu && yieldWait(start)) {
      return receive(start, true);
    }
    sleep();
    return receive(start, false);
  }

 private:
  using Duration = std::chrono::nanoseconds;
  static constexpr Duration kMinSpin{1'000};
  static constexpr Duration kMaxSpin{50'000};
  static constexpr unsigned kCheckEvery = 16;  // pauses between clock reads

  // Full is set only by post(); Spinning, Yielding and Sleeping only by the owner, from Empty;
  // post() and the owner agree through one atomic operation each.
  enum class State : uint32_t { Empty, Full, Spinning, Yielding, Sleeping };
  static_assert(sizeof(std::atomic<State>) == sizeof(uint32_t), "a futex word");

  // The partner shares our CPU: give it the CPU at once (one system call), and take its answer
  // without an OS sleep and wake-up (two more) if it comes within the learned spin time. True
  // when the message came.
  bool yieldWait(std::chrono::steady_clock::time_point start) {
    State expected = State::Empty;
    if (!state_.compare_exchange_strong(expected, State::Yielding, std::memory_order_acq_rel)) {
      return true;
    }
    const auto until = start + Duration(spin_.load(std::memory_order_relaxed));
    do {
      std::this_thread::yield();
      if (state_.load(std::memory_order_acquire) == State::Full) return true;
    } while (std::chrono::steady_clock::now() < until);
    expected = State::Yielding;
    return !state_.compare_exchange_strong(expected, State::Empty, std::memory_order_acq_rel);
  }

  static Receiver found(State previous) {
    return previous == State::Spinning   ? Receiver::Spinning
           : previous == State::Sleeping ? Receiver::Sleeping
                                         : Receiver::Other;
  }

  Message receive(std::chrono::steady_clock::time_point start, bool spun) {
    Message message = message_;  // written before the exchange to Full that we observed
    state_.store(State::Empty, std::memory_order_relaxed);
    // An answer that came within reach of a spin (even if we had slept) was worth spinning
    // for; a late one was not.
    const auto waited = std::chrono::steady_clock::now() - start;
    const int64_t spin = spin_.load(std::memory_order_relaxed);
    if (waited < kMaxSpin) {
      spin_.store(std::min(spin * 2 + kMinSpin.count(), kMaxSpin.count()), std::memory_order_relaxed);
    } else if (!spun || waited.count() > spin) {
      spin_.store(std::max(spin / 4, kMinSpin.count()), std::memory_order_relaxed);
    }
    return message;
  }

#if defined(ASYNCJOB_MAILBOX_FUTEX)
  uint32_t* word() { return reinterpret_cast<uint32_t*>(&state_); }
  void sleep() {
    State expected = State::Empty;
    if (!state_.compare_exchange_strong(expected, State::Sleeping, std::memory_order_acq_rel)) {
      return;  // the message came in between
    }
    while (state_.load(std::memory_order_acquire) != State::Full) {
      syscall(SYS_futex, word(), kFutexWaitPrivate, static_cast<uint32_t>(State::Sleeping),
              nullptr, nullptr, 0);
    }
  }
#else
  void sleep() {
    std::unique_lock<std::mutex> lock(mutex_);
    State expected = State::Empty;
    if (state_.compare_exchange_strong(expected, State::Sleeping, std::memory_order_acq_rel)) {
      while (state_.load(std::memory_order_acquire) != State::Full) wake_.wait(lock);
    }  // else the message came in between
  }
  std::mutex mutex_;
  std::condition_variable wake_;
#endif

  Message message_{};
  std::atomic<State> state_{State::Empty};
  // How long take() spins before it sleeps, in nanoseconds: the owner's; others read it.
  std::atomic<int64_t> spin_{20'000};
};

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_MAILBOX_H
