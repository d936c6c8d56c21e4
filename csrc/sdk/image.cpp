#include "sdk/image.h"

#include <opencv2/imgproc.hpp>

#include <string>

#include "deepemotion/errors.hpp"

namespace deepemotion {

cv::Mat checked_image(const ImageView& v, const char* what) {
  const std::string name(what);
  if (v.data == nullptr || v.height <= 0 || v.width <= 0) {
    throw Error(ErrorCode::InvalidArgument, name + " is empty (" + std::to_string(v.width) + "x" +
                                                std::to_string(v.height) + ", data " + (v.data ? "set" : "null") + ")");
  }
  if (v.height > kMaxSide || v.width > kMaxSide) {
    throw Error(ErrorCode::InvalidArgument, name + " is " + std::to_string(v.width) + "x" + std::to_string(v.height) +
                                                "; sides above " + std::to_string(kMaxSide) + " pixels are not supported");
  }
  if (v.format != PixelFormat::Gray && v.format != PixelFormat::BGR && v.format != PixelFormat::RGB) {
    throw Error(ErrorCode::InvalidArgument, name + ": format must be PixelFormat::Gray, BGR or RGB, got " +
                                                std::to_string(static_cast<int>(v.format)));
  }
  const int channels = v.format == PixelFormat::Gray ? 1 : 3;
  const size_t packed = static_cast<size_t>(v.width) * static_cast<size_t>(channels);
  if (v.stride != 0 && v.stride < packed) {
    throw Error(ErrorCode::InvalidArgument, name + ": stride " + std::to_string(v.stride) + " is shorter than a row (" +
                                                std::to_string(packed) + " bytes)");
  }
  const cv::Mat wrapped(v.height, v.width, channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t*>(v.data),
                        v.stride ? v.stride : packed);
  cv::Mat out;
  if (v.format == PixelFormat::RGB) {
    cv::cvtColor(wrapped, out, cv::COLOR_RGB2BGR);
  } else {
    out = wrapped.isContinuous() ? wrapped : wrapped.clone();
  }
  return out;
}

FrameView frame_view(const cv::Mat& image) {
  return FrameView{image.ptr<uint8_t>(), image.rows, image.cols, image.channels()};
}

void check_boxes(const std::vector<Box>& boxes, int width, int height) {
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box& b = boxes[i];
    const bool inside = b.width >= 1 && b.height >= 1 && b.x >= 0 && b.y >= 0 &&
                        static_cast<int64_t>(b.x) + b.width <= width && static_cast<int64_t>(b.y) + b.height <= height;
    if (!inside) {
      throw Error(ErrorCode::InvalidArgument,
                  "box " + std::to_string(i) + " (" + std::to_string(b.x) + ", " + std::to_string(b.y) + ", " +
                      std::to_string(b.width) + ", " + std::to_string(b.height) + ") must have w, h >= 1 and lie " +
                      "inside the " + std::to_string(width) + "x" + std::to_string(height) + " frame");
    }
  }
}

}  // namespace deepemotion
