// deepemotion._C: thin pybind11 bindings. They check shape, dtype and contiguity, pick the CPU or
// CUDA launcher and report what was built. Policy (which backend, fallbacks) lives in Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "deepemotion/affine_grid_sample.h"
#include "deepemotion/crop_faces.h"

#ifndef DEEPEMOTION_VERSION
#define DEEPEMOTION_VERSION "0.0.0"
#endif
#ifndef DEEPEMOTION_CUDA_ARCHS
#define DEEPEMOTION_CUDA_ARCHS ""
#endif

namespace py = pybind11;
using deepemotion::SampleShape;

namespace {

constexpr int64_t kMaxPlane = std::numeric_limits<int32_t>::max();

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// Checks shared by the CPU and CUDA entry points; returns the sampling shape.
SampleShape check_shapes(const std::vector<int64_t>& in, const std::vector<int64_t>& th, int64_t out_h,
                         int64_t out_w, bool align_corners) {
  if (in.size() != 4) {
    throw py::value_error("affine_grid_sample: input must have 4 dimensions (N, C, H, W), got shape " +
                          shape_str(in));
  }
  if (th.size() != 3 || th[1] != 2 || th[2] != 3) {
    throw py::value_error("affine_grid_sample: theta must have shape (N, 2, 3), got " + shape_str(th));
  }
  if (th[0] != in[0]) {
    throw py::value_error("affine_grid_sample: theta has " + std::to_string(th[0]) + " matrices but input has N=" +
                          std::to_string(in[0]) + " images");
  }
  if (out_h <= 0 || out_w <= 0) {
    throw py::value_error("affine_grid_sample: out_h and out_w must be positive, got out_h=" + std::to_string(out_h) +
                          ", out_w=" + std::to_string(out_w));
  }
  if (in[2] <= 0 || in[3] <= 0) {
    throw py::value_error("affine_grid_sample: input height and width must be positive, got shape " + shape_str(in));
  }
  if (in[2] * in[3] > kMaxPlane || out_h * out_w > kMaxPlane) {
    throw py::value_error("affine_grid_sample: one image plane may hold at most 2^31-1 pixels");
  }
  return SampleShape{in[0], in[1], in[2], in[3], out_h, out_w, align_corners};
}

py::array_t<float> check_numpy(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string("affine_grid_sample: ") + name + " must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string("affine_grid_sample: ") + name + " must be float32, got " +
                         std::string(py::str(arr.dtype())));
  }
  if (!(arr.flags() & py::array::c_style)) {
    throw py::value_error(std::string("affine_grid_sample: ") + name +
                          " must be C-contiguous (use numpy.ascontiguousarray)");
  }
  return py::reinterpret_borrow<py::array_t<float>>(arr);
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

py::array_t<float> sample_cpu(const py::object& input_obj, const py::object& theta_obj, int64_t out_h, int64_t out_w,
                              bool align_corners, int threads) {
  auto input = check_numpy(input_obj, "input");
  auto theta = check_numpy(theta_obj, "theta");
  const SampleShape s = check_shapes(shape_of(input), shape_of(theta), out_h, out_w, align_corners);
  py::array_t<float> out({s.n, s.c, s.out_h, s.out_w});
  const float* in_ptr = input.data();
  const float* th_ptr = theta.data();
  float* out_ptr = out.mutable_data();
  {
    py::gil_scoped_release release;
    deepemotion::affine_grid_sample_cpu(in_ptr, th_ptr, out_ptr, s, threads);
  }
  return out;
}

