#include "errors.h"

#include <uv.h>

#include <cstring>

namespace asyncjob::addon {

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  return error;
}

Napi::Error SystemError(Napi::Env env, const char* syscall, int err) {
  // libuv names errors as Node does ("EMFILE"); on POSIX its codes are the negated errno values.
  int uvErr = uv_translate_sys_error(err);
  char name[64];
  uv_err_name_r(uvErr, name, sizeof name);
  Napi::Error error = CodedError(
      env, name, std::string(syscall) + " failed: " + name + " (" + std::strerror(err) + ")");
  error.Set("errno", Napi::Number::New(env, uvErr));
  error.Set("syscall", syscall);
  return error;
}

}  // namespace asyncjob::addon
