// createInProcessGroup(), destroyGroup() and setDeviceThreads(): what DataParallel needs from native code.
#include "collectives.h"

#include "../core/collective.h"
#include "../core/device.h"
#include "../cpu/backend.h"
#include "async.h"

namespace rn::binding {
namespace {

// createInProcessGroup(devices: string[], timeoutSeconds: number) → group id; rank k is devices[k].
Napi::Value createInProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) {
      RN_THROW(code::kInvalidArgument, "", "Expected (devices: string[], timeoutSeconds: number) for createInProcessGroup");
    }
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<std::string> devices;
    for (uint32_t i = 0; i < list.Length(); ++i) {
      if (!list.Get(i).IsString()) RN_THROW(code::kInvalidArgument, "", "Expected device names for createInProcessGroup");
      devices.push_back(list.Get(i).As<Napi::String>().Utf8Value());
    }
    return Napi::Number::New(env, rn::createInProcessGroup(devices, info[1].As<Napi::Number>().DoubleValue()));
  });
}

// destroyGroup(id): programs already built keep their ranks; new ones cannot find the group.
Napi::Value destroyGroup(const Napi::CallbackInfo& info) {
  rn::removeGroup(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// setDeviceThreads(device, n) → the OpenMP thread count that device's worker uses from its next job on.
Napi::Value setDeviceThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
      RN_THROW(code::kInvalidArgument, "", "Expected (device: string, threads: number) for setDeviceThreads");
    }
    Device& device = getDevice(info[0].As<Napi::String>().Utf8Value());
    return Napi::Number::New(env, cpu::setDeviceThreads(device, info[1].As<Napi::Number>().Int32Value()));
  });
}

}  // namespace

void defineCollectiveFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("createInProcessGroup", Napi::Function::New<createInProcessGroup>(env, "createInProcessGroup"));
  exports.Set("destroyGroup", Napi::Function::New<destroyGroup>(env, "destroyGroup"));
  exports.Set("setDeviceThreads", Napi::Function::New<setDeviceThreads>(env, "setDeviceThreads"));
}

}  // namespace rn::binding
