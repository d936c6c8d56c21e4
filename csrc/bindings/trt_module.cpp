// deepemotion._trt: the TensorRT engine runner for Python (built only when TensorRT is found).
#include <NvInferRuntime.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings/checks.h"
#include "tensorrt/engine_runner.h"

namespace py = pybind11;
using deepemotion::trt::EngineRunner;

namespace {

py::array run(EngineRunner& r, const py::array& input) {
  using deepemotion::trt::InputProblem;
  const std::vector<int64_t> in_shape(input.shape(), input.shape() + input.ndim());
  const InputProblem problem = deepemotion::trt::check_host_input(
      r.input(), r.batch_range(), std::string(py::str(input.dtype())), in_shape, "EngineRunner.run");
  if (problem.kind == InputProblem::Kind::kType) throw py::type_error(problem.message);
  if (problem) throw py::value_error(problem.message);
  if (!(input.flags() & py::array::c_style)) throw py::value_error("EngineRunner.run: input must be C-contiguous");
  const int64_t n = in_shape[0];
  std::vector<py::ssize_t> shape{n};
  for (auto d : r.output().sample_shape) shape.push_back(d);
  py::array out(r.output().type == nvinfer1::DataType::kHALF ? py::dtype("float16") : py::dtype::of<float>(), shape);
  const void* src = input.data();
  void* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    r.run_host(src, dst, n);
  }
  return out;
}

// Device arrays are checked as _C checks them (contiguous device memory of the engine's dtype and shape).
uintptr_t cuda_pointer(const py::object& obj, const char* what, const deepemotion::trt::TensorInfo& t, int64_t n) {
  using deepemotion::bindings::read_cuda_array;
  const bool half = t.type == nvinfer1::DataType::kHALF;
  const auto a = read_cuda_array(obj, {"EngineRunner.run_device", what}, {half ? "<f2" : "<f4"});
  std::vector<int64_t> want{n};
  want.insert(want.end(), t.sample_shape.begin(), t.sample_shape.end());
  if (a.shape != want) {
    throw py::value_error(std::string("EngineRunner.run_device: ") + what + " must have shape " +
                          deepemotion::bindings::shape_str(want) + ", got " + deepemotion::bindings::shape_str(a.shape));
  }
  return a.ptr;
}

}  // namespace

PYBIND11_MODULE(_trt, m) {
  m.doc() = "TensorRT engine runner (deepemotion)";
  m.attr("tensorrt_version") = std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
                               std::to_string(NV_TENSORRT_PATCH);
  py::class_<EngineRunner>(m, "EngineRunner")
      .def(py::init<const std::string&, const std::string&, bool>(), py::arg("engine_path"),
           py::arg("plugin_library") = "", py::arg("use_cuda_graph") = false)
      .def("run", &run, py::arg("input"), "Host numpy batch in, host numpy batch out.")
      .def(
          "run_device",
          [](EngineRunner& r, const py::object& in, const py::object& out, int64_t n, uintptr_t stream) {
            deepemotion::trt::check_batch(n, r.batch_range());  // std::invalid_argument: ValueError
            const uintptr_t pi = cuda_pointer(in, "input", r.input(), n);
            const uintptr_t po = cuda_pointer(out, "output", r.output(), n);
            py::gil_scoped_release release;
            r.run_device(reinterpret_cast<const void*>(pi), reinterpret_cast<void*>(po), n,
                         reinterpret_cast<cudaStream_t>(stream));
          },
          py::arg("input"), py::arg("output"), py::arg("n"), py::arg("stream") = 0,
          "Device arrays (__cuda_array_interface__) in and out, asynchronous on `stream`.")
      .def_property_readonly("max_batch", &EngineRunner::max_batch)
      .def_property_readonly("min_batch", &EngineRunner::min_batch)
      .def_property_readonly("input_name", [](const EngineRunner& r) { return r.input().name; })
      .def_property_readonly("output_name", [](const EngineRunner& r) { return r.output().name; })
      .def_property_readonly("input_dtype", [](const EngineRunner& r) { return deepemotion::trt::type_name(r.input().type); })
      .def_property_readonly("output_dtype",
                             [](const EngineRunner& r) { return deepemotion::trt::type_name(r.output().type); })
      .def_property_readonly("uses_cuda_graph", &EngineRunner::uses_cuda_graph);
}
