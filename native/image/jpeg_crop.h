// JPEG crops for the data loader in one native pass: libjpeg-turbo decodes only the region the crop reads, DCT-scaled
// where that keeps the crop's resolution, and the crop is resized, colour-mapped, flipped and written as it is read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crop_resample.h"

namespace rn::image {

struct JpegCropRequest {
  // The window to cut, in the stored image's pixels (the caller keeps EXIF-oriented files for the general decoder).
  AxisPlan x;
  AxisPlan y;
  // Crops of the window, each cropSize × cropSize.
  std::vector<CropBox> boxes;
  int cropSize = 1;
  ColourMap colour{};
  // Decode at the smallest scale num/8 that leaves the window at least its scaled size (dctScale()); false: num = 8.
  bool dctScaling = true;
};

struct JpegCropOutcome {
  enum class Kind { kWritten, kUnsupported, kCorrupt };
  Kind kind = Kind::kWritten;
  int scaleNum = 8;     // kWritten: the DCT scale used, num/8
  std::string message;  // kUnsupported: what the general decoder must handle; kCorrupt: libjpeg's reason
};

// The smallest num of 1, 2, 4 and 8 such that both intervals, decoded at num/8, are at least as long as the samples
// Torch scales them to: the resize after decoding still reduces (or enlarges, for intervals shorter than their size).
// Only these scales have SIMD IDCTs in libjpeg-turbo; 3/8, 5/8, 6/8 and 7/8 decode slower than 8/8 (measured). So a
// window is DCT-scaled only when it is reduced at least 2× on both axes — where sharp's path shrank on load before.
int dctScale(const AxisPlan& x, const AxisPlan& y);

// Decodes `data` and writes the request's crops to crop slots firstCrop.. of `out`. A corrupt or truncated file is
// kCorrupt (never an exception); CMYK/YCCK files are kUnsupported. Throws rn::Error for a window outside the image.
JpegCropOutcome cropJpeg(const uint8_t* data, size_t size, const JpegCropRequest& request, const CropOutput& out,
                         int64_t firstCrop);

// "libjpeg-turbo 2.1.5", or "" when the addon was built without libjpeg (cropJpeg then reports kUnsupported).
std::string jpegLibrary();

}  // namespace rn::image
