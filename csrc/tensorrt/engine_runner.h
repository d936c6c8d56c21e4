// A small TensorRT engine runner: deserialize an engine (after loading the plugin library),
// allocate device buffers once for the profile's max batch, and run on a CUDA stream with
// enqueueV3, from host arrays or device pointers; optionally replay a captured CUDA graph per
// batch size. Free of pybind11 types. What it checks (I/O tensors, shapes, batch range) is in engine_checks.h,
// apart from the TensorRT calls, and tested without TensorRT.
#pragma once

#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensorrt/engine_checks.h"

namespace deepemotion {
namespace trt {

class EngineRunner {
 public:
  // plugin_library: path of libdeepemotion_trt.so, loaded (RTLD_GLOBAL) before deserializing;
  // empty if the engine has no plugin. Throws std::runtime_error with a readable message.
  EngineRunner(const std::string& engine_path, const std::string& plugin_library, bool use_cuda_graph);
  ~EngineRunner();
  EngineRunner(const EngineRunner&) = delete;
  EngineRunner& operator=(const EngineRunner&) = delete;

  // Host buffers: copies in, runs, copies out, waits. n <= max_batch().
  void run_host(const void* input, void* output, int64_t n);
  // Device buffers (caller-owned), asynchronous on `stream`.
  void run_device(const void* input, void* output, int64_t n, cudaStream_t stream);

  int64_t max_batch() const { return batch_.max; }
  int64_t min_batch() const { return batch_.min; }
  BatchRange const& batch_range() const { return batch_; }
  const TensorInfo& input() const { return input_; }
  const TensorInfo& output() const { return output_; }
  bool uses_cuda_graph() const { return use_graph_; }

 private:
  void set_shapes_and_addresses(const void* input, void* output, int64_t n);

  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  void* plugin_handle_ = nullptr;
  TensorInfo input_, output_;
  BatchRange batch_;
  void* d_input_ = nullptr;
  void* d_output_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool use_graph_ = false;
  std::map<int64_t, cudaGraphExec_t> graphs_;
};

}  // namespace trt
}  // namespace deepemotion
