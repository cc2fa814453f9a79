// layout_reorder: copies a float32 [N, C, H, W] tensor from one memory layout to another (nchw ⇄ nChw16c), the op
// that CPU programs put where a blocked activation meets an op that takes only nchw (lib/graph/layout.ts), and
// that Tensor layout conversions run. oneDNN's reorder, on every thread.
#include "../core/kernel.h"
#include "backend.h"

namespace rn::cpu {
namespace {

class LayoutReorder : public Kernel {
 public:
  LayoutReorder(std::string op, const ValueInfo& x, const ValueInfo& y)
      : op_(std::move(op)),
        src_(layoutDesc(x.shape, x.layout), engine(), DNNL_MEMORY_NONE),
        dst_(layoutDesc(y.shape, y.layout), engine(), DNNL_MEMORY_NONE) {
    dnnlCall(op_, [&] { reorder_ = dnnl::reorder(src_, dst_); });
  }

  void run(const KernelArgs& a) override {
    dnnlCall(op_, [&] {
      src_.set_data_handle(a.in[0].ptr);
      dst_.set_data_handle(a.out[0].ptr);
      reorder_.execute(stream(), src_, dst_);
      stream().wait();
    });
  }

 private:
  std::string op_;
  dnnl::memory src_, dst_;
  dnnl::reorder reorder_;
};

std::unique_ptr<Kernel> makeLayoutReorder(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  ctx.expectDtype(ctx.inputs[0], DType::F32, "x");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], ctx.inputs[0].shape, "y");
  return std::make_unique<LayoutReorder>(ctx.op, ctx.inputs[0], ctx.outputs[0]);
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "layout_reorder", makeLayoutReorder);

}  // namespace
}  // namespace rn::cpu
