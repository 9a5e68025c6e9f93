// Mailbox: how one OS thread hands control (and a value) to another that is blocked waiting.
//
// Contract: one waiter (the thread that owns the mailbox) and, at any moment, at most one
// message in flight: control passes strictly, so whoever posts has just given control away and
// waits on its own mailbox next. post() may be called from any thread; take() only by the owner.
// The owner may free the mailbox as soon as take() returns (a host thread handed kQuit ends, a
// thread handed control back may exit): post() touches the mailbox after handing the message
// over only to unlock a mutex, which POSIX lets the next holder destroy at once.
//
// take() spins briefly before it sleeps, because a hand-off answered within microseconds is
// the common case and an OS wake-up costs more than that. How long it spins adapts to how long
// the waits turn out: it grows while answers come within a spin's reach (also when it slept, but
// not for long) and shrinks when they come much later. While spinning it yields now and then,
// as the thread it waits for may share its core.
#ifndef ASYNCJOB_CORE_MAILBOX_H
#define ASYNCJOB_CORE_MAILBOX_H

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define ASYNCJOB_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ASYNCJOB_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define ASYNCJOB_CPU_RELAX() ((void)0)
#endif

namespace asyncjob {

template <typename Message>
class Mailbox {
 public:
  void post(const Message& message) {
    message_ = message;
    State expected = State::Empty;
    if (state_.compare_exchange_strong(expected, State::Full, std::memory_order_acq_rel)) return;
    // The owner sleeps: hand over under its lock, so that it cannot wake (spuriously or not),
    // see the message and free the mailbox while we still notify.
    std::lock_guard<std::mutex> lock(mutex_);
    state_.store(State::Full, std::memory_order_release);
    wake_.notify_one();
  }

  Message take() {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    const Clock::time_point spinUntil = start + spin_;
    for (unsigned i = 1;; i++) {
      if (state_.load(std::memory_order_acquire) == State::Full) {
        spin_ = std::min(spin_ * 2, kMaxSpin);
        return receive();
      }
      if (i % kCheckEvery != 0) {
        ASYNCJOB_CPU_RELAX();
        continue;
      }
      // The scheduler likes to wake a thread on its waker's core: let the thread we wait for
      // run, in case it shares ours.
      std::this_thread::yield();
      if (Clock::now() >= spinUntil) break;
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      State expected = State::Empty;
      if (state_.compare_exchange_strong(expected, State::Sleeping, std::memory_order_acq_rel)) {
        while (state_.load(std::memory_order_acquire) != State::Full) wake_.wait(lock);
      }  // else the message came in between
    }
    // An answer that came soon after we gave up was worth spinning for; a late one was not.
    const auto waited = Clock::now() - start;
    spin_ = waited < kMaxSpin ? std::min(spin_ * 2 + kMinSpin, kMaxSpin)
                              : std::max(spin_ / 2, kMinSpin);
    return receive();
  }

 private:
  using Duration = std::chrono::nanoseconds;
  static constexpr Duration kMinSpin{2'000};
  static constexpr Duration kMaxSpin{200'000};
  static constexpr unsigned kCheckEvery = 64;  // pauses between yields and clock reads

  // Full is set only by post(); Sleeping only by the owner, under the mutex, when it found the
  // mailbox empty: post() and the owner going to sleep agree through one compare-and-swap.
  enum class State { Empty, Full, Sleeping };

  Message receive() {
    Message message = message_;  // written before the store of Full that we observed
    state_.store(State::Empty, std::memory_order_relaxed);
    return message;
  }

  Message message_{};
  std::atomic<State> state_{State::Empty};
  Duration spin_{20'000};  // how long take() spins before it sleeps; the owner's only
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_MAILBOX_H
