// AVX-512 Winograd F(2x2, 3x3) convolution, 16 → 16 channels, stride 1, padding 1, on [n][h][w][16] activations:
// 16 multiplies per 2x2 output tile per channel pair instead of direct convolution's 36 (conv16.cc), which
// already runs at the core's FMA limit. The transforms only use 0, ±1 and ±½, so float32 results stay within
// ~1e-6 relative of direct convolution's (unlike F(4x4, 3x3), whose ~1e-4 the setting cpu_conv=direct avoids).
//
// Threads take chunks of tile rows (n, output rows 2t and 2t + 1). Each keeps the four input rows a tile row
// reads (2t - 1 .. 2t + 2) as zero-padded copies in a ring of four keyed by global row, so consecutive tile rows
// copy two new input rows each. A tile row is cut into near-equal blocks of at most 8 tiles; a block
//   1. transforms each tile's 4x4 input (Bᵀ d B, adds of 16-channel vectors) into V[ξ][tile][c], 16 positions ξ;
//   2. for each ξ, M_ξ[tile][k] = Σ_c V_ξ[tile][c] · U_ξ[c][k]: one zmm accumulator per tile (16 output
//      channels), per input channel one weight vector load and one FMA per tile with V broadcast from memory;
//      M_ξ overwrites V_ξ in place (V_ξ is dead once read), so the block's buffer is 8 KB;
//   3. transforms M back (Aᵀ M A, adds) to the tile's 2x2 outputs, adds the bias and stores the valid ones.
// Measured (profile, one thread, a batch that stays in cache): the multiply takes 0.46 of the direct kernel's time
// (the FMA limit), the transforms and the round trips through the block buffer another ~0.3, so effective GFLOP/s
// are ~1.3x direct's (numbers in conv2d.cc) rather than 2.25x.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "conv16.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace rn::cpu {

void wino16TransformWeights(const float* packed, float* u) {
  // G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]]; U = G g Gᵀ per (input, output) channel pair, in double
  // (exact: every term is a sum of at most 9 weights times powers of ½) and rounded once.
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  for (int i = 0; i < 16; ++i) {
    for (int o = 0; o < 16; ++o) {
      double g[3][3];
      for (int r = 0; r < 3; ++r) {
        for (int s = 0; s < 3; ++s) g[r][s] = packed[((r * 3 + s) * 16 + i) * 16 + o];
      }
      for (int a = 0; a < 4; ++a) {
        for (int b = 0; b < 4; ++b) {
          double v = 0;
          for (int r = 0; r < 3; ++r) {
            for (int s = 0; s < 3; ++s) v += G[a][r] * g[r][s] * G[b][s];
          }
          u[((a * 4 + b) * 16 + i) * 16 + o] = static_cast<float>(v);
        }
      }
    }
  }
}

#if defined(__AVX512F__)

namespace {

// Tiles per block: 8 accumulators (the FMA latency times the two FMA ports) and an 8 KB block buffer. Against 16
// (16 KB, which with the 16 KB of weights, the padded rows and the prefetched lines overflowed the 48 KB L1),
// ratio to direct at [128, 16, 32, 32] on one thread 1.13-1.20 → 1.13-1.28, at a batch of 2 (in cache) 1.25-1.31
// → 1.37-1.44. Computing each input column's row transform once for adjacent tiles (kept in registers) measured
// the same, so the simpler per-tile transform stays.
constexpr int kTiles = 8;  // tiles per block: 16 accumulators of the 32 zmm registers

// Bᵀ d B for one tile: rows[r] points at padded input row r of the tile row at the tile's first column;
// writes the 16 transformed vectors to v[ξ · stride].
inline void inputTransform(const float* const* rows, float* v, int stride) {
  __m512 t[4][4];
  {
    __m512 d[4][4];
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) d[r][c] = _mm512_loadu_ps(rows[r] + c * 16);
    }
    // Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]] on the rows
    for (int c = 0; c < 4; ++c) {
      t[0][c] = _mm512_sub_ps(d[0][c], d[2][c]);
      t[1][c] = _mm512_add_ps(d[1][c], d[2][c]);
      t[2][c] = _mm512_sub_ps(d[2][c], d[1][c]);
      t[3][c] = _mm512_sub_ps(d[1][c], d[3][c]);
    }
  }
  // … and B on the columns
  for (int r = 0; r < 4; ++r) {
    _mm512_storeu_ps(v + (r * 4 + 0) * stride, _mm512_sub_ps(t[r][0], t[r][2]));
    _mm512_storeu_ps(v + (r * 4 + 1) * stride, _mm512_add_ps(t[r][1], t[r][2]));
    _mm512_storeu_ps(v + (r * 4 + 2) * stride, _mm512_sub_ps(t[r][2], t[r][1]));
    _mm512_storeu_ps(v + (r * 4 + 3) * stride, _mm512_sub_ps(t[r][1], t[r][3]));
  }
}

// M_ξ = V_ξ U_ξ for PB tiles, in place: vm holds V[ξ][tile][c] (ξ-stride PB · 16) and receives M[ξ][tile][k].
template <int PB>
void multiply(float* vm, const float* u) {
  for (int xi = 0; xi < 16; ++xi) {
    float* v = vm + xi * PB * 16;
    const float* uk = u + xi * 256;
    __m512 acc[PB];
#pragma GCC unroll 16
    for (int p = 0; p < PB; ++p) acc[p] = _mm512_setzero_ps();
    multiplyPixels16<PB>(acc, v, uk);
#pragma GCC unroll 16
    for (int p = 0; p < PB; ++p) _mm512_storeu_ps(v + p * 16, acc[p]);
  }
}

using MultiplyFn = void (*)(float*, const float*);

