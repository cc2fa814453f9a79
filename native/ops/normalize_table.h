// Backend-independent part of normalize_u8: shape checks and the per-channel lookup table (C, 256) of
// (byte − mean[c]) / std[c], built once on the host; both backends read bytes through it.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

inline std::vector<float> normalizeTable(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  const ValueInfo& x = ctx.inputs[0];
  ctx.expectDtype(x, DType::U8, "x");
  ctx.expectRank(x, 4, "x");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], x.shape, "y");
  const int64_t channels = x.shape[1];
  const std::vector<double> mean = ctx.attrs.getFloats(ctx.op, "mean");
  const std::vector<double> deviation = ctx.attrs.getFloats(ctx.op, "std");
  if (static_cast<int64_t>(mean.size()) != channels || static_cast<int64_t>(deviation.size()) != channels) {
    ctx.fail(code::kInvalidArgument, "expected " + std::to_string(channels) + " values in attributes 'mean' and 'std' but received " +
                                         std::to_string(mean.size()) + " and " + std::to_string(deviation.size()));
  }
  std::vector<float> table(static_cast<size_t>(channels) * 256);
  for (int64_t c = 0; c < channels; ++c) {
    if (!std::isfinite(mean[c]) || !std::isfinite(deviation[c]) || deviation[c] <= 0) {
      ctx.fail(code::kInvalidArgument, "expected finite mean and std > 0 for channel " + std::to_string(c));
    }
    for (int v = 0; v < 256; ++v) table[c * 256 + v] = static_cast<float>((v - mean[c]) / deviation[c]);
  }
  return table;
}

}  // namespace rn::ops
