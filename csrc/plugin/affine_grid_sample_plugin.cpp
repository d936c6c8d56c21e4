// AffineGridSample IPluginV3 implementation. Every TensorRT-facing method is noexcept: failures
// are caught here, reported on stderr with the plugin's name, and returned as -1 / nullptr.
#include "affine_grid_sample_plugin.h"

#include <NvInferRuntime.h>

#include <cstring>
#include <exception>
#include <iostream>
#include <stdexcept>

#include "ops/affine_grid_sample/affine_grid_sample.h"

namespace deepemotion {
namespace plugin {
namespace {

using nvinfer1::DataType;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;
using nvinfer1::TensorFormat;

void report(char const* where, char const* what) noexcept {
  std::cerr << "[deepemotion::" << kPluginName << "] " << where << ": " << what << std::endl;
}

template <typename F>
int32_t guarded(char const* where, F&& f) noexcept {
  try {
    return f();
  } catch (std::exception const& e) {
    report(where, e.what());
  } catch (...) {
    report(where, "unknown exception");
  }
  return -1;
}

}  // namespace

AffineGridSampleParams parse_fields(nvinfer1::PluginFieldCollection const* fc) {
  AffineGridSampleParams p;
  bool have_h = false, have_w = false;
  if (fc == nullptr) throw std::invalid_argument("no plugin fields");
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    PluginField const& f = fc->fields[i];
    if (f.name == nullptr || f.data == nullptr || f.length < 1) continue;
    auto read_int = [&f]() -> int32_t {
      if (f.type == PluginFieldType::kINT32) return *static_cast<int32_t const*>(f.data);
      if (f.type == PluginFieldType::kINT64) return static_cast<int32_t>(*static_cast<int64_t const*>(f.data));
      throw std::invalid_argument(std::string("field ") + f.name + " must be INT32");
    };
    if (std::strcmp(f.name, "out_h") == 0) {
      p.out_h = read_int();
      have_h = true;
    } else if (std::strcmp(f.name, "out_w") == 0) {
      p.out_w = read_int();
      have_w = true;
    } else if (std::strcmp(f.name, "align_corners") == 0) {
      p.align_corners = read_int() != 0 ? 1 : 0;
    }
  }
  if (!have_h || !have_w) throw std::invalid_argument("fields out_h and out_w are required");
  if (p.out_h <= 0 || p.out_w <= 0) throw std::invalid_argument("out_h and out_w must be positive");
  return p;
}

AffineGridSamplePlugin::AffineGridSamplePlugin(AffineGridSampleParams params) : params_(params) {
  fields_ = {
      PluginField("out_h", &params_.out_h, PluginFieldType::kINT32, 1),
      PluginField("out_w", &params_.out_w, PluginFieldType::kINT32, 1),
      PluginField("align_corners", &params_.align_corners, PluginFieldType::kINT32, 1),
  };
  field_collection_.nbFields = static_cast<int32_t>(fields_.size());
  field_collection_.fields = fields_.data();
}

nvinfer1::IPluginCapability* AffineGridSamplePlugin::getCapabilityInterface(
    nvinfer1::PluginCapabilityType type) noexcept {
  switch (type) {
    case nvinfer1::PluginCapabilityType::kCORE:
      return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD:
      return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME:
      return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

nvinfer1::IPluginV3* AffineGridSamplePlugin::clone() noexcept {
  try {
    return new AffineGridSamplePlugin(params_);
  } catch (std::exception const& e) {
    report("clone", e.what());
  }
  return nullptr;
}

int32_t AffineGridSamplePlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                                nvinfer1::DynamicPluginTensorDesc const* out,
                                                int32_t nbOutputs) noexcept {
  return guarded("configurePlugin", [&]() -> int32_t {
    if (nbInputs != 2 || nbOutputs != 1) throw std::invalid_argument("expects 2 inputs and 1 output");
    if (in[0].desc.dims.nbDims != 4) throw std::invalid_argument("input X must be 4-D [N, C, H, W]");
    if (in[1].desc.dims.nbDims != 3) throw std::invalid_argument("input theta must be 3-D [N, 2, 3]");
    (void)out;
    return 0;
  });
}

int32_t AffineGridSamplePlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs,
                                                   DataType const* inputTypes, int32_t nbInputs) const noexcept {
  if (nbOutputs != 1 || nbInputs != 2) return -1;
  outputTypes[0] = inputTypes[0];
  return 0;
}

int32_t AffineGridSamplePlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
                                                nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t /*nbShapeInputs*/,
                                                nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                                                nvinfer1::IExprBuilder& exprBuilder) noexcept {
  return guarded("getOutputShapes", [&]() -> int32_t {
    if (nbInputs != 2 || nbOutputs != 1 || inputs[0].nbDims != 4) {
      throw std::invalid_argument("expects X [N, C, H, W] and theta [N, 2, 3]");
    }
    outputs[0].nbDims = 4;
    outputs[0].d[0] = inputs[0].d[0];
    outputs[0].d[1] = inputs[0].d[1];
    outputs[0].d[2] = exprBuilder.constant(params_.out_h);
    outputs[0].d[3] = exprBuilder.constant(params_.out_w);
    return 0;
  });
}

