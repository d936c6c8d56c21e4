// Bindings of crop_faces: boxes or affine maps on a numpy frame (CPU kernel), and the CUDA launcher for
// frames that live on the GPU. Thin: check, build the geometry, dispatch.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "ops/crop_faces/crop_faces.h"

namespace deepemotion {
namespace bindings {
namespace {

constexpr const char* kOp = "crop_faces";

CropParams check_params(int out_size, float mean, float std, int supersample) {
  check_size(out_size, 1, 4096, {kOp, "out_size"});
  check_size(supersample, 0, 16, {kOp, "supersample (0: per-face auto)"});
  if (!(std > 0.0f) || !std::isfinite(std) || !std::isfinite(mean)) {
    throw py::value_error(std::string(kOp) + ": std must be a positive number and mean finite");
  }
  return CropParams{out_size, mean, std, supersample};
}

// frame: uint8 HxW or HxWx3 (HxWx1 taken as gray), C-contiguous
FrameView check_frame(const py::object& obj, py::array& keep) {
  keep = check_numpy<uint8_t>(obj, {kOp, "frame"});
  const auto s = shape_of(keep);
  if (!(s.size() == 2 || (s.size() == 3 && (s[2] == 3 || s[2] == 1)))) {
    throw py::value_error(std::string(kOp) + ": frame must be HxW (gray) or HxWx3 (BGR), got shape " + shape_str(s));
  }
  if (s[0] < 1 || s[1] < 1) throw py::value_error(std::string(kOp) + ": frame is empty, shape " + shape_str(s));
  check_plane(s[0], s[1], {kOp, "frame"});
  return FrameView{static_cast<const uint8_t*>(keep.data()), static_cast<int>(s[0]), static_cast<int>(s[1]),
                   s.size() == 3 ? static_cast<int>(s[2]) : 1};
}

// A C-contiguous numpy array of T with shape (N, d1, d2...) = (N, *tail); returns N.
template <typename T>
int64_t check_batch(const py::object& obj, py::array& keep, const char* name, const std::vector<int64_t>& tail,
                    const char* layout) {
  keep = check_numpy<T>(obj, {kOp, name});
  const auto s = shape_of(keep);
  if (s.size() != tail.size() + 1 || !std::equal(tail.begin(), tail.end(), s.begin() + 1)) {
    throw py::value_error(std::string(kOp) + ": " + name + " must have shape " + layout + ", got " + shape_str(s));
  }
  return s[0];
}

py::array_t<float> run_cpu(const FrameView& f, const std::vector<float>& theta, const std::vector<int32_t>& clip,
                           int64_t n, const CropParams& p, int threads) {
  py::array_t<float> out({n, int64_t{1}, int64_t{p.out_size}, int64_t{p.out_size}});
  float* out_ptr = out.mutable_data();
  {
    py::gil_scoped_release release;
    crop_faces_cpu(f, theta.data(), clip.data(), n, p, out_ptr, threads);
  }
  return out;
}

py::array_t<float> crop_boxes(const py::object& frame_obj, const py::object& boxes_obj, int out_size, float mean,
                              float std, int supersample, int threads) {
  py::array frame_keep;
  const FrameView f = check_frame(frame_obj, frame_keep);
  py::array boxes;
  const int64_t n = check_batch<int32_t>(boxes_obj, boxes, "boxes", {4}, "(N, 4) as (x, y, w, h)");
  const CropParams p = check_params(out_size, mean, std, supersample);
  const auto* b = static_cast<const int32_t*>(boxes.data());
  std::vector<float> theta(static_cast<size_t>(n) * 6);
  std::vector<int32_t> clip(static_cast<size_t>(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x = b[4 * i], y = b[4 * i + 1], w = b[4 * i + 2], h = b[4 * i + 3];
    if (w < 1 || h < 1 || x < 0 || y < 0 || x + w > f.width || y + h > f.height) {
      throw py::value_error(std::string(kOp) + ": box " + std::to_string(i) + " (x=" + std::to_string(x) + ", y=" +
                            std::to_string(y) + ", w=" + std::to_string(w) + ", h=" + std::to_string(h) +
                            ") must have w, h >= 1 and lie inside the " + std::to_string(f.width) + "x" +
                            std::to_string(f.height) + " frame");
    }
    box_geometry(b + 4 * i, theta.data() + 6 * i, clip.data() + 4 * i);
  }
  return run_cpu(f, theta, clip, n, p, threads);
}

// (theta (N, 2, 3), clip (N, 4)) of boxes, as crop_faces builds them (for the GPU path's theta + clip).
py::tuple box_geometry_array(const py::object& boxes_obj) {
  py::array boxes;
  const int64_t n = check_batch<int32_t>(boxes_obj, boxes, "boxes", {4}, "(N, 4) as (x, y, w, h)");
  py::array_t<float> theta({n, int64_t{2}, int64_t{3}});
  py::array_t<int32_t> clip({n, int64_t{4}});
  const auto* b = static_cast<const int32_t*>(boxes.data());
  for (int64_t i = 0; i < n; ++i) box_geometry(b + 4 * i, theta.mutable_data() + 6 * i, clip.mutable_data() + 4 * i);
  return py::make_tuple(theta, clip);
}

py::array_t<float> crop_affine(const py::object& frame_obj, const py::object& theta_obj, int out_size, float mean,
                               float std, int supersample, int threads) {
  py::array frame_keep;
  const FrameView f = check_frame(frame_obj, frame_keep);
  py::array th;
  const int64_t n = check_batch<float>(theta_obj, th, "theta", {2, 3}, "(N, 2, 3)");
  const CropParams p = check_params(out_size, mean, std, supersample);
  const auto* t = static_cast<const float*>(th.data());
  std::vector<float> theta(t, t + n * 6);
  for (int64_t i = 0; i < n * 6; ++i) {
    if (!std::isfinite(theta[static_cast<size_t>(i)]) || std::fabs(theta[static_cast<size_t>(i)]) > 1e7f) {
      throw py::value_error(std::string(kOp) + ": theta " + std::to_string(i / 6) +
                            " holds a non-finite or huge value");
    }
  }
  std::vector<int32_t> clip(static_cast<size_t>(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    clip[4 * i] = 0;
    clip[4 * i + 1] = 0;
    clip[4 * i + 2] = f.width;
    clip[4 * i + 3] = f.height;
  }
  return run_cpu(f, theta, clip, n, p, threads);
}

#if defined(DEEPEMOTION_WITH_CUDA)
void crop_cuda(const py::object& frame_obj, const py::object& theta_obj, const py::object& clip_obj,
               const py::object& out_obj, float mean, float std, int supersample, uintptr_t stream) {
  const CudaArray fr = read_cuda_array(frame_obj, {kOp, "frame"}, {"|u1"});
  const CudaArray th = read_cuda_array(theta_obj, {kOp, "theta"}, {"<f4"});
  const CudaArray cl = read_cuda_array(clip_obj, {kOp, "clip"}, {"<i4"});
  const CudaArray out = read_cuda_array(out_obj, {kOp, "output"}, {"<f4"});
  const auto& s = fr.shape;
  if (!(s.size() == 2 || (s.size() == 3 && (s[2] == 3 || s[2] == 1)))) {
    throw py::value_error(std::string(kOp) + ": frame must be HxW (gray) or HxWx3 (BGR), got shape " + shape_str(s));
  }
  check_plane(s[0], s[1], {kOp, "frame"});
  if (th.shape.size() != 3 || th.shape[1] != 2 || th.shape[2] != 3) {
    throw py::value_error(std::string(kOp) + ": theta must have shape (N, 2, 3), got " + shape_str(th.shape));
  }
  const int64_t n = th.shape[0];
  if (cl.shape != std::vector<int64_t>{n, 4}) {
    throw py::value_error(std::string(kOp) + ": clip must have shape (N, 4) = " + shape_str({n, 4}) + ", got " +
                          shape_str(cl.shape));
  }
  if (out.readonly || out.shape.size() != 4 || out.shape[0] != n || out.shape[1] != 1 || out.shape[2] != out.shape[3]) {
    throw py::value_error(std::string(kOp) + ": output must be a writable (N, 1, S, S) array, got " +
                          shape_str(out.shape));
  }
  const CropParams p = check_params(static_cast<int>(out.shape[2]), mean, std, supersample);
  // clip rectangles stay on the device: the kernel clamps each into the frame (no host round trip)
  const FrameView f{reinterpret_cast<const uint8_t*>(fr.ptr), static_cast<int>(s[0]), static_cast<int>(s[1]),
                    s.size() == 3 ? static_cast<int>(s[2]) : 1};
  cudaError_t err;
  {
    py::gil_scoped_release release;
    err = crop_faces_cuda(f, reinterpret_cast<const float*>(th.ptr), reinterpret_cast<const int32_t*>(cl.ptr), n, p,
                          reinterpret_cast<float*>(out.ptr), reinterpret_cast<cudaStream_t>(stream));
  }
  check_launch(err, kOp);
}
#endif

}  // namespace

void bind_crop_faces(py::module_& m) {
  // No defaults for the input size, normalisation and supersampling: Python passes deepemotion.labels' values
  // (the one definition), so that the two languages cannot disagree.
  m.def("crop_faces", &crop_boxes, py::arg("frame"), py::arg("boxes"), py::arg("out_size"), py::arg("mean"),
        py::arg("std"), py::arg("supersample"), py::arg("threads") = 0,
        "Resample each (x, y, w, h) int32 box of a uint8 HxW / HxWx3 (BGR) frame to out_size^2, gray and "
        "normalised ((v/255 - mean)/std), as one (N, 1, out_size, out_size) float32 array. supersample: "
        "sub-samples per axis (0: per box, clamp(min(w, h) / out_size, 1, 4)).");
  m.def("crop_faces_affine", &crop_affine, py::arg("frame"), py::arg("theta"), py::arg("out_size"), py::arg("mean"),
        py::arg("std"), py::arg("supersample"), py::arg("threads") = 0,
        "Like crop_faces, with each face given as an affine map theta (N, 2, 3) float32 from unit output "
        "coordinates (u, v, 1) to frame pixel coordinates; sample points are clamped into the frame.");
  m.def("crop_box_geometry", &box_geometry_array, py::arg("boxes"),
        "(theta (N, 2, 3) float32, clip (N, 4) int32) of (x, y, w, h) int32 boxes: the geometry crop_faces uses "
        "(crop_faces.h box_geometry), for the GPU path, which takes theta and clip.");
#if defined(DEEPEMOTION_WITH_CUDA)
  m.def("crop_faces_cuda", &crop_cuda, py::arg("frame"), py::arg("theta"), py::arg("clip"), py::arg("output"),
        py::arg("mean"), py::arg("std"), py::arg("supersample"), py::arg("stream") = 0,
        "The crop on the GPU: CUDA arrays frame (uint8 HxW[x3]), theta (N, 2, 3) float32, clip (N, 4) int32 "
        "(x0, y0, x1, y1), output (N, 1, S, S) float32; asynchronous on `stream`.");
#endif
}

}  // namespace bindings
}  // namespace deepemotion
