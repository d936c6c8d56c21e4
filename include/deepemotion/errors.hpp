// deepemotion's one exception type. Every error the library reports -- bad input, a model file that is not
// ours, a missing file or backend -- is a deepemotion::Error with a message that names the problem; nothing
// aborts the process.
#pragma once

#include <stdexcept>
#include <string>

#include "deepemotion/export.hpp"

namespace deepemotion {

enum class ErrorCode {
  InvalidArgument,  // bad input: an empty image, a wrong type or channel count, boxes outside the frame, options
  Model,            // a model file that cannot be read or is not a deepemotion / YuNet model
  NotFound,         // a file that is not there (a model path, the YuNet file)
  Unavailable,      // a backend this build or machine does not have (e.g. TensorRT)
};

class DEEPEMOTION_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace deepemotion
