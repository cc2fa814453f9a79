// Backend-facing binding calls: CPU info and thread count (the CUDA loader joins here later).
#pragma once
#include <napi.h>

namespace rn::binding {
void defineBackendFunctions(Napi::Env env, Napi::Object exports);
}
