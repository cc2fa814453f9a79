// libjpeg-turbo region decoding (jpeg_crop_scanline, jpeg_skip_scanlines, DCT scaling) and the crops cut from it.
#include "jpeg_crop.h"

#include <algorithm>
#include <string>

#include "../core/errors.h"

#if RN_HAVE_JPEG
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE

#include <jerror.h>
#include <jpeglib.h>
#endif

namespace rn::image {

int dctScale(const AxisPlan& x, const AxisPlan& y) {
  for (int num : {1, 2, 4}) {
    if (static_cast<int64_t>(x.length) * num >= 8LL * x.size && static_cast<int64_t>(y.length) * num >= 8LL * y.size) return num;
  }
  return 8;
}

#if RN_HAVE_JPEG
namespace {

void checkAxis(const char* name, const AxisPlan& a, int imageLength) {
  if (a.length < 1 || a.size < 1 || a.start < 0 || a.start + a.length > imageLength || a.first < 0 || a.count < 1 ||
      a.first + a.count > a.size) {
    RN_THROW(code::kInvalidArgument, "cropJpeg",
             std::string("Expected a window inside the image for plan.") + name + " but received start " +
                 std::to_string(a.start) + ", length " + std::to_string(a.length) + ", size " + std::to_string(a.size) +
                 ", first " + std::to_string(a.first) + ", count " + std::to_string(a.count) + " for an image " +
                 std::to_string(imageLength) + " long");
  }
}

// Taps for the axis in the decoded (possibly DCT-scaled) image.
Taps axisTaps(const AxisPlan& axis, int scaleNum, int decodedLength) {
  return scaleNum == 8 ? torchTaps(axis) : scaledTaps(axis, scaleNum, decodedLength);
}

// What the decode needs from the request, and what it produces: the taps and the decoded region.
struct Decode {
  const JpegCropRequest* request = nullptr;
  int scaleNum = 8;
  int left = 0, right = 0, top = 0, bottom = 0;  // the region the taps read, inclusive, in decoded pixels
  Taps xTaps, yTaps;
  Region* region = nullptr;
  const char* unsupported = nullptr;

  // After the header: the taps in the decoded image, and the region they read.
  void plan(int imageWidth, int imageHeight, int decodedWidth, int decodedHeight) {
    checkAxis("x", request->x, imageWidth);
    checkAxis("y", request->y, imageHeight);
    xTaps = axisTaps(request->x, scaleNum, decodedWidth);
    yTaps = axisTaps(request->y, scaleNum, decodedHeight);
    int lo, hi;
    tapSpan(xTaps, lo, hi);
    // One pixel more on each side: a cropped scanline's edge pixels are upsampled from its own chroma only.
    left = std::max(0, lo - 1);
    right = std::min(decodedWidth - 1, hi + 1);
    tapSpan(yTaps, top, bottom);
  }
};


struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void onError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// libjpeg only warns when the data ends early (and pads the image with grey): that is an error here, as in libvips
// with failOn 'error'. Other corrupt-data warnings pass, as they do in libvips and PIL. Nothing is printed.
void onMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) onError(cinfo);
  cinfo->err->num_warnings++;
}

void silent(j_common_ptr) {}

// The libjpeg calls, between a setjmp and the longjmp of an error: only plain locals here, so that jumping back
// skips no destructor (C++ objects live in `d` and in cropJpeg). 0: rows decoded; 1: libjpeg failed; 2: unsupported.
int decodeRows(jpeg_decompress_struct* cinfo, ErrorManager* err, const uint8_t* data, size_t size, Decode* d) {
  if (setjmp(err->jump)) return 1;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  if (cinfo->jpeg_color_space != JCS_GRAYSCALE && cinfo->jpeg_color_space != JCS_YCbCr && cinfo->jpeg_color_space != JCS_RGB) {
    d->unsupported = cinfo->jpeg_color_space == JCS_CMYK ? "CMYK JPEG" : cinfo->jpeg_color_space == JCS_YCCK ? "YCCK JPEG" : "JPEG colour space";
    return 2;
  }
  cinfo->out_color_space = JCS_RGB;
  cinfo->dct_method = JDCT_ISLOW;
  cinfo->do_fancy_upsampling = TRUE;
  cinfo->scale_num = d->scaleNum;
  cinfo->scale_denom = 8;
  jpeg_calc_output_dimensions(cinfo);
  d->plan(static_cast<int>(cinfo->image_width), static_cast<int>(cinfo->image_height), static_cast<int>(cinfo->output_width), static_cast<int>(cinfo->output_height));
  jpeg_start_decompress(cinfo);
  JDIMENSION xoffset = static_cast<JDIMENSION>(d->left);
  JDIMENSION width = static_cast<JDIMENSION>(d->right - d->left + 1);
  if (width < cinfo->output_width) jpeg_crop_scanline(cinfo, &xoffset, &width);  // widens to iMCU boundaries
  d->region->reset(static_cast<int>(xoffset), d->top, static_cast<int>(cinfo->output_width), d->bottom - d->top + 1);
  if (d->top > 0) jpeg_skip_scanlines(cinfo, static_cast<JDIMENSION>(d->top));
  while (static_cast<int>(cinfo->output_scanline) <= d->bottom) {
    JSAMPROW row = d->region->row(static_cast<int>(cinfo->output_scanline));
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) return 1;
  }
  return 0;
}

