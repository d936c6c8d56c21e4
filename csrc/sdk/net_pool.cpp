#include "sdk/net_pool.h"

#include "deepemotion/errors.hpp"

namespace deepemotion {

NetPool::NetPool(std::string onnx, std::string where) : onnx_(std::move(onnx)), where_(std::move(where)) {
  give(take());  // the first network now: a graph OpenCV cannot read fails here, not at the first call
}

std::unique_ptr<cv::dnn::Net> NetPool::take() const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      auto net = std::move(free_.back());
      free_.pop_back();
      return net;
    }
  }
  try {
    auto net = std::make_unique<cv::dnn::Net>(cv::dnn::readNetFromONNX(onnx_.data(), onnx_.size()));
    net->setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net->setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return net;
  } catch (const cv::Exception& e) {
    throw Error(ErrorCode::Model, where_ + ": OpenCV's DNN module cannot load this graph (" + e.msg + ")");
  }
}

void NetPool::give(std::unique_ptr<cv::dnn::Net> net) const {
  if (!net) return;
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(std::move(net));
}

}  // namespace deepemotion
