// CUDA kernel of affine_grid_sample: one thread per output pixel, all channels; the math is the
// shared header's. The launchers below are what the Python bindings and the TensorRT plugin call.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "ops/affine_grid_sample/affine_grid_sample.h"
#include "ops/affine_grid_sample/math.h"

namespace deepemotion {
namespace {

template <typename T>
struct Storage;

template <>
struct Storage<float> {
  __device__ static float load(const float* p, int64_t i) { return __ldg(p + i); }
  __device__ static void store(float* p, int64_t i, float v) { p[i] = v; }
};

template <>
struct Storage<__half> {
  __device__ static float load(const __half* p, int64_t i) { return __half2float(p[i]); }
  __device__ static void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
};

template <typename T>
__global__ void affine_grid_sample_kernel(const T* __restrict__ input, const float* __restrict__ theta,
                                          T* __restrict__ output, SampleShape s) {
  const int in_w = static_cast<int>(s.in_w), in_h = static_cast<int>(s.in_h);
  const int out_w = static_cast<int>(s.out_w), out_h = static_cast<int>(s.out_h);
  const int64_t out_plane = s.out_h * s.out_w;
  const int64_t in_plane = s.in_h * s.in_w;
  const int64_t total = s.n * out_plane;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t n = idx / out_plane;
    const int64_t o = idx - n * out_plane;
    const int oy = static_cast<int>(o / out_w);
    const int ox = static_cast<int>(o - static_cast<int64_t>(oy) * out_w);
    float th[6];
#pragma unroll
    for (int k = 0; k < 6; ++k) th[k] = __ldg(theta + n * 6 + k);
    const AffineMap map = make_affine_map(th, out_w, out_h, in_w, in_h, s.align_corners);
    const BilinearTaps taps = bilinear_taps(affine_grid_point(map, ox, oy), in_w, in_h);
    const T* img = input + n * s.c * in_plane;
    T* out = output + n * s.c * out_plane;
    for (int64_t c = 0; c < s.c; ++c) {
      const T* plane = img + c * in_plane;
      const float v = bilinear_sample(taps, in_w, [plane](int i) { return Storage<T>::load(plane, i); });
      Storage<T>::store(out, c * out_plane + o, v);
    }
  }
}

template <typename T>
cudaError_t launch_affine_grid_sample(const T* input, const float* theta, T* output, const SampleShape& s,
                                      cudaStream_t stream) {
  const int64_t total = s.n * s.out_h * s.out_w;
  if (total <= 0 || s.c <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  // Enough blocks to fill any current GPU; the grid-stride loop covers the rest.
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535LL * 8);
  affine_grid_sample_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(input, theta, output, s);
  return cudaGetLastError();
}

}  // namespace

cudaError_t affine_grid_sample_cuda_f32(const float* input, const float* theta, float* output,
                                        const SampleShape& shape, cudaStream_t stream) {
  return launch_affine_grid_sample<float>(input, theta, output, shape, stream);
}

cudaError_t affine_grid_sample_cuda_f16(const uint16_t* input, const float* theta, uint16_t* output,
                                        const SampleShape& shape, cudaStream_t stream) {
  return launch_affine_grid_sample<__half>(reinterpret_cast<const __half*>(input), theta,
                                           reinterpret_cast<__half*>(output), shape, stream);
}

}  // namespace deepemotion
