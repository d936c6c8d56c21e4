// CPU kernel of affine_grid_sample: loops around the shared math in affine_grid_sample_math.h.
#include <algorithm>
#include <thread>
#include <vector>

#include "deepemotion/affine_grid_sample.h"
#include "affine_grid_sample_math.h"

namespace deepemotion {
namespace {

// Below this many output values one thread is faster than starting others.
constexpr int64_t kMinWorkPerThread = 1 << 15;

void sample_images(const float* input, const float* theta, float* output, const SampleShape& s, int64_t n_begin,
                   int64_t n_end) {
  const int in_w = static_cast<int>(s.in_w), in_h = static_cast<int>(s.in_h);
  const int out_w = static_cast<int>(s.out_w), out_h = static_cast<int>(s.out_h);
  const int64_t in_plane = s.in_h * s.in_w;
  const int64_t out_plane = s.out_h * s.out_w;
  for (int64_t n = n_begin; n < n_end; ++n) {
    const AffineMap map = make_affine_map(theta + n * 6, out_w, out_h, in_w, in_h, s.align_corners);
    const float* img = input + n * s.c * in_plane;
    float* out = output + n * s.c * out_plane;
    for (int oy = 0; oy < out_h; ++oy) {
      for (int ox = 0; ox < out_w; ++ox) {
        const BilinearTaps taps = bilinear_taps(affine_grid_point(map, ox, oy), in_w, in_h);
        const int64_t o = static_cast<int64_t>(oy) * out_w + ox;
        for (int64_t c = 0; c < s.c; ++c) {
          const float* plane = img + c * in_plane;
          out[c * out_plane + o] = bilinear_sample(taps, in_w, [plane](int i) { return plane[i]; });
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
  int64_t threads = max_threads > 0 ? max_threads : static_cast<int64_t>(std::thread::hardware_concurrency());
  threads = std::max<int64_t>(1, std::min({threads, shape.n, work / kMinWorkPerThread}));
  if (threads == 1) {
    sample_images(input, theta, output, shape, 0, shape.n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  const int64_t chunk = (shape.n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(shape.n, b + chunk);
    if (b < e) pool.emplace_back(sample_images, input, theta, output, std::cref(shape), b, e);
  }
  sample_images(input, theta, output, shape, 0, std::min(shape.n, chunk));
  for (auto& th : pool) th.join();
}

}  // namespace deepemotion
