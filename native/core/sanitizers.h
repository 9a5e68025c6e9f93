// Which sanitizers this translation unit is built with, for the code that must tell them what
// they cannot see for themselves (a switch between stacks). Both macros are 0 in a production
// build, and so is everything written under them.
//
// GCC announces a sanitizer with __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__; Clang with
// __has_feature (it has defined __SANITIZE_ADDRESS__ too for a while, __SANITIZE_THREAD__ only
// lately).
#ifndef ASYNCJOB_CORE_SANITIZERS_H
#define ASYNCJOB_CORE_SANITIZERS_H

#if defined(__SANITIZE_ADDRESS__)
#define ASYNCJOB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASYNCJOB_ASAN 1
#endif
#endif
#ifndef ASYNCJOB_ASAN
#define ASYNCJOB_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define ASYNCJOB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ASYNCJOB_TSAN 1
#endif
#endif
#ifndef ASYNCJOB_TSAN
#define ASYNCJOB_TSAN 0
#endif

#endif  // ASYNCJOB_CORE_SANITIZERS_H
