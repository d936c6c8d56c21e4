// CPU kernel of affine_grid_sample: loops around the shared math in math.h. Each output row is done in tiles of
// kTile pixels, one pass per step (source points, taps, then the samples of every channel), so that the compiler
// vectorises the coordinate math; every pixel still goes through the same float operations, so the results are
// those of the one-pixel-at-a-time loop bit for bit. No heap memory: the tiles live on the stack.
#include <algorithm>

#include "common/parallel.h"
#include "ops/affine_grid_sample/affine_grid_sample.h"
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

}  // namespace

void affine_grid_sample_cpu(const float* input, const float* theta, float* output, const SampleShape& shape,
                            int max_threads) {
  if (shape.n <= 0 || shape.c <= 0 || shape.out_h <= 0 || shape.out_w <= 0) return;
  const int64_t work = shape.n * shape.c * shape.out_h * shape.out_w;
  parallel_for(shape.n, work, max_threads, [&](int64_t b, int64_t e) {
    sample_images(input, theta, output, shape, b, e);
  });
}

}  // namespace deepemotion
