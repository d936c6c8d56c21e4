// Bindings of affine_grid_sample: numpy (CPU kernel) and CUDA arrays (CUDA launchers). Thin: check, dispatch.
#include <cmath>
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "ops/affine_grid_sample/affine_grid_sample.h"
#include "ops/affine_grid_sample/constant_warp.h"

namespace deepemotion {
namespace bindings {
namespace {

constexpr const char* kOp = "affine_grid_sample";

// Checks shared by the CPU and CUDA entry points; returns the sampling shape.
SampleShape check_shapes(const std::vector<int64_t>& in, const std::vector<int64_t>& th, int64_t out_h,
                         int64_t out_w, bool align_corners) {
  check_ndim(in, 4, {kOp, "input"}, "(N, C, H, W)");
  if (th.size() != 3 || th[1] != 2 || th[2] != 3) {
    throw py::value_error(std::string(kOp) + ": theta must have shape (N, 2, 3), got " + shape_str(th));
  }
  if (th[0] != in[0]) {
    throw py::value_error(std::string(kOp) + ": theta has " + std::to_string(th[0]) + " matrices but input has N=" +
                          std::to_string(in[0]) + " images");
  }
  if (out_h <= 0 || out_w <= 0) {
    throw py::value_error(std::string(kOp) + ": out_h and out_w must be positive, got out_h=" + std::to_string(out_h) +
                          ", out_w=" + std::to_string(out_w));
  }
  check_plane(in[2], in[3], {kOp, "input"});
  check_plane(out_h, out_w, {kOp, "output"});
  return SampleShape{in[0], in[1], in[2], in[3], out_h, out_w, align_corners};
}

py::array_t<float> sample_cpu(const py::object& input_obj, const py::object& theta_obj, int64_t out_h, int64_t out_w,
                              bool align_corners, int threads) {
  auto input = check_numpy<float>(input_obj, {kOp, "input"});
  auto theta = check_numpy<float>(theta_obj, {kOp, "theta"});
  const SampleShape s = check_shapes(shape_of(input), shape_of(theta), out_h, out_w, align_corners);
  py::array_t<float> out({s.n, s.c, s.out_h, s.out_w});
  const auto* in_ptr = static_cast<const float*>(input.data());
  const auto* th_ptr = static_cast<const float*>(theta.data());
  float* out_ptr = out.mutable_data();
  {
    py::gil_scoped_release release;
    affine_grid_sample_cpu(in_ptr, th_ptr, out_ptr, s, threads);
  }
  return out;
}

// ConstantWarp from Python: theta (2, 3) float32, the input plane and the output size.
ConstantWarp make_constant_warp(const py::object& theta_obj, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                bool align_corners) {
  auto theta = check_numpy<float>(theta_obj, {"ConstantWarp", "theta"});
  if (shape_of(theta) != std::vector<int64_t>{2, 3}) {
    throw py::value_error("ConstantWarp: theta must have shape (2, 3), got " + shape_str(shape_of(theta)));
  }
  check_plane(in_h, in_w, {"ConstantWarp", "input"});
  check_plane(out_h, out_w, {"ConstantWarp", "output"});
  return ConstantWarp(static_cast<const float*>(theta.data()), in_h, in_w, out_h, out_w, align_corners);
}


void check_quantization(float scale, int zero_point) {
  if (!(scale > 0.0f) || !std::isfinite(scale)) {
    throw py::value_error("ConstantWarp: scale must be a positive finite number, got " + std::to_string(scale));
  }
  if (zero_point < 0 || zero_point > 255) {
    throw py::value_error("ConstantWarp: zero_point must be in 0..255 (uint8), got " + std::to_string(zero_point));
  }
}

// The checked float32 input of a ConstantWarp call (its N, C and planes).
py::array warp_input(const ConstantWarp& w, const py::object& input_obj) {
  auto input = check_numpy<float>(input_obj, {"ConstantWarp", "input"});
  const std::vector<int64_t> in = shape_of(input);
  check_ndim(in, 4, {"ConstantWarp", "input"}, "(N, C, H, W)");
  if (in[2] != w.in_h() || in[3] != w.in_w()) {
    throw py::value_error("ConstantWarp: input planes must be " + std::to_string(w.in_h()) + "x" +
                          std::to_string(w.in_w()) + ", got shape " + shape_str(in));
  }
  return input;
}

// A new array of `shape` filled by fill(input data, output data, N, C) without the GIL.
template <typename T, typename Fill>
py::array_t<T> warp_call(const py::array& input, const std::vector<int64_t>& shape, Fill fill) {
  py::array_t<T> out(shape);
  const auto* src = static_cast<const float*>(input.data());
  T* dst = out.mutable_data();
  const std::vector<int64_t> in = shape_of(input);
  {
    py::gil_scoped_release release;
    fill(src, dst, in[0], in[1]);
  }
  return out;
}

// (N, C, out_h, out_w), or for k x k patches (k = 2 * pad + 1) (N, C * k * k, out_h, out_w) / channels last.
std::vector<int64_t> out_shape(const ConstantWarp& w, const py::array& input, int pad = 0,
                               bool channels_last = false) {
  if (pad < 0 || pad > 8) throw py::value_error("ConstantWarp: pad must be in 0..8, got " + std::to_string(pad));
  const std::vector<int64_t> in = shape_of(input);
  const int64_t k = 2 * static_cast<int64_t>(pad) + 1;
  if (channels_last) return {in[0], w.out_h(), w.out_w(), in[1] * k * k};
  return {in[0], in[1] * k * k, w.out_h(), w.out_w()};
}

py::array_t<float> warp_sample(const ConstantWarp& w, const py::object& input_obj, int threads) {
  const py::array input = warp_input(w, input_obj);
  return warp_call<float>(input, out_shape(w, input), [&](const float* src, float* dst, int64_t n, int64_t c) {
    w.sample(src, dst, n, c, threads);
  });
}

py::array_t<uint8_t> warp_sample_quantized(const ConstantWarp& w, const py::object& input_obj, float scale,
                                           int zero_point, int threads) {
  check_quantization(scale, zero_point);
  const py::array input = warp_input(w, input_obj);
  return warp_call<uint8_t>(input, out_shape(w, input), [&](const float* src, uint8_t* dst, int64_t n, int64_t c) {
    w.sample_quantized(src, dst, n, c, scale, zero_point, threads);
  });
}

py::array_t<float> warp_patches(const ConstantWarp& w, const py::object& input_obj, int pad, bool channels_last,
                                int threads) {
  const py::array input = warp_input(w, input_obj);
  return warp_call<float>(input, out_shape(w, input, pad, channels_last),
                          [&](const float* src, float* dst, int64_t n, int64_t c) {
                            w.sample_patches(src, dst, n, c, pad, channels_last, threads);
                          });
}

py::array_t<uint8_t> warp_patches_quantized(const ConstantWarp& w, const py::object& input_obj, int pad, float scale,
                                            int zero_point, bool channels_last, int threads) {
  check_quantization(scale, zero_point);
  const py::array input = warp_input(w, input_obj);
  return warp_call<uint8_t>(input, out_shape(w, input, pad, channels_last),
                            [&](const float* src, uint8_t* dst, int64_t n, int64_t c) {
                              w.sample_patches_quantized(src, dst, n, c, pad, scale, zero_point, channels_last,
                                                         threads);
                            });
}

#if defined(DEEPEMOTION_WITH_CUDA)
void sample_cuda(const py::object& input_obj, const py::object& theta_obj, const py::object& output_obj,
                 bool align_corners, uintptr_t stream) {
  const CudaArray in = read_cuda_array(input_obj, {kOp, "input"}, {"<f4", "<f2"});
  const CudaArray th = read_cuda_array(theta_obj, {kOp, "theta"}, {"<f4"});
  const CudaArray out = read_cuda_array(output_obj, {kOp, "output"}, {"<f4", "<f2"});
  if (out.typestr != in.typestr) {
    throw py::type_error(std::string(kOp) + ": output dtype (" + out.typestr + ") must equal input dtype (" +
                         in.typestr + ")");
  }
  if (out.readonly) throw py::value_error(std::string(kOp) + ": output is read-only");
  check_ndim(out.shape, 4, {kOp, "output"}, "(N, C, out_h, out_w)");
  const SampleShape s = check_shapes(in.shape, th.shape, out.shape[2], out.shape[3], align_corners);
  if (out.shape[0] != s.n || out.shape[1] != s.c) {
    throw py::value_error(std::string(kOp) + ": output shape " + shape_str(out.shape) + " does not match (N, C) = (" +
                          std::to_string(s.n) + ", " + std::to_string(s.c) + ")");
  }
  auto st = reinterpret_cast<cudaStream_t>(stream);
  cudaError_t err;
  {
    py::gil_scoped_release release;
    if (in.typestr == "<f4") {
      err = affine_grid_sample_cuda_f32(reinterpret_cast<const float*>(in.ptr), reinterpret_cast<const float*>(th.ptr),
                                        reinterpret_cast<float*>(out.ptr), s, st);
    } else {
      err = affine_grid_sample_cuda_f16(reinterpret_cast<const uint16_t*>(in.ptr),
                                        reinterpret_cast<const float*>(th.ptr), reinterpret_cast<uint16_t*>(out.ptr),
                                        s, st);
    }
  }
  check_launch(err, kOp);
}
#endif

}  // namespace

void bind_affine_grid_sample(py::module_& m) {
  m.def("affine_grid_sample_cpu", &sample_cpu, py::arg("input"), py::arg("theta"), py::arg("out_h"), py::arg("out_w"),
        py::arg("align_corners") = false, py::arg("threads") = 0,
        "Affine grid + bilinear sampling (zeros padding) of a float32 NCHW numpy array; theta is (N, 2, 3) float32.");
  py::class_<ConstantWarp>(m, "ConstantWarp",
                           "affine_grid_sample with one theta for every image; its taps are computed once.")
      .def(py::init(&make_constant_warp), py::arg("theta"), py::arg("in_h"), py::arg("in_w"), py::arg("out_h"),
           py::arg("out_w"), py::arg("align_corners") = false)
      .def("sample", &warp_sample, py::arg("input"), py::arg("threads") = 0,
           "float32 (N, C, in_h, in_w) -> float32 (N, C, out_h, out_w): affine_grid_sample_cpu's values.")
      .def("sample_quantized", &warp_sample_quantized, py::arg("input"), py::arg("scale"), py::arg("zero_point"),
           py::arg("threads") = 0,
           "The samples quantized to uint8 as ONNX QuantizeLinear does: saturate(round_half_even(v / scale) + "
           "zero_point).")
      .def("sample_patches", &warp_patches, py::arg("input"), py::arg("pad"), py::arg("channels_last") = false,
           py::arg("threads") = 0,
           "The samples as k x k patches, k = 2 * pad + 1: float32 (N, C * k * k, out_h, out_w), or with "
           "channels_last (N, out_h, out_w, C * k * k); channel (ci * k + dy) * k + dx holds sample "
           "(y + dy - pad, x + dx - pad), 0 outside.")
      .def("sample_patches_quantized", &warp_patches_quantized, py::arg("input"), py::arg("pad"), py::arg("scale"),
           py::arg("zero_point"), py::arg("channels_last") = false, py::arg("threads") = 0,
           "The same patches of the quantized samples (uint8), zero_point outside.")
      .def_property_readonly("in_size", [](const ConstantWarp& w) { return py::make_tuple(w.in_h(), w.in_w()); })
      .def_property_readonly("out_size", [](const ConstantWarp& w) { return py::make_tuple(w.out_h(), w.out_w()); });
#if defined(DEEPEMOTION_WITH_CUDA)
  m.def("affine_grid_sample_cuda", &sample_cuda, py::arg("input"), py::arg("theta"), py::arg("output"),
        py::arg("align_corners") = false, py::arg("stream") = 0,
        "Same op on CUDA arrays (__cuda_array_interface__); writes into `output` (N, C, out_h, out_w) "
        "asynchronously on `stream` (a cudaStream_t as int; 0 = legacy default stream).");
#endif
}

}  // namespace bindings
}  // namespace deepemotion
