// YuNet (Shiqi Yu et al. 2023) through OpenCV's DNN module, with the decoding of its three strides and the NMS
// of python/deepemotion/runtime/detect/yunet.py (OpenCV 4.6's cv::FaceDetectorYN cannot run the 2023mar model:
// it expects the older model's outputs). Frames are downscaled as in Python so that the smallest wanted face
// keeps kMinDetectorPx detector pixels, padded to a multiple of 32, and the boxes mapped back, rounded, clipped
// and filtered by min_face.
#pragma once

#include <opencv2/core/mat.hpp>

#include <string>
#include <vector>

#include "deepemotion/face.hpp"
#include "sdk/net_pool.h"

namespace deepemotion {

class YuNet {
 public:
  YuNet(const std::string& path, int min_face);
  // BGR or gray frame (continuous, 8-bit)
  std::vector<Detection> detect(const cv::Mat& frame) const;
  const std::string& path() const { return path_; }

 private:
  double scale_for(int h, int w) const;

  std::string path_;
  int min_face_;
  NetPool pool_;
};

// The YuNet file to use: `given`, else $DEEPEMOTION_YUNET, else the user cache Python's download fills;
// Error(NotFound) saying how to get it.
std::string find_yunet(const std::string& given);

}  // namespace deepemotion
