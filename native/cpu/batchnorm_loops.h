// The per-channel loops batch norm and SyncBN share on the CPU: one channel's planes, vectorised within
// a plane, for plain operands; one block of 16 channels, vectorised across its channels, for nChw16c ones.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../ops/batchnorm_shapes.h"

namespace rn::cpu {

using ops::ChannelPlanes;

// The fused ReLU (batch norm's `relu` attribute): the forward writes max(0, BN(x)) and the backward masks the incoming
// gradient by the forward's output y, dy·[y > 0]. The same comparison as relu.cc's loops, so a fused op equals the
// separate ReLU bit for bit.
inline float reluOf(float v) { return v > 0.0f ? v : 0.0f; }  // std::max here does not vectorise
inline float reluMasked(float dy, float y) { return y > 0.0f ? dy : 0.0f; }

// dy at i, masked by y when Relu (y unread otherwise; may be null).
template <bool Relu>
inline float gradAt(const float* dy, const float* y, int64_t i) {
  if constexpr (Relu) {
    return reluMasked(dy[i], y[i]);
  } else {
    return dy[i];
  }
}

// y = x·scale + shift over one channel's planes; max(0, x·scale + shift) when Relu.
template <bool Relu = false>
inline void scaleShiftChannel(const float* x, float* y, const ChannelPlanes& p, int64_t c, float scale, float shift) {
  for (int64_t n = 0; n < p.N; ++n) {
    const float* in = x + p.plane(n, c);
    float* out = y + p.plane(n, c);
    if constexpr (Relu) {
#pragma omp simd
      for (int64_t i = 0; i < p.HW; ++i) out[i] = reluOf(in[i] * scale + shift);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < p.HW; ++i) out[i] = in[i] * scale + shift;
    }
  }
}

struct ShiftedSums {
  double sum = 0;    // Σ (x − shift)
  double sumSq = 0;  // Σ (x − shift)²
};

// Planes at most this long (ResNet's 7×7 to 16×16) are summed lane-wise across several planes (below).
inline constexpr int64_t kSmallPlane = 256;
// Elements a lane sums in float before a double add, across planes: kFloatPixels of nChw16c's loops.
inline constexpr int64_t kLaneFloatElements = 64;
inline constexpr int64_t kLanes = 16;

// How many small planes a lane's float sums span: each adds ⌈HW/16⌉ elements per plane to a lane.
inline int64_t planesPerLaneGroup(int64_t hw) {
  return std::max<int64_t>(1, kLaneFloatElements / ((hw + kLanes - 1) / kLanes));
}

// f(i0, width, lane0): a small plane of HW elements cut into 16-element chunks (width 16) and a tail, each chunk
// added to lanes [lane0, lane0 + width) of 16 vector lanes.
template <class F>
inline void forEachLaneChunk(int64_t hw, F f) {
  int64_t i = 0;
  for (; i + kLanes <= hw; i += kLanes) f(i, kLanes);
  if (i < hw) f(i, hw - i);
}

// a += Σ lanes of la, b += Σ lanes of lb: one horizontal reduction per lane group, into the double totals.
inline void addLanes(const float* la, const float* lb, double& a, double& b) {
  float sumA = 0, sumB = 0;
#pragma omp simd reduction(+ : sumA, sumB)
  for (int64_t l = 0; l < kLanes; ++l) {
    sumA += la[l];
    sumB += lb[l];
  }
  a += sumA;
  b += sumB;
}

// One channel's shifted sums (shift near the mean keeps E[d²] − E[d]² accurate when |mean| ≫ std); float within
// a plane, double across planes. Batch norm shifts by the channel's first element, SyncBN by a shared pivot.
// Small planes (7×7, 8×8) are summed in 16 float lanes across a group of planes, each lane reaching about as
// many elements as one of a large plane's SIMD lanes, and reduced to double once per group: a horizontal
// reduction per plane cost more than the plane's arithmetic.
inline ShiftedSums channelShiftedSums(const float* x, const ChannelPlanes& p, int64_t c, float shift) {
  ShiftedSums sums;
  if (p.HW <= kSmallPlane) {
    const int64_t group = planesPerLaneGroup(p.HW);
    for (int64_t n0 = 0; n0 < p.N; n0 += group) {
      float s[kLanes] = {}, q[kLanes] = {};
      for (int64_t n = n0; n < std::min(p.N, n0 + group); ++n) {
        const float* plane = x + p.plane(n, c);
        forEachLaneChunk(p.HW, [&](int64_t i0, int64_t width) {
#pragma omp simd
          for (int64_t l = 0; l < width; ++l) {
            const float d = plane[i0 + l] - shift;
            s[l] += d;
            q[l] += d * d;
          }
        });
      }
      addLanes(s, q, sums.sum, sums.sumSq);
    }
    return sums;
  }
  for (int64_t n = 0; n < p.N; ++n) {
    const float* plane = x + p.plane(n, c);
    float planeSum = 0, planeSumSq = 0;
#pragma omp simd reduction(+ : planeSum, planeSumSq)
    for (int64_t i = 0; i < p.HW; ++i) {
      const float d = plane[i] - shift;
      planeSum += d;
      planeSumSq += d * d;
    }
    sums.sum += planeSum;
    sums.sumSq += planeSumSq;
  }
  return sums;
}

