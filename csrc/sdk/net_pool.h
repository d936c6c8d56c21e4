// OpenCV DNN networks for concurrent callers: cv::dnn::Net::forward is not safe to call from two threads on one
// network, so each call takes a network of its own from a pool (made from the same ONNX bytes on first need,
// returned after the call). The pool grows to the number of threads that call at once, no further.
#pragma once

#include <opencv2/dnn.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace deepemotion {

class NetPool {
 public:
  NetPool(std::string onnx, std::string where);

  template <typename F>
  auto run(F&& f) const -> decltype(f(std::declval<cv::dnn::Net&>())) {
    std::unique_ptr<cv::dnn::Net> net = take();
    struct Back {
      const NetPool* pool;
      std::unique_ptr<cv::dnn::Net>* net;
      ~Back() { pool->give(std::move(*net)); }
    } back{this, &net};
    return f(*net);
  }

  const std::string& where() const { return where_; }

 private:
  std::unique_ptr<cv::dnn::Net> take() const;
  void give(std::unique_ptr<cv::dnn::Net> net) const;

  std::string onnx_, where_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<cv::dnn::Net>> free_;
};

}  // namespace deepemotion
