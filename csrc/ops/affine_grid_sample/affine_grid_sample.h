// Public C++ entry points of the affine_grid_sample op. Free of pybind11 and TensorRT types:
// the Python bindings and the TensorRT plugin both call these.
//
// Shapes (all tensors dense, row-major, NCHW):
//   input  N x C x in_h x in_w
//   theta  N x 2 x 3          (float32 always)
//   output N x C x out_h x out_w
// Semantics: torch.nn.functional.affine_grid(theta, (N, C, out_h, out_w), align_corners)
// followed by grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners).
#pragma once

#include <cstdint>

namespace deepemotion {

struct SampleShape {
  int64_t n;
  int64_t c;
  int64_t in_h;
  int64_t in_w;
  int64_t out_h;
  int64_t out_w;
  bool align_corners;
};

// CPU kernel. Splits the batch over up to `max_threads` threads when the work is large enough
// to pay for them (max_threads <= 0: one per hardware thread).
void affine_grid_sample_cpu(const float* input, const float* theta, float* output, const SampleShape& shape,
                            int max_threads = 0);

}  // namespace deepemotion

#if defined(DEEPEMOTION_WITH_CUDA)
#include <cuda_runtime_api.h>

namespace deepemotion {

// CUDA launchers: device pointers, asynchronous on `stream`. Storage of input/output is float32
// or IEEE half (passed as raw 16-bit words so that callers need no cuda_fp16.h); theta is
// float32 and all coordinate math is float32. Returns the launch status; an empty output
// launches nothing and returns cudaSuccess.
cudaError_t affine_grid_sample_cuda_f32(const float* input, const float* theta, float* output,
                                        const SampleShape& shape, cudaStream_t stream);
cudaError_t affine_grid_sample_cuda_f16(const uint16_t* input, const float* theta, uint16_t* output,
                                        const SampleShape& shape, cudaStream_t stream);

}  // namespace deepemotion
#endif
