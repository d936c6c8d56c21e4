// Frame -> model input in one pass: for every face box, resample the box region of a uint8 frame
// (BGR or gray) to out_size x out_size with the shared bilinear math, converting to gray and
// normalising on the fly. Free of pybind11 types.
#pragma once

#include <cstdint>

namespace deepemotion {

struct FrameView {
  const uint8_t* data;  // row-major, pixels interleaved (B, G, R) when channels == 3
  int height;
  int width;
  int channels;         // 1 (gray) or 3 (BGR, OpenCV order)
};

// boxes: n x 4 integer boxes (x, y, w, h), each fully inside the frame with w, h >= 1.
// out: n x out_size x out_size floats, value = (gray / 255 - mean) / std.
// Sampling is cv2.resize(INTER_LINEAR) of the box region (edges repeat, nothing outside the box
// is read); with supersample k > 1, each output pixel averages a k x k grid of such samples
// (an area filter for boxes much larger than out_size); k <= 0 picks, per box,
// clamp(min(w, h) / out_size, 1, 4).
void crop_faces_cpu(const FrameView& frame, const int32_t* boxes, int64_t n, int out_size, float mean, float std,
                    int supersample, float* out, int max_threads = 0);

}  // namespace deepemotion