py::array_t<float> crop_faces(const py::object& frame_obj, const py::object& boxes_obj, int out_size, float mean,
                              float std, int supersample, int threads) {
  if (!py::isinstance<py::array>(frame_obj)) {
    throw py::type_error("crop_faces: frame must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(frame_obj).attr("__name__"))));
  }
  auto frame = py::reinterpret_borrow<py::array>(frame_obj);
  if (!frame.dtype().is(py::dtype::of<uint8_t>())) {
    throw py::type_error("crop_faces: frame must be uint8, got " + std::string(py::str(frame.dtype())));
  }
  const auto fshape = shape_of(frame);
  if (!(fshape.size() == 2 || (fshape.size() == 3 && (fshape[2] == 3 || fshape[2] == 1)))) {
    throw py::value_error("crop_faces: frame must be HxW (gray) or HxWx3 (BGR), got shape " + shape_str(fshape));
  }
  if (fshape[0] < 1 || fshape[1] < 1) throw py::value_error("crop_faces: frame is empty, shape " + shape_str(fshape));
  if (fshape[0] * fshape[1] > kMaxPlane) throw py::value_error("crop_faces: frame too large");
  if (!(frame.flags() & py::array::c_style)) {
    throw py::value_error("crop_faces: frame must be C-contiguous (use numpy.ascontiguousarray)");
  }
  if (!py::isinstance<py::array>(boxes_obj)) throw py::type_error("crop_faces: boxes must be a numpy.ndarray");
  auto boxes = py::reinterpret_borrow<py::array>(boxes_obj);
  if (!boxes.dtype().is(py::dtype::of<int32_t>())) {
    throw py::type_error("crop_faces: boxes must be int32, got " + std::string(py::str(boxes.dtype())));
  }
  const auto bshape = shape_of(boxes);
  if (bshape.size() != 2 || bshape[1] != 4) {
    throw py::value_error("crop_faces: boxes must have shape (N, 4) as (x, y, w, h), got " + shape_str(bshape));
  }
  if (!(boxes.flags() & py::array::c_style)) throw py::value_error("crop_faces: boxes must be C-contiguous");
  if (out_size < 1) throw py::value_error("crop_faces: out_size must be positive, got " + std::to_string(out_size));
  if (supersample < 0 || supersample > 16) {
    throw py::value_error("crop_faces: supersample must be in 0..16 (0: per-box auto), got " +
                          std::to_string(supersample));
  }
  if (!(std > 0.0f)) throw py::value_error("crop_faces: std must be positive");
  const int64_t n = bshape[0];
  const auto* b = static_cast<const int32_t*>(boxes.data());
  const int64_t H = fshape[0], W = fshape[1];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x = b[4 * i], y = b[4 * i + 1], w = b[4 * i + 2], h = b[4 * i + 3];
    if (w < 1 || h < 1 || x < 0 || y < 0 || x + w > W || y + h > H) {
      throw py::value_error("crop_faces: box " + std::to_string(i) + " (x=" + std::to_string(x) + ", y=" +
                            std::to_string(y) + ", w=" + std::to_string(w) + ", h=" + std::to_string(h) +
                            ") must have w, h >= 1 and lie inside the " + std::to_string(W) + "x" +
                            std::to_string(H) + " frame");
    }
  }
  py::array_t<float> out({n, int64_t{1}, int64_t{out_size}, int64_t{out_size}});
  const deepemotion::FrameView view{static_cast<const uint8_t*>(frame.data()), static_cast<int>(H),
                                    static_cast<int>(W), fshape.size() == 3 ? static_cast<int>(fshape[2]) : 1};
  float* out_ptr = out.mutable_data();
  {
    py::gil_scoped_release release;
    deepemotion::crop_faces_cpu(view, b, n, out_size, mean, std, supersample, out_ptr, threads);
  }
  return out;
}

#if defined(DEEPEMOTION_WITH_CUDA)
struct CudaArray {
  uintptr_t ptr = 0;
  std::vector<int64_t> shape;
  std::string typestr;
  bool readonly = false;
};

// Reads an object exposing __cuda_array_interface__ (CuPy, PyTorch, Numba, pycuda).
CudaArray read_cuda_array(const py::object& obj, const char* name) {
  const std::string prefix = std::string("affine_grid_sample: ") + name;
  if (!py::hasattr(obj, "__cuda_array_interface__")) {
    throw py::type_error(prefix + " must be a CUDA array exposing __cuda_array_interface__ (CuPy, PyTorch), got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  py::dict cai = obj.attr("__cuda_array_interface__");
  CudaArray a;
  for (auto d : cai["shape"].cast<py::tuple>()) a.shape.push_back(d.cast<int64_t>());
  a.typestr = cai["typestr"].cast<std::string>();
  auto data = cai["data"].cast<py::tuple>();
  a.ptr = data[0].cast<uintptr_t>();
  a.readonly = data[1].cast<bool>();
  if (a.typestr != "<f4" && a.typestr != "<f2") {
    throw py::type_error(prefix + " must be float32 or float16, got typestr " + a.typestr);
  }
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    auto strides = cai["strides"].cast<py::tuple>();
    int64_t expect = a.typestr == "<f4" ? 4 : 2;
    for (int i = static_cast<int>(a.shape.size()) - 1; i >= 0; --i) {
      if (a.shape[i] > 1 && strides[i].cast<int64_t>() != expect) {
        throw py::value_error(prefix + " must be C-contiguous (call .contiguous() / cupy.ascontiguousarray)");
      }
      expect *= a.shape[i];
    }
  }
  int64_t count = 1;
  for (auto d : a.shape) count *= d;
  if (count > 0) {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, reinterpret_cast<void*>(a.ptr)) != cudaSuccess ||
        (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)) {
      cudaGetLastError();  // clear the sticky error of a failed query
      throw py::value_error(prefix + " does not point to CUDA device memory");
    }
  }
  return a;
}

