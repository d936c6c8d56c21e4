#include "engine_runner.h"

#include <NvInfer.h>
#include <NvInferRuntime.h>
#include <dlfcn.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

namespace deepemotion {
namespace trt {
namespace {

class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) std::cerr << "[TensorRT] " << msg << std::endl;
  }
};

Logger& logger() {
  static Logger instance;
  return instance;
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

TensorInfo describe(nvinfer1::ICudaEngine& engine, const std::string& name) {
  return describe_tensor(name, engine.getTensorDataType(name.c_str()), engine.getTensorShape(name.c_str()));
}

}  // namespace

EngineRunner::EngineRunner(const std::string& engine_path, const std::string& plugin_library, bool use_cuda_graph)
    : use_graph_(use_cuda_graph) {
  if (!plugin_library.empty()) {
    plugin_handle_ = dlopen(plugin_library.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (plugin_handle_ == nullptr) {
      throw std::runtime_error("cannot load the TensorRT plugin library " + plugin_library + ": " + dlerror());
    }
  }
  std::ifstream f(engine_path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open engine file " + engine_path);
  std::vector<char> blob((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  runtime_.reset(nvinfer1::createInferRuntime(logger()));
  if (!runtime_) throw std::runtime_error("createInferRuntime failed");
  engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
  if (!engine_) {
    throw std::runtime_error("cannot deserialize " + engine_path +
                             " (built by another TensorRT version or for another GPU? rebuild it with fer-export engine)");
  }
  context_.reset(engine_->createExecutionContext());
  if (!context_) throw std::runtime_error("createExecutionContext failed");
  std::vector<IoTensor> tensors;
  for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
    const char* name = engine_->getIOTensorName(i);
    if (name == nullptr) throw std::runtime_error("the engine has an I/O tensor without a name");
    tensors.push_back({name, engine_->getTensorIOMode(name)});
  }
  const IoNames io = pick_io(tensors);
  input_ = describe(*engine_, io.input);
  output_ = describe(*engine_, io.output);
  batch_ = profile_batch_range(engine_->getTensorShape(io.input.c_str()),
                               engine_->getProfileShape(io.input.c_str(), 0, nvinfer1::OptProfileSelector::kMIN),
                               engine_->getProfileShape(io.input.c_str(), 0, nvinfer1::OptProfileSelector::kMAX));
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaMalloc(&d_input_, static_cast<size_t>(batch_.max * input_.sample_bytes)), "cudaMalloc(input)");
  check(cudaMalloc(&d_output_, static_cast<size_t>(batch_.max * output_.sample_bytes)), "cudaMalloc(output)");
}

EngineRunner::~EngineRunner() {
  for (auto& kv : graphs_) cudaGraphExecDestroy(kv.second);
  if (d_input_) cudaFree(d_input_);
  if (d_output_) cudaFree(d_output_);
  if (stream_) cudaStreamDestroy(stream_);
  context_.reset();
  engine_.reset();
  runtime_.reset();
  // the plugin library stays loaded: TensorRT's registry keeps pointers into it
}

void EngineRunner::set_shapes_and_addresses(const void* input, void* output, int64_t n) {
  check_batch(n, batch_);
  const nvinfer1::Dims d = batch_shape(input_, n);
  if (!context_->setInputShape(input_.name.c_str(), d)) throw std::runtime_error("setInputShape failed");
  if (!context_->setTensorAddress(input_.name.c_str(), const_cast<void*>(input)) ||
      !context_->setTensorAddress(output_.name.c_str(), output)) {
    throw std::runtime_error("setTensorAddress failed");
  }
}

void EngineRunner::run_device(const void* input, void* output, int64_t n, cudaStream_t stream) {
  set_shapes_and_addresses(input, output, n);
  if (!context_->enqueueV3(stream)) throw std::runtime_error("enqueueV3 failed");
}

void EngineRunner::run_host(const void* input, void* output, int64_t n) {
  if (n <= 0) return;
  check_batch(n, batch_);
  check(cudaMemcpyAsync(d_input_, input, static_cast<size_t>(n * input_.sample_bytes), cudaMemcpyHostToDevice,
                        stream_),
        "copy in");
  auto it = use_graph_ ? graphs_.find(n) : graphs_.end();
  if (it != graphs_.end()) {
    check(cudaGraphLaunch(it->second, stream_), "cudaGraphLaunch");
  } else {
    run_device(d_input_, d_output_, n, stream_);
    if (use_graph_) {
      // capture this batch size once (after a normal run, so TensorRT's lazy setup is done)
      check(cudaStreamSynchronize(stream_), "sync before capture");
      cudaGraph_t graph = nullptr;
      check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "begin capture");
      const bool ok = context_->enqueueV3(stream_);
      check(cudaStreamEndCapture(stream_, &graph), "end capture");
      cudaGraphExec_t exec = nullptr;
      if (ok && graph != nullptr && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess) {
        graphs_[n] = exec;
      } else {
        cudaGetLastError();
        use_graph_ = false;  // this engine cannot be captured; keep running it normally
      }
      if (graph != nullptr) cudaGraphDestroy(graph);
    }
  }
  check(cudaMemcpyAsync(output, d_output_, static_cast<size_t>(n * output_.sample_bytes), cudaMemcpyDeviceToHost,
                        stream_),
        "copy out");
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

}  // namespace trt
}  // namespace deepemotion