template <int... P>
constexpr std::array<MultiplyFn, sizeof...(P) + 1> multiplyTable(std::integer_sequence<int, P...>) {
  return {nullptr, &multiply<P + 1>...};
}

// Aᵀ M A for one tile (m[ξ · stride]), + bias; stores the outputs inside the image (rows `rows`, columns `cols`,
// each 1 or 2) at out (row pitch `pitch` floats).
inline void outputTransform(const float* m, int stride, __m512 bias, float* out, int64_t pitch, int rows, int cols) {
  // Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]] on the columns first …
  __m512 t[4][2];
  for (int r = 0; r < 4; ++r) {
    const __m512 m0 = _mm512_loadu_ps(m + (r * 4 + 0) * stride), m1 = _mm512_loadu_ps(m + (r * 4 + 1) * stride);
    const __m512 m2 = _mm512_loadu_ps(m + (r * 4 + 2) * stride), m3 = _mm512_loadu_ps(m + (r * 4 + 3) * stride);
    t[r][0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
    t[r][1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
  }
  // … then the rows.
  for (int c = 0; c < 2; ++c) {
    const __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(t[0][c], t[1][c]), t[2][c]), bias);
    if (c < cols) _mm512_storeu_ps(out + c * 16, y0);
    if (rows > 1 && c < cols) {
      const __m512 y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(t[1][c], t[2][c]), t[3][c]), bias);
      _mm512_storeu_ps(out + pitch + c * 16, y1);
    }
  }
}

}  // namespace

void wino16Run(const float* in, const float* u, const float* bias, float* out, int64_t n, int64_t h, int64_t w) {
  static constexpr auto kMultiply = multiplyTable(std::make_integer_sequence<int, kTiles>());
  const int64_t tilesW = (w + 1) / 2, tilesH = (h + 1) / 2;
  const int64_t padded = 2 * tilesW + 2;  // pixels per padded row
  const int64_t tileRows = n * tilesH;
  // Near-equal blocks: 17 tiles run 6 + 6 + 5 rather than 8 + 8 + 1.
  const int64_t blocks = (tilesW + kTiles - 1) / kTiles;
  const int64_t base = tilesW / blocks, extra = tilesW % blocks;
  const int threads = omp_get_max_threads();
  const size_t perThread = static_cast<size_t>(4 * padded * 16 + 16 * kTiles * 16);
  // 64-byte aligned, so no vector load or store splits across two cache lines: at [128, 16, 32, 32] on one thread
  // the ratio to direct went 0.95-1.06 → 1.16-1.18 (std::vector's memory is only 16-byte aligned).
  std::vector<float> storage(static_cast<size_t>(threads) * perThread + padded * 16 + 16, 0.0f);
  float* const buffers =
      reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) & ~uintptr_t{63});
  const float* zero = buffers + static_cast<size_t>(threads) * perThread;
  const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  // Chunks of tile rows handed out as threads come free (as conv16Run does, for the same reason: another process
  // on the cores), up to an image, at least 8 per thread.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(tilesH, tileRows / (8 * threads)));
#pragma omp parallel
  {
    float* ring = buffers + static_cast<size_t>(omp_get_thread_num()) * perThread;
    float* vm = ring + 4 * padded * 16;
    // Four rows (2 · tiles + 2 pixels: column -1, the image, zeros to the last tile's right edge); rows outside
    // the image read a zero row.
    PaddedRowRing<4> paddedRows(ring, zero, in, h, w, padded);
#pragma omp for schedule(dynamic, chunk) nowait
    for (int64_t o = 0; o < tileRows; ++o) {
      const int64_t image = o / tilesH, t = o % tilesH;
      const float* rows[4];
      for (int r = 0; r < 4; ++r) rows[r] = paddedRows.row(image, 2 * t + r - 1);
      const int outRows = static_cast<int>(std::min<int64_t>(2, h - 2 * t));
      float* dst = out + ((image * h) + 2 * t) * w * 16;
      int64_t j0 = 0;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int pb = static_cast<int>(base + (blk < extra ? 1 : 0));
        for (int p = 0; p < pb; ++p) {
          const int64_t col = 2 * (j0 + p) * 16;
          const float* at[4] = {rows[0] + col, rows[1] + col, rows[2] + col, rows[3] + col};
          inputTransform(at, vm + p * 16, pb * 16);
        }
        kMultiply[pb](vm, u);
        for (int p = 0; p < pb; ++p) {
          const int64_t x = 2 * (j0 + p);
          if (2 * t + 3 < h) {
            // The next tile row's output lines (for writing) and new input rows, a tile at a time: without them
            // the stores stalled on the 8 MB output at [128, 16, 32, 32] (one thread 86 → 130 GFLOP/s).
            const int64_t last = std::min<int64_t>(2, w - x) * 16 - 16;
            for (int r = 2; r < 4; ++r) {
              const float* o = dst + r * w * 16 + x * 16;
              _mm_prefetch(reinterpret_cast<const char*>(o), _MM_HINT_ET0);
              _mm_prefetch(reinterpret_cast<const char*>(o + last), _MM_HINT_ET0);
              if (2 * t + r + 1 < h) {
                const float* i = in + ((image * h) + 2 * t + r + 1) * w * 16 + x * 16;
                _mm_prefetch(reinterpret_cast<const char*>(i), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(i + last), _MM_HINT_T0);
              }
            }
          }
          const int cols = static_cast<int>(std::min<int64_t>(2, w - x));
          outputTransform(vm + p * 16, pb * 16, b, dst + x * 16, w * 16, outRows, cols);
        }
        j0 += pb;
      }
    }
  }
}

#else

void wino16Run(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t) {}

#endif

}  // namespace rn::cpu
