// CPU kernel of affine_grid_sample: loops around the shared math in math.h. Each output row is done in tiles of
// kTile pixels, one pass per step (source points, taps, then the samples of every channel), so that the compiler
// vectorises the coordinate math; every pixel still goes through the same float operations, so the results are
// those of the one-pixel-at-a-time loop bit for bit. No heap memory: the tiles live on the stack.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "ops/affine_grid_sample/affine_grid_sample.h"
#include "ops/affine_grid_sample/constant_warp.h"
#include "ops/affine_grid_sample/math.h"

namespace deepemotion {
namespace {

constexpr int kTile = 64;

void sample_images(const float* input, const float* theta, float* output, const SampleShape& s, int64_t n_begin,
                   int64_t n_end) {
  const int in_w = static_cast<int>(s.in_w), in_h = static_cast<int>(s.in_h);
  const int out_w = static_cast<int>(s.out_w), out_h = static_cast<int>(s.out_h);
  const int64_t in_plane = s.in_h * s.in_w;
  const int64_t out_plane = s.out_h * s.out_w;
  SourcePoint points[kTile];
  BilinearTaps taps[kTile];
  for (int64_t n = n_begin; n < n_end; ++n) {
    const AffineMap map = make_affine_map(theta + n * 6, out_w, out_h, in_w, in_h, s.align_corners);
    const float* img = input + n * s.c * in_plane;
    float* out = output + n * s.c * out_plane;
    for (int oy = 0; oy < out_h; ++oy) {
      for (int x0 = 0; x0 < out_w; x0 += kTile) {
        const int len = std::min(kTile, out_w - x0);
        for (int i = 0; i < len; ++i) points[i] = affine_grid_point(map, x0 + i, oy);
        for (int i = 0; i < len; ++i) taps[i] = bilinear_taps(points[i], in_w, in_h);
        const int64_t o = static_cast<int64_t>(oy) * out_w + x0;
        for (int64_t c = 0; c < s.c; ++c) {
          const float* plane = img + c * in_plane;
          float* dst = out + c * out_plane + o;
          for (int i = 0; i < len; ++i) dst[i] = bilinear_sample(taps[i], in_w, [plane](int k) { return plane[k]; });
        }
      }
    }
  }
}

// Round half to even for |v| < 2^22 in the default rounding mode, without a libm call: adding and subtracting
// 1.5 * 2^23 leaves v rounded to an integer (the compiler may not fold it: no -ffast-math here).
inline float round_half_even(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

// ONNX QuantizeLinear to uint8 (lo = -zero_point, hi = 255 - zero_point, zp = zero_point, all as float): v / scale
// clamped to [lo, hi] before rounding to the nearest even integer; clamping first also keeps the value in the range
// where round_half_even is exact.
inline uint8_t quantize(float v, float scale, float lo, float hi, float zp) {
  const float q = std::min(std::max(lo, v / scale), hi);  // NaN lands at lo, infinities at the ends
  return static_cast<uint8_t>(static_cast<int>(round_half_even(q) + zp));
}

// Channels-last patches of one padded plane: the kk values of pixel (y, x) are rows y .. y + k - 1 of the padded
// plane at columns x .. x + k - 1, written at out + (y * ow + x) * pixel. K > 0: k known when compiled (3, the one
// the bundled graphs have), so each pixel is a few fixed-size copies; K = 0: any k.
template <typename T, int K>
void patch_rows(const T* padded, T* out, int64_t oh, int64_t ow, int64_t pw, int64_t pixel, int64_t k_any = K) {
  const int64_t k = K > 0 ? K : k_any;
  for (int64_t y = 0; y < oh; ++y) {
    T* dst = out + y * ow * pixel;
    for (int64_t x = 0; x < ow; ++x, dst += pixel) {
      const T* src = padded + y * pw + x;
      for (int64_t dy = 0; dy < k; ++dy) {  // element by element: std::copy would call memmove per row of k
        for (int64_t dx = 0; dx < k; ++dx) dst[dy * k + dx] = src[dy * pw + dx];
      }
    }
  }
}

}  // namespace

ConstantWarp::ConstantWarp(const float* theta, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                           bool align_corners)
    : in_h_(in_h), in_w_(in_w), out_h_(out_h), out_w_(out_w) {
  const int iw = static_cast<int>(in_w), ih = static_cast<int>(in_h);
  const int ow = static_cast<int>(out_w), oh = static_cast<int>(out_h);
  const AffineMap map = make_affine_map(theta, ow, oh, iw, ih, align_corners);
  taps_.reserve(static_cast<size_t>(out_h * out_w));
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      const BilinearTaps t = bilinear_taps(affine_grid_point(map, ox, oy), iw, ih);
      const int r0 = t.y0 * iw, r1 = t.y1 * iw;  // bilinear_sample's offsets, computed once
      taps_.push_back(Tap{{r0 + t.x0, r0 + t.x1, r1 + t.x0, r1 + t.x1}, {t.w00, t.w01, t.w10, t.w11}});
    }
  }
}

