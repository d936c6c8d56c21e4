// CPU kernel of crop_faces: loops around the shared crop math (math.h), threads over faces.
#include <cmath>

#include "common/parallel.h"
#include "ops/crop_faces/crop_faces.h"
#include "ops/crop_faces/math.h"

namespace deepemotion {
namespace {

template <int Channels>
void crop_one(const FrameView& fr, const float* theta, const int32_t* clip, const CropParams& p, float* out) {
  const CropFace f = make_crop_face(theta, clip, p.supersample, p.out_size);
  const uint8_t* roi = fr.data + (static_cast<int64_t>(f.y0) * fr.width + f.x0) * Channels;
  auto load = [roi](int i) -> float {
    if (Channels == 1) return static_cast<float>(roi[i]);
    const uint8_t* px = roi + static_cast<int64_t>(i) * 3;
    return bgr_to_gray(px[0], px[1], px[2]);
  };
  const float scale = 1.0f / (255.0f * p.std);
  const float shift = p.mean / p.std;
  for (int oy = 0; oy < p.out_size; ++oy) {
    for (int ox = 0; ox < p.out_size; ++ox) {
      out[oy * p.out_size + ox] = crop_pixel(f, p.out_size, fr.width, ox, oy, load) * scale - shift;
    }
  }
}

}  // namespace

void crop_faces_cpu(const FrameView& frame, const float* theta, const int32_t* clip, int64_t n,
                    const CropParams& params, float* out, int max_threads) {
  if (n <= 0 || params.out_size <= 0) return;
  const int64_t plane = static_cast<int64_t>(params.out_size) * params.out_size;
  const int64_t k = params.supersample > 0 ? params.supersample : 2;  // a typical auto value, for the thread decision
  parallel_for(n, n * plane * k * k, max_threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (frame.channels == 3) {
        crop_one<3>(frame, theta + 6 * i, clip + 4 * i, params, out + i * plane);
      } else {
        crop_one<1>(frame, theta + 6 * i, clip + 4 * i, params, out + i * plane);
      }
    }
  });
}

}  // namespace deepemotion
