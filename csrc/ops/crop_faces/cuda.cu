// CUDA kernel of crop_faces: one thread per output pixel of every face, the shared crop math (math.h).
// Keeps frames that already live on the GPU (a camera's NVMM/CUDA buffers on a Jetson) on the GPU.
#include <algorithm>
#include <cstdint>

#include "ops/crop_faces/crop_faces.h"
#include "ops/crop_faces/math.h"

namespace deepemotion {
namespace {

template <int Channels>
__global__ void crop_faces_kernel(const uint8_t* __restrict__ frame, int width, int height,
                                  const float* __restrict__ theta,
                                  const int32_t* __restrict__ clip, int64_t n, CropParams p, float* __restrict__ out) {
  const int64_t plane = static_cast<int64_t>(p.out_size) * p.out_size;
  const int64_t total = n * plane;
  const float scale = 1.0f / (255.0f * p.std);
  const float shift = p.mean / p.std;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t i = idx / plane;
    const int o = static_cast<int>(idx - i * plane);
    const int oy = o / p.out_size, ox = o - oy * p.out_size;
    float t[6];
    int32_t c[4];
#pragma unroll
    for (int k = 0; k < 6; ++k) t[k] = __ldg(theta + i * 6 + k);
#pragma unroll
    for (int k = 0; k < 4; ++k) c[k] = __ldg(clip + i * 4 + k);
    // the rectangle comes from device memory the bindings cannot check: clamp it into the frame, non-empty
    c[0] = min(max(c[0], 0), width - 1);
    c[1] = min(max(c[1], 0), height - 1);
    c[2] = min(max(c[2], c[0] + 1), width);
    c[3] = min(max(c[3], c[1] + 1), height);
    const CropFace f = make_crop_face(t, c, p.supersample, p.out_size);
    const uint8_t* roi = frame + (static_cast<int64_t>(f.y0) * width + f.x0) * Channels;
    auto load = [roi](int j) -> float {
      if (Channels == 1) return static_cast<float>(__ldg(roi + j));
      const uint8_t* px = roi + static_cast<int64_t>(j) * 3;
      return bgr_to_gray(__ldg(px), __ldg(px + 1), __ldg(px + 2));
    };
    out[idx] = crop_pixel(f, p.out_size, width, ox, oy, load) * scale - shift;
  }
}

}  // namespace

cudaError_t crop_faces_cuda(const FrameView& frame, const float* theta, const int32_t* clip, int64_t n,
                            const CropParams& params, float* out, cudaStream_t stream) {
  const int64_t total = n * static_cast<int64_t>(params.out_size) * params.out_size;
  if (total <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535LL * 8);
  if (frame.channels == 3) {
    crop_faces_kernel<3><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        frame.data, frame.width, frame.height, theta, clip, n, params, out);
  } else {
    crop_faces_kernel<1><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        frame.data, frame.width, frame.height, theta, clip, n, params, out);
  }
  return cudaGetLastError();
}

}  // namespace deepemotion
