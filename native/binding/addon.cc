// Module entry: tensor and program creation, backend info. Node-API glue only; no computation here.
#include <napi.h>

#include <cstring>

#include "../core/device.h"
#include "../core/errors.h"
#include "../core/kernel.h"
#include "../core/program.h"
#include "async.h"
#include "backends.h"
#include "collectives.h"
#include "handles.h"
#include "image.h"
#include "instance.h"

namespace rn::binding {
namespace {

Shape readShape(Napi::Env env, Napi::Value value, const std::string& what) {
  if (!value.IsArray()) throw toJsError(env, code::kInvalidArgument, "", "Expected an array shape for " + what);
  Napi::Array array = value.As<Napi::Array>();
  Shape shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value d = array.Get(i);
    if (!d.IsNumber()) throw toJsError(env, code::kInvalidArgument, "", "Expected integer dimensions for " + what);
    int64_t dim = d.As<Napi::Number>().Int64Value();
    if (dim < 0) throw toJsError(env, code::kInvalidArgument, "", "negative dimension in " + what);
    shape.push_back(dim);
  }
  return shape;
}

std::string readString(Napi::Env env, Napi::Value value, const std::string& what) {
  if (!value.IsString()) throw toJsError(env, code::kInvalidArgument, "", "Expected a string for " + what);
  return value.As<Napi::String>().Utf8Value();
}

// createTensor(device, dtype, shape, init?: TypedArray | 'zeros', layout?: 'nchw' | 'nChw16c')
Napi::Value createTensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Device& device = getDevice(readString(env, info[0], "device"));
    Tensor t;
    t.dtype = parseDType(readString(env, info[1], "dtype"));
    t.shape = readShape(env, info[2], "shape");
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      t.layout = parseLayout(readString(env, info[4], "layout"));
      RN_CHECK(layoutFits(t.layout, t.shape, t.dtype), code::kInvalidArgument, "",
               std::string("layout nChw16c needs a float32 [N, C, H, W] with C a multiple of 16 but received ") +
                   dtypeName(t.dtype) + shapeString(t.shape));
    }
    t.storage = std::make_shared<Storage>(&device, t.bytes());
    if (info.Length() > 3 && info[3].IsTypedArray()) {
      Napi::TypedArray source = info[3].As<Napi::TypedArray>();
      if (source.ByteLength() != t.bytes()) {
        RN_THROW(code::kShapeMismatch, "", "initial data has " + std::to_string(source.ByteLength()) +
                                               " bytes but shape " + shapeString(t.shape) + " of " +
                                               dtypeName(t.dtype) + " needs " + std::to_string(t.bytes()));
      }
      const void* src = static_cast<const char*>(source.ArrayBuffer().Data()) + source.ByteOffset();
      // A fresh storage has no pending work, so a host-accessible device is filled right here.
      if (device.hostAccessible()) {
        std::memcpy(t.data(), src, t.bytes());
      } else {
        device.worker().runSync([&] { device.copyFromHost(t.data(), src, t.bytes()); });
      }
    } else if (info.Length() > 3 && info[3].IsString() && info[3].As<Napi::String>().Utf8Value() == "zeros") {
      if (device.hostAccessible()) {
        std::memset(t.data(), 0, t.bytes());
      } else {
        device.worker().runSync([&] { device.fillZero(t.data(), t.bytes()); });
      }
    }
    return TensorHandle::wrap(env, std::move(t));
  });
}

AttrValue readAttr(Napi::Env env, Napi::Value value, const std::string& what) {
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value();
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    return d;
  }
  if (value.IsString()) return value.As<Napi::String>().Utf8Value();
  if (value.IsArray()) {
    Napi::Array array = value.As<Napi::Array>();
    std::vector<double> numbers;
    bool integral = true;
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value v = array.Get(i);
      if (!v.IsNumber()) throw toJsError(env, code::kInvalidArgument, "", "attribute " + what + " must hold numbers");
      double d = v.As<Napi::Number>().DoubleValue();
      integral = integral && d == static_cast<double>(static_cast<int64_t>(d));
      numbers.push_back(d);
    }
    if (integral) return std::vector<int64_t>(numbers.begin(), numbers.end());
    return numbers;
  }
  throw toJsError(env, code::kInvalidArgument, "", "attribute " + what + " has an unsupported type");
}