struct DySums {
  double dy = 0;          // Σ dy
  double dyCentered = 0;  // Σ dy·(x − mean)
};

// The two sums of a channel's backward pass; float within a plane, double across planes. With Relu, dy is masked
// by the forward output y (dy·[y > 0]).
template <bool Relu = false>
inline DySums channelDySums(const float* x, const float* dy, const ChannelPlanes& p, int64_t c, float mean,
                            const float* y = nullptr) {
  DySums sums;
  if (p.HW <= kSmallPlane) {  // lane-wise across planes, as channelShiftedSums
    const int64_t group = planesPerLaneGroup(p.HW);
    for (int64_t n0 = 0; n0 < p.N; n0 += group) {
      float s[kLanes] = {}, sc[kLanes] = {};
      for (int64_t n = n0; n < std::min(p.N, n0 + group); ++n) {
        const float* xs = x + p.plane(n, c);
        const float* dys = dy + p.plane(n, c);
        const float* ys = Relu ? y + p.plane(n, c) : nullptr;
        forEachLaneChunk(p.HW, [&](int64_t i0, int64_t width) {
#pragma omp simd
          for (int64_t l = 0; l < width; ++l) {
            const float g = gradAt<Relu>(dys, ys, i0 + l);
            s[l] += g;
            sc[l] += g * (xs[i0 + l] - mean);
          }
        });
      }
      addLanes(s, sc, sums.dy, sums.dyCentered);
    }
    return sums;
  }
  for (int64_t n = 0; n < p.N; ++n) {
    const float* xs = x + p.plane(n, c);
    const float* dys = dy + p.plane(n, c);
    const float* ys = Relu ? y + p.plane(n, c) : nullptr;
    float planeDy = 0, planeDyCentered = 0;
#pragma omp simd reduction(+ : planeDy, planeDyCentered)
    for (int64_t i = 0; i < p.HW; ++i) {
      const float g = gradAt<Relu>(dys, ys, i);
      planeDy += g;
      planeDyCentered += g * (xs[i] - mean);
    }
    sums.dy += planeDy;
    sums.dyCentered += planeDyCentered;
  }
  return sums;
}

// dx = a·dy + b·x + k over one channel's planes (the backward pass folded into one affine map); dy masked by y
// when Relu.
template <bool Relu = false>
inline void affineBackwardChannel(const float* x, const float* dy, float* dx, const ChannelPlanes& p, int64_t c, float a,
                                  float b, float k, const float* y = nullptr) {
  for (int64_t n = 0; n < p.N; ++n) {
    const float* xs = x + p.plane(n, c);
    const float* dys = dy + p.plane(n, c);
    const float* ys = Relu ? y + p.plane(n, c) : nullptr;
    float* dxs = dx + p.plane(n, c);
#pragma omp simd
    for (int64_t i = 0; i < p.HW; ++i) dxs[i] = a * gradAt<Relu>(dys, ys, i) + b * xs[i] + k;
  }
}

// --- Blocked (nChw16c) ------------------------------------------------------------------------------------------
// The same loops over a block of 16 channels at once: a block's data for image n is one run of HW pixels of
// 16 channels each, so the 16 per-channel sums are one vector and every load a full one.

// x (N, C, H, W) in nChw16c viewed as N runs per channel block: block b of image n starts at (n·C/16 + b)·HW·16.
struct BlockRuns {
  int64_t N = 0, blocks = 0, HW = 0;
  int64_t count() const { return N * HW; }  // elements per channel
  int64_t run(int64_t n, int64_t b) const { return (n * blocks + b) * HW * kBlockChannels; }
};

inline BlockRuns blockRunsOf(const Shape& x) { return {x[0], x[1] / kBlockChannels, x[2] * x[3]}; }

// Pixels summed in float before a double add: short enough that float rounding stays near the plain path's
// (which sums a plane in several SIMD lanes), long enough that the double adds cost nothing.
inline constexpr int64_t kFloatPixels = 64;

