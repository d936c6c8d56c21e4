// Classification on the CPU through OpenCV's DNN module: normalised faces (N, 1, 48, 48) in, probabilities out.
// The graph is split (onnx_split.h): its constant warp head runs in our C++ sampler (ConstantWarp, the same code
// the Python CPU backend runs it with), OpenCV runs the convolutions and fully connected layers, and the score
// calibration and the softmax run here -- the Python backend's float32 operations, then a float64 softmax.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "deepemotion/face.hpp"
#include "ops/affine_grid_sample/constant_warp.h"
#include "sdk/net_pool.h"
#include "sdk/onnx_split.h"

namespace deepemotion {

using Probs = std::array<float, kNumClasses>;

class OpenCvClassifier {
 public:
  explicit OpenCvClassifier(const std::string& path);
  // n faces of in_size x in_size normalised floats; at most max_batch per engine call is the caller's business
  std::vector<Probs> probs(const float* batch, size_t n) const;
  int input_size() const { return split_.in_h; }

 private:
  std::vector<float> logits(const float* batch, size_t n) const;

  SplitGraph split_;
  std::unique_ptr<ConstantWarp> warp_;
  std::unique_ptr<NetPool> pool_;
};

// The calibrated probabilities of (n, kNumClasses) logits (calibration: see onnx_split.h).
std::vector<Probs> calibrated_probs(const std::vector<float>& logits, size_t n, const ScoreCalibration& c);

}  // namespace deepemotion
