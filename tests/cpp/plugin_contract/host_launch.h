// The "host" variant of the contract test links host_launch.cpp in place of the CUDA kernel: the launchers the
// plugin's enqueue calls (affine_grid_sample_cuda_f32/_f16) run the CPU kernel on host memory, synchronously, and
// record each call. Everything enqueue does of its own -- descriptors to a SampleShape, the type dispatch, the
// addresses and the stream it passes on -- then runs and is compared with PyTorch on a machine without a GPU,
// under AddressSanitizer (which also sees any read the sampling math makes outside its buffers). Only the device
// launch itself is left to a GPU (the plain variant; the CUDA op tests run that launcher against PyTorch too).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
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

}  // namespace contract
