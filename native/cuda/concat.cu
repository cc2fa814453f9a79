// Channel concatenation on CUDA: forward joins parts [N,Ci,…] along dim 1; backward splits dy back into them.
// Any rank ≥ 2 works (dims other than 1 must agree). Each part is one strided 2-D copy on the stream: N rows of
// Ci·inner floats, at pitch Ci·inner in the part and total·inner in the whole.
#include "../core/kernel.h"
#include "../ops/concat_shapes.h"
#include "common.h"

namespace rn::cuda {
namespace {

using Layout = ops::ConcatLayout;  // native/ops/concat_shapes.h

// Copies between the whole [N,total,inner] and every part p [N,channels[p],inner]; toWhole picks the direction.
void copyParts(const std::string& op, const Layout& l, float* whole, const std::vector<TensorRef>& parts, bool toWhole,
               cudaStream_t stream) {
  const size_t wholePitch = static_cast<size_t>(l.total * l.inner) * sizeof(float);
  for (size_t p = 0; p < parts.size(); ++p) {
    const size_t width = static_cast<size_t>(l.channels[p] * l.inner) * sizeof(float);
    if (width == 0 || l.batch == 0) continue;
    float* slot = whole + l.offsets[p] * l.inner;
    float* part = parts[p].f32();
    if (toWhole) {
      RN_CUDA(op, cudaMemcpy2DAsync(slot, wholePitch, part, width, width, static_cast<size_t>(l.batch),
                                    cudaMemcpyDeviceToDevice, stream));
    } else {
      RN_CUDA(op, cudaMemcpy2DAsync(part, width, slot, wholePitch, width, static_cast<size_t>(l.batch),
                                    cudaMemcpyDeviceToDevice, stream));
    }
  }
}

class Concat : public Kernel {
 public:
  Concat(std::string op, Layout l, bool forward) : op_(std::move(op)), l_(std::move(l)), forward_(forward) {}
  void run(const KernelArgs& a) override {
    cudaStream_t stream = cudaDevice(a.device).stream();
    if (forward_) {
      copyParts(op_, l_, a.out[0].f32(), a.in, true, stream);
    } else {
      copyParts(op_, l_, a.in[0].f32(), a.out, false, stream);
    }
  }

 private:
  std::string op_;
  Layout l_;
  bool forward_;
};

// Inputs (a, b, …) with at least one part; output y.
std::unique_ptr<Kernel> makeConcatForward(const KernelContext& ctx) { return std::make_unique<Concat>(ctx.op, ops::checkConcatForward(ctx), true); }

// Input dy; outputs (da, db, …), one per part, with the parts' shapes.
std::unique_ptr<Kernel> makeConcatBackward(const KernelContext& ctx) { return std::make_unique<Concat>(ctx.op, ops::checkConcatBackward(ctx), false); }

RN_REGISTER_KERNEL("cuda", "concat_forward", makeConcatForward);
RN_REGISTER_KERNEL("cuda", "concat_backward", makeConcatBackward);

}  // namespace
}  // namespace rn::cuda
