// cpuInfo() and setNumThreads(): what `resnet-node doctor` reports about the CPU backend.
#include "backends.h"

#include <dnnl.hpp>
#include <thread>

#include "../core/backend_registry.h"
#include "../core/program.h"
#include "../core/settings.h"
#include "../cpu/backend.h"
#include "async.h"

namespace rn::binding {
namespace {

Napi::Value cpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  out.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("onednnCpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "openmp" : "other");
  out.Set("threads", cpu::numThreads());
  out.Set("hardwareConcurrency", static_cast<double>(std::thread::hardware_concurrency()));
  Napi::Array features = Napi::Array::New(env);
  uint32_t n = 0;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) features.Set(n++, "sse4.2");
  if (__builtin_cpu_supports("avx")) features.Set(n++, "avx");
  if (__builtin_cpu_supports("avx2")) features.Set(n++, "avx2");
  if (__builtin_cpu_supports("fma")) features.Set(n++, "fma");
  if (__builtin_cpu_supports("avx512f")) features.Set(n++, "avx512f");
  if (__builtin_cpu_supports("avx512bw")) features.Set(n++, "avx512bw");
  if (__builtin_cpu_supports("avx512vl")) features.Set(n++, "avx512vl");
  if (__builtin_cpu_supports("avx512bf16")) features.Set(n++, "avx512bf16");
  out.Set("features", features);
  return out;
}

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  cpu::setNumThreads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), cpu::numThreads());
}

Napi::Value setProfiling(const Napi::CallbackInfo& info) {
  rn::setProfiling(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// loadBackend(name, path) → '' on success, else why the library could not be loaded.
Napi::Value loadBackend(const Napi::CallbackInfo& info) {
  std::string why = rn::loadBackendLibrary(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  return Napi::String::New(info.Env(), why);
}

// backendInfo(name) → the backend's JSON self-description, or '' when it is not loaded.
Napi::Value backendInfo(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), rn::backendInfo(info[0].As<Napi::String>().Utf8Value()));
  });
}

// setSetting(key, value): process-wide backend settings (cuDNN algorithm mode, workspace cap …).
Napi::Value setSetting(const Napi::CallbackInfo& info) {
  rn::setSetting(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
}

}  // namespace

void defineBackendFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuInfo", Napi::Function::New<cpuInfo>(env, "cpuInfo"));
  exports.Set("setNumThreads", Napi::Function::New<setNumThreads>(env, "setNumThreads"));
  exports.Set("setProfiling", Napi::Function::New<setProfiling>(env, "setProfiling"));
  exports.Set("loadBackend", Napi::Function::New<loadBackend>(env, "loadBackend"));
  exports.Set("backendInfo", Napi::Function::New<backendInfo>(env, "backendInfo"));
  exports.Set("setSetting", Napi::Function::New<setSetting>(env, "setSetting"));
}

}  // namespace rn::binding
