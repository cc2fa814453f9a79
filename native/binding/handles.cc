// TensorHandle and ProgramHandle: every access to device memory is queued on the device's worker.
#include "handles.h"

#include <cstring>

#include "../core/device.h"
#include "../core/errors.h"
#include "async.h"
#include "instance.h"

namespace rn::binding {

Napi::Function TensorHandle::define(Napi::Env env) {
  return DefineClass(env, "TensorHandle",
                     {InstanceMethod<&TensorHandle::dispose>("dispose"), InstanceMethod<&TensorHandle::read>("read"),
                      InstanceMethod<&TensorHandle::write>("write"),
                      InstanceAccessor<&TensorHandle::isDisposed>("disposed")});
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() {
  // Finalizer backstop: the storage goes when queued jobs holding it finish.
  tensor_.storage.reset();
}

Napi::Object TensorHandle::wrap(Napi::Env env, Tensor tensor) {
  Napi::Object object = instance(env).tensorConstructor.New({});
  TensorHandle* handle = Napi::ObjectWrap<TensorHandle>::Unwrap(object);
  handle->accounted_ = static_cast<int64_t>(tensor.storage->bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, handle->accounted_);
  handle->tensor_ = std::move(tensor);
  return object;
}

TensorHandle* TensorHandle::unwrap(Napi::Value value, const char* what) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(instance(env).tensorConstructor.Value())) {
    throw toJsError(env, code::kInvalidArgument, "", std::string("Expected a tensor handle for ") + what);
  }
  return Napi::ObjectWrap<TensorHandle>::Unwrap(value.As<Napi::Object>());
}

const Tensor& TensorHandle::tensor(Napi::Env env) const {
  if (!tensor_.storage) throw toJsError(env, code::kDisposed, "", "the tensor has been disposed");
  return tensor_;
}

void TensorHandle::releaseMemory(Napi::Env env) {
  if (accounted_) Napi::MemoryManagement::AdjustExternalMemory(env, -accounted_);
  accounted_ = 0;
  tensor_.storage.reset();
}

Napi::Value TensorHandle::dispose(const Napi::CallbackInfo& info) {
  releaseMemory(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorHandle::isDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.storage);
}

Napi::Value TensorHandle::read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor t = tensor(env);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, t.bytes());
  auto completion = std::make_unique<Completion>(env);
  completion->keepAlive.push_back(Napi::Persistent(buffer.As<Napi::Value>()));
  void* dst = buffer.Data();
  Napi::Reference<Napi::Value>* bufferRef = &completion->keepAlive.back();
  completion->resolveWith = [bufferRef](Napi::Env) { return bufferRef->Value(); };
  return submit(env, t.storage->device()->name(), std::move(completion),
                [t, dst] { t.storage->device()->copyToHost(dst, t.data(), t.bytes()); });
}

Napi::Value TensorHandle::write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tensor t = tensor(env);
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    throw toJsError(env, code::kInvalidArgument, "", "Expected a typed array for write()");
  }
  Napi::TypedArray source = info[0].As<Napi::TypedArray>();
  if (source.ByteLength() != t.bytes()) {
    throw toJsError(env, code::kShapeMismatch, "",
                    "write() needs " + std::to_string(t.bytes()) + " bytes but received " +
                        std::to_string(source.ByteLength()));
  }
  const void* src = static_cast<const char*>(source.ArrayBuffer().Data()) + source.ByteOffset();
  auto completion = std::make_unique<Completion>(env);
  completion->keepAlive.push_back(Napi::Persistent(info[0]));
  return submit(env, t.storage->device()->name(), std::move(completion),
                [t, src] { t.storage->device()->copyFromHost(t.data(), src, t.bytes()); });
}

Napi::Function ProgramHandle::define(Napi::Env env) {
  return DefineClass(env, "ProgramHandle",
                     {InstanceMethod<&ProgramHandle::run>("run"), InstanceMethod<&ProgramHandle::dispose>("dispose"),
                      InstanceMethod<&ProgramHandle::profile>("profile")});
}

ProgramHandle::ProgramHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramHandle>(info) {}

Napi::Object ProgramHandle::wrap(Napi::Env env, std::shared_ptr<Program> program) {
  Napi::Object object = instance(env).programConstructor.New({});
  Napi::ObjectWrap<ProgramHandle>::Unwrap(object)->program_ = std::move(program);
  return object;
}

Napi::Value ProgramHandle::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!program_) throw toJsError(env, code::kDisposed, "", "the program has been disposed");
  if (info.Length() < 1 || !info[0].IsArray()) {
    throw toJsError(env, code::kInvalidArgument, "", "Expected an array of tensor handles for run()");
  }
  Napi::Array handles = info[0].As<Napi::Array>();
  std::vector<Tensor> bound;
  bound.reserve(handles.Length());
  for (uint32_t i = 0; i < handles.Length(); ++i) {
    bound.push_back(TensorHandle::unwrap(handles.Get(i), "run()")->tensor(env));
  }
  std::shared_ptr<Program> program = program_;
  return submit(env, program->device().name(), std::make_unique<Completion>(env),
                [program, bound = std::move(bound)] { program->run(bound); });
}

Napi::Value ProgramHandle::profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (!program_) return out;
  uint32_t i = 0;
  for (const auto& t : program_->profile()) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("op", t.op);
    row.Set("calls", static_cast<double>(t.calls));
    row.Set("seconds", t.seconds);
    out.Set(i++, row);
  }
  return out;
}

Napi::Value ProgramHandle::dispose(const Napi::CallbackInfo& info) {
  program_.reset();
  return info.Env().Undefined();
}

}  // namespace rn::binding
