// nativeApi: asyncjob's C API for other addons (native/include/asyncjob_client.h), published as
// a type-tagged external on the exports and on the global object under
// Symbol.for('asyncjob.nativeApi').
#ifndef ASYNCJOB_ADDON_NATIVE_API_H
#define ASYNCJOB_ADDON_NATIVE_API_H

#include <napi.h>

namespace asyncjob::addon {

void InitNativeApi(Napi::Env env, Napi::Object exports);

}  // namespace asyncjob::addon

#endif  // ASYNCJOB_ADDON_NATIVE_API_H
