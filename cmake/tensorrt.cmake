# Finds TensorRT (headers + libnvinfer) for the AffineGridSample plugin library and the engine runner.
# Looked for only when the CUDA kernels are built (the plugin calls the CUDA launcher). Sets
# DEEPEMOTION_TENSORRT_ENABLED, TensorRT_INCLUDE_DIR, TensorRT_LIBRARY and DEEPEMOTION_TENSORRT_MAJOR;
# the targets are defined in CMakeLists.txt.
# Hints: -DTensorRT_ROOT=... or $TensorRT_ROOT (a TensorRT tarball or install prefix), the usual
# system paths (JetPack: /usr/include/aarch64-linux-gnu), and the pip wheel's tensorrt_libs folder.
set(DEEPEMOTION_TENSORRT_ENABLED OFF)
deepemotion_feature_off(DEEPEMOTION_WITH_TENSORRT _off)
if(_off)
  return()
endif()
if(NOT DEEPEMOTION_CUDA_ENABLED)
  deepemotion_feature_missing(DEEPEMOTION_WITH_TENSORRT "TensorRT needs the CUDA kernels, which are not built")
  return()
endif()

set(_trt_hints ${TensorRT_ROOT} $ENV{TensorRT_ROOT} $ENV{TENSORRT_ROOT})
execute_process(COMMAND ${Python_EXECUTABLE} -c "import tensorrt_libs, os; print(os.path.dirname(tensorrt_libs.__file__))"
                OUTPUT_VARIABLE _trt_pip_libs OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
find_path(TensorRT_INCLUDE_DIR NvInfer.h HINTS ${_trt_hints}
          PATH_SUFFIXES include include/aarch64-linux-gnu include/x86_64-linux-gnu)
find_library(TensorRT_LIBRARY NAMES nvinfer libnvinfer.so.11 libnvinfer.so.10
             HINTS ${_trt_hints} ${_trt_pip_libs}
             PATH_SUFFIXES lib lib64 lib/aarch64-linux-gnu lib/x86_64-linux-gnu)
if(NOT TensorRT_INCLUDE_DIR OR NOT TensorRT_LIBRARY)
  deepemotion_feature_missing(DEEPEMOTION_WITH_TENSORRT
    "TensorRT was not found (headers: ${TensorRT_INCLUDE_DIR}, libnvinfer: ${TensorRT_LIBRARY}; set TensorRT_ROOT)")
  return()
endif()
# NV_TENSORRT_MAJOR is a number (10.3) or names TRT_MAJOR_ENTERPRISE (10.16, 11.x)
file(STRINGS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h" _trt_major
     REGEX "define (NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE) [0-9]+")
string(REGEX MATCH "[0-9]+" DEEPEMOTION_TENSORRT_MAJOR "${_trt_major}")
if(DEEPEMOTION_TENSORRT_MAJOR AND DEEPEMOTION_TENSORRT_MAJOR LESS 10)
  deepemotion_feature_missing(DEEPEMOTION_WITH_TENSORRT
    "TensorRT ${DEEPEMOTION_TENSORRT_MAJOR}.x was found, but the plugin needs IPluginV3 (TensorRT >= 10)")
  return()
endif()
set(DEEPEMOTION_TENSORRT_ENABLED ON)
message(STATUS "deepemotion: TensorRT ${DEEPEMOTION_TENSORRT_MAJOR}.x at ${TensorRT_INCLUDE_DIR}")
