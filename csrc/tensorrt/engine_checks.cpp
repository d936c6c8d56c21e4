#include "engine_checks.h"

#include <stdexcept>

namespace deepemotion {
namespace trt {
namespace {

std::string dims_str(nvinfer1::Dims const& d) {
  if (d.nbDims < 0) return "[unknown rank]";
  std::string s = "[";
  for (int32_t i = 0; i < d.nbDims && i < nvinfer1::Dims::MAX_DIMS; ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
  return s + "]";
}

// (2, 1, 48, 48); a negative extent prints as N (the batch axis)
std::string shape_str(std::vector<int64_t> const& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + (shape[i] < 0 ? "N" : std::to_string(shape[i]));
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

size_t element_size(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT:
      return 4;
    case nvinfer1::DataType::kHALF:
      return 2;
    default:
      throw std::runtime_error("engine I/O must be FP32 or FP16");
  }
}

char const* type_name(nvinfer1::DataType t) {
  return t == nvinfer1::DataType::kFLOAT ? "float32" : (t == nvinfer1::DataType::kHALF ? "float16" : "other");
}

IoNames pick_io(std::vector<IoTensor> const& tensors) {
  IoNames io;
  int inputs = 0, outputs = 0;
  std::string names;
  for (IoTensor const& t : tensors) {
    names += (names.empty() ? "" : ", ") + t.name;
    if (t.name.empty()) throw std::runtime_error("the engine has an I/O tensor without a name");
    if (t.mode == nvinfer1::TensorIOMode::kINPUT) {
      ++inputs;
      io.input = t.name;
    } else if (t.mode == nvinfer1::TensorIOMode::kOUTPUT) {
      ++outputs;
      io.output = t.name;
    } else {
      throw std::runtime_error("I/O tensor " + t.name + " is neither an input nor an output");
    }
  }
  if (inputs != 1 || outputs != 1) {
    throw std::runtime_error("the engine must have exactly one input and one output, it has " +
                             std::to_string(inputs) + " and " + std::to_string(outputs) + " (" + names + ")");
  }
  return io;
}

TensorInfo describe_tensor(std::string const& name, nvinfer1::DataType type, nvinfer1::Dims const& shape) {
  if (shape.nbDims < 1 || shape.nbDims > nvinfer1::Dims::MAX_DIMS) {
    throw std::runtime_error("tensor " + name + " has no batch axis (shape " + dims_str(shape) + ")");
  }
  if (shape.d[0] == 0 || shape.d[0] < -1) {
    throw std::runtime_error("tensor " + name + ": bad batch axis in " + dims_str(shape));
  }
  if (type != nvinfer1::DataType::kFLOAT && type != nvinfer1::DataType::kHALF) {
    throw std::runtime_error("tensor " + name + " must be FP32 or FP16 (engine I/O)");
  }
  TensorInfo t;
  t.name = name;
  t.type = type;
  int64_t volume = 1;
  for (int32_t i = 1; i < shape.nbDims; ++i) {
    if (shape.d[i] < 0) {
      throw std::runtime_error("tensor " + name + ": only the batch axis may be dynamic, shape " + dims_str(shape));
    }
    t.sample_shape.push_back(shape.d[i]);
    volume *= shape.d[i];
  }
  t.sample_bytes = volume * static_cast<int64_t>(element_size(type));
  return t;
}

BatchRange profile_batch_range(nvinfer1::Dims const& engine_shape, nvinfer1::Dims const& profile_min,
                               nvinfer1::Dims const& profile_max) {
  BatchRange r;
  if (engine_shape.nbDims >= 1 && engine_shape.d[0] > 0) {  // a static batch: that one size only
    r.min = r.max = engine_shape.d[0];
    return r;
  }
  r.max = profile_max.nbDims >= 1 ? profile_max.d[0] : 0;
  r.min = profile_min.nbDims >= 1 && profile_min.d[0] > 0 ? profile_min.d[0] : 1;
  if (r.max <= 0) throw std::runtime_error("cannot tell the engine's maximum batch size (no optimization profile?)");
  if (r.min > r.max) {
    throw std::runtime_error("the engine's batch profile is empty: min " + std::to_string(r.min) + " > max " +
                             std::to_string(r.max));
  }
  return r;
}

void check_batch(int64_t n, BatchRange const& range) {
  if (n < range.min || n > range.max) {
    throw std::invalid_argument("batch " + std::to_string(n) + " is outside the engine's profile [" +
                                std::to_string(range.min) + ", " + std::to_string(range.max) +
                                "] (rebuild with fer-export engine --batch MIN OPT MAX)");
  }
}

nvinfer1::Dims batch_shape(TensorInfo const& t, int64_t n) {
  if (t.sample_shape.size() + 1 > static_cast<size_t>(nvinfer1::Dims::MAX_DIMS)) {
    throw std::runtime_error("tensor " + t.name + " has too many axes");
  }
  nvinfer1::Dims d{};
  d.nbDims = static_cast<int32_t>(t.sample_shape.size() + 1);
  d.d[0] = n;
  for (size_t i = 0; i < t.sample_shape.size(); ++i) d.d[i + 1] = t.sample_shape[i];
  return d;
}

InputProblem check_host_input(TensorInfo const& t, BatchRange const& range, std::string const& dtype,
                              std::vector<int64_t> const& shape, char const* who) {
  InputProblem p;
  std::string const me = std::string(who) + ": ";
  std::vector<int64_t> want{-1};
  want.insert(want.end(), t.sample_shape.begin(), t.sample_shape.end());
  if (dtype != type_name(t.type)) {
    p.kind = InputProblem::Kind::kType;
    p.message = me + "input must be " + type_name(t.type) + ", got " + dtype;
    return p;
  }
  p.kind = InputProblem::Kind::kValue;
  if (shape.size() != want.size()) {
    p.message = me + "input has " + std::to_string(shape.size()) + " dimensions, the engine takes " +
                std::to_string(want.size()) + ": " + shape_str(want);
    return p;
  }
  for (size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] != want[i]) {
      p.message = me + "input shape " + shape_str(shape) + " does not match the engine's " + shape_str(want);
      return p;
    }
  }
  int64_t const n = shape[0];
  if (n > range.max) {
    p.message = me + "batch " + std::to_string(n) + " exceeds the engine's maximum " + std::to_string(range.max) +
                " (rebuild with a larger batch profile: fer-export engine --batch MIN OPT MAX)";
    return p;
  }
  if (n != 0 && n < range.min) {
    p.message = me + "batch " + std::to_string(n) + " is below the engine's minimum " + std::to_string(range.min) +
                " (rebuild with fer-export engine --batch MIN OPT MAX)";
    return p;
  }
  p.kind = InputProblem::Kind::kNone;
  return p;
}

}  // namespace trt
}  // namespace deepemotion
