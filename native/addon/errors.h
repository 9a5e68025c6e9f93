// Errors the addon throws, shaped like Node's own so that JavaScript code handles them the same
// way: a `code` property always; for failed system calls also `errno` (negative, as libuv
// reports it) and `syscall`, like Node's SystemError.
#ifndef ASYNCJOB_ADDON_ERRORS_H
#define ASYNCJOB_ADDON_ERRORS_H

#include <napi.h>

#include <cstdint>
#include <string>

namespace asyncjob::addon {

// An Error with `code` set, for example ERR_ASYNCJOB_UNSUPPORTED.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// The Error for a system call that failed with errno `err` (positive, as in errno; on Windows a
// Win32 or Winsock error code, as GetLastError and WSAGetLastError give it):
// message "<syscall> failed: EMFILE (Too many open files)", code "EMFILE", errno -EMFILE.
Napi::Error SystemError(Napi::Env env, const char* syscall, int err);

// The native re-checks of what src/ validates, so that misuse from JavaScript never crashes;
// worded as Node's validators word them.
// "type string", "null", "a function", ... as in Node's "Received ..." messages.
std::string Describe(Napi::Value value);
// TypeError ERR_INVALID_ARG_TYPE: The "name" argument must be <expected>. Received ...
Napi::Error InvalidArgType(Napi::Env env, const std::string& name, const char* expected,
                           Napi::Value actual);
// `value` as an integer in [min, max]; throws InvalidArgType or RangeError ERR_OUT_OF_RANGE.
int64_t IntegerArg(Napi::Value value, const std::string& name, int64_t min, int64_t max);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_ERRORS_H
