// The "host" variant of the contract test links host_launch.cpp in place of the CUDA kernel: the launchers the
// plugin's enqueue calls (affine_grid_sample_cuda_f32/_f16) run the CPU kernel on host memory, synchronously, and
// record each call. Everything enqueue does of its own -- descriptors to a SampleShape, the type dispatch, the
// addresses and the stream it passes on -- then runs and is compared with PyTorch on a machine without a GPU,
// under AddressSanitizer (which also sees any read the sampling math makes outside its buffers). Only the device
// launch itself is left to a GPU (the plain variant; the CUDA op tests run that launcher against PyTorch too).
#pragma once

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/affine_grid_sample/affine_grid_sample.h"

namespace contract {

#if defined(DEEPEMOTION_CONTRACT_HOST_LAUNCH)
constexpr bool kHostLaunch = true;
#else
constexpr bool kHostLaunch = false;
#endif

struct Launch {
  int bits;  // 32 or 16: which launcher was called
  deepemotion::SampleShape shape;
  void const* input;
  float const* theta;
  void* output;
  cudaStream_t stream;
};

// Every launcher call so far (host variant only; always empty elsewhere).
std::vector<Launch>& host_launches();

// IEEE half <-> float, written out here so that the test needs no cuda_fp16.h in host code.
inline float half_to_float(uint16_t h) {
  uint32_t const sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t const exp = (h >> 10) & 0x1Fu;
  uint32_t const mant = h & 0x3FFu;
  if (exp == 0) {  // zero and subnormals: mant * 2^-24
    float const v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  uint32_t const bits = sign | (exp == 0x1Fu ? 0x7F800000u | (mant << 13) : ((exp + 112u) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Nearest half, ties to even, as the CUDA kernel's __float2half_rn stores.
inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  auto const sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t const abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);  // NaN
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // 65520 and up round to infinity
  if (abs < 0x38800000u) {                                                // below 2^-14: subnormal or zero
    float const a = std::fabs(f) * 0x1p24f;                               // in units of 2^-24: exact
    auto q = static_cast<uint32_t>(a);
    float const rest = a - static_cast<float>(q);
    if (rest > 0.5f || (rest == 0.5f && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (((abs >> 23) - 112u) << 10) | ((abs & 0x7FFFFFu) >> 13);
  uint32_t const rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is still right
  return static_cast<uint16_t>(sign | h);
}

}  // namespace contract
