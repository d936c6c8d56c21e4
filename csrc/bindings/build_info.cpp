// What this build contains (build_info), and the CUDA devices it sees.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"

#ifndef DEEPEMOTION_VERSION
#define DEEPEMOTION_VERSION "0.0.0"
#endif
#ifndef DEEPEMOTION_CUDA_ARCHS
#define DEEPEMOTION_CUDA_ARCHS ""
#endif

namespace deepemotion {
namespace bindings {
namespace {

#if defined(DEEPEMOTION_WITH_CUDA)
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
#if defined(DEEPEMOTION_WITH_SDK)
  d["sdk"] = true;  // the C++ SDK (libdeepemotion, deepemotion._sdk) was built with this package
#else
  d["sdk"] = false;
#endif
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = std::string("unknown");
#endif
#if defined(__SANITIZE_ADDRESS__)
  d["sanitizers"] = std::string("address,undefined");
#endif
  return d;
}

}  // namespace

void bind_build_info(py::module_& m) {
  m.attr("__version__") = DEEPEMOTION_VERSION;
  m.def("build_info", &build_info, "What this build of deepemotion._C contains.");
#if defined(DEEPEMOTION_WITH_CUDA)
  m.def("cuda_device_count", &cuda_device_count, "Number of CUDA devices visible (0 when no driver or GPU).");
  m.def("cuda_device_info", &cuda_device_info, py::arg("device") = 0,
        "Name, compute capability and memory of a CUDA device.");
#else
  m.def("cuda_device_count", []() { return 0; }, "Number of CUDA devices visible (always 0: built without CUDA).");
#endif
}

}  // namespace bindings
}  // namespace deepemotion