// The 16 channels' Σ(x − pivot) and Σ(x − pivot)² over images [n0, n1) of block b, added to sum and sumSq.
// Two accumulators (even and odd pixels) hide the add latency when the run is in cache.
inline void blockMomentSums(const float* x, const BlockRuns& r, int64_t b, int64_t n0, int64_t n1,
                            const float* pivot, double* sum, double* sumSq) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* run = x + r.run(n, b);
    for (int64_t i0 = 0; i0 < r.HW; i0 += kFloatPixels) {
      const int64_t i1 = std::min(r.HW, i0 + kFloatPixels);
      float s0[kBlockChannels] = {}, q0[kBlockChannels] = {}, s1[kBlockChannels] = {}, q1[kBlockChannels] = {};
      int64_t i = i0;
      for (; i + 1 < i1; i += 2) {
        const float* px = run + i * kBlockChannels;
#pragma omp simd
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          const float d0 = px[l] - pivot[l], d1 = px[kBlockChannels + l] - pivot[l];
          s0[l] += d0;
          q0[l] += d0 * d0;
          s1[l] += d1;
          q1[l] += d1 * d1;
        }
      }
      if (i < i1) {
        const float* px = run + i * kBlockChannels;
#pragma omp simd
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          const float d = px[l] - pivot[l];
          s0[l] += d;
          q0[l] += d * d;
        }
      }
#pragma omp simd
      for (int64_t l = 0; l < kBlockChannels; ++l) {
        sum[l] += static_cast<double>(s0[l] + s1[l]);
        sumSq[l] += static_cast<double>(q0[l] + q1[l]);
      }
    }
  }
}

// y = x·scale + shift per channel over images [n0, n1) of block b. Last image first (here and in
// affineBackwardBlock): the sums pass has just read the runs in ascending order, so the last ones are the ones
// still in cache when a block's runs outgrow it. max(0, ·) when Relu.
template <bool Relu = false>
inline void scaleShiftBlock(const float* x, float* y, const BlockRuns& r, int64_t b, int64_t n0, int64_t n1,
                            const float* scale, const float* shift) {
  for (int64_t n = n1 - 1; n >= n0; --n) {
    const float* in = x + r.run(n, b);
    float* out = y + r.run(n, b);
    for (int64_t i = 0; i < r.HW; ++i) {
      if constexpr (Relu) {
#pragma omp simd
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          out[i * kBlockChannels + l] = reluOf(in[i * kBlockChannels + l] * scale[l] + shift[l]);
        }
      } else {
#pragma omp simd
        for (int64_t l = 0; l < kBlockChannels; ++l) out[i * kBlockChannels + l] = in[i * kBlockChannels + l] * scale[l] + shift[l];
      }
    }
  }
}

// The backward pass's Σdy and Σdy·(x − mean) per channel over images [n0, n1) of block b, added to the sums;
// dy masked by y when Relu.
template <bool Relu = false>
inline void blockDySums(const float* x, const float* dy, const BlockRuns& r, int64_t b, int64_t n0, int64_t n1,
                        const float* mean, double* sumDy, double* sumDyCentered, const float* y = nullptr) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* xs = x + r.run(n, b);
    const float* dys = dy + r.run(n, b);
    const float* ys = Relu ? y + r.run(n, b) : nullptr;
    for (int64_t i0 = 0; i0 < r.HW; i0 += kFloatPixels) {
      const int64_t i1 = std::min(r.HW, i0 + kFloatPixels);
      float s0[kBlockChannels] = {}, c0[kBlockChannels] = {}, s1[kBlockChannels] = {}, c1[kBlockChannels] = {};
      int64_t i = i0;
      for (; i + 1 < i1; i += 2) {
        const float* px = xs + i * kBlockChannels;
        const float* pd = dys + i * kBlockChannels;
        const float* py = Relu ? ys + i * kBlockChannels : nullptr;
#pragma omp simd
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          const float g0 = gradAt<Relu>(pd, py, l), g1 = gradAt<Relu>(pd, py, kBlockChannels + l);
          s0[l] += g0;
          c0[l] += g0 * (px[l] - mean[l]);
          s1[l] += g1;
          c1[l] += g1 * (px[kBlockChannels + l] - mean[l]);
        }
      }
      if (i < i1) {
        const float* px = xs + i * kBlockChannels;
        const float* pd = dys + i * kBlockChannels;
        const float* py = Relu ? ys + i * kBlockChannels : nullptr;
#pragma omp simd
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          const float g = gradAt<Relu>(pd, py, l);
          s0[l] += g;
          c0[l] += g * (px[l] - mean[l]);
        }
      }
