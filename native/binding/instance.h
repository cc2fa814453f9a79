// Per-environment state (constructors), kept with napi_set_instance_data so the addon loads in workers.
#pragma once
#include <napi.h>

namespace rn::binding {

struct Instance {
  Napi::FunctionReference tensorConstructor;
  Napi::FunctionReference programConstructor;
};

inline Instance& instance(Napi::Env env) { return *env.GetInstanceData<Instance>(); }

}  // namespace rn::binding
