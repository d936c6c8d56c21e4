// One output pixel of a face crop, shared by the CPU kernel and the CUDA kernel: k x k bilinear
// samples of the frame under the face's affine map, clamped into its clip rectangle, converted to
// gray (OpenCV's BT.601 weights) and normalised.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/host_device.h"
#include "ops/affine_grid_sample/math.h"

namespace deepemotion {

struct CropFace {
  float t[6];
  int x0, y0, w, h;  // clip rectangle: origin and size
  int k;             // samples per axis
};

DEEPEMOTION_HOST_DEVICE int crop_subsamples(const float* t, int supersample, int out_size) {
  if (supersample > 0) return supersample;
  const float lu = sqrtf(t[0] * t[0] + t[3] * t[3]);  // frame pixels spanned by the output's u axis
  const float lv = sqrtf(t[1] * t[1] + t[4] * t[4]);
  const float side = (lu < lv ? lu : lv) / static_cast<float>(out_size);
  const int k = side >= 4.0f ? 4 : (side >= 1.0f ? static_cast<int>(side) : 1);
  return k;
}

DEEPEMOTION_HOST_DEVICE CropFace make_crop_face(const float* theta, const int32_t* clip, int supersample,
                                                int out_size) {
  CropFace f;
  f.x0 = clip[0];
  f.y0 = clip[1];
  f.w = clip[2] - clip[0];
  f.h = clip[3] - clip[1];
  // translation relative to the clip origin: exact for boxes (integer origin), and keeps float precision
  f.t[0] = theta[0];
  f.t[1] = theta[1];
  f.t[2] = theta[2] - static_cast<float>(f.x0);
  f.t[3] = theta[3];
  f.t[4] = theta[4];
  f.t[5] = theta[5] - static_cast<float>(f.y0);
  f.k = crop_subsamples(theta, supersample, out_size);
  return f;
}

// Value of output pixel (ox, oy); `load(i)` returns the gray value at pixel offset i from the clip origin
// (row stride: the frame's width).
template <typename Load>
DEEPEMOTION_HOST_DEVICE float crop_pixel(const CropFace& f, int out_size, int row_stride, int ox, int oy,
                                         Load load) {
  const int fine = out_size * f.k;
  const float inv = 1.0f / static_cast<float>(fine);
  float acc = 0.0f;
  for (int sy = 0; sy < f.k; ++sy) {
    const float v = (static_cast<float>(oy * f.k + sy) + 0.5f) * inv;
    for (int sx = 0; sx < f.k; ++sx) {
      const float u = (static_cast<float>(ox * f.k + sx) + 0.5f) * inv;
      SourcePoint p{DEEPEMOTION_FMA(f.t[0], u, DEEPEMOTION_FMA(f.t[1], v, f.t[2])),
                    DEEPEMOTION_FMA(f.t[3], u, DEEPEMOTION_FMA(f.t[4], v, f.t[5]))};
      p = clamp_to_image(p, f.w, f.h);
      acc += bilinear_sample(bilinear_taps(p, f.w, f.h), row_stride, load);
    }
  }
  return acc / static_cast<float>(f.k * f.k);
}

// OpenCV's BGR -> gray weights (ITU-R BT.601)
DEEPEMOTION_HOST_DEVICE float bgr_to_gray(uint8_t b, uint8_t g, uint8_t r) {
  return 0.114f * static_cast<float>(b) + 0.587f * static_cast<float>(g) + 0.299f * static_cast<float>(r);
}

}  // namespace deepemotion
