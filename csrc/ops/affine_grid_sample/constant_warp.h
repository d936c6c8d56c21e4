// ConstantWarp: affine_grid_sample with one theta for every image, for the CPU runtime of a graph whose STN is
// constant (the ONNX Runtime backend runs the graph's warp head through it, deepemotion/runtime/onnx_graph.py).
#pragma once

#include <cstdint>
#include <vector>

#include "ops/affine_grid_sample/math.h"

namespace deepemotion {

// One warp for every image (a graph whose STN is constant): the bilinear taps of its out_h x out_w samples are
// computed once, when it is made, so a batch costs only the samples. The values are those of
// affine_grid_sample_cpu with the same theta for each image, bit for bit (same math.h calls).
class ConstantWarp {
 public:
  ConstantWarp(const float* theta, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, bool align_corners);

  // input n x c x in_h x in_w -> output n x c x out_h x out_w, float32.
  void sample(const float* input, float* output, int64_t n, int64_t c, int max_threads = 0) const;
  // The same samples quantized as ONNX QuantizeLinear does to uint8:
  //   saturate(round_half_to_even(v / scale) + zero_point)   (scale > 0, zero_point in 0..255)
  void sample_quantized(const float* input, uint8_t* output, int64_t n, int64_t c, float scale, int zero_point,
                        int max_threads = 0) const;

  // The samples (quantized as above when `quantize`) as k x k patches, k = 2 * pad + 1: output n x (c * k * k) x
  // out_h x out_w, whose channel (ci * k + dy) * k + dx holds sample (y + dy - pad, x + dx - pad) of input channel ci,
  // and `fill` (0, or the zero point) where that lies outside. A k x k convolution of the samples (stride 1, padding
  // pad) is then a 1 x 1 convolution of the patches: the same sums, which the CPU kernels of ONNX Runtime do faster
  // than a k x k convolution of one channel.
  // channels_last: the output is n x out_h x out_w x (c * k * k) instead (the layout of ONNX Runtime's int8
  // convolutions, which then need no transpose of their input).
  void sample_patches(const float* input, float* output, int64_t n, int64_t c, int pad, bool channels_last = false,
                      int max_threads = 0) const;
  void sample_patches_quantized(const float* input, uint8_t* output, int64_t n, int64_t c, int pad, float scale,
                                int zero_point, bool channels_last = false, int max_threads = 0) const;

  int64_t in_h() const { return in_h_; }
  int64_t in_w() const { return in_w_; }
  int64_t out_h() const { return out_h_; }
  int64_t out_w() const { return out_w_; }

 private:
  template <typename T, typename Convert>
  void plane_patches(const float* input, T* output, int64_t p, int64_t c, int pad, bool channels_last,
                     std::vector<T>& padded, Convert convert) const;
  template <typename T, typename Convert>
  void patches(const float* input, T* output, int64_t n, int64_t c, int pad, bool channels_last, int max_threads,
               T fill, Convert convert) const;
  // row_done(output offset, one output row of samples, its length) for every row of every plane
  template <typename Row>
  void run(const float* input, int64_t n, int64_t c, int max_threads, Row row_done) const;

  struct Tap {  // one output pixel: bilinear_taps' four corners as plane offsets, and their weights
    int32_t at[4];
    float w[4];
  };
  int64_t in_h_, in_w_, out_h_, out_w_;
  std::vector<Tap> taps_;  // out_h * out_w, row-major
};

}  // namespace deepemotion
