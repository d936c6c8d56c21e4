// Frame -> model input in one pass: every face is an affine map from the output grid onto the frame,
// resampled with the shared bilinear math (ops/affine_grid_sample/math.h), converted to gray and
// normalised on the fly. Free of pybind11 and TensorRT types; the CPU kernel and the CUDA launcher
// take the same geometry.
//
// Geometry of face i:
//   theta[6*i .. 6*i+5]  maps unit output coordinates (u, v, 1), u = (ox + 0.5) / out_size (pixel centres;
//                        v likewise), to frame pixel coordinates (x, y) (0 = centre of the first pixel):
//                        x = t0 u + t1 v + t2, y = t3 u + t4 v + t5
//   clip[4*i .. 4*i+3]   x0, y0, x1, y1 (exclusive): sample points are clamped into this rectangle, which
//                        must lie inside the frame (edges repeat; nothing outside it is read)
// A box (x, y, w, h) is theta = (w, 0, x - 0.5, 0, h, y - 0.5) with clip = the box: cv2.resize's
// INTER_LINEAR of the box region. Landmark alignment gives a rotated/scaled theta with clip = the frame.
#pragma once

#include <cstdint>

namespace deepemotion {

struct FrameView {
  const uint8_t* data;  // row-major, pixels interleaved (B, G, R) when channels == 3
  int height;
  int width;
  int channels;         // 1 (gray) or 3 (BGR, OpenCV order)
};

struct CropParams {
  int out_size;      // output side (48)
  float mean, std;   // value = (gray / 255 - mean) / std
  int supersample;   // k x k samples per output pixel averaged (an area filter); <= 0: per face,
                     // clamp(min output-axis length in frame pixels / out_size, 1, 4)
};

// Box (x, y, w, h) -> theta and clip as described above.
inline void box_geometry(const int32_t* box, float* theta, int32_t* clip) {
  const float x = static_cast<float>(box[0]), y = static_cast<float>(box[1]);
  theta[0] = static_cast<float>(box[2]);
  theta[1] = 0.0f;
  theta[2] = x - 0.5f;
  theta[3] = 0.0f;
  theta[4] = static_cast<float>(box[3]);
  theta[5] = y - 0.5f;
  clip[0] = box[0];
  clip[1] = box[1];
  clip[2] = box[0] + box[2];
  clip[3] = box[1] + box[3];
}

// out: n x out_size x out_size floats.
void crop_faces_cpu(const FrameView& frame, const float* theta, const int32_t* clip, int64_t n,
                    const CropParams& params, float* out, int max_threads = 0);

}  // namespace deepemotion

#if defined(DEEPEMOTION_WITH_CUDA)
#include <cuda_runtime_api.h>

namespace deepemotion {

// The same on the GPU: frame, theta, clip and out are device pointers; asynchronous on `stream`. Clip
// rectangles are clamped into the frame on the device (they cannot be checked on the host without a copy).
// Returns the launch status; n == 0 launches nothing and returns cudaSuccess.
cudaError_t crop_faces_cuda(const FrameView& frame, const float* theta, const int32_t* clip, int64_t n,
                            const CropParams& params, float* out, cudaStream_t stream);

}  // namespace deepemotion
#endif
