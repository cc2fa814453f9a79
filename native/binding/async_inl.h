// guard(): native exceptions → JS exceptions for synchronous calls.
#pragma once
#include "../core/errors.h"

namespace rn::binding {

template <typename F>
auto guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const rn::Error& e) {
    throw toJsError(env, e.code(), e.op(), e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw toJsError(env, rn::code::kOutOfMemory, "", "out of host memory");
  } catch (const std::exception& e) {
    throw toJsError(env, rn::code::kInternal, "", e.what());
  }
}

}  // namespace rn::binding