bool AffineGridSamplePlugin::supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut,
                                                       int32_t nbInputs, int32_t nbOutputs) noexcept {
  if (nbInputs != 2 || nbOutputs != 1 || pos < 0 || pos > 2) return false;
  auto const& d = inOut[pos].desc;
  if (d.format != TensorFormat::kLINEAR) return false;
  switch (pos) {
    case 0:
      return d.type == DataType::kFLOAT || d.type == DataType::kHALF;
    case 1:
      return d.type == DataType::kFLOAT;  // theta: always FP32
    default:
      return d.type == inOut[0].desc.type;
  }
}

int32_t AffineGridSamplePlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
                                              nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept {
  return guarded("onShapeChange", [&]() -> int32_t {
    if (nbInputs != 2 || nbOutputs != 1) throw std::invalid_argument("expects 2 inputs and 1 output");
    if (in[1].dims.d[0] != in[0].dims.d[0] || in[1].dims.d[1] != 2 || in[1].dims.d[2] != 3) {
      throw std::invalid_argument("theta must be [N, 2, 3] with the N of X");
    }
    return 0;
  });
}

int32_t AffineGridSamplePlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
                                        nvinfer1::PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                                        void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept {
  return guarded("enqueue", [&]() -> int32_t {
    auto const& x = inputDesc[0].dims;
    SampleShape shape{x.d[0], x.d[1], x.d[2], x.d[3], params_.out_h, params_.out_w, params_.align_corners != 0};
    auto const* theta = static_cast<float const*>(inputs[1]);
    cudaError_t err = cudaSuccess;
    if (inputDesc[0].type == DataType::kFLOAT) {
      err = affine_grid_sample_cuda_f32(static_cast<float const*>(inputs[0]), theta, static_cast<float*>(outputs[0]),
                                        shape, stream);
    } else if (inputDesc[0].type == DataType::kHALF) {
      err = affine_grid_sample_cuda_f16(static_cast<uint16_t const*>(inputs[0]), theta,
                                        static_cast<uint16_t*>(outputs[0]), shape, stream);
    } else {
      throw std::invalid_argument("unsupported input type (FP32 or FP16 only)");
    }
    if (err != cudaSuccess) throw std::runtime_error(cudaGetErrorString(err));
    return 0;
  });
}

nvinfer1::IPluginV3* AffineGridSamplePlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept {
  return clone();  // stateless: a copy per execution context
}

nvinfer1::PluginFieldCollection const* AffineGridSamplePlugin::getFieldsToSerialize() noexcept {
  return &field_collection_;
}

AffineGridSamplePluginCreator::AffineGridSamplePluginCreator() {
  field_names_ = {
      PluginField("out_h", nullptr, PluginFieldType::kINT32, 1),
      PluginField("out_w", nullptr, PluginFieldType::kINT32, 1),
      PluginField("align_corners", nullptr, PluginFieldType::kINT32, 1),
  };
  field_collection_.nbFields = static_cast<int32_t>(field_names_.size());
  field_collection_.fields = field_names_.data();
}

nvinfer1::IPluginV3* AffineGridSamplePluginCreator::createPlugin(char const* /*name*/,
                                                                 nvinfer1::PluginFieldCollection const* fc,
                                                                 nvinfer1::TensorRTPhase /*phase*/) noexcept {
  try {
    return new AffineGridSamplePlugin(parse_fields(fc));
  } catch (std::exception const& e) {
    report("createPlugin", e.what());
  }
  return nullptr;
}

}  // namespace plugin
}  // namespace deepemotion

// Registered once, by the macro (no exported getCreators). It pastes the name into a variable, so
// it takes an unqualified name at global scope.
using AffineGridSamplePluginCreator = deepemotion::plugin::AffineGridSamplePluginCreator;
REGISTER_TENSORRT_PLUGIN(AffineGridSamplePluginCreator);