void sample_cuda(const py::object& input_obj, const py::object& theta_obj, const py::object& output_obj,
                 bool align_corners, uintptr_t stream) {
  const CudaArray in = read_cuda_array(input_obj, "input");
  const CudaArray th = read_cuda_array(theta_obj, "theta");
  const CudaArray out = read_cuda_array(output_obj, "output");
  if (th.typestr != "<f4") throw py::type_error("affine_grid_sample: theta must be float32");
  if (out.typestr != in.typestr) {
    throw py::type_error("affine_grid_sample: output dtype (" + out.typestr + ") must equal input dtype (" +
                         in.typestr + ")");
  }
  if (out.readonly) throw py::value_error("affine_grid_sample: output is read-only");
  if (out.shape.size() != 4) {
    throw py::value_error("affine_grid_sample: output must have 4 dimensions, got shape " + shape_str(out.shape));
  }
  const SampleShape s = check_shapes(in.shape, th.shape, out.shape[2], out.shape[3], align_corners);
  if (out.shape[0] != s.n || out.shape[1] != s.c) {
    throw py::value_error("affine_grid_sample: output shape " + shape_str(out.shape) + " does not match (N, C) = (" +
                          std::to_string(s.n) + ", " + std::to_string(s.c) + ")");
  }
  auto st = reinterpret_cast<cudaStream_t>(stream);
  cudaError_t err;
  {
    py::gil_scoped_release release;
    if (in.typestr == "<f4") {
      err = deepemotion::affine_grid_sample_cuda_f32(reinterpret_cast<const float*>(in.ptr),
                                                     reinterpret_cast<const float*>(th.ptr),
                                                     reinterpret_cast<float*>(out.ptr), s, st);
    } else {
      err = deepemotion::affine_grid_sample_cuda_f16(reinterpret_cast<const uint16_t*>(in.ptr),
                                                     reinterpret_cast<const float*>(th.ptr),
                                                     reinterpret_cast<uint16_t*>(out.ptr), s, st);
    }
  }
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("affine_grid_sample: CUDA launch failed: ") + cudaGetErrorString(err));
  }
}

py::dict cuda_device_info(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    throw py::value_error("cuda_device_info: no CUDA device " + std::to_string(device));
  }
  py::dict d;
  d["name"] = std::string(prop.name);
  d["compute_capability"] = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  d["total_memory"] = static_cast<int64_t>(prop.totalGlobalMem);
  d["multiprocessors"] = prop.multiProcessorCount;
  return d;
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}
#endif

py::dict build_info() {
  py::dict d;
  d["version"] = DEEPEMOTION_VERSION;
#if defined(DEEPEMOTION_WITH_CUDA)
  d["cuda"] = true;
  d["cuda_archs"] = std::string(DEEPEMOTION_CUDA_ARCHS);
  d["cuda_version"] = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
#else
  d["cuda"] = false;
  d["cuda_archs"] = std::string();
  d["cuda_version"] = py::none();
#endif
#if defined(DEEPEMOTION_WITH_TENSORRT)
  d["tensorrt"] = true;
#else
  d["tensorrt"] = false;
#endif
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = std::string("unknown");
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "deepemotion C++ core: the affine_grid_sample op (CPU and CUDA) and build information";
  m.attr("__version__") = DEEPEMOTION_VERSION;
  m.def("affine_grid_sample_cpu", &sample_cpu, py::arg("input"), py::arg("theta"), py::arg("out_h"), py::arg("out_w"),
        py::arg("align_corners") = false, py::arg("threads") = 0,
        "Affine grid + bilinear sampling (zeros padding) of a float32 NCHW numpy array; theta is (N, 2, 3) float32.");
  m.def("crop_faces", &crop_faces, py::arg("frame"), py::arg("boxes"), py::arg("out_size") = 48,
        py::arg("mean") = 0.5f, py::arg("std") = 0.5f, py::arg("supersample") = 1, py::arg("threads") = 0,
        "Resample each (x, y, w, h) int32 box of a uint8 HxW / HxWx3 (BGR) frame to out_size^2, gray and "
        "normalised ((v/255 - mean)/std), as one (N, 1, out_size, out_size) float32 array. supersample: "
        "sub-samples per axis (0: per box, clamp(min(w, h) / out_size, 1, 4)).");
#if defined(DEEPEMOTION_WITH_CUDA)
  m.def("affine_grid_sample_cuda", &sample_cuda, py::arg("input"), py::arg("theta"), py::arg("output"),
        py::arg("align_corners") = false, py::arg("stream") = 0,
        "Same op on CUDA arrays (__cuda_array_interface__); writes into `output` (N, C, out_h, out_w) "
        "asynchronously on `stream` (a cudaStream_t as int; 0 = legacy default stream).");
  m.def("cuda_device_count", &cuda_device_count, "Number of CUDA devices visible (0 when no driver or GPU).");
  m.def("cuda_device_info", &cuda_device_info, py::arg("device") = 0,
        "Name, compute capability and memory of a CUDA device.");
#endif
  m.def("build_info", &build_info, "What this build of deepemotion._C contains.");
}
