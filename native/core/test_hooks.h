// Hooks through which the core's tests widen a race window from nanoseconds to as long as they
// like. Each is null unless a test sets it, and the engine looks at it only where it already
// spends microseconds (a hand-off between OS threads), never on a fiber switch.
#ifndef ASYNCJOB_CORE_TEST_HOOKS_H
#define ASYNCJOB_CORE_TEST_HOOKS_H

#include <atomic>

namespace asyncjob {
namespace testing {

// Called on an OS thread right after it has handed control to another OS thread (posted to that
// thread's mailbox), before it does anything else: whatever this thread still does from here on
// runs alongside the receiver (reading this hook included, hence the atomic).
extern std::atomic<void (*)()> afterCrossThreadPost;

}  // namespace testing
}  // namespace asyncjob

#endif  // ASYNCJOB_CORE_TEST_HOOKS_H
