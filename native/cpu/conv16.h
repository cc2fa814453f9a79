// Hand-written AVX-512 direct convolution for 16 → 16 channels, 3x3, stride 1, padding 1, on blocked (nChw16c =
// nhwc at 16 channels) activations: the first stage of CIFAR ResNets, a third of their convolution work, where
// oneDNN 2.6's kernels are weak. native/cpu/conv2d.cc uses it for forward and backward data when both
// activations are blocked (the measured numbers are there); otherwise (or built without AVX-512) oneDNN runs.
#pragma once

#include <cstdint>

namespace rn::cpu {

// Whether this build has the kernel (compiled with AVX-512F).
bool conv16Available();

// Weights OIHW [16][16][3][3] repacked to what conv16Run reads: [kh][kw][input channel][output channel].
// `backwardData`: flipped in space and transposed in channels (W'[c,k,kh,kw] = W[k,c,2-kh,2-kw]), so that
// conv16Run computes dx from dy.
void conv16PackWeights(const float* w, bool backwardData, float* packed);

// out[n,h,w,:] = Σ_{kh,kw,c} in[n,h+kh-1,w+kw-1,c] · packed[kh][kw][c][:] (+ bias), zero outside the image;
// in and out are [n][h][w][16]. Parallel over output rows on the caller's OpenMP threads.
void conv16Run(const float* in, const float* packed, const float* bias, float* out, int64_t n, int64_t h, int64_t w);

}  // namespace rn::cpu
