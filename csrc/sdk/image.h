// Checking what callers hand to the C++ Recognizer (as python/deepemotion/runtime/inputs.py does for Python):
// images become BGR or gray cv::Mat (continuous), boxes are checked against the frame; bad input throws
// deepemotion::Error(InvalidArgument) naming the problem.
#pragma once

#include <opencv2/core/mat.hpp>

#include <vector>

#include "deepemotion/face.hpp"
#include "deepemotion/recognizer.hpp"
#include "ops/crop_faces/crop_faces.h"

namespace deepemotion {

constexpr int kMaxSide = 1 << 15;  // frames larger than this on a side are refused (as in Python)

cv::Mat checked_image(const ImageView& view, const char* what);
FrameView frame_view(const cv::Mat& image);
void check_boxes(const std::vector<Box>& boxes, int width, int height);

}  // namespace deepemotion
