// Async completion: a job runs on a device worker, then resolves or rejects its Promise on the JS thread.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

namespace rn::binding {

// Converts a caught exception (rn::Error or anything else) into a JS Error with `code` and `op`.
Napi::Error toJsError(Napi::Env env, const std::string& code, const std::string& op, const std::string& message);

// Runs `fn` with native exceptions rethrown as JS Errors (for synchronous binding calls).
template <typename F>
auto guard(Napi::Env env, F&& fn) -> decltype(fn());

struct Completion {
  explicit Completion(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  bool failed = false;
  std::string code, op, message;
  // Builds the resolved value on the JS thread; undefined when empty.
  std::function<Napi::Value(Napi::Env)> resolveWith;
  // JS values the job reads or writes, kept alive until it has finished.
  std::vector<Napi::Reference<Napi::Value>> keepAlive;
};

// Submits `job` to the device's worker; the returned Promise settles when it has run.
Napi::Promise submit(Napi::Env env, const std::string& device, std::unique_ptr<Completion> completion,
                     std::function<void()> job);

}  // namespace rn::binding

#include "async_inl.h"
