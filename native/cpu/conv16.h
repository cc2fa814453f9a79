// Hand-written AVX-512 direct convolution for 16 → 16 channels, 3x3, stride 1, padding 1, on blocked (nChw16c =
// nhwc at 16 channels) activations: the first stage of CIFAR ResNets, a third of their convolution work, where
// oneDNN 2.6's kernels are weak. native/cpu/conv2d.cc uses it for forward and backward data when both
// activations are blocked and setting cpu_conv is "direct"; by default the Winograd F(2x2, 3x3) version below
// (wino16.cc), ~1.3x faster, runs there (the measured numbers are in conv2d.cc); otherwise (or built without
// AVX-512) oneDNN runs.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace rn::cpu {

#if defined(__AVX512F__)
// The 16-channel multiply both kernels are made of: acc[p] += Σ_c x[p·16 + c] · w[c·16 … c·16 + 15] for PB
// pixels (x: 16 floats a pixel; w: 16 × 16, input channel major). PB accumulators stay in zmm registers.
template <int PB>
inline void multiplyPixels16(__m512* acc, const float* x, const float* w) {
#pragma GCC unroll 2
  for (int c = 0; c < 16; ++c) {
    const __m512 wv = _mm512_loadu_ps(w + c * 16);
#pragma GCC unroll 16
    for (int p = 0; p < PB; ++p) acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(x[p * 16 + c]), wv, acc[p]);
  }
}
#endif

// One thread's ring of Depth zero-padded input rows of [n][h][w][16] data (`pitch` pixels each: column -1, the
// row, then zeros), keyed by global row (image · H + row): consecutive output rows copy one new input row each.
// The padding columns are zeroed once by the owner; copies write columns 0..W-1 only.
template <int Depth>
class PaddedRowRing {
 public:
  // `outside` is what rows above and below the image read (null, or a zero row).
  PaddedRowRing(float* ring, const float* outside, const float* in, int64_t h, int64_t w, int64_t pitch)
      : ring_(ring), outside_(outside), in_(in), h_(h), w_(w), pitch_(pitch) {
    for (int64_t& g : held_) g = -1;
  }

  // Padded input row `iy` of `image` (at its column -1).
  const float* row(int64_t image, int64_t iy) {
    if (iy < 0 || iy >= h_) return outside_;
    const int64_t g = image * h_ + iy;
    float* slot = ring_ + (g % Depth) * pitch_ * 16;
    if (held_[g % Depth] != g) {
      std::memcpy(slot + 16, in_ + g * w_ * 16, sizeof(float) * w_ * 16);
      held_[g % Depth] = g;
    }
    return slot;
  }

 private:
  float* ring_;
  const float* outside_;
  const float* in_;
  int64_t h_, w_, pitch_;
  int64_t held_[Depth];
};

// Whether this build has the kernel (compiled with AVX-512F).
bool conv16Available();

// Weights OIHW [16][16][3][3] repacked to what conv16Run reads: [kh][kw][input channel][output channel].
// `backwardData`: flipped in space and transposed in channels (W'[c,k,kh,kw] = W[k,c,2-kh,2-kw]), so that
// conv16Run computes dx from dy.
void conv16PackWeights(const float* w, bool backwardData, float* packed);

// out[n,h,w,:] = Σ_{kh,kw,c} in[n,h+kh-1,w+kw-1,c] · packed[kh][kw][c][:] (+ bias), zero outside the image;
// in and out are [n][h][w][16]. Parallel over output rows on the caller's OpenMP threads.
void conv16Run(const float* in, const float* packed, const float* bias, float* out, int64_t n, int64_t h, int64_t w);

// Winograd F(2x2, 3x3) (wino16.cc): conv16Run's result from 2.25x fewer multiplies. The weights conv16PackWeights
// packed, transformed to U[ξ = 4a + b][input channel][output channel] = (G g Gᵀ)[a][b] (16 · 256 floats).
void wino16TransformWeights(const float* packed, float* u);

// What conv16Run computes, from wino16TransformWeights' weights; needs conv16Available().
void wino16Run(const float* in, const float* u, const float* bias, float* out, int64_t n, int64_t h, int64_t w);

}  // namespace rn::cpu
