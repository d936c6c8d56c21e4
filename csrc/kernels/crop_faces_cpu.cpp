// Face crops for the model, built on the shared sampling math: a box is an identity affine map
// from the output grid onto the box region (the region is the "image", border padding).
#include <algorithm>

#include "deepemotion/crop_faces.h"
#include "affine_grid_sample_math.h"
#include "parallel.h"

namespace deepemotion {
namespace {

constexpr float kIdentity[6] = {1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f};
// OpenCV's BGR -> gray weights (ITU-R BT.601)
constexpr float kB = 0.114f, kG = 0.587f, kR = 0.299f;

// supersample <= 0: per box, about box side / out_size sub-samples per axis, at most 4.
int subsamples(int supersample, int bw, int bh, int out_size) {
  if (supersample > 0) return supersample;
  return std::max(1, std::min(4, std::min(bw, bh) / out_size));
}

template <int Channels>
void crop_one(const FrameView& f, const int32_t* box, int out_size, float mean, float std, int supersample,
              float* out) {
  const int bx = box[0], by = box[1], bw = box[2], bh = box[3];
  const int k = subsamples(supersample, bw, bh, out_size);
  const uint8_t* roi = f.data + (static_cast<int64_t>(by) * f.width + bx) * Channels;
  const int fine = out_size * k;
  const AffineMap map = make_affine_map(kIdentity, fine, fine, bw, bh, /*align_corners=*/false);
  auto load = [roi](int i) -> float {
    if (Channels == 1) return static_cast<float>(roi[i]);
    const uint8_t* p = roi + static_cast<int64_t>(i) * 3;
    return kB * p[0] + kG * p[1] + kR * p[2];
  };
  const float scale = 1.0f / (255.0f * std * static_cast<float>(k * k));
  const float shift = mean / std;
  for (int oy = 0; oy < out_size; ++oy) {
    for (int ox = 0; ox < out_size; ++ox) {
      float acc = 0.0f;
      for (int sy = 0; sy < k; ++sy) {
        for (int sx = 0; sx < k; ++sx) {
          const SourcePoint p = clamp_to_image(affine_grid_point(map, ox * k + sx, oy * k + sy), bw, bh);
          // row stride is the frame's width: taps index the frame around the box
          acc += bilinear_sample(bilinear_taps(p, bw, bh), f.width, load);
        }
      }
      out[oy * out_size + ox] = acc * scale - shift;
    }
  }
}

void crop_range(const FrameView& f, const int32_t* boxes, int64_t begin, int64_t end, int out_size, float mean,
                float std, int supersample, float* out) {
  const int64_t plane = static_cast<int64_t>(out_size) * out_size;
  for (int64_t i = begin; i < end; ++i) {
    if (f.channels == 3) {
      crop_one<3>(f, boxes + 4 * i, out_size, mean, std, supersample, out + i * plane);
    } else {
      crop_one<1>(f, boxes + 4 * i, out_size, mean, std, supersample, out + i * plane);
    }
  }
}

}  // namespace

void crop_faces_cpu(const FrameView& frame, const int32_t* boxes, int64_t n, int out_size, float mean, float std,
                    int supersample, float* out, int max_threads) {
  if (n <= 0 || out_size <= 0) return;
  const int64_t k = supersample > 0 ? supersample : 2;  // a typical auto value, for the thread decision
  const int64_t work = n * out_size * out_size * k * k;
  parallel_for(n, work, max_threads, [&](int64_t b, int64_t e) {
    crop_range(frame, boxes, b, e, out_size, mean, std, supersample, out);
  });
}

}  // namespace deepemotion
