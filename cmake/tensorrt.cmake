# TensorRT: the AffineGridSample plugin library (libdeepemotion_trt.so) and the engine runner
# module (deepemotion._trt), built only when TensorRT's headers and libnvinfer are found. Looked
# for only when the CUDA kernels are built (the plugin calls the CUDA launcher).
# Hints: -DTensorRT_ROOT=... or $TensorRT_ROOT (a TensorRT tarball or install prefix), the usual
# system paths (JetPack: /usr/include/aarch64-linux-gnu), and the pip wheel's tensorrt_libs folder.
set(DEEPEMOTION_TENSORRT_ENABLED OFF)
if(DEEPEMOTION_WITH_TENSORRT STREQUAL "OFF")
  message(STATUS "deepemotion: TensorRT disabled (DEEPEMOTION_WITH_TENSORRT=OFF)")
  return()
endif()
if(NOT DEEPEMOTION_CUDA_ENABLED)
  if(DEEPEMOTION_WITH_TENSORRT STREQUAL "ON")
    message(FATAL_ERROR "deepemotion: DEEPEMOTION_WITH_TENSORRT=ON needs the CUDA kernels (no CUDA compiler found)")
  endif()
  message(STATUS "deepemotion: TensorRT parts skipped: they need the CUDA kernels")
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
  if(DEEPEMOTION_WITH_TENSORRT STREQUAL "ON")
    message(FATAL_ERROR "deepemotion: DEEPEMOTION_WITH_TENSORRT=ON but TensorRT was not found "
                        "(headers: ${TensorRT_INCLUDE_DIR}, libnvinfer: ${TensorRT_LIBRARY}); set TensorRT_ROOT")
  endif()
  message(STATUS "deepemotion: TensorRT not found (set TensorRT_ROOT to build the plugin and runner); skipping them")
  return()
endif()
# NV_TENSORRT_MAJOR is a number (10.3) or names TRT_MAJOR_ENTERPRISE (10.16, 11.x)
file(STRINGS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h" _trt_major
     REGEX "define (NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE) [0-9]+")
string(REGEX MATCH "[0-9]+" _trt_major "${_trt_major}")
if(_trt_major AND _trt_major LESS 10)
  message(STATUS "deepemotion: TensorRT ${_trt_major}.x found, but the plugin needs IPluginV3 (TensorRT >= 10); skipping")
  return()
endif()

# The plugin: its own shared library, never linked into _C.
add_library(deepemotion_trt SHARED csrc/plugin/affine_grid_sample_plugin.cpp $<TARGET_OBJECTS:deepemotion_cuda_kernels>)
target_include_directories(deepemotion_trt PRIVATE csrc/include csrc/kernels)
target_include_directories(deepemotion_trt SYSTEM PRIVATE ${TensorRT_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
target_compile_definitions(deepemotion_trt PRIVATE DEEPEMOTION_WITH_CUDA=1 DEEPEMOTION_WITH_TENSORRT=1)
# static cudart: no dependency on a libcudart soname that may differ from TensorRT's
target_link_libraries(deepemotion_trt PRIVATE ${TensorRT_LIBRARY} CUDA::cudart_static)
install(TARGETS deepemotion_trt LIBRARY DESTINATION deepemotion/lib)

# The engine runner module.
python_add_library(_trt MODULE WITH_SOABI csrc/bindings/trt_module.cpp csrc/tensorrt/engine_runner.cpp)
target_include_directories(_trt PRIVATE csrc csrc/include)
target_include_directories(_trt SYSTEM PRIVATE ${TensorRT_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
target_link_libraries(_trt PRIVATE pybind11::headers ${TensorRT_LIBRARY} CUDA::cudart_static ${CMAKE_DL_LIBS})
install(TARGETS _trt LIBRARY DESTINATION deepemotion)

target_compile_definitions(_C PRIVATE DEEPEMOTION_WITH_TENSORRT=1)
set(DEEPEMOTION_TENSORRT_ENABLED ON)
message(STATUS "deepemotion: TensorRT ${_trt_major}.x at ${TensorRT_INCLUDE_DIR}: building libdeepemotion_trt.so and _trt")
