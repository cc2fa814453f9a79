// Torch's bicubic scale over a crop window, its map into DCT-scaled images, and crops written as floats or bytes.
#include "crop_resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rn::image {
namespace {

// Catmull-Rom (Torch's a = −0.5) weights at fraction t of the way from sample i to i + 1.
void catmullRom(double t, double w[4]) {
  w[0] = t * (-0.5 + t * (1 - 0.5 * t));
  w[1] = 1 + t * t * (-2.5 + 1.5 * t);
  w[2] = t * (0.5 + t * (2 - 1.5 * t));
  w[3] = t * t * (-0.5 + 0.5 * t);
}

void setTap(Taps& taps, int k, const int index[4], const double weight[4]) {
  for (int q = 0; q < 4; ++q) {
    taps.index[4 * k + q] = index[q];
    taps.weight[4 * k + q] = static_cast<float>(weight[q]);
  }
}

inline uint8_t toByte(float v) {
  // Bicubic overshoot clamped, then rounded half up (as Math.round on 0..255).
  return v <= 0.f ? 0 : v >= 255.f ? 255 : static_cast<uint8_t>(v + 0.5f);
}

}  // namespace

Taps torchTaps(const AxisPlan& axis) {
  const int length = axis.length;
  const int size = axis.size;
  Taps taps;
  taps.index.assign(4 * axis.count, 0);
  taps.weight.assign(4 * axis.count, 0.f);
  const float scale = static_cast<float>(size == 1 ? length - 1.0 : (length - 1.0) / (size - 1.0));
  for (int k = 0; k < axis.count; ++k) {
    const int d = axis.first + k;
    if (size == length || d == size - 1 || length == 1) {
      const int source = axis.start + (size == length ? d : length - 1);
      const int index[4] = {source, source, source, source};
      const double weight[4] = {0, 1, 0, 0};
      setTap(taps, k, index, weight);
      continue;
    }
    const float position = static_cast<float>(d) * scale;
    const int i = static_cast<int>(std::floor(position));
    const float t = position - static_cast<float>(i);
    double w[4];
    catmullRom(t, w);
    int index[4] = {i - 1, i, i + 1, i + 2};
    if (i == 0) {  // p0 = 2·p1 − p2
      w[1] += 2 * w[0];
      w[2] -= w[0];
      w[0] = 0;
      index[0] = i;
    }
    if (i + 2 >= length) {  // p3 = 2·p2 − p1
      w[2] += 2 * w[3];
      w[1] -= w[3];
      w[3] = 0;
      index[3] = i + 1;
    }
    for (int& v : index) v += axis.start;
    setTap(taps, k, index, w);
  }
  return taps;
}

Taps scaledTaps(const AxisPlan& axis, int scaleNum, int scaledLength) {
  const double k = scaleNum / 8.0;
  const double step = axis.size == 1 ? 0.0 : (axis.length - 1.0) / (axis.size - 1.0);
  Taps taps;
  taps.index.assign(4 * axis.count, 0);
  taps.weight.assign(4 * axis.count, 0.f);
  for (int n = 0; n < axis.count; ++n) {
    const int d = axis.first + n;
    // Torch's sample position in source pixels: copies when the sizes agree, the last sample for the last output.
    const double source = axis.start + (axis.size == axis.length ? d : d == axis.size - 1 ? axis.length - 1.0 : d * step);
    const double u = (source + 0.5) * k - 0.5;
    const double i = std::floor(u);
    double w[4];
    catmullRom(u - i, w);
    int index[4];
    for (int q = 0; q < 4; ++q) index[q] = std::clamp(static_cast<int>(i) - 1 + q, 0, scaledLength - 1);
    setTap(taps, n, index, w);
  }
  return taps;
}

void tapSpan(const Taps& taps, int& lo, int& hi) {
  lo = *std::min_element(taps.index.begin(), taps.index.end());
  hi = *std::max_element(taps.index.begin(), taps.index.end());
}

void colourOffset(const ColourMap& colour, const double mean[3], double offset[3]) {
  for (int r = 0; r < 3; ++r) {
    offset[r] = colour.offset[r];
    for (int c = 0; c < 3; ++c) offset[r] += colour.perMean[r * 3 + c] * (mean[c] / 255.0);
  }
}

