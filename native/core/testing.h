// A minimal test harness for the core's C++ tests (no third-party framework to build here and
// under mingw/Wine alike).
//
//   TEST(name) { EXPECT(a == b, "a=%d b=%d", a, b); REQUIRE(p != nullptr, "no p"); }
//   CHILD(name) { ...; return exitCode; }   // run in a fresh process by runChild("name")
//
// EXPECT records a failure and carries on (usable anywhere, including inside job functions);
// REQUIRE records it and returns from the enclosing void function. Every message carries the
// failing values. A TEST whose premise does not hold where it runs calls skip(why) and returns:
// it is reported as skipped, with the reason, never as passed. test_main.cc runs every TEST (or
// those whose name contains argv[1]) and ends with the line `core: N passed, M failed, K skipped`.
#ifndef ASYNCJOB_CORE_TESTING_H
#define ASYNCJOB_CORE_TESTING_H

#include <cstddef>
#include <cstdio>

namespace asyncjob {
namespace testing {

using TestFn = void (*)();
using ChildFn = int (*)();

struct Registrar {
  Registrar(const char* name, TestFn fn);
  Registrar(const char* name, ChildFn fn);
};

void recordFailure(const char* file, int line, const char* condition, const char* format, ...)
#if defined(__MINGW32__)
    __attribute__((format(gnu_printf, 4, 5)))  // with __USE_MINGW_ANSI_STDIO, as the Makefile sets
#elif defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

// Failures recorded so far in this process (a CHILD returns non-zero when this grew).
int failureCount();

// Runs the CHILD scenario `name` in a new process of this test binary. Returns true when it
// ran; then exactly one of *exitCode (>= 0) or *signal (> 0, POSIX only) describes how it ended.
bool runChild(const char* name, int* exitCode, int* signal);

// Linux: the address space this process has mapped now (VmSize), for tests that lower
// RLIMIT_AS just above it. 0 where it cannot be read.
size_t processVmSize();

// Marks the running TEST skipped: what it needs is missing here (printf-style reason).
void skip(const char* format, ...)
#if defined(__GNUC__) && !defined(__MINGW32__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

// The exit code of a CHILD that found its premise missing (automake's "skipped").
constexpr int kChildSkipped = 77;

#if defined(__linux__)
// Lowers RLIMIT_AS to `room` bytes beyond what this process has mapped, and checks that it holds:
// a mapping larger than the room must be refused. False, with the reason on stderr, where the
// limit does not take effect: qemu-user accepts setrlimit(RLIMIT_AS) from its guest and ignores
// it (the emulator's own mappings share the process), so the guest can map past it.
bool lowerAddressSpace(size_t room);
#endif

}  // namespace testing
}  // namespace asyncjob

#define ASYNCJOB_CAT2(a, b) a##b
#define ASYNCJOB_CAT(a, b) ASYNCJOB_CAT2(a, b)

#define TEST(name)                                                                    \
  static void test_##name();                                                          \
  static ::asyncjob::testing::Registrar ASYNCJOB_CAT(registrar_, name)(#name, test_##name); \
  static void test_##name()

#define CHILD(name)                                                                   \
  static int child_##name();                                                          \
  static ::asyncjob::testing::Registrar ASYNCJOB_CAT(child_registrar_, name)(#name, child_##name); \
  static int child_##name()

#define EXPECT(cond, ...)                                                             \
  do {                                                                                \
    if (!(cond)) ::asyncjob::testing::recordFailure(__FILE__, __LINE__, #cond, __VA_ARGS__); \
  } while (0)

#define REQUIRE(cond, ...)                                                            \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      ::asyncjob::testing::recordFailure(__FILE__, __LINE__, #cond, __VA_ARGS__);     \
      return;                                                                         \
    }                                                                                 \
  } while (0)

#endif  // ASYNCJOB_CORE_TESTING_H
