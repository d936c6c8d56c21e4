// The record of launcher calls (every variant), and in the host variant the CUDA launchers' stand-ins (see
// host_launch.h): FP16 storage is widened to float, run through the same CPU kernel and rounded back to the
// nearest half (ties to even), as the CUDA kernel stores it.
#include "host_launch.h"

#include <cmath>
#include <cstring>

namespace contract {

std::vector<Launch>& host_launches() {
  static std::vector<Launch> calls;
  return calls;
}

}  // namespace contract

#if defined(DEEPEMOTION_CONTRACT_HOST_LAUNCH)
namespace contract {
namespace {

float from_half(uint16_t h) {
  uint32_t const sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t const exp = (h >> 10) & 0x1Fu;
  uint32_t const mant = h & 0x3FFu;
  float v;
  if (exp == 0) {
    v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // subnormal: mant * 2^-24
    if (sign) v = -v;
    return v;
  }
  uint32_t const bits = sign | (exp == 0x1Fu ? 0x7F800000u | (mant << 13) : ((exp + 112u) << 23) | (mant << 13));
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

uint16_t to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  uint16_t const sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t const abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);  // NaN
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: infinity
  if (abs < 0x38800000u) {                                                // below 2^-14: subnormal or zero
    // the value in units of 2^-24, rounded to nearest even
    float const a = std::abs(f) * 16777216.0f;
    auto q = static_cast<uint32_t>(a);
    float const rest = a - static_cast<float>(q);
    if (rest > 0.5f || (rest == 0.5f && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t const mant = abs & 0x7FFFFFu;
  uint32_t h = ((abs >> 23) - 112u) << 10 | (mant >> 13);
  uint32_t const rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is still right
  return static_cast<uint16_t>(sign | h);
}

}  // namespace
}  // namespace contract

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
  for (int64_t i = 0; i < n_in; ++i) x[static_cast<size_t>(i)] = contract::from_half(input[i]);
  affine_grid_sample_cpu(x.data(), theta, y.data(), shape, 1);
  for (int64_t i = 0; i < n_out; ++i) output[i] = contract::to_half(y[static_cast<size_t>(i)]);
  return cudaSuccess;
}

}  // namespace deepemotion
#endif  // DEEPEMOTION_CONTRACT_HOST_LAUNCH
