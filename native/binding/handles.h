// JS handles over native tensors and programs: opaque objects with dispose(); finalizers are a backstop.
#pragma once
#include <napi.h>

#include <memory>

#include "../core/program.h"
#include "../core/tensor.h"

namespace rn::binding {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object wrap(Napi::Env env, Tensor tensor);
  static TensorHandle* unwrap(Napi::Value value, const char* what);  // throws a TypeError for non-handles
  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  const Tensor& tensor(Napi::Env env) const;  // throws RN_DISPOSED after dispose()

 private:
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value read(const Napi::CallbackInfo& info);       // Promise<ArrayBuffer>, queued after pending work
  Napi::Value write(const Napi::CallbackInfo& info);      // Promise<void>, from a typed array of the same bytes
  Napi::Value isDisposed(const Napi::CallbackInfo& info);
  void releaseMemory(Napi::Env env);

  Tensor tensor_;
  int64_t accounted_ = 0;
};

class ProgramHandle : public Napi::ObjectWrap<ProgramHandle> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<Program> program);
  explicit ProgramHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value run(const Napi::CallbackInfo& info);  // Promise<void>
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value profile(const Napi::CallbackInfo& info);  // [{op, calls, seconds}] while profiling is on
  std::shared_ptr<Program> program_;
};

}  // namespace rn::binding
