# TensorRT detection. Sets DEEPEMOTION_TENSORRT_ENABLED. TensorRT is only looked for when the CUDA
# kernels are built (the plugin calls the CUDA launcher).
set(DEEPEMOTION_TENSORRT_ENABLED OFF)
if(DEEPEMOTION_WITH_TENSORRT STREQUAL "OFF")
  message(STATUS "deepemotion: TensorRT disabled (DEEPEMOTION_WITH_TENSORRT=OFF)")
  return()
endif()
if(NOT DEEPEMOTION_CUDA_ENABLED)
  message(STATUS "deepemotion: TensorRT parts skipped: they need the CUDA kernels")
  return()
endif()
