#include "sdk/paths.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "deepemotion/errors.hpp"
#include "deepemotion/recognizer.hpp"
#include "sdk/config.h"

namespace deepemotion {

std::string library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_dir), &info) == 0 || info.dli_fname == nullptr) return ".";
  const std::string path(info.dli_fname);
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string bundled_weights_dir() {
  if (const char* env = std::getenv("DEEPEMOTION_WEIGHTS_DIR"); env && *env) return env;
  return library_dir() + "/" + config::kWeightsFromLibrary;
}

bool is_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string model_file(const std::string& spec) {
  std::string path = spec;
  if (spec.empty() || spec == "default" || spec == "tiny") {
    const char* stem = spec == "tiny" ? config::kTinyModelStem : config::kDefaultModelStem;
    path = bundled_weights_dir() + "/" + stem + ".onnx";
    if (!is_file(path)) {
      throw Error(ErrorCode::NotFound, "the bundled model '" + (spec.empty() ? std::string("default") : spec) +
                                           "' is not at " + path + " (set $DEEPEMOTION_WEIGHTS_DIR to the folder "
                                           "holding " + stem + ".onnx, or give Options::model a path)");
    }
    return path;
  }
  if (!is_file(path)) {
    throw Error(ErrorCode::NotFound, path + ": model file not found (Options::model is \"default\", \"tiny\" or the "
                                            "path of a .onnx file fer-export wrote)");
  }
  return path;
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, path + ": " + what + " cannot be opened");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string version() { return config::kVersion; }
std::string weights_dir() { return bundled_weights_dir(); }

}  // namespace deepemotion
