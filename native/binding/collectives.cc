// createInProcessGroup(), createProcessGroup(), destroyGroup() and setDeviceThreads(): what data parallelism
// needs from native code.
#include "collectives.h"

#include "../core/collective.h"
#include "../core/device.h"
#include "../cpu/backend.h"
#include "async.h"
#ifdef RN_HAVE_GLOO
#include "../gloo/process_group.h"
#endif

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

// createProcessGroup({ rank, worldSize, masterAddr, masterPort, device, timeoutSeconds, iface }) → Promise<group id>.
// The rendezvous blocks until every rank has joined, so it runs on the device's worker, off the JS thread.
Napi::Value createProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef RN_HAVE_GLOO
  auto options = guard(env, [&] {
    if (info.Length() < 1 || !info[0].IsObject()) RN_THROW(code::kInvalidArgument, "", "Expected an options object for createProcessGroup");
    Napi::Object o = info[0].As<Napi::Object>();
    auto number = [&](const char* key) -> double {
      if (!o.Get(key).IsNumber()) RN_THROW(code::kInvalidArgument, "", std::string("Expected a number for createProcessGroup's ") + key);
      return o.Get(key).As<Napi::Number>().DoubleValue();
    };
    auto text = [&](const char* key) -> std::string {
      if (!o.Get(key).IsString()) RN_THROW(code::kInvalidArgument, "", std::string("Expected a string for createProcessGroup's ") + key);
      return o.Get(key).As<Napi::String>().Utf8Value();
    };
    rn::gloo::ProcessGroupOptions options;
    options.rank = static_cast<int>(number("rank"));
    options.worldSize = static_cast<int>(number("worldSize"));
    options.masterAddr = text("masterAddr");
    options.masterPort = static_cast<int>(number("masterPort"));
    options.device = getDevice(text("device")).name();
    options.timeoutSeconds = number("timeoutSeconds");
    options.iface = text("iface");
    return options;
  });
  auto completion = std::make_unique<Completion>(env);
  auto group = std::make_shared<int>(0);
  completion->resolveWith = [group](Napi::Env e) { return Napi::Number::New(e, *group); };
  return submit(env, options.device, std::move(completion), [options, group] { *group = rn::gloo::createProcessGroup(options); });
#else
  return guard(env, [&]() -> Napi::Value {
    RN_THROW(code::kDeviceUnavailable, "createProcessGroup",
             "this build has no Gloo, which collectives across processes need: install libgloo-dev (Debian/Ubuntu) and rebuild "
             "with `npm run build:native`");
  });
#endif
}

// destroyGroup(id): programs already built keep their ranks; new ones cannot find the group.
Napi::Value destroyGroup(const Napi::CallbackInfo& info) {
  rn::removeGroup(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// abortGroup(id, reason): the group's ranks in this process stop waiting at collectives (RN_RANK_FAILED, reason).
Napi::Value abortGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
      RN_THROW(code::kInvalidArgument, "", "Expected (group: number, reason: string) for abortGroup");
    }
    rn::abortGroup(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value());
    return env.Undefined();
  });
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
  exports.Set("createProcessGroup", Napi::Function::New<createProcessGroup>(env, "createProcessGroup"));
#ifdef RN_HAVE_GLOO
  exports.Set("hasGloo", Napi::Boolean::New(env, true));
#else
  exports.Set("hasGloo", Napi::Boolean::New(env, false));
#endif
  exports.Set("destroyGroup", Napi::Function::New<destroyGroup>(env, "destroyGroup"));
  exports.Set("abortGroup", Napi::Function::New<abortGroup>(env, "abortGroup"));
  exports.Set("setDeviceThreads", Napi::Function::New<setDeviceThreads>(env, "setDeviceThreads"));
}

}  // namespace rn::binding
