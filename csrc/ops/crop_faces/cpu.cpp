// CPU kernel of crop_faces: loops around the shared crop math (math.h), threads over faces.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/parallel.h"
#include "ops/crop_faces/crop_faces.h"
#include "ops/crop_faces/math.h"

namespace deepemotion {
namespace {

// One axis of an axis-aligned crop: for each of its n * k sample positions, the clamped source position's corner
// indices, fraction and in-image masks -- computed with exactly the operations crop_pixel uses, so the separable
// path below gives the general path's floats (up to the compiler's contraction of a multiply-add).
struct AxisTaps {
  int i0, i1;
  float a, m0, m1;
};

constexpr int kMaxFastSamples = 2048;  // out_size * k of the separable path's tables

inline void axis_taps(float scale, float offset, int size, int fine, AxisTaps* taps) {
  const float inv = 1.0f / static_cast<float>(fine);
  for (int o = 0; o < fine; ++o) {
    const float u = (static_cast<float>(o) + 0.5f) * inv;
    // crop_pixel: FMA(t0, u, FMA(t1, v, t2)) with t1 = 0 is FMA(t0, u, t2) exactly
    const float px = clamp_to_image(SourcePoint{DEEPEMOTION_FMA(scale, u, offset), 0.0f}, size, 1).x;
    const BilinearTaps t = bilinear_taps(SourcePoint{px, 0.0f}, size, 1);
    const int x0 = static_cast<int>(px) - (static_cast<float>(static_cast<int>(px)) > px ? 1 : 0);
    taps[o] = AxisTaps{t.x0, t.x1, px - static_cast<float>(x0), (x0 >= 0 && x0 < size) ? 1.0f : 0.0f,
                       (x0 + 1 >= 0 && x0 + 1 < size) ? 1.0f : 0.0f};
  }
}

// A box (no rotation or shear): the taps of every sample column and row are computed once, and a BGR region is
// turned gray once instead of at every tap. Same samples, weights and summation order as crop_pixel.
struct BoxTaps {
  AxisTaps xs[kMaxFastSamples], ys[kMaxFastSamples];
  int fine;

  BoxTaps(const CropFace& f, int n) : fine(n * f.k) {
    axis_taps(f.t[0], f.t[2], f.w, fine, xs);
    axis_taps(f.t[4], f.t[5], f.h, fine, ys);
  }
  // The distinct columns and rows the taps read (clip coordinates, ascending: at most 2 * fine each, whatever the
  // face's size); the taps then index these lists instead of the clip.
  void compact(std::vector<int>& cols, std::vector<int>& rows) {
    auto squeeze = [this](AxisTaps* t, std::vector<int>& used) {
      used.clear();
      for (int o = 0; o < fine; ++o) {
        used.push_back(t[o].i0);
        used.push_back(t[o].i1);
      }
      std::sort(used.begin(), used.end());
      used.erase(std::unique(used.begin(), used.end()), used.end());
      auto at = [&used](int i) {
        return static_cast<int>(std::lower_bound(used.begin(), used.end(), i) - used.begin());
      };
      for (int o = 0; o < fine; ++o) {
        t[o].i0 = at(t[o].i0);
        t[o].i1 = at(t[o].i1);
      }
    };
    squeeze(xs, cols);
    squeeze(ys, rows);
  }
};

// `stride`: the row stride of what `load` indexes -- the frame's width, or after taps.compact() the number of
// columns it kept (the taps then index those rows and columns, not the clip).
template <typename Load>
void crop_box(const CropFace& f, const BoxTaps& taps, int n, int stride, Load load, float scale, float shift,
              float* out) {
  const AxisTaps* xs = taps.xs;
  const AxisTaps* ys = taps.ys;
  const float norm = static_cast<float>(f.k * f.k);
  for (int oy = 0; oy < n; ++oy) {
    for (int ox = 0; ox < n; ++ox) {
      float acc = 0.0f;
      for (int sy = 0; sy < f.k; ++sy) {
        const AxisTaps& y = ys[oy * f.k + sy];
        const int r0 = y.i0 * stride, r1 = y.i1 * stride;
        for (int sx = 0; sx < f.k; ++sx) {
          const AxisTaps& x = xs[ox * f.k + sx];
          const float w00 = (1.0f - x.a) * (1.0f - y.a) * (y.m0 * x.m0), w01 = x.a * (1.0f - y.a) * (y.m0 * x.m1);
          const float w10 = (1.0f - x.a) * y.a * (y.m1 * x.m0), w11 = x.a * y.a * (y.m1 * x.m1);
          acc += w00 * load(r0 + x.i0) + w01 * load(r0 + x.i1) + w10 * load(r1 + x.i0) + w11 * load(r1 + x.i1);
        }
      }
      out[oy * n + ox] = acc / norm * scale - shift;
    }
  }
}

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
  const int n = p.out_size;
  if (f.t[1] == 0.0f && f.t[3] == 0.0f && n * f.k <= kMaxFastSamples) {
    BoxTaps taps(f, n);  // on the stack, as the tap tables always were (2 x kMaxFastSamples entries)
    if (Channels == 1) {
      crop_box(f, taps, n, fr.width, load, scale, shift, out);
    } else {  // the pixels the taps read in gray, once: not 4 conversions per sample, nor the whole clip (a frame)
      std::vector<int> cols, rows;
      taps.compact(cols, rows);
      const int w = static_cast<int>(cols.size());
      std::vector<float> gray(cols.size() * rows.size());
      for (size_t y = 0; y < rows.size(); ++y) {
        for (int x = 0; x < w; ++x) gray[y * w + x] = load(rows[y] * fr.width + cols[static_cast<size_t>(x)]);
      }
      crop_box(f, taps, n, w, [&gray](int i) { return gray[static_cast<size_t>(i)]; }, scale, shift, out);
    }
    return;
  }
  for (int oy = 0; oy < n; ++oy) {
    for (int ox = 0; ox < n; ++ox) {
      out[oy * n + ox] = crop_pixel(f, n, fr.width, ox, oy, load) * scale - shift;
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
