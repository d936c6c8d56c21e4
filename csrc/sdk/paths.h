// Files the library finds by itself: the bundled models beside the library (a path compiled in relative to
// libdeepemotion, overridable with $DEEPEMOTION_WEIGHTS_DIR), the YuNet file where Python's download put it.
#pragma once

#include <string>

namespace deepemotion {

std::string library_dir();
std::string bundled_weights_dir();
// "default" / "tiny" -> the bundled .onnx; anything else is taken as a path. Error(NotFound) when it is missing.
std::string model_file(const std::string& spec);
std::string read_file(const std::string& path, const char* what);
bool is_file(const std::string& path);

}  // namespace deepemotion
