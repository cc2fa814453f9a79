// One thread-safe function per submitted job carries its completion back to the JS thread.
#include "async.h"

#include "../core/device.h"
#include "../core/errors.h"

namespace rn::binding {
namespace {

// One thread-safe function per JS environment (thread) carries every completion back: creating one per job
// cost ~90 µs of the JS thread's time per eager op (a uv handle opened and closed each time). It holds the
// event loop open only while jobs are pending.
struct Completions;

void settle(Napi::Env env, Napi::Function, Completions* queue, Completion* raw);

using Tsfn = Napi::TypedThreadSafeFunction<Completions, Completion, settle>;

struct Completions {
  Tsfn tsfn;
  int64_t pending = 0;
};

thread_local Completions* tCompletions = nullptr;

void settle(Napi::Env env, Napi::Function, Completions* queue, Completion* raw) {
  std::unique_ptr<Completion> completion(raw);
  if (env == nullptr) return;  // the environment is shutting down
  if (queue && --queue->pending == 0) queue->tsfn.Unref(env);
  Napi::HandleScope scope(env);
  if (completion->failed) {
    completion->deferred.Reject(toJsError(env, completion->code, completion->op, completion->message).Value());
  } else {
    try {
      Napi::Value value = completion->resolveWith ? completion->resolveWith(env) : env.Undefined();
      completion->deferred.Resolve(value);
    } catch (const Napi::Error& e) {
      completion->deferred.Reject(e.Value());
    }
  }
  for (auto& ref : completion->keepAlive) ref.Reset();
}

// This JS thread's queue, made on first use and forgotten when its environment goes.
Completions& completions(Napi::Env env) {
  if (!tCompletions) {
    auto* queue = new Completions();
    queue->tsfn = Tsfn::New(env, "resnet-node:device", 0, 1, queue, [](Napi::Env, void*, Completions* q) {
      if (tCompletions == q) tCompletions = nullptr;
      delete q;
    });
    queue->tsfn.Unref(env);
    tCompletions = queue;
  }
  return *tCompletions;
}

}  // namespace

Napi::Error toJsError(Napi::Env env, const std::string& code, const std::string& op, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  if (!op.empty()) error.Set("op", Napi::String::New(env, op));
  return error;
}

Napi::Promise submit(Napi::Env env, const std::string& deviceName, std::unique_ptr<Completion> completion,
                     std::function<void()> job) {
  Device& device = guard(env, [&]() -> Device& { return getDevice(deviceName); });
  Napi::Promise promise = completion->deferred.Promise();
  Completions& queue = completions(env);
  if (queue.pending++ == 0) queue.tsfn.Ref(env);
  Tsfn tsfn = queue.tsfn;
  Completion* raw = completion.release();
  device.worker().submit([tsfn, raw, job = std::move(job)]() mutable {
    try {
      job();
    } catch (const rn::Error& e) {
      raw->failed = true;
      raw->code = e.code();
      raw->op = e.op();
      raw->message = e.what();
    } catch (const std::bad_alloc&) {
      raw->failed = true;
      raw->code = rn::code::kOutOfMemory;
      raw->message = "out of host memory";
    } catch (const std::exception& e) {
      raw->failed = true;
      raw->code = rn::code::kInternal;
      raw->message = e.what();
    }
    tsfn.BlockingCall(raw);
  });
  return promise;
}

}  // namespace rn::binding