std::vector<int> readIds(Napi::Env env, Napi::Value value, const std::string& what) {
  if (!value.IsArray()) throw toJsError(env, code::kInvalidArgument, "", "Expected an array of ids for " + what);
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int> ids;
  for (uint32_t i = 0; i < array.Length(); ++i) ids.push_back(array.Get(i).As<Napi::Number>().Int32Value());
  return ids;
}

ProgramSpec readSpec(Napi::Env env, Napi::Object spec) {
  ProgramSpec out;
  Napi::Array values = spec.Get("values").As<Napi::Array>();
  for (uint32_t i = 0; i < values.Length(); ++i) {
    Napi::Object v = values.Get(i).As<Napi::Object>();
    ValueSpec value;
    value.shape = readShape(env, v.Get("shape"), "value " + std::to_string(i));
    value.dtype = parseDType(readString(env, v.Get("dtype"), "value dtype"));
    auto present = [&](const char* key) { return v.Has(key) && !v.Get(key).IsUndefined() && !v.Get(key).IsNull(); };
    if (present("viewOf")) value.viewOf = v.Get("viewOf").As<Napi::Number>().Int32Value();
    value.external = !present("offset") || value.viewOf >= 0;
    if (present("offset")) value.arenaOffset = static_cast<size_t>(v.Get("offset").As<Napi::Number>().Int64Value());
    if (present("layout")) value.layout = parseLayout(readString(env, v.Get("layout"), "value layout"));
    out.values.push_back(std::move(value));
  }
  Napi::Array ops = spec.Get("ops").As<Napi::Array>();
  for (uint32_t i = 0; i < ops.Length(); ++i) {
    Napi::Object o = ops.Get(i).As<Napi::Object>();
    OpSpec op;
    op.op = readString(env, o.Get("op"), "op name");
    op.inputs = readIds(env, o.Get("inputs"), op.op + " inputs");
    op.outputs = readIds(env, o.Get("outputs"), op.op + " outputs");
    if (o.Has("attrs") && o.Get("attrs").IsObject()) {
      Napi::Object attrs = o.Get("attrs").As<Napi::Object>();
      Napi::Array keys = attrs.GetPropertyNames();
      for (uint32_t k = 0; k < keys.Length(); ++k) {
        std::string key = keys.Get(k).As<Napi::String>().Utf8Value();
        Napi::Value value = attrs.Get(key);
        if (value.IsUndefined()) continue;
        op.attrs.set(key, readAttr(env, value, op.op + "." + key));
      }
    }
    out.ops.push_back(std::move(op));
  }
  out.externals = readIds(env, spec.Get("externals"), "externals");
  Napi::Value arena = spec.Get("arenaBytes");
  out.arenaBytes = arena.IsNumber() ? static_cast<size_t>(arena.As<Napi::Number>().Int64Value()) : 0;
  return out;
}

// createProgram(device, spec)
Napi::Value createProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Device& device = getDevice(readString(env, info[0], "device"));
    if (info.Length() < 2 || !info[1].IsObject()) RN_THROW(code::kInvalidArgument, "", "Expected a program spec");
    auto program = std::make_shared<Program>(device, readSpec(env, info[1].As<Napi::Object>()));
    return ProgramHandle::wrap(env, std::move(program));
  });
}

// kernelNames(backend, anyLayout?): every op with a kernel, or (anyLayout) those whose kernels take nChw16c operands.
Napi::Value kernelNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const KernelRegistry& registry = KernelRegistry::of(readString(env, info[0], "backend"));
  std::vector<std::string> names;
  const bool anyLayout = info.Length() > 1 && info[1].ToBoolean().Value();
  for (const std::string& name : registry.names()) {
    if (!anyLayout || registry.takesAnyLayout(name)) names.push_back(name);
  }
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) out.Set(i, names[i]);
  return out;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new Instance();
  data->tensorConstructor = Napi::Persistent(TensorHandle::define(env));
  data->programConstructor = Napi::Persistent(ProgramHandle::define(env));
  env.SetInstanceData<Instance>(data);
  exports.Set("createTensor", Napi::Function::New<createTensor>(env, "createTensor"));
  exports.Set("createProgram", Napi::Function::New<createProgram>(env, "createProgram"));
  exports.Set("kernelNames", Napi::Function::New<kernelNames>(env, "kernelNames"));
  defineBackendFunctions(env, exports);
  defineCollectiveFunctions(env, exports);
  defineImageFunctions(env, exports);
  return exports;
}

}  // namespace
}  // namespace rn::binding

static Napi::Object initModule(Napi::Env env, Napi::Object exports) { return rn::binding::init(env, exports); }

NODE_API_MODULE(resnet_node, initModule)
