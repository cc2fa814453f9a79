// The data loader's native image calls: JPEG crops decoded and transformed in one pass.
#pragma once
#include <napi.h>

namespace rn::binding {
void defineImageFunctions(Napi::Env env, Napi::Object exports);
}
