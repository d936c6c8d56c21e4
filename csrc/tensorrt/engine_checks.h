// The engine runner's pure logic, apart from its TensorRT and CUDA calls: which I/O tensors it binds, what
// their shapes and types must be, the batch range of the engine's optimization profile, and the checks of a
// caller's batch against them. Only TensorRT's value types (Dims, DataType, TensorIOMode) are used, so this
// compiles and is tested without libnvinfer (tests/cpp/plugin_contract).
#pragma once

#include <NvInferRuntime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace deepemotion {
namespace trt {

struct TensorInfo {
  std::string name;
  nvinfer1::DataType type = nvinfer1::DataType::kFLOAT;
  std::vector<int64_t> sample_shape;  // shape without the batch axis
  int64_t sample_bytes = 0;
};

struct IoTensor {
  std::string name;
  nvinfer1::TensorIOMode mode = nvinfer1::TensorIOMode::kNONE;
};

struct IoNames {
  std::string input, output;
};

// The batch sizes the engine accepts: [min, max].
struct BatchRange {
  int64_t min = 1;
  int64_t max = 0;
};

// What a bad call is: a wrong dtype (Python: TypeError) or a wrong shape or batch (ValueError).
struct InputProblem {
  enum class Kind { kNone, kType, kValue };
  Kind kind = Kind::kNone;
  std::string message;
  explicit operator bool() const { return kind != Kind::kNone; }
};

// 4 for FP32, 2 for FP16; throws std::runtime_error for any other type (the runner binds these two only).
size_t element_size(nvinfer1::DataType t);
// "float32" / "float16" (numpy's names), "other" for the rest.
char const* type_name(nvinfer1::DataType t);

// The engine's one input and one output; throws std::runtime_error naming the tensors otherwise.
IoNames pick_io(std::vector<IoTensor> const& tensors);

// A bound tensor: a batch axis first (static or -1), every other axis static, FP32 or FP16.
// Throws std::runtime_error naming the tensor and its shape.
TensorInfo describe_tensor(std::string const& name, nvinfer1::DataType type, nvinfer1::Dims const& shape);

// The batch range of the input: its static batch when the engine has one, else the profile's kMIN/kMAX batch.
// Throws std::runtime_error when it cannot be told or is empty.
BatchRange profile_batch_range(nvinfer1::Dims const& engine_shape, nvinfer1::Dims const& profile_min,
                               nvinfer1::Dims const& profile_max);

// Throws std::invalid_argument unless min <= n <= max; the message says how to rebuild.
void check_batch(int64_t n, BatchRange const& range);

// The input shape for a batch of n: [n, sample_shape...].
nvinfer1::Dims batch_shape(TensorInfo const& t, int64_t n);

// A host array of numpy dtype name `dtype` and `shape` as the runner's input: its dtype, rank, sample shape and
// batch (0 is accepted: nothing runs). `who` starts the message ("EngineRunner.run").
InputProblem check_host_input(TensorInfo const& t, BatchRange const& range, std::string const& dtype,
                              std::vector<int64_t> const& shape, char const* who);

}  // namespace trt
}  // namespace deepemotion
