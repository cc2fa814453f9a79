// cropJpeg() and jpegLibrary(): Node-API glue for native/image. cropJpeg runs synchronously on the calling thread,
// which is a decode-pool worker thread: the pool's threads are the parallelism.
#include "image.h"

#include <string>

#include "../core/errors.h"
#include "../image/jpeg_crop.h"
#include "async.h"

namespace rn::binding {
namespace {

constexpr const char* kOp = "cropJpeg";

template <typename T>
Napi::TypedArrayOf<T> typedArray(Napi::Object request, const char* key, napi_typedarray_type type, const char* wanted) {
  Napi::Value value = request.Get(key);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    RN_THROW(code::kInvalidArgument, kOp, std::string("Expected ") + wanted + " for request." + key);
  }
  return value.As<Napi::TypedArrayOf<T>>();
}

image::AxisPlan axis(const Napi::Int32Array& plan, size_t at) {
  return {plan[at], plan[at + 1], plan[at + 2], plan[at + 3], plan[at + 4]};
}

// cropJpeg(jpeg: Uint8Array, request) → { scale } | { unsupported } | { error }; see lib/runtime/native.ts.
Napi::Value cropJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsObject()) {
      RN_THROW(code::kInvalidArgument, kOp, "Expected (jpeg: Uint8Array, request: object)");
    }
    Napi::TypedArray bytes = info[0].As<Napi::TypedArray>();
    if (bytes.TypedArrayType() != napi_uint8_array) RN_THROW(code::kInvalidArgument, kOp, "Expected a Uint8Array for jpeg");
    Napi::Object request = info[1].As<Napi::Object>();
    Napi::Int32Array plan = typedArray<int32_t>(request, "plan", napi_int32_array, "an Int32Array of 10");
    Napi::Int32Array boxes = typedArray<int32_t>(request, "boxes", napi_int32_array, "an Int32Array of 3 per crop");
    Napi::Float64Array colour = typedArray<double>(request, "colour", napi_float64_array, "a Float64Array of 21");
    if (plan.ElementLength() != 10) RN_THROW(code::kInvalidArgument, kOp, "Expected 10 values for request.plan");
    if (colour.ElementLength() != 21) RN_THROW(code::kInvalidArgument, kOp, "Expected 21 values for request.colour");
    if (boxes.ElementLength() == 0 || boxes.ElementLength() % 3 != 0) {
      RN_THROW(code::kInvalidArgument, kOp, "Expected 3 values (x, y, flip) per crop for request.boxes");
    }
    image::JpegCropRequest r;
    r.x = axis(plan, 0);
    r.y = axis(plan, 5);
    for (size_t k = 0; k < boxes.ElementLength(); k += 3) r.boxes.push_back({boxes[k], boxes[k + 1], boxes[k + 2] != 0});
    r.cropSize = request.Get("cropSize").ToNumber().Int32Value();
    r.dctScaling = request.Get("dctScaling").ToBoolean().Value();
    for (int q = 0; q < 9; ++q) r.colour.matrix[q] = colour[q];
    for (int q = 0; q < 3; ++q) r.colour.offset[q] = colour[9 + q];
    for (int q = 0; q < 9; ++q) r.colour.perMean[q] = colour[12 + q];
    if (r.cropSize < 1) RN_THROW(code::kInvalidArgument, kOp, "Expected a positive request.cropSize");

    const int64_t firstCrop = request.Get("firstCrop").ToNumber().Int64Value();
    const int64_t crops = firstCrop + static_cast<int64_t>(r.boxes.size());
    const int64_t values = crops * 3 * r.cropSize * r.cropSize;
    image::CropOutput out;
    Napi::Value target = request.Get("out");
    if (firstCrop < 0 || !target.IsTypedArray()) RN_THROW(code::kInvalidArgument, kOp, "Expected request.out and firstCrop ≥ 0");
    Napi::TypedArray array = target.As<Napi::TypedArray>();
    if (static_cast<int64_t>(array.ElementLength()) < values) {
      RN_THROW(code::kInvalidArgument, kOp, "request.out holds " + std::to_string(array.ElementLength()) + " values, crops up to " +
                                                std::to_string(crops) + " need " + std::to_string(values));
    }
    if (array.TypedArrayType() == napi_float32_array) {
      out.floats = array.As<Napi::Float32Array>().Data();
    } else if (array.TypedArrayType() == napi_uint8_array) {
      out.bytes = array.As<Napi::Uint8Array>().Data();
      Napi::Float32Array affines = typedArray<float>(request, "affine", napi_float32_array, "a Float32Array with byte output");
      if (static_cast<int64_t>(affines.ElementLength()) < crops * 12) {
        RN_THROW(code::kInvalidArgument, kOp, "request.affine needs 12 values per crop, " + std::to_string(crops * 12));
      }
      out.affines = affines.Data();
    } else {
      RN_THROW(code::kInvalidArgument, kOp, "Expected a Float32Array or Uint8Array for request.out");
    }

    const auto* data = static_cast<const uint8_t*>(bytes.ArrayBuffer().Data()) + bytes.ByteOffset();
    image::JpegCropOutcome outcome = image::cropJpeg(data, bytes.ByteLength(), r, out, firstCrop);
    Napi::Object result = Napi::Object::New(env);
    switch (outcome.kind) {
      case image::JpegCropOutcome::Kind::kWritten: result.Set("scale", outcome.scaleNum); break;
      case image::JpegCropOutcome::Kind::kUnsupported: result.Set("unsupported", outcome.message); break;
      case image::JpegCropOutcome::Kind::kCorrupt: result.Set("error", outcome.message); break;
    }
    return result;
  });
}

Napi::Value jpegLibrary(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), image::jpegLibrary()); }

}  // namespace

void defineImageFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("cropJpeg", Napi::Function::New<cropJpeg>(env, "cropJpeg"));
  exports.Set("jpegLibrary", Napi::Function::New<jpegLibrary>(env, "jpegLibrary"));
}

}  // namespace rn::binding
