// Crop geometry and resampling for the data loader: Torch's bicubic taps, their map into a DCT-scaled image, crops written out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rn::image {

// One axis of a crop, as lib/data/imagenet-transforms.ts's AxisPlan: the source interval [start, start + length)
// scaled (Torch's image.scale, bicubic) to `size` samples, of which first .. first + count − 1 are kept.
struct AxisPlan {
  int start = 0;
  int length = 1;
  int size = 1;
  int first = 0;
  int count = 1;
};

// A crop of the scaled window (count_x × count_y); with `flip`, x counts from the right of the mirrored window.
struct CropBox {
  int x = 0;
  int y = 0;
  bool flip = false;
};

// For each output sample four source indices and weights: out[i] = Σₖ weight[4i+k]·src[index[4i+k]].
struct Taps {
  std::vector<int> index;
  std::vector<float> weight;
  int count() const { return static_cast<int>(index.size() / 4); }
};

// Torch's Main_scaleCubic_rowcol for the axis's kept samples, exactly as lib/data/resample.ts's cubicTaps (float32
// coordinates, linear extrapolation at the interval's ends, last sample copied); indices are absolute (start added).
Taps torchTaps(const AxisPlan& axis);

// The same output samples read from an image decoded at scale num/8 (libjpeg's DCT scaling) that is `scaledLength`
// long. Source pixel p covers scaled positions [p·k, (p+1)·k), k = num/8, so the sample Torch places at source
// position s (corner-aligned: start + d·(length−1)/(size−1)) sits at (s + ½)·k − ½ in the scaled image; Catmull-Rom
// around it, edge pixels of the scaled image repeated. Same region, same sample positions; only the pixels the
// taps see were low-passed by the scaled IDCT, so this equals torchTaps on a full-size decode approximately.
Taps scaledTaps(const AxisPlan& axis, int scaleNum, int scaledLength);

// The lowest and highest index the taps read.
void tapSpan(const Taps& taps, int& lo, int& hi);

// The colour steps folded into one map of the window's channel means: out = M·(v/255) + c per pixel, with
// c = offset + perMean·mean, mean the window's per-channel means on [0, 1] (lib/data: colorAffineOfMean).
struct ColourMap {
  double matrix[9];
  double offset[3];
  double perMean[9];
};

// Where crops go: (crops, 3, size, size) floats (colour map applied) or bytes (rounded, clamped) plus 12 floats
// (M row-major, c) per crop for a device to finish.
struct CropOutput {
  float* floats = nullptr;
  uint8_t* bytes = nullptr;
  float* affines = nullptr;
};

// Decoded rows top .. top + rows − 1 of an image, columns originX .. originX + width − 1, as RGB bytes.
struct Region {
  int originX = 0;
  int top = 0;
  int width = 0;
  int rows = 0;
  std::vector<uint8_t> pixels;  // (rows, width, 3)
  void reset(int originX_, int top_, int width_, int rows_) {
    originX = originX_;
    top = top_;
    width = width_;
    rows = rows_;
    pixels.resize(static_cast<size_t>(rows) * width * 3);
  }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y - top) * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y - top) * width * 3; }
};

typedef float Rgbx __attribute__((vector_size(16)));  // r, g, b, unused

// The scaled window: (height, width) pixels of four floats on the 0–255 scale, unclamped.
struct Window {
  int width = 0;
  int height = 0;
  std::vector<Rgbx> pixels;
};

// Torch's separable bicubic of the region through the taps (absolute indices) into the window, and the window's
// per-channel means (0–255). Columns first, then rows — Torch goes rows first; the sums are the same up to float rounding.
void resample(const Region& region, const Taps& xTaps, const Taps& yTaps, Window& window, double mean[3]);

// The colour map's offset for a window with channel means `mean` (0–255): c = offset + perMean·(mean/255).
void colourOffset(const ColourMap& colour, const double mean[3], double offset[3]);

// Writes crop `box` of the window to crop slot `crop` of `out`: floats M·(v/255) + c, or bytes round(clamp(v)).
void writeCrop(const Window& window, const CropBox& box, int size, const float matrix[9], const float offset[3],
               const CropOutput& out, int64_t crop);

}  // namespace rn::image
