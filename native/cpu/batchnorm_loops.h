// The per-channel loops batch norm and SyncBN share on the CPU: one channel's planes, vectorised within
// a plane; callers parallelise over channels.
#pragma once

#include <cstdint>

#include "../ops/batchnorm_shapes.h"

namespace rn::cpu {

using ops::ChannelPlanes;

// y = x·scale + shift over one channel's planes.
inline void scaleShiftChannel(const float* x, float* y, const ChannelPlanes& p, int64_t c, float scale, float shift) {
  for (int64_t n = 0; n < p.N; ++n) {
    const float* in = x + p.plane(n, c);
    float* out = y + p.plane(n, c);
#pragma omp simd
    for (int64_t i = 0; i < p.HW; ++i) out[i] = in[i] * scale + shift;
  }
}

struct DySums {
  double dy = 0;          // Σ dy
  double dyCentered = 0;  // Σ dy·(x − mean)
};

// The two sums of a channel's backward pass; float within a plane, double across planes.
inline DySums channelDySums(const float* x, const float* dy, const ChannelPlanes& p, int64_t c, float mean) {
  DySums sums;
  for (int64_t n = 0; n < p.N; ++n) {
    const float* xs = x + p.plane(n, c);
    const float* dys = dy + p.plane(n, c);
    float planeDy = 0, planeDyCentered = 0;
#pragma omp simd reduction(+ : planeDy, planeDyCentered)
    for (int64_t i = 0; i < p.HW; ++i) {
      planeDy += dys[i];
      planeDyCentered += dys[i] * (xs[i] - mean);
    }
    sums.dy += planeDy;
    sums.dyCentered += planeDyCentered;
  }
  return sums;
}

// dx = a·dy + b·x + k over one channel's planes (the backward pass folded into one affine map).
inline void affineBackwardChannel(const float* x, const float* dy, float* dx, const ChannelPlanes& p, int64_t c, float a,
                                  float b, float k) {
  for (int64_t n = 0; n < p.N; ++n) {
    const float* xs = x + p.plane(n, c);
    const float* dys = dy + p.plane(n, c);
    float* dxs = dx + p.plane(n, c);
#pragma omp simd
    for (int64_t i = 0; i < p.HW; ++i) dxs[i] = a * dys[i] + b * xs[i] + k;
  }
}

}  // namespace rn::cpu
