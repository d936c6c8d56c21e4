# The C++ SDK: include/deepemotion (the public API) + csrc/sdk (its implementation), and the framing geometry
# (csrc/sdk/frame.cpp) that deepemotion._C binds for Python. The geometry is always built into _C (it needs
# nothing); the SDK library needs OpenCV's C++ development files (core, imgproc, dnn) and is skipped, with a
# status line, where they are missing (DEEPEMOTION_WITH_SDK=AUTO) -- the Python package builds and works without
# it, and build_info()["sdk"] says which it is.
target_sources(_C PRIVATE csrc/sdk/frame.cpp csrc/bindings/frame.cpp)

set(DEEPEMOTION_WITH_SDK "AUTO" CACHE STRING "Build the C++ SDK (libdeepemotion; needs OpenCV's C++ dev files): AUTO, ON or OFF")
set(DEEPEMOTION_SDK_ENABLED OFF)
deepemotion_feature_off(DEEPEMOTION_WITH_SDK _sdk_off)
if(NOT _sdk_off)
  include(${CMAKE_CURRENT_LIST_DIR}/sdk_targets.cmake)
endif()

if(DEEPEMOTION_SDK_ENABLED)
  target_compile_definitions(_C PRIVATE DEEPEMOTION_WITH_SDK=1)
  # deepemotion._sdk: the C++ Recognizer for Python's parity tests and timings (thin; links libdeepemotion)
  python_add_library(_sdk MODULE WITH_SOABI csrc/bindings/sdk_module.cpp)
  target_link_libraries(_sdk PRIVATE pybind11::headers deepemotion)
  target_include_directories(_sdk PRIVATE csrc)
  set_target_properties(_sdk PROPERTIES INSTALL_RPATH "$ORIGIN/lib")
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(_sdk PRIVATE -Wall -Wextra)
  endif()
  install(TARGETS _sdk LIBRARY DESTINATION deepemotion)
endif()
