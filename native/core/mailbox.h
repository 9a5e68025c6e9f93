// Mailbox: how one OS thread hands control (and a value) to another that is blocked waiting.
//
// Contract: one waiter (the thread that owns the mailbox) and, at any moment, at most one
// message in flight: control passes strictly, so whoever posts has just given control away and
// waits on its own mailbox next. post() may be called from any thread; take() only by the owner.
//
// take() spins briefly before it sleeps, because a hand-off answered within microseconds is
// the common case and an OS wake-up costs more than that. The spin adapts: it grows while
// spinning pays off and shrinks to nothing when it does not (on one core, spinning only delays
// the thread we wait for).
#ifndef ASYNCJOB_CORE_MAILBOX_H
#define ASYNCJOB_CORE_MAILBOX_H

#include <atomic>
#include <condition_variable>
#include <mutex>

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
    full_.store(true, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_.notify_one();
    }
  }

  Message take() {
    for (int i = 0; i < spinLimit_; i++) {
      if (full_.load(std::memory_order_acquire)) {
        if (spinLimit_ < kMaxSpin) spinLimit_ *= 2;
        return receive();
      }
      ASYNCJOB_CPU_RELAX();
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_.store(true, std::memory_order_seq_cst);
      while (!full_.load(std::memory_order_seq_cst)) wake_.wait(lock);
      sleeping_.store(false, std::memory_order_relaxed);
    }
    spinLimit_ = spinLimit_ / 2 > kMinSpin ? spinLimit_ / 2 : kMinSpin;
    return receive();
  }

 private:
  static constexpr int kMinSpin = 16;
  static constexpr int kMaxSpin = 32768;  // about a millisecond at most

  Message receive() {
    Message message = message_;  // written before the store of full_ that we observed
    full_.store(false, std::memory_order_relaxed);
    return message;
  }

  Message message_{};
  std::atomic<bool> full_{false};
  std::atomic<bool> sleeping_{false};
  int spinLimit_ = 4096;  // touched by the owner only
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_MAILBOX_H