// Owns the decompressor so that every way out (return, exception) destroys it.
struct Decompressor {
  jpeg_decompress_struct cinfo{};
  ErrorManager err{};
  Decompressor() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = onError;
    err.pub.emit_message = onMessage;
    err.pub.output_message = silent;
    jpeg_create_decompress(&cinfo);
    // A cap on what one image may allocate (progressive files hold all coefficients): beyond it libjpeg errors.
    cinfo.mem->max_memory_to_use = 1L << 30;
  }
  ~Decompressor() { jpeg_destroy_decompress(&cinfo); }
};

}  // namespace

#define RN_STRINGIFY_(x) #x
#define RN_STRINGIFY(x) RN_STRINGIFY_(x)

std::string jpegLibrary() {
#ifdef LIBJPEG_TURBO_VERSION
  return std::string("libjpeg-turbo ") + RN_STRINGIFY(LIBJPEG_TURBO_VERSION);
#else
  return "libjpeg " + std::to_string(JPEG_LIB_VERSION);
#endif
}

JpegCropOutcome cropJpeg(const uint8_t* data, size_t size, const JpegCropRequest& request, const CropOutput& out,
                         int64_t firstCrop) {
  if (request.boxes.empty()) RN_THROW(code::kInvalidArgument, "cropJpeg", "Expected at least one crop box");
  for (const CropBox& box : request.boxes) {
    if (box.x < 0 || box.y < 0 || box.x + request.cropSize > request.x.count || box.y + request.cropSize > request.y.count) {
      RN_THROW(code::kInvalidArgument, "cropJpeg",
               "Expected crop boxes inside the " + std::to_string(request.x.count) + "×" + std::to_string(request.y.count) +
                   " window but received (" + std::to_string(box.x) + ", " + std::to_string(box.y) + ") of side " +
                   std::to_string(request.cropSize));
    }
  }
  // Scratch kept per thread (decode workers crop one image after another).
  thread_local Region region;
  thread_local Window window;
  Decode d;
  d.request = &request;
  d.region = &region;
  d.scaleNum = request.dctScaling ? dctScale(request.x, request.y) : 8;
  {
    Decompressor jpeg;
    const int status = decodeRows(&jpeg.cinfo, &jpeg.err, data, size, &d);
    if (status == 1) return {JpegCropOutcome::Kind::kCorrupt, d.scaleNum, jpeg.err.message};
    if (status == 2) return {JpegCropOutcome::Kind::kUnsupported, d.scaleNum, d.unsupported};
  }
  double mean[3];
  resample(region, d.xTaps, d.yTaps, window, mean);
  double offset[3];
  colourOffset(request.colour, mean, offset);
  float matrix[9], offsetF[3];
  for (int q = 0; q < 9; ++q) matrix[q] = static_cast<float>(request.colour.matrix[q]);
  for (int c = 0; c < 3; ++c) offsetF[c] = static_cast<float>(offset[c]);
  for (size_t k = 0; k < request.boxes.size(); ++k) {
    const int64_t crop = firstCrop + static_cast<int64_t>(k);
    writeCrop(window, request.boxes[k], request.cropSize, matrix, offsetF, out, crop);
    if (out.affines) {
      std::copy(matrix, matrix + 9, out.affines + crop * 12);
      std::copy(offsetF, offsetF + 3, out.affines + crop * 12 + 9);
    }
  }
  // A huge photograph's region is not kept for the rest of the thread's life.
  constexpr size_t kKeepBytes = 64u << 20;
  if (region.pixels.capacity() > kKeepBytes) std::vector<uint8_t>().swap(region.pixels);
  if (window.pixels.capacity() * sizeof(Rgbx) > kKeepBytes) std::vector<Rgbx>().swap(window.pixels);
  return {JpegCropOutcome::Kind::kWritten, d.scaleNum, ""};
}

#else

std::string jpegLibrary() { return ""; }

JpegCropOutcome cropJpeg(const uint8_t*, size_t, const JpegCropRequest&, const CropOutput&, int64_t) {
  return {JpegCropOutcome::Kind::kUnsupported, 8, "the addon was built without libjpeg"};
}

#endif

}  // namespace rn::image
