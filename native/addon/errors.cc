#include "errors.h"

#include <uv.h>

#include <cmath>
#include <cstring>
#include <string>

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
#ifdef _WIN32
  const char* description = uv_strerror(uvErr);  // strerror knows no Win32 or Winsock codes
#else
  const char* description = std::strerror(err);
#endif
  Napi::Error error = CodedError(
      env, name, std::string(syscall) + " failed: " + name + " (" + description + ")");
  error.Set("errno", Napi::Number::New(env, uvErr));
  error.Set("syscall", syscall);
  return error;
}

std::string Describe(Napi::Value value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_number: return "type number (" + value.ToString().Utf8Value() + ")";
    case napi_string: return "type string";
    case napi_boolean: return "type boolean";
    case napi_symbol: return "type symbol";
    case napi_bigint: return "type bigint";
    case napi_function: return "a function";
    default: return "an object";
  }
}

Napi::Error InvalidArgType(Napi::Env env, const std::string& name, const char* expected,
                           Napi::Value actual) {
  Napi::Error error = Napi::TypeError::New(
      env, "The \"" + name + "\" argument must be " + expected + ". Received " + Describe(actual));
  error.Set("code", "ERR_INVALID_ARG_TYPE");
  return error;
}

int64_t IntegerArg(Napi::Value value, const std::string& name, int64_t min, int64_t max) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) throw InvalidArgType(env, name, "of type number", value);
  double number = value.As<Napi::Number>().DoubleValue();
  std::string range;
  if (!std::isfinite(number) || std::trunc(number) != number) {
    range = "an integer";
  } else if (number < static_cast<double>(min) || number > static_cast<double>(max)) {
    range = ">= " + std::to_string(min) + " && <= " + std::to_string(max);
  } else {
    return static_cast<int64_t>(number);
  }
  Napi::Error error = Napi::RangeError::New(env, "The value of \"" + name +
                                                     "\" is out of range. It must be " + range +
                                                     ". Received " + value.ToString().Utf8Value());
  error.Set("code", "ERR_OUT_OF_RANGE");
  throw error;
}

}  // namespace asyncjob::addon
