// Errors the addon throws, shaped like Node's own so that JavaScript code handles them the same
// way: a `code` property always; for failed system calls also `errno` (negative, as libuv
// reports it) and `syscall`, like Node's SystemError.
#ifndef ASYNCJOB_ADDON_ERRORS_H
#define ASYNCJOB_ADDON_ERRORS_H

#include <napi.h>

#include <string>

namespace asyncjob::addon {

// An Error with `code` set, for example ERR_ASYNCJOB_UNSUPPORTED.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// The Error for a system call that failed with errno `err` (positive, as in errno):
// message "<syscall> failed: EMFILE (Too many open files)", code "EMFILE", errno -EMFILE.
Napi::Error SystemError(Napi::Env env, const char* syscall, int err);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_ERRORS_H
