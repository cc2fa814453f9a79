// AVX-512 direct 3x3 convolution, 16 → 16 channels, stride 1, padding 1, on [n][h][w][16] activations.
//
// Threads take chunks of consecutive output rows (n, h). Each keeps the three input rows a row reads as
// zero-padded copies (W + 2 pixels) in a ring of three (PaddedRowRing, conv16.h), so consecutive rows copy one new input row each, and
// the padding needs no branches in the inner loop; rows outside the image are skipped (their taps add zero).
// A row is cut into near-equal blocks of at most 16 pixels; a block holds its 16 pixels × 16 output channels in
// 16 zmm accumulators and, for each of the 9 taps × 16 input channels, loads one weight vector (16 output
// channels) and does one FMA per pixel with the input value broadcast from memory. Loads are not what limits it:
// broadcasting each input value once for its three horizontal taps (3 weight vectors, a third of the loads)
// measured the same.
#include "conv16.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace rn::cpu {

void conv16PackWeights(const float* w, bool backwardData, float* packed) {
  for (int r = 0; r < 3; ++r) {
    for (int s = 0; s < 3; ++s) {
      for (int i = 0; i < 16; ++i) {
        for (int o = 0; o < 16; ++o) {
          // Forward: input channel c = i, output k = o, w[k][c][r][s]. Backward data: input channel k = i
          // (of dy), output c = o (of dx), w[k][c][2-r][2-s].
          const float v = backwardData ? w[((i * 16 + o) * 3 + (2 - r)) * 3 + (2 - s)] : w[((o * 16 + i) * 3 + r) * 3 + s];
          packed[((r * 3 + s) * 16 + i) * 16 + o] = v;
        }
      }
    }
  }
}

#if defined(__AVX512F__)

bool conv16Available() { return true; }

namespace {

constexpr int kBlock = 16;  // pixels per block: 16 accumulators of the 32 zmm registers

// PB output pixels; rows[r] points at the padded input row h + r - 1 at this block's first output pixel (its
// left neighbour, padded column w0), or is null outside the image.
template <int PB>
void block(const float* const* rows, const float* packed, const float* bias, float* out) {
  __m512 acc[PB];
  const __m512 init = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int p = 0; p < PB; ++p) acc[p] = init;
  for (int r = 0; r < 3; ++r) {
    const float* row = rows[r];
    if (!row) continue;
    for (int s = 0; s < 3; ++s) multiplyPixels16<PB>(acc, row + s * 16, packed + (r * 3 + s) * 256);
  }
#pragma GCC unroll 16
  for (int p = 0; p < PB; ++p) _mm512_storeu_ps(out + p * 16, acc[p]);
}

using BlockFn = void (*)(const float* const*, const float*, const float*, float*);

template <int... P>
constexpr std::array<BlockFn, sizeof...(P) + 1> blockTable(std::integer_sequence<int, P...>) {
  return {nullptr, &block<P + 1>...};
}

}  // namespace

void conv16Run(const float* in, const float* packed, const float* bias, float* out, int64_t n, int64_t h, int64_t w) {
  static constexpr auto kBlocks = blockTable(std::make_integer_sequence<int, kBlock>());
  const int64_t rowFloats = (w + 2) * 16;
  const int64_t rows = n * h;
  // Near-equal blocks: W = 33 runs 11 + 11 + 11 rather than 16 + 16 + 1.
  const int64_t blocks = (w + kBlock - 1) / kBlock;
  const int64_t base = w / blocks, extra = w % blocks;
  std::vector<float> buffers(static_cast<size_t>(omp_get_max_threads()) * 3 * rowFloats, 0.0f);
  // Chunks of rows handed out as threads come free: up to an image (consecutive rows reuse two of their three
  // input rows), at least 8 per thread. With another process on the cores a static split waits for the slowest
  // thread: measured here with one competing 2-thread process, dynamic 49 against static 38 GFLOP/s.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(h, rows / (8 * omp_get_max_threads())));
#pragma omp parallel
  {
    float* ring = buffers.data() + static_cast<size_t>(omp_get_thread_num()) * 3 * rowFloats;
    PaddedRowRing<3> padded(ring, nullptr, in, h, w, w + 2);  // rows outside the image are skipped (null)
    auto row = [&](int64_t o) {
      const int64_t image = o / h, y = o % h;
      const float* rowPtr[3] = {padded.row(image, y - 1), padded.row(image, y), padded.row(image, y + 1)};
      if (o % h + 2 < h) {
        // The input row the next output row copies in: at [128, 16, 32, 32] the batch (8 MB in, 8 MB out) is
        // past L2, and this measured 72 → 76 GFLOP/s on one thread (neutral on a batch that stays in cache).
        const char* next = reinterpret_cast<const char*>(in + (o + 2) * w * 16);
        for (int64_t b = 0; b < w * 64; b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
      }
      float* dst = out + o * w * 16;
      int64_t x0 = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        const int pb = static_cast<int>(base + (b < extra ? 1 : 0));
        const float* at[3];
        for (int r = 0; r < 3; ++r) at[r] = rowPtr[r] ? rowPtr[r] + x0 * 16 : nullptr;
        kBlocks[pb](at, packed, bias, dst + x0 * 16);
        x0 += pb;
      }
    };
#pragma omp for schedule(dynamic, chunk) nowait
    for (int64_t o = 0; o < rows; ++o) row(o);
  }
}

#else

bool conv16Available() { return false; }

void conv16Run(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t) {}

#endif

}  // namespace rn::cpu
