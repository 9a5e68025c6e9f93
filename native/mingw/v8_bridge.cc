// The V8 functions that a mingw-w64 build of the addon cannot call in node.exe by name alone.
//
// Contract: linked into the addon only when it is built with mingw-w64 for Windows node.exe
// (scripts/windows-addon.sh); MSVC builds call V8 directly and never see this file.
//
// node.exe is built with MSVC, so its V8 functions carry MSVC names and follow MSVC's C++ ABI.
// The import library (native/mingw/v8-node<major>.def) maps most of the Itanium names g++
// emits onto those MSVC names, since for them both compilers pass arguments and results alike.
// Member functions that return a class type by value do not agree: MSVC returns it through a
// hidden pointer passed after `this` (and hands that pointer back in RAX), g++ returns an
// 8-byte Local<T> in RAX. Those are defined here, calling node.exe's function with MSVC's
// convention under a plain C name (asyncjob_msvc_<class>_<function>) that the .def file maps
// onto the MSVC name, so that every MSVC name lives in the per-major .def file.
#if defined(__MINGW32__)

#include <v8.h>

extern "C" {
v8::Local<v8::Context>* asyncjob_msvc_Isolate_GetCurrentContext(v8::Isolate* self,
                                                                 v8::Local<v8::Context>* result);
#if V8_MAJOR_VERSION >= 12
v8::Local<v8::Value>* asyncjob_msvc_Isolate_GetContinuationPreservedEmbedderData(
    v8::Isolate* self, v8::Local<v8::Value>* result);
#else
v8::Local<v8::Value>* asyncjob_msvc_Context_GetContinuationPreservedEmbedderData(
    v8::Context* self, v8::Local<v8::Value>* result);
#endif
}

namespace v8 {

Local<Context> Isolate::GetCurrentContext() {
  Local<Context> result;
  asyncjob_msvc_Isolate_GetCurrentContext(this, &result);
  return result;
}

#if V8_MAJOR_VERSION >= 12
Local<Value> Isolate::GetContinuationPreservedEmbedderData() {
  Local<Value> result;
  asyncjob_msvc_Isolate_GetContinuationPreservedEmbedderData(this, &result);
  return result;
}
#else
Local<Value> Context::GetContinuationPreservedEmbedderData() const {
  Local<Value> result;
  asyncjob_msvc_Context_GetContinuationPreservedEmbedderData(const_cast<Context*>(this), &result);
  return result;
}
#endif

}  // namespace v8

#endif  // __MINGW32__
