// The one piece of sampling math behind every affine_grid_sample implementation:
// the CPU kernel, the CUDA kernel, the TensorRT plugin (through the CUDA launcher) and
// the frame-crop preprocessing all include this header, so they cannot drift apart.
//
// Semantics are those of torch.nn.functional.affine_grid followed by grid_sample with
// mode="bilinear", padding_mode="zeros": an output pixel (ox, oy) gets the normalised
// coordinate (x, y) in [-1, 1], theta maps it to a normalised source point, and the source
// is sampled bilinearly with zeros outside the image. Coordinate math is always float32,
// whatever the storage type.
#pragma once

#include "common/host_device.h"

namespace deepemotion {

struct SourcePoint {
  float x;  // column in input pixels (0 = centre of the first pixel)
  float y;  // row in input pixels
};

// Everything affine_grid_point needs for one image, computed once per image.
// Normalised output coordinate (PyTorch's affine_grid base grid):
//   align_corners: x = -1 + 2 * ox / (out_w - 1)      otherwise: x = (2 * ox + 1) / out_w - 1
//   (a single sample sits at 0 in both modes)
// theta (row-major 2x3) maps it to a normalised source point g, unnormalised as grid_sample does:
//   align_corners: src = (g + 1) / 2 * (in_w - 1)     otherwise: src = ((g + 1) * in_w - 1) / 2
// written as src = g * scale + offset with constants that are exact in float.
struct AffineMap {
  float theta[6];
  bool align_corners;
  float den_x, den_y;                          // out_w (out_w - 1 with align_corners), likewise y
  float scale_x, offset_x, scale_y, offset_y;  // source pixel = normalised source * scale + offset
};

DEEPEMOTION_HOST_DEVICE AffineMap make_affine_map(const float* theta, int out_w, int out_h, int in_w, int in_h,
                                                  bool align_corners) {
  AffineMap m;
  for (int k = 0; k < 6; ++k) m.theta[k] = theta[k];
  m.align_corners = align_corners;
  m.den_x = static_cast<float>(align_corners ? out_w - 1 : out_w);
  m.den_y = static_cast<float>(align_corners ? out_h - 1 : out_h);
  m.offset_x = 0.5f * static_cast<float>(in_w - 1);
  m.offset_y = 0.5f * static_cast<float>(in_h - 1);
  m.scale_x = align_corners ? m.offset_x : 0.5f * static_cast<float>(in_w);
  m.scale_y = align_corners ? m.offset_y : 0.5f * static_cast<float>(in_h);
  return m;
}

// Where output pixel (ox, oy) samples the input, in input pixels (0 = centre of the first pixel).
DEEPEMOTION_HOST_DEVICE SourcePoint affine_grid_point(const AffineMap& m, int ox, int oy) {
  // A correctly rounded division keeps these within half an ulp, as PyTorch's linspace is.
  float x, y;
  if (m.align_corners) {
    x = m.den_x > 0.0f ? 2.0f * static_cast<float>(ox) / m.den_x - 1.0f : 0.0f;
    y = m.den_y > 0.0f ? 2.0f * static_cast<float>(oy) / m.den_y - 1.0f : 0.0f;
  } else {
    x = (2.0f * static_cast<float>(ox) + 1.0f) / m.den_x - 1.0f;
    y = (2.0f * static_cast<float>(oy) + 1.0f) / m.den_y - 1.0f;
  }
  const float gx = DEEPEMOTION_FMA(m.theta[0], x, DEEPEMOTION_FMA(m.theta[1], y, m.theta[2]));
  const float gy = DEEPEMOTION_FMA(m.theta[3], x, DEEPEMOTION_FMA(m.theta[4], y, m.theta[5]));
  return SourcePoint{DEEPEMOTION_FMA(gx, m.scale_x, m.offset_x), DEEPEMOTION_FMA(gy, m.scale_y, m.offset_y)};
}

// The four taps of a bilinear sample: corner offsets clamped into the image and weights that are
// zero for corners outside it (zero padding). Branch-free, so every sample does four in-bounds
// loads. (A non-finite pixel next to the border can thus leak a NaN through a zero weight;
// inputs must be finite.)
struct BilinearTaps {
  int x0, x1, y0, y1;          // clamped corner columns / rows
  float w00, w01, w10, w11;    // weights of (y0,x0), (y0,x1), (y1,x0), (y1,x1)
};

DEEPEMOTION_HOST_DEVICE int clamp_index(int i, int size) { return i < 0 ? 0 : (i >= size ? size - 1 : i); }

// Border padding (grid_sample's padding_mode="border"): the point is clamped into the image first,
// so edge pixels repeat outwards. Used to resample a region of a frame as cv2.resize would.
DEEPEMOTION_HOST_DEVICE SourcePoint clamp_to_image(SourcePoint p, int in_w, int in_h) {
  const float mx = static_cast<float>(in_w - 1), my = static_cast<float>(in_h - 1);
  // written so that NaN ends up at 0
  return SourcePoint{p.x > 0.0f ? (p.x < mx ? p.x : mx) : 0.0f, p.y > 0.0f ? (p.y < my ? p.y : my) : 0.0f};
}

DEEPEMOTION_HOST_DEVICE BilinearTaps bilinear_taps(SourcePoint p, int in_w, int in_h) {
  // Points far outside would overflow int: clamp to a range that still lies fully outside.
  // NaN compares false and lands at -lim, outside, with its weights zeroed below.
  const float lim = 1.0e8f;
  const float px = p.x < lim ? (p.x > -lim ? p.x : -lim) : lim;
  const float py = p.y < lim ? (p.y > -lim ? p.y : -lim) : lim;
  int x0 = static_cast<int>(px);  // truncation, then floor for negatives
  int y0 = static_cast<int>(py);
  x0 -= static_cast<float>(x0) > px ? 1 : 0;
  y0 -= static_cast<float>(y0) > py ? 1 : 0;
  const float ax = px - static_cast<float>(x0);
  const float ay = py - static_cast<float>(y0);
  const float mx0 = (x0 >= 0 && x0 < in_w) ? 1.0f : 0.0f;
  const float mx1 = (x0 + 1 >= 0 && x0 + 1 < in_w) ? 1.0f : 0.0f;
  const float my0 = (y0 >= 0 && y0 < in_h) ? 1.0f : 0.0f;
  const float my1 = (y0 + 1 >= 0 && y0 + 1 < in_h) ? 1.0f : 0.0f;
  BilinearTaps t;
  t.x0 = clamp_index(x0, in_w);
  t.x1 = clamp_index(x0 + 1, in_w);
  t.y0 = clamp_index(y0, in_h);
  t.y1 = clamp_index(y0 + 1, in_h);
  t.w00 = (1.0f - ax) * (1.0f - ay) * (my0 * mx0);
  t.w01 = ax * (1.0f - ay) * (my0 * mx1);
  t.w10 = (1.0f - ax) * ay * (my1 * mx0);
  t.w11 = ax * ay * (my1 * mx1);
  return t;
}

// The weighted sum of a bilinear sample's four corner values, in the one order every implementation uses.
DEEPEMOTION_HOST_DEVICE float bilinear_sum(float w00, float w01, float w10, float w11, float v00, float v01, float v10,
                                           float v11) {
  return w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11;
}

// Sample one plane with precomputed taps. `load(offset)` returns the value at a pixel offset
// (row * row_stride + col) as float, so planar, interleaved and integer layouts share this code.
template <typename Load>
DEEPEMOTION_HOST_DEVICE float bilinear_sample(const BilinearTaps& t, int row_stride, Load load) {
  const int r0 = t.y0 * row_stride, r1 = t.y1 * row_stride;
  return bilinear_sum(t.w00, t.w01, t.w10, t.w11, load(r0 + t.x0), load(r0 + t.x1), load(r1 + t.x0),
                      load(r1 + t.x1));
}

}  // namespace deepemotion
