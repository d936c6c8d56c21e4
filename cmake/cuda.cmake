# Decides whether the CUDA kernels are built and for which architectures.
# Sets DEEPEMOTION_CUDA_ENABLED (ON/OFF) and, when ON, CMAKE_CUDA_ARCHITECTURES.
set(DEEPEMOTION_CUDA_ENABLED OFF)
deepemotion_feature_off(DEEPEMOTION_WITH_CUDA _off)
if(_off)
  return()
endif()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(EXISTS "/usr/local/cuda/bin/nvcc")  # JetPack and NVIDIA's installers put nvcc there, off PATH
    message(WARNING "deepemotion: /usr/local/cuda/bin/nvcc exists but is not on PATH, so this build has no CUDA "
                    "kernels: export PATH=/usr/local/cuda/bin:$PATH (or CUDACXX=/usr/local/cuda/bin/nvcc) and reinstall")
  endif()
  deepemotion_feature_missing(DEEPEMOTION_WITH_CUDA "no CUDA compiler was found (set CUDACXX or CMAKE_CUDA_COMPILER)")
  return()
endif()

# Architectures: the user's CMAKE_CUDA_ARCHITECTURES (or CUDAARCHS) wins. Otherwise the GPU present
# at build time ("native": what a Jetson building on-device wants), else a default list filtered by
# what this nvcc accepts (CUDA 13 dropped sm_53/62/72), with PTX of the newest for future GPUs.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(_gpu_present OFF)
  find_program(_nvidia_smi nvidia-smi)
  if(_nvidia_smi)
    execute_process(COMMAND ${_nvidia_smi} --query-gpu=compute_cap --format=csv,noheader
                    OUTPUT_VARIABLE _caps RESULT_VARIABLE _rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_rc EQUAL 0 AND _caps MATCHES "[0-9]")
      set(_gpu_present ON)
    endif()
  elseif(EXISTS "/etc/nv_tegra_release")  # Jetson: no nvidia-smi on older JetPacks
    set(_gpu_present ON)
  endif()
  if(_gpu_present)
    set(CMAKE_CUDA_ARCHITECTURES native)
  else()
    execute_process(COMMAND ${CMAKE_CUDA_COMPILER} --list-gpu-code OUTPUT_VARIABLE _codes RESULT_VARIABLE _rc
                    ERROR_QUIET)
    set(_wanted 53 62 72 75 80 86 87 89 90 100 110 120)
    set(_archs "")
    set(_last "")
    foreach(_a IN LISTS _wanted)
      if(_rc EQUAL 0 AND _codes MATCHES "sm_${_a}[\n\r ]")
        list(APPEND _archs "${_a}-real")
        set(_last ${_a})
      endif()
    endforeach()
    if(NOT _last)
      message(WARNING "deepemotion: could not list the GPU codes of ${CMAKE_CUDA_COMPILER}; building CPU only")
      return()
    endif()
    list(APPEND _archs "${_last}-virtual")
    set(CMAKE_CUDA_ARCHITECTURES ${_archs})
  endif()
endif()

enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(DEEPEMOTION_CUDA_ENABLED ON)
message(STATUS "deepemotion: CUDA ${CMAKE_CUDA_COMPILER_VERSION} kernels for architectures: ${CMAKE_CUDA_ARCHITECTURES}")