template <typename Row>
void ConstantWarp::run(const float* input, int64_t n, int64_t c, int max_threads, Row row_done) const {
  if (n <= 0 || c <= 0) return;
  const int64_t in_plane = in_h_ * in_w_, out_plane = out_h_ * out_w_;
  const int64_t out_w = out_w_;
  parallel_for(n * c, n * c * out_plane, max_threads, [&](int64_t b, int64_t e) {
    std::vector<float> row(static_cast<size_t>(out_w));
    for (int64_t p = b; p < e; ++p) {
      const float* plane = input + p * in_plane;
      const Tap* taps = taps_.data();
      for (int64_t oy = 0; oy < out_h_; ++oy, taps += out_w) {
        for (int64_t i = 0; i < out_w; ++i) {
          const Tap& t = taps[i];
          row[i] = bilinear_sum(t.w[0], t.w[1], t.w[2], t.w[3], plane[t.at[0]], plane[t.at[1]], plane[t.at[2]],
                                plane[t.at[3]]);
        }
        row_done(p * out_plane + oy * out_w, row.data(), out_w);
      }
    }
  });
}

void ConstantWarp::sample(const float* input, float* output, int64_t n, int64_t c, int max_threads) const {
  run(input, n, c, max_threads, [output](int64_t at, const float* row, int64_t len) {
    std::copy(row, row + len, output + at);
  });
}

void ConstantWarp::sample_quantized(const float* input, uint8_t* output, int64_t n, int64_t c, float scale,
                                    int zero_point, int max_threads) const {
  // a row at a time in a loop without gathers, so that the division, clamp and rounding vectorise
  const float lo = static_cast<float>(-zero_point), hi = static_cast<float>(255 - zero_point);
  const float zp = static_cast<float>(zero_point);
  run(input, n, c, max_threads, [=](int64_t at, const float* row, int64_t len) {
    uint8_t* dst = output + at;
    for (int64_t i = 0; i < len; ++i) dst[i] = quantize(row[i], scale, lo, hi, zp);
  });
}

template <typename T, typename Convert>
void ConstantWarp::patches(const float* input, T* output, int64_t n, int64_t c, int pad, bool channels_last,
                           int max_threads, T fill, Convert convert) const {
  const int64_t k = 2 * static_cast<int64_t>(pad) + 1, pw = out_w_ + 2 * pad, ph = out_h_ + 2 * pad;
  const int64_t out_plane = out_h_ * out_w_, kk = k * k;
  parallel_for(n * c, n * c * kk * out_plane, max_threads, [&](int64_t first, int64_t last) {
    std::vector<T> padded(static_cast<size_t>(ph * pw), fill);  // one plane of samples inside a border of `fill`
    for (int64_t p = first; p < last; ++p) plane_patches(input, output, p, c, pad, channels_last, padded, convert);
  });
}

template <typename T, typename Convert>
void ConstantWarp::plane_patches(const float* input, T* output, int64_t p, int64_t c, int pad, bool channels_last,
                                 std::vector<T>& padded, Convert convert) const {
  const int64_t k = 2 * static_cast<int64_t>(pad) + 1, pw = out_w_ + 2 * pad;
  const int64_t out_plane = out_h_ * out_w_, kk = k * k, pixel = c * kk;  // pixel: channels_last's stride
  run(input + p * in_h_ * in_w_, 1, 1, 1, [&](int64_t at, const float* row, int64_t len) {
    T* dst = padded.data() + (at / out_w_ + pad) * pw + pad;
    for (int64_t i = 0; i < len; ++i) dst[i] = convert(row[i]);
  });
  if (channels_last) {  // image p / c, channels (p % c) * kk ... of every pixel
    T* out = output + (p / c) * out_plane * pixel + (p % c) * kk;
    if (k == 3) {
      patch_rows<T, 3>(padded.data(), out, out_h_, out_w_, pw, pixel);
    } else {
      patch_rows<T, 0>(padded.data(), out, out_h_, out_w_, pw, pixel, k);
    }
    return;
  }
  T* out = output + p * kk * out_plane;
  for (int64_t dy = 0; dy < k; ++dy) {
    for (int64_t dx = 0; dx < k; ++dx, out += out_plane) {
      for (int64_t y = 0; y < out_h_; ++y) {
        const T* src = padded.data() + (y + dy) * pw + dx;
        std::copy(src, src + out_w_, out + y * out_w_);
      }
    }
  }
}

void ConstantWarp::sample_patches(const float* input, float* output, int64_t n, int64_t c, int pad,
                                  bool channels_last, int max_threads) const {
  patches(input, output, n, c, pad, channels_last, max_threads, 0.0f, [](float v) { return v; });
}

void ConstantWarp::sample_patches_quantized(const float* input, uint8_t* output, int64_t n, int64_t c, int pad,
                                            float scale, int zero_point, bool channels_last, int max_threads) const {
  const float lo = static_cast<float>(-zero_point), hi = static_cast<float>(255 - zero_point);
  const float zp = static_cast<float>(zero_point);
  patches(input, output, n, c, pad, channels_last, max_threads, static_cast<uint8_t>(zero_point), [=](float v) {
    return quantize(v, scale, lo, hi, zp);
  });
}

void affine_grid_sample_cpu(const float* input, const float* theta, float* output, const SampleShape& shape,
                            int max_threads) {
  if (shape.n <= 0 || shape.c <= 0 || shape.out_h <= 0 || shape.out_w <= 0) return;
  const int64_t work = shape.n * shape.c * shape.out_h * shape.out_w;
  parallel_for(shape.n, work, max_threads, [&](int64_t b, int64_t e) {
    sample_images(input, theta, output, shape, b, e);
  });
}

}  // namespace deepemotion
