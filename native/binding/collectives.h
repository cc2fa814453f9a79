// Data-parallel binding calls: in-process collective groups and per-replica CPU thread counts.
#pragma once
#include <napi.h>

namespace rn::binding {
void defineCollectiveFunctions(Napi::Env env, Napi::Object exports);
}