namespace {

// Taps as runs of four consecutive samples from start[i] (region columns): no output reads a wider span.
void runs(const Taps& taps, int origin, std::vector<int>& start, std::vector<float>& weight) {
  const int n = taps.count();
  start.resize(n);
  weight.assign(4 * static_cast<size_t>(n), 0.f);
  for (int i = 0; i < n; ++i) {
    const int* index = &taps.index[4 * i];
    const int lo = *std::min_element(index, index + 4);
    start[i] = lo - origin;
    for (int q = 0; q < 4; ++q) weight[4 * i + (index[q] - lo)] += taps.weight[4 * i + q];
  }
}

// Four floats from p (r, g, b and the next pixel's r, which no result uses).
inline Rgbx load(const float* p) {
  Rgbx v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void resample(const Region& region, const Taps& xTaps, const Taps& yTaps, Window& window, double mean[3]) {
  thread_local std::vector<float> column;  // one row of the column pass: (region width, 3), then zero padding
  thread_local std::vector<int> xStart;
  thread_local std::vector<float> xWeight;
  runs(xTaps, region.originX, xStart, xWeight);
  const int values = region.width * 3;
  // Runs may reach three samples past the region (zero weights), and load() one float more: padding, finite.
  column.resize(static_cast<size_t>(values) + 16);
  std::fill(column.begin() + values, column.end(), 0.f);
  window.width = xTaps.count();
  window.height = yTaps.count();
  window.pixels.resize(static_cast<size_t>(window.width) * window.height);
  double sum[3] = {0, 0, 0};
  for (int k = 0; k < window.height; ++k) {
    const int* rows = &yTaps.index[4 * k];
    const float* wy = &yTaps.weight[4 * k];
    const uint8_t* r0 = region.row(rows[0]);
    const uint8_t* r1 = region.row(rows[1]);
    const uint8_t* r2 = region.row(rows[2]);
    const uint8_t* r3 = region.row(rows[3]);
    float* c = column.data();
    for (int x = 0; x < values; ++x) c[x] = r0[x] * wy[0] + r1[x] * wy[1] + r2[x] * wy[2] + r3[x] * wy[3];
    Rgbx* out = window.pixels.data() + static_cast<size_t>(k) * window.width;
    Rgbx rowSum = {0, 0, 0, 0};
    const float* wx = xWeight.data();
    for (int j = 0; j < window.width; ++j, wx += 4) {
      const float* p = c + 3 * xStart[j];
      const Rgbx v = load(p) * wx[0] + load(p + 3) * wx[1] + load(p + 6) * wx[2] + load(p + 9) * wx[3];
      out[j] = v;
      rowSum += v;
    }
    for (int ch = 0; ch < 3; ++ch) sum[ch] += rowSum[ch];
  }
  const double n = static_cast<double>(window.width) * window.height;
  for (int ch = 0; ch < 3; ++ch) mean[ch] = sum[ch] / n;
}

void writeCrop(const Window& window, const CropBox& box, int size, const float matrix[9], const float offset[3],
               const CropOutput& out, int64_t crop) {
  const int64_t plane = static_cast<int64_t>(size) * size;
  float m[9];
  for (int q = 0; q < 9; ++q) m[q] = matrix[q] / 255.f;
  // Output column j reads window column first + step·j.
  const int first = box.flip ? window.width - 1 - box.x : box.x;
  const int step = box.flip ? -1 : 1;
  for (int y = 0; y < size; ++y) {
    const Rgbx* row = window.pixels.data() + static_cast<size_t>(box.y + y) * window.width + first;
    const int64_t at = crop * 3 * plane + static_cast<int64_t>(y) * size;
    if (out.floats) {
      float* red = out.floats + at;
      float* green = red + plane;
      float* blue = green + plane;
      for (int j = 0; j < size; ++j) {
        const Rgbx v = row[step * j];
        red[j] = m[0] * v[0] + m[1] * v[1] + m[2] * v[2] + offset[0];
        green[j] = m[3] * v[0] + m[4] * v[1] + m[5] * v[2] + offset[1];
        blue[j] = m[6] * v[0] + m[7] * v[1] + m[8] * v[2] + offset[2];
      }
    } else {
      uint8_t* red = out.bytes + at;
      for (int j = 0; j < size; ++j) {
        const Rgbx v = row[step * j];
        red[j] = toByte(v[0]);
        red[j + plane] = toByte(v[1]);
        red[j + 2 * plane] = toByte(v[2]);
      }
    }
  }
}

}  // namespace rn::image
