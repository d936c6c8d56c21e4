# The C++ SDK: include/deepemotion (the public API) + csrc/sdk (its implementation), and the framing geometry
# (csrc/sdk/frame.cpp) that deepemotion._C binds for Python. The geometry is always built into _C (it needs
# nothing); the SDK library needs OpenCV's C++ development files (core, imgproc, dnn) and is skipped, with a
# status line, where they are missing (DEEPEMOTION_WITH_SDK=AUTO) -- the Python package builds and works without it.
target_sources(_C PRIVATE csrc/sdk/frame.cpp csrc/bindings/frame.cpp)

set(DEEPEMOTION_WITH_SDK "AUTO" CACHE STRING "Build the C++ SDK (libdeepemotion, needs OpenCV's C++ dev files): AUTO, ON or OFF")
set(DEEPEMOTION_SDK_ENABLED OFF)
deepemotion_feature_off(DEEPEMOTION_WITH_SDK _sdk_off)
if(NOT _sdk_off)
  include(${CMAKE_CURRENT_LIST_DIR}/sdk_targets.cmake)
endif()
