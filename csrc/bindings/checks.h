// Input checks for every binding (the role of mmcv's CHECK_*_INPUT / torchvision's TORCH_CHECK): one
// helper per property, each raising a Python TypeError/ValueError whose message names the op and the
// argument. Header-only; shared by deepemotion._C and deepemotion._trt.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(DEEPEMOTION_WITH_CUDA) || defined(DEEPEMOTION_WITH_TENSORRT)
#include <cuda_runtime_api.h>
#endif

namespace deepemotion {
namespace bindings {

namespace py = pybind11;

// Largest image plane (pixels) any op takes: indices stay within int32.
constexpr int64_t kMaxPlane = std::numeric_limits<int32_t>::max();

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

inline std::string type_name(const py::handle& obj) { return std::string(py::str(py::type::of(obj).attr("__name__"))); }

// Where an error happened: "op: arg".
struct Arg {
  const char* op;
  const char* name;
  std::string prefix() const { return std::string(op) + ": " + name; }
};

inline std::vector<int64_t> shape_of(const py::array& a) { return std::vector<int64_t>(a.shape(), a.shape() + a.ndim()); }

// A C-contiguous numpy array of dtype T (dtype compared by kind and size, so that a float32 carrying
// metadata is float32 too).
template <typename T>
py::array check_numpy(const py::object& obj, const Arg& arg) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(arg.prefix() + " must be a numpy.ndarray, got " + type_name(obj));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  const py::dtype want = py::dtype::of<T>();
  if (a.dtype().kind() != want.kind() || a.dtype().itemsize() != want.itemsize() ||
      !a.dtype().attr("isnative").cast<bool>()) {
    throw py::type_error(arg.prefix() + " must be " + std::string(py::str(want)) + ", got " +
                         std::string(py::str(a.dtype())));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(arg.prefix() + " must be C-contiguous (use numpy.ascontiguousarray)");
  }
  return a;
}

inline void check_ndim(const std::vector<int64_t>& shape, size_t ndim, const Arg& arg, const char* layout) {
  if (shape.size() != ndim) {
    throw py::value_error(arg.prefix() + " must have " + std::to_string(ndim) + " dimensions " + layout +
                          ", got shape " + shape_str(shape));
  }
}

inline void check_size(int64_t value, int64_t lo, int64_t hi, const Arg& arg) {
  if (value < lo || value > hi) {
    throw py::value_error(arg.prefix() + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                          std::to_string(value));
  }
}

inline void check_plane(int64_t h, int64_t w, const Arg& arg) {
  // each side first, so that the product cannot overflow
  if (h <= 0 || w <= 0) {
    throw py::value_error(arg.prefix() + " height and width must be positive, got " + std::to_string(h) + "x" +
                          std::to_string(w));
  }
  if (h > kMaxPlane || w > kMaxPlane || h * w > kMaxPlane) {
    throw py::value_error(arg.prefix() + ": one image plane may hold at most 2^31-1 pixels, got " +
                          std::to_string(h) + "x" + std::to_string(w));
  }
}

// An object exposing __cuda_array_interface__ (CuPy, PyTorch, Numba, pycuda), checked to be C-contiguous
// device memory of one of the allowed typestrs ("<f4", "<f2", "|u1", "<i4").
struct CudaArray {
  uintptr_t ptr = 0;
  std::vector<int64_t> shape;
  std::string typestr;
  bool readonly = false;
  int64_t count() const {
    int64_t c = 1;
    for (auto d : shape) c *= d;
    return c;
  }
};

inline int64_t typestr_size(const std::string& t) { return t.size() >= 3 ? std::stoll(t.substr(2)) : 0; }

inline std::string typestr_name(const std::string& t) {
  if (t == "<f4") return "float32";
  if (t == "<f2") return "float16";
  if (t == "|u1") return "uint8";
  if (t == "<i4") return "int32";
  return "typestr " + t;
}

#if defined(DEEPEMOTION_WITH_CUDA) || defined(DEEPEMOTION_WITH_TENSORRT)
// A kernel launch that failed becomes a RuntimeError naming the op and CUDA's reason.
inline void check_launch(cudaError_t err, const char* op) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(op) + ": CUDA launch failed: " + cudaGetErrorString(err));
}

inline CudaArray read_cuda_array(const py::object& obj, const Arg& arg, const std::vector<std::string>& allowed) {
  if (!py::hasattr(obj, "__cuda_array_interface__")) {
    throw py::type_error(arg.prefix() + " must be a CUDA array exposing __cuda_array_interface__ (CuPy, PyTorch), got " +
                         type_name(obj));
  }
  py::dict cai = obj.attr("__cuda_array_interface__");
  CudaArray a;
  for (auto d : cai["shape"].cast<py::tuple>()) a.shape.push_back(d.cast<int64_t>());
  a.typestr = cai["typestr"].cast<std::string>();
  auto data = cai["data"].cast<py::tuple>();
  a.ptr = data[0].cast<uintptr_t>();
  a.readonly = data[1].cast<bool>();
  bool ok = false;
  std::string names;
  for (const auto& t : allowed) {
    ok |= a.typestr == t;
    names += (names.empty() ? "" : " or ") + typestr_name(t);
  }
  if (!ok) throw py::type_error(arg.prefix() + " must be " + names + ", got " + typestr_name(a.typestr));
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    auto strides = cai["strides"].cast<py::tuple>();
    int64_t expect = typestr_size(a.typestr);
    for (int i = static_cast<int>(a.shape.size()) - 1; i >= 0; --i) {
      if (a.shape[i] > 1 && strides[i].cast<int64_t>() != expect) {
        throw py::value_error(arg.prefix() + " must be C-contiguous (call .contiguous() / cupy.ascontiguousarray)");
      }
      expect *= a.shape[i];
    }
  }
  if (a.count() > 0) {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, reinterpret_cast<void*>(a.ptr)) != cudaSuccess ||
        (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)) {
      cudaGetLastError();  // clear the sticky error of a failed query
      throw py::value_error(arg.prefix() + " does not point to CUDA device memory");
    }
  }
  return a;
}
#endif

}  // namespace bindings
}  // namespace deepemotion
