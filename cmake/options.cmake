# One helper for the optional features (CUDA kernels, TensorRT plugin and runner), each an AUTO/ON/OFF
# cache option: OFF skips it, AUTO builds it when its dependencies are found, ON requires them.

# deepemotion_feature_off(<option> <out-var>): <out-var> TRUE (and a status line) when <option> is OFF.
function(deepemotion_feature_off option out_var)
  if(${option} STREQUAL "OFF")
    message(STATUS "deepemotion: ${option}=OFF; building without it")
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()

# deepemotion_feature_missing(<option> <reason>): a dependency is missing. ON: stop with an error; AUTO: say so.
# The caller returns afterwards.
function(deepemotion_feature_missing option reason)
  if(${option} STREQUAL "ON")
    message(FATAL_ERROR "deepemotion: ${option}=ON but ${reason}")
  endif()
  message(STATUS "deepemotion: ${reason}; building without it (${option}=${${option}})")
endfunction()
