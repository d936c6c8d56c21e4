# The C++ SDK's targets: libdeepemotion (include/deepemotion + csrc/sdk + the CPU kernels it calls) and its
# install as a CMake package (find_package(deepemotion CONFIG) -> deepemotion::deepemotion). Included by
# cmake/sdk.cmake (the pip build: everything goes inside the installed Python package) and by
# csrc/sdk/CMakeLists.txt (a plain CMake build and `cmake --install`: the usual prefix layout).
# Needs DEEPEMOTION_WITH_SDK (AUTO/ON) and cmake/options.cmake; sets DEEPEMOTION_SDK_ENABLED.
set(DEEPEMOTION_SDK_ENABLED OFF)
get_filename_component(_de_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

find_package(OpenCV 4.5 QUIET COMPONENTS core imgproc dnn)
if(NOT OpenCV_FOUND)
  set(_de_why "the C++ SDK (libdeepemotion) is skipped: OpenCV's C++ development files (core, imgproc, dnn >= 4.5) ")
  string(APPEND _de_why "were not found (Debian/Ubuntu: apt-get install libopencv-dev; or set OpenCV_DIR)")
  deepemotion_feature_missing(DEEPEMOTION_WITH_SDK "${_de_why}")
  return()
endif()

# --- the facts the SDK shares with Python, read from their single definitions in the Python package ----------
set(_de_py "${_de_root}/python/deepemotion")
set(_de_parse_ok TRUE)
function(_de_read var file regex)
  file(READ "${_de_py}/${file}" _text)
  if(NOT _text MATCHES "${regex}")
    message(STATUS "deepemotion: cannot read ${var} from python/deepemotion/${file}")
    set(_de_parse_ok FALSE PARENT_SCOPE)
    return()
  endif()
  set(${var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()
_de_read(DE_CLASSES labels.py "\nCLASSES[^=\n]*= \\(([^)]*)\\)")
_de_read(DE_INPUT_SIZE labels.py "\nINPUT_SIZE = ([0-9]+)")
_de_read(DE_MEAN labels.py "\nMEAN = ([0-9.]+)")
_de_read(DE_STD labels.py "\nSTD = ([0-9.]+)")
_de_read(DE_STEM_DEFAULT runtime/assets.py "\"default\": \"([A-Za-z0-9_]+)\"")
_de_read(DE_STEM_TINY runtime/assets.py "\"tiny\": \"([A-Za-z0-9_]+)\"")
_de_read(DE_GIVEN_FRAMING runtime/detect/base.py "\nGIVEN_BOXES_FRAMING = \"([a-z]+)\"")
_de_read(DE_MIN_DETECTOR_PX runtime/detect/yunet.py "\nMIN_DETECTOR_PX = ([0-9]+)")
_de_read(DE_STRIDES runtime/detect/yunet.py "\nSTRIDES = \\(([0-9, ]+)\\)")
_de_read(DE_SCORE_THRESHOLD runtime/detect/yunet.py "score_threshold: float = ([0-9.]+)")
_de_read(DE_NMS_THRESHOLD runtime/detect/yunet.py "nms_threshold: float = ([0-9.]+)")
_de_read(DE_MAX_SIDE runtime/detect/yunet.py "max_side: int = ([0-9]+)")
_de_read(DE_YUNET_FILE runtime/download.py "\nYUNET_FILE = \"([A-Za-z0-9_.]+)\"")
if(NOT _de_parse_ok)
  deepemotion_feature_missing(DEEPEMOTION_WITH_SDK "the C++ SDK is skipped: the Python package's definitions moved")
  return()
endif()
file(READ "${_de_py}/assets/alignment.json" DE_ALIGNMENT_JSON)

# --- where things go: inside the Python package (pip) or the usual prefix layout (plain CMake) ---------------
if(SKBUILD)
  set(DE_LIB_DIR deepemotion/lib)
  set(DE_INCLUDE_DIR deepemotion/include)
  set(DE_CMAKE_DIR deepemotion/share/cmake/deepemotion)
  set(DE_WEIGHTS_DIR deepemotion/weights)  # the package's own weights folder (wheel.packages)
else()
  include(GNUInstallDirs)
  set(DE_LIB_DIR ${CMAKE_INSTALL_LIBDIR})
  set(DE_INCLUDE_DIR ${CMAKE_INSTALL_INCLUDEDIR})
  set(DE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/deepemotion)
  set(DE_WEIGHTS_DIR ${CMAKE_INSTALL_DATADIR}/deepemotion/weights)
  file(GLOB _de_weights "${_de_py}/weights/*.onnx" "${_de_py}/weights/*.json")
  install(FILES ${_de_weights} DESTINATION ${DE_WEIGHTS_DIR})
endif()
file(RELATIVE_PATH DE_WEIGHTS_FROM_LIBRARY "/p/${DE_LIB_DIR}" "/p/${DE_WEIGHTS_DIR}")
set(_de_gen "${CMAKE_CURRENT_BINARY_DIR}/deepemotion_sdk_generated")
configure_file("${_de_root}/csrc/sdk/config.h.in" "${_de_gen}/sdk/config.h" @ONLY)

# --- libdeepemotion ----------------------------------------------------------------------------------------
set(_de_sdk_sources frame protobuf onnx_split image net_pool paths yunet classifier recognizer)
list(TRANSFORM _de_sdk_sources PREPEND "${_de_root}/csrc/sdk/")
list(TRANSFORM _de_sdk_sources APPEND ".cpp")
add_library(deepemotion SHARED ${_de_sdk_sources}
            "${_de_root}/csrc/ops/affine_grid_sample/cpu.cpp" "${_de_root}/csrc/ops/crop_faces/cpu.cpp")
add_library(deepemotion::deepemotion ALIAS deepemotion)
target_include_directories(deepemotion
  PUBLIC $<BUILD_INTERFACE:${_de_root}/include> $<INSTALL_INTERFACE:${DE_INCLUDE_DIR}>
  PRIVATE "${_de_root}/csrc" "${_de_gen}")
target_link_libraries(deepemotion PUBLIC opencv_core PRIVATE opencv_imgproc opencv_dnn Threads::Threads ${CMAKE_DL_LIBS})
target_compile_features(deepemotion PUBLIC cxx_std_17)
set_target_properties(deepemotion PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
                      POSITION_INDEPENDENT_CODE ON)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(deepemotion PRIVATE -Wall -Wextra)
endif()

install(TARGETS deepemotion EXPORT deepemotionTargets LIBRARY DESTINATION ${DE_LIB_DIR})
install(DIRECTORY "${_de_root}/include/deepemotion" DESTINATION ${DE_INCLUDE_DIR})
install(EXPORT deepemotionTargets NAMESPACE deepemotion:: DESTINATION ${DE_CMAKE_DIR})
include(CMakePackageConfigHelpers)
configure_package_config_file("${_de_root}/cmake/deepemotionConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/deepemotionConfig.cmake" INSTALL_DESTINATION ${DE_CMAKE_DIR})
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/deepemotionConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/deepemotionConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/deepemotionConfigVersion.cmake" DESTINATION ${DE_CMAKE_DIR})

set(DEEPEMOTION_SDK_ENABLED ON)
message(STATUS "deepemotion: C++ SDK (libdeepemotion) with OpenCV ${OpenCV_VERSION}; installs to ${DE_LIB_DIR}, "
               "headers ${DE_INCLUDE_DIR}, CMake package ${DE_CMAKE_DIR}")
