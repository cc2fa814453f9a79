// The CPU backend: its device, the shared oneDNN engine/stream, and the OpenMP thread count.
#pragma once
#include <dnnl.hpp>

#include "../core/device.h"
#include "../core/errors.h"
#include "../core/tensor.h"

namespace rn::cpu {

// One engine; one stream per CPU worker thread (the calling one).
dnnl::engine& engine();
dnnl::stream& stream();

int numThreads();
void setNumThreads(int n);  // takes effect on the worker thread before the next job
// One CPU device's own thread count (0: the process-wide one), applied before its next job; returns the count in force.
int setDeviceThreads(Device& device, int n);

// Wraps a dense row-major buffer of `shape` in a oneDNN memory with the plain tag for its rank.
dnnl::memory::desc plainDesc(const Shape& shape, dnnl::memory::data_type type = dnnl::memory::data_type::f32);

// A dense buffer of `shape` in `layout`: plainDesc for Plain, nChw16c for Blocked16 (with 16 channels the same
// bytes as nhwc, which native/cpu/conv2d.cc may describe it as).
dnnl::memory::desc layoutDesc(const Shape& shape, Layout layout);

// Runs a oneDNN call, turning dnnl::error into an RN_BACKEND_ERROR naming the op.
template <typename F>
void dnnlCall(const std::string& op, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(code::kBackend, op, std::string("oneDNN: ") + e.what(), __FILE__, __LINE__);
  }
}

}  // namespace rn::cpu