#pragma omp simd
      for (int64_t l = 0; l < kBlockChannels; ++l) {
        sumDy[l] += static_cast<double>(s0[l] + s1[l]);
        sumDyCentered[l] += static_cast<double>(c0[l] + c1[l]);
      }
    }
  }
}

// dx = a·dy + b·x + k per channel over images [n0, n1) of block b, last image first; dy masked by y when Relu.
template <bool Relu = false>
inline void affineBackwardBlock(const float* x, const float* dy, float* dx, const BlockRuns& r, int64_t b, int64_t n0,
                                int64_t n1, const float* fa, const float* fb, const float* k, const float* y = nullptr) {
  for (int64_t n = n1 - 1; n >= n0; --n) {
    const float* xs = x + r.run(n, b);
    const float* dys = dy + r.run(n, b);
    const float* ys = Relu ? y + r.run(n, b) : nullptr;
    float* dxs = dx + r.run(n, b);
    for (int64_t i = 0; i < r.HW; ++i) {
      const float* pd = dys + i * kBlockChannels;
      const float* py = Relu ? ys + i * kBlockChannels : nullptr;
#pragma omp simd
      for (int64_t l = 0; l < kBlockChannels; ++l) {
        dxs[i * kBlockChannels + l] = fa[l] * gradAt<Relu>(pd, py, l) + fb[l] * xs[i * kBlockChannels + l] + k[l];
      }
    }
  }
}

// Bytes of a block's runs that one thread's cache keeps between the sums and the rewrite (half a 2 MiB L2, leaving
// room for the rewrite's output).
inline constexpr int64_t kBlockCacheBytes = int64_t{1} << 20;

// A two-pass block kernel: sums(b, n0, n1, s0, s1) adds block b's two 16-channel sums over images [n0, n1) to
// s0 and s1; finish(b, s0, s1) turns the block's totals into its results; apply(b, n0, n1) then rewrites those
// images, reading `rereadOperands` images (x, dy) again. Whole blocks per thread when a block's reread runs fit
// its cache and the blocks share out evenly or are many: the three then run back to back per block, without a
// barrier. Otherwise (one block of 16 channels on two threads, or 56×56 planes, whose block outgrows the cache)
// the threads take the blocks one after the other, each summing and then rewriting its slice of the images,
// so the rewrite finds its slice in its own cache. Slices' sums are combined in slice order, so results do not
// depend on scheduling.
template <class Sums, class Finish, class Apply>
void forEachBlockTwoPass(const BlockRuns& r, int64_t rereadOperands, Sums sums, Finish finish, Apply apply) {
  const int64_t threads = omp_get_max_threads();
  const int64_t rereadBytes = rereadOperands * r.count() * kBlockChannels * static_cast<int64_t>(sizeof(float));
  if (rereadBytes <= kBlockCacheBytes && (r.blocks % threads == 0 || r.blocks >= 4 * threads)) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < r.blocks; ++b) {
      double s0[kBlockChannels] = {}, s1[kBlockChannels] = {};
      sums(b, 0, r.N, s0, s1);
      finish(b, s0, s1);
      apply(b, 0, r.N);
    }
    return;
  }
  const int64_t slices = std::min(r.N, threads);
  std::vector<double> partial(static_cast<size_t>(slices * 2 * kBlockChannels));
#pragma omp parallel
  for (int64_t b = 0; b < r.blocks; ++b) {
#pragma omp for schedule(static)
    for (int64_t slice = 0; slice < slices; ++slice) {
      double* s = partial.data() + slice * 2 * kBlockChannels;
      std::fill(s, s + 2 * kBlockChannels, 0.0);
      sums(b, r.N * slice / slices, r.N * (slice + 1) / slices, s, s + kBlockChannels);
    }
#pragma omp single
    {
      double s0[kBlockChannels] = {}, s1[kBlockChannels] = {};
      for (int64_t slice = 0; slice < slices; ++slice) {
        const double* s = partial.data() + slice * 2 * kBlockChannels;
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          s0[l] += s[l];
          s1[l] += s[kBlockChannels + l];
        }
      }
      finish(b, s0, s1);
    }
    // the same static split as the sums loop: each thread rewrites the slice it just read
#pragma omp for schedule(static) nowait
    for (int64_t slice = 0; slice < slices; ++slice) apply(b, r.N * slice / slices, r.N * (slice + 1) / slices);
  }
}

// A one-pass block kernel: apply(b, n0, n1) over every (block, image) pair in parallel.
template <class Apply>
void forEachBlockRun(const BlockRuns& r, Apply apply) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < r.N; ++n) {
    for (int64_t b = 0; b < r.blocks; ++b) apply(b, n, n + 1);
  }
}

}  // namespace rn::cpu
