// The record of launcher calls (every variant), and in the host variant the CUDA launchers' stand-ins (see
// host_launch.h): FP16 storage is widened to float, run through the same CPU kernel and rounded back to the
// nearest half (ties to even), as the CUDA kernel stores it.
#include "host_launch.h"

#include <vector>

namespace contract {

std::vector<Launch>& host_launches() {
  static std::vector<Launch> calls;
  return calls;
}

}  // namespace contract

#if defined(DEEPEMOTION_CONTRACT_HOST_LAUNCH)
namespace deepemotion {

cudaError_t affine_grid_sample_cuda_f32(const float* input, const float* theta, float* output,
                                        const SampleShape& shape, cudaStream_t stream) {
  contract::host_launches().push_back({32, shape, input, theta, output, stream});
  if (shape.n * shape.c * shape.out_h * shape.out_w == 0) return cudaSuccess;
  affine_grid_sample_cpu(input, theta, output, shape, 1);
  return cudaSuccess;
}

cudaError_t affine_grid_sample_cuda_f16(const uint16_t* input, const float* theta, uint16_t* output,
                                        const SampleShape& shape, cudaStream_t stream) {
  contract::host_launches().push_back({16, shape, input, theta, output, stream});
  int64_t const n_in = shape.n * shape.c * shape.in_h * shape.in_w;
  int64_t const n_out = shape.n * shape.c * shape.out_h * shape.out_w;
  if (n_out == 0) return cudaSuccess;
  std::vector<float> x(static_cast<size_t>(n_in)), y(static_cast<size_t>(n_out));
  for (int64_t i = 0; i < n_in; ++i) x[static_cast<size_t>(i)] = contract::half_to_float(input[i]);
  affine_grid_sample_cpu(x.data(), theta, y.data(), shape, 1);
  for (int64_t i = 0; i < n_out; ++i) output[i] = contract::float_to_half(y[static_cast<size_t>(i)]);
  return cudaSuccess;
}

}  // namespace deepemotion
#endif  // DEEPEMOTION_CONTRACT_HOST_LAUNCH
