#include "sdk/classifier.h"

#include <algorithm>
#include <cmath>
#include <new>

#include "deepemotion/errors.hpp"
#include "sdk/config.h"
#include "sdk/paths.h"

namespace deepemotion {
namespace {

// faces, then their mirror images (the graph's in-graph flip averaging, done before the warp)
std::vector<float> with_mirrors(const float* x, size_t n, int h, int w) {
  const size_t plane = static_cast<size_t>(h) * w;
  std::vector<float> out(2 * n * plane);
  std::copy(x, x + n * plane, out.begin());
  for (size_t i = 0; i < n; ++i) {
    for (int y = 0; y < h; ++y) {
      const float* src = x + i * plane + static_cast<size_t>(y) * w;
      std::reverse_copy(src, src + w, out.begin() + static_cast<long>((n + i) * plane + static_cast<size_t>(y) * w));
    }
  }
  return out;
}

float calibration_factor(const float* z, const ScoreCalibration& c) {
  float top = z[0];
  for (int k = 1; k < kNumClasses; ++k) top = std::max(top, z[k]);
  float sum = 0.0f;
  for (int k = 0; k < kNumClasses; ++k) sum += std::exp(z[k] - top);
  const float pmax = 1.0f / sum;  // the largest softmax probability: exp(0) / sum
  float t = 0.0f;
  for (size_t k = 0; k < c.knots.size(); ++k) t += std::max(pmax - c.knots[k], 0.0f) * c.scales[k];
  return t + c.bias;
}

}  // namespace

std::vector<Probs> calibrated_probs(const std::vector<float>& logits, size_t n, const ScoreCalibration& c) {
  std::vector<Probs> out(n);
  for (size_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * kNumClasses;
    const float t = c.present ? calibration_factor(z, c) : 1.0f;
    double v[kNumClasses];
    double top = -INFINITY, sum = 0.0;
    for (int k = 0; k < kNumClasses; ++k) top = std::max(top, v[k] = static_cast<double>(z[k] * t));
    for (int k = 0; k < kNumClasses; ++k) sum += (v[k] = std::exp(v[k] - top));
    for (int k = 0; k < kNumClasses; ++k) out[i][static_cast<size_t>(k)] = static_cast<float>(v[k] / sum);
  }
  return out;
}

OpenCvClassifier::OpenCvClassifier(const std::string& path) {
  const std::string onnx = read_file(path, "model file");
  try {
    split_ = split_graph(onnx, path);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {  // out of memory is not a damaged model
    throw;
  } catch (const std::exception& e) {  // a malformed graph: any failure to read it is the model's
    throw Error(ErrorCode::Model, e.what());
  }
  if (split_.in_h != config::kInputSize || split_.in_w != config::kInputSize) {
    throw Error(ErrorCode::Model, path + ": the model's input is " + std::to_string(split_.in_h) + "x" +
                                      std::to_string(split_.in_w) + " but this library crops faces to " +
                                      std::to_string(config::kInputSize) + "x" + std::to_string(config::kInputSize));
  }
  warp_ = std::make_unique<ConstantWarp>(split_.theta.data(), split_.in_h, split_.in_w, split_.out_h, split_.out_w,
                                         false);
  pool_ = std::make_unique<NetPool>(split_.rest, path);
  const std::vector<float> blank(static_cast<size_t>(split_.in_h) * split_.in_w, 0.0f);
  logits(blank.data(), 1);  // a graph whose rest does not give (1, classes) is refused now
}

std::vector<float> OpenCvClassifier::logits(const float* batch, size_t n) const {
  const int h = split_.in_h, w = split_.in_w;
  std::vector<float> doubled;
  const float* x = batch;
  size_t m = n;
  if (split_.flip) {
    doubled = with_mirrors(batch, n, h, w);
    x = doubled.data();
    m = 2 * n;
  }
  const int dims[4] = {static_cast<int>(m), 1, split_.out_h, split_.out_w};
  cv::Mat warped(4, dims, CV_32F);
  warp_->sample(x, warped.ptr<float>(), static_cast<int64_t>(m), 1, 1);
  cv::Mat out = pool_->run([&](cv::dnn::Net& net) {
    try {
      net.setInput(warped);
      return net.forward().clone();
    } catch (const cv::Exception& e) {
      throw Error(ErrorCode::Model, pool_->where() + ": OpenCV cannot run the graph (" + e.msg + ")");
    }
  });
  if (out.total() != m * kNumClasses) {
    throw Error(ErrorCode::Model, pool_->where() + ": the model returned " + std::to_string(out.total()) +
                                      " values for " + std::to_string(m) + " faces; a deepemotion model returns " +
                                      std::to_string(kNumClasses) + " logits per face");
  }
  const float* o = out.ptr<float>();
  std::vector<float> z(o, o + m * kNumClasses);
  if (split_.flip) {  // the model's average of each face and its mirror image
    for (size_t i = 0; i < n * kNumClasses; ++i) z[i] = (z[i] + z[i + n * kNumClasses]) / 2.0f;
    z.resize(n * kNumClasses);
  }
  for (float v : z) {
    if (!std::isfinite(v)) throw Error(ErrorCode::Model, pool_->where() + ": the model returned NaN or infinite logits");
  }
  return z;
}

std::vector<Probs> OpenCvClassifier::probs(const float* batch, size_t n) const {
  if (n == 0) return {};
  return calibrated_probs(logits(batch, n), n, split_.calibration);
}

}  // namespace deepemotion
