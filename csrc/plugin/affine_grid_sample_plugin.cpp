// AffineGridSample IPluginV3 implementation. Every TensorRT-facing method is noexcept: failures are caught
// here, reported through an error recorder (the execution context's once attached, else the plugin registry's,
// else stderr) with the plugin's name, and returned as -1 / false / nullptr.
#include "affine_grid_sample_plugin.h"

#include <NvInferRuntime.h>

#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <stdexcept>
#include <string>

#include "ops/affine_grid_sample/affine_grid_sample.h"

namespace deepemotion {
namespace plugin {
namespace {

using nvinfer1::DataType;
using nvinfer1::ErrorCode;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;
using nvinfer1::TensorFormat;

constexpr char const* kFieldNames[] = {"out_h", "out_w", "align_corners"};
constexpr int32_t kNbFields = 3;

// The recorder TensorRT gave us, else the registry's (TensorRT's documented place for plugin creators), else none.
nvinfer1::IErrorRecorder* pick_recorder(nvinfer1::IErrorRecorder* own) noexcept {
  if (own != nullptr) return own;
  nvinfer1::IPluginRegistry* registry = getPluginRegistry();
  return registry != nullptr ? registry->getErrorRecorder() : nullptr;
}

void report(nvinfer1::IErrorRecorder* own, ErrorCode code, char const* where, char const* what) noexcept {
  try {
    std::string const msg = std::string("[deepemotion::") + kPluginName + "] " + where + ": " + what;
    if (nvinfer1::IErrorRecorder* r = pick_recorder(own)) {
      r->reportError(code, msg.c_str());
    } else {
      std::cerr << msg << std::endl;
    }
  } catch (...) {
    // out of memory while reporting: nothing more can be said
  }
}

// Runs f, turning an exception into a report and `failed`.
template <typename R, typename F>
R guarded(nvinfer1::IErrorRecorder* own, char const* where, R failed, F&& f) noexcept {
  try {
    return f();
  } catch (std::invalid_argument const& e) {
    report(own, ErrorCode::kINVALID_ARGUMENT, where, e.what());
  } catch (std::bad_alloc const& e) {
    report(own, ErrorCode::kFAILED_ALLOCATION, where, e.what());
  } catch (std::runtime_error const& e) {
    report(own, ErrorCode::kFAILED_EXECUTION, where, e.what());
  } catch (std::exception const& e) {
    report(own, ErrorCode::kINTERNAL_ERROR, where, e.what());
  } catch (...) {
    report(own, ErrorCode::kINTERNAL_ERROR, where, "unknown exception");
  }
  return failed;
}

[[noreturn]] void fail(std::string const& what) { throw std::invalid_argument(what); }

bool is_sample_type(DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF; }

std::string dims_str(nvinfer1::Dims const& d) {
  std::string s = "[";
  for (int32_t i = 0; i < d.nbDims && i < nvinfer1::Dims::MAX_DIMS; ++i) {
    s += (i ? ", " : "") + std::to_string(d.d[i]);
  }
  return s + "]";
}

// Two extents agree unless both are known (build time: -1 is a runtime dimension) and differ.
bool agree(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

}  // namespace

AffineGridSampleParams parse_fields(nvinfer1::PluginFieldCollection const* fc) {
  if (fc == nullptr) fail("no plugin field collection");
  if (fc->nbFields < 0 || (fc->nbFields > 0 && fc->fields == nullptr)) {
    fail("malformed plugin field collection (nbFields " + std::to_string(fc->nbFields) + ")");
  }
  int32_t values[kNbFields] = {0, 0, 0};
  bool seen[kNbFields] = {false, false, false};
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    PluginField const& f = fc->fields[i];
    if (f.name == nullptr) fail("plugin field " + std::to_string(i) + " has no name");
    int32_t k = 0;
    while (k < kNbFields && std::strcmp(f.name, kFieldNames[k]) != 0) ++k;
    if (k == kNbFields) fail(std::string("unknown field ") + f.name + " (fields: out_h, out_w, align_corners)");
    std::string const name = kFieldNames[k];
    if (seen[k]) fail("field " + name + " is given twice");
    if (f.type != PluginFieldType::kINT32) {
      fail("field " + name + " must be INT32, got PluginFieldType " + std::to_string(static_cast<int32_t>(f.type)));
    }
    if (f.length != 1) fail("field " + name + " must hold 1 value, got " + std::to_string(f.length));
    if (f.data == nullptr) fail("field " + name + " has no data");
    std::memcpy(&values[k], f.data, sizeof(int32_t));  // serialized data need not be aligned
    seen[k] = true;
  }
  if (!seen[0] || !seen[1]) fail(std::string("required field ") + (seen[0] ? "out_w" : "out_h") + " is missing");
  AffineGridSampleParams p;
  p.out_h = values[0];
  p.out_w = values[1];
  p.align_corners = values[2];
  if (p.out_h <= 0 || p.out_w <= 0) {
    fail("out_h and out_w must be positive, got " + std::to_string(p.out_h) + " x " + std::to_string(p.out_w));
  }
  if (p.align_corners != 0 && p.align_corners != 1) {
    fail("align_corners must be 0 or 1, got " + std::to_string(p.align_corners));
  }
  return p;
}

AffineGridSamplePlugin::AffineGridSamplePlugin(AffineGridSampleParams params, nvinfer1::IErrorRecorder* recorder)
    : params_(params), recorder_(recorder) {
  fields_ = {
      PluginField(kFieldNames[0], &params_.out_h, PluginFieldType::kINT32, 1),
      PluginField(kFieldNames[1], &params_.out_w, PluginFieldType::kINT32, 1),
      PluginField(kFieldNames[2], &params_.align_corners, PluginFieldType::kINT32, 1),
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
  return guarded<nvinfer1::IPluginV3*>(recorder_, "clone", nullptr,
                                       [&] { return new AffineGridSamplePlugin(params_, recorder_); });
}

void AffineGridSamplePlugin::check_io(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
                                      nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) const {
  if (nbInputs != 2 || nbOutputs != 1) {
    fail("expects 2 inputs and 1 output, got " + std::to_string(nbInputs) + " and " + std::to_string(nbOutputs));
  }
  if (in == nullptr || out == nullptr) fail("no tensor descriptors");
  nvinfer1::Dims const& x = in[0].dims;
  nvinfer1::Dims const& th = in[1].dims;
  nvinfer1::Dims const& y = out[0].dims;
  if (x.nbDims != 4) fail("input X must be 4-D [N, C, H, W], got " + dims_str(x));
  // an empty image would be read out of bounds (every tap is padding, but taps are clamped into the image)
  if (x.d[2] == 0 || x.d[3] == 0) fail("input X has empty images: " + dims_str(x));
  if (th.nbDims != 3 || !agree(th.d[1], 2) || !agree(th.d[2], 3) || !agree(th.d[0], x.d[0])) {
    fail("theta must be [N, 2, 3] with the N of X " + dims_str(x) + ", got " + dims_str(th));
  }
  if (y.nbDims != 4 || !agree(y.d[0], x.d[0]) || !agree(y.d[1], x.d[1]) || !agree(y.d[2], params_.out_h) ||
      !agree(y.d[3], params_.out_w)) {
    fail("output must be [N, C, out_h, out_w] = [" + std::to_string(x.d[0]) + ", " + std::to_string(x.d[1]) + ", " +
         std::to_string(params_.out_h) + ", " + std::to_string(params_.out_w) + "], got " + dims_str(y));
  }
  if (!is_sample_type(in[0].type)) fail("input X must be FP32 or FP16");
  if (in[1].type != DataType::kFLOAT) fail("theta must be FP32");
  if (out[0].type != in[0].type) fail("the output type must be the type of X");
  if (in[0].format != TensorFormat::kLINEAR || in[1].format != TensorFormat::kLINEAR ||
      out[0].format != TensorFormat::kLINEAR) {
    fail("all tensors must be in the linear format");
  }
}

int32_t AffineGridSamplePlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                                nvinfer1::DynamicPluginTensorDesc const* out,
                                                int32_t nbOutputs) noexcept {
  return guarded(recorder_, "configurePlugin", -1, [&]() -> int32_t {
    if (nbInputs != 2 || nbOutputs != 1 || in == nullptr || out == nullptr) {
      fail("expects 2 inputs and 1 output");
    }
    nvinfer1::PluginTensorDesc const ins[2] = {in[0].desc, in[1].desc};
    check_io(ins, nbInputs, &out[0].desc, nbOutputs);
    return 0;
  });
}

int32_t AffineGridSamplePlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs,
                                                   DataType const* inputTypes, int32_t nbInputs) const noexcept {
  return guarded(recorder_, "getOutputDataTypes", -1, [&]() -> int32_t {
    if (nbOutputs != 1 || nbInputs != 2 || outputTypes == nullptr || inputTypes == nullptr) {
      fail("expects 2 inputs and 1 output");
    }
    if (!is_sample_type(inputTypes[0])) fail("input X must be FP32 or FP16");
    if (inputTypes[1] != DataType::kFLOAT) fail("theta must be FP32");
    outputTypes[0] = inputTypes[0];
    return 0;
  });
}

int32_t AffineGridSamplePlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
                                                nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t /*nbShapeInputs*/,
                                                nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                                                nvinfer1::IExprBuilder& exprBuilder) noexcept {
  return guarded(recorder_, "getOutputShapes", -1, [&]() -> int32_t {
    if (nbInputs != 2 || nbOutputs != 1 || inputs == nullptr || outputs == nullptr) {
      fail("expects X [N, C, H, W] and theta [N, 2, 3]");
    }
    nvinfer1::DimsExprs const& x = inputs[0];
    nvinfer1::DimsExprs const& th = inputs[1];
    if (x.nbDims != 4) fail("input X must be 4-D [N, C, H, W]");
    if (th.nbDims != 3) fail("theta must be 3-D [N, 2, 3]");
    for (int32_t i = 0; i < 4; ++i) {
      if (x.d[i] == nullptr || (i < 3 && th.d[i] == nullptr)) fail("missing dimension expression");
    }
    auto known = [](nvinfer1::IDimensionExpr const* e) { return e->isConstant() ? e->getConstantValue() : -1; };
    if (!agree(known(th.d[1]), 2) || !agree(known(th.d[2]), 3) || !agree(known(th.d[0]), known(x.d[0]))) {
      fail("theta must be [N, 2, 3] with the N of X");
    }
    nvinfer1::IDimensionExpr const* h = exprBuilder.constant(params_.out_h);
    nvinfer1::IDimensionExpr const* w = exprBuilder.constant(params_.out_w);
    if (h == nullptr || w == nullptr) fail("IExprBuilder::constant failed");
    outputs[0].nbDims = 4;
    outputs[0].d[0] = x.d[0];
    outputs[0].d[1] = x.d[1];
    outputs[0].d[2] = h;
    outputs[0].d[3] = w;
    return 0;
  });
}

bool AffineGridSamplePlugin::supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut,
                                                       int32_t nbInputs, int32_t nbOutputs) noexcept {
  if (inOut == nullptr || nbInputs != 2 || nbOutputs != 1 || pos < 0 || pos > 2) return false;
  auto const& d = inOut[pos].desc;
  if (d.format != TensorFormat::kLINEAR) return false;
  switch (pos) {
    case 0:
      return is_sample_type(d.type);
    case 1:
      return d.type == DataType::kFLOAT;  // theta: always FP32
    default:
      return is_sample_type(d.type) && d.type == inOut[0].desc.type;
  }
}

int32_t AffineGridSamplePlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
                                              nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept {
  return guarded(recorder_, "onShapeChange", -1, [&]() -> int32_t {
    check_io(in, nbInputs, out, nbOutputs);
    for (int32_t i = 0; i < 4; ++i) {
      if (in[0].dims.d[i] < 0) fail("input X has an unknown extent at run time");
    }
    return 0;
  });
}

int32_t AffineGridSamplePlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
                                        nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs,
                                        void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept {
  return guarded(recorder_, "enqueue", -1, [&]() -> int32_t {
    check_io(inputDesc, 2, outputDesc, 1);
    auto const& x = inputDesc[0].dims;
    SampleShape const shape{x.d[0], x.d[1], x.d[2], x.d[3], params_.out_h, params_.out_w, params_.align_corners != 0};
    if (shape.n < 0 || shape.c < 0 || shape.in_h < 0 || shape.in_w < 0) fail("negative extent " + dims_str(x));
    if (shape.n * shape.c == 0) return 0;  // an empty batch: nothing to do
    if (inputs == nullptr || outputs == nullptr || inputs[0] == nullptr || inputs[1] == nullptr ||
        outputs[0] == nullptr) {
      fail("null tensor address");
    }
    auto const* theta = static_cast<float const*>(inputs[1]);
    cudaError_t err = cudaSuccess;
    if (inputDesc[0].type == DataType::kFLOAT) {
      err = affine_grid_sample_cuda_f32(static_cast<float const*>(inputs[0]), theta, static_cast<float*>(outputs[0]),
                                        shape, stream);
    } else {
      err = affine_grid_sample_cuda_f16(static_cast<uint16_t const*>(inputs[0]), theta,
                                        static_cast<uint16_t*>(outputs[0]), shape, stream);
    }
    if (err != cudaSuccess) throw std::runtime_error(std::string("kernel launch: ") + cudaGetErrorString(err));
    return 0;
  });
}

nvinfer1::IPluginV3* AffineGridSamplePlugin::attachToContext(nvinfer1::IPluginResourceContext* context) noexcept {
  // stateless apart from where errors go: a copy per execution context, reporting to the context's recorder
  nvinfer1::IErrorRecorder* r = context != nullptr ? context->getErrorRecorder() : nullptr;
  return guarded<nvinfer1::IPluginV3*>(recorder_, "attachToContext", nullptr, [&] {
    return new AffineGridSamplePlugin(params_, r != nullptr ? r : recorder_);
  });
}

nvinfer1::PluginFieldCollection const* AffineGridSamplePlugin::getFieldsToSerialize() noexcept {
  return &field_collection_;
}

AffineGridSamplePluginCreator::AffineGridSamplePluginCreator() {
  field_names_ = {
      PluginField(kFieldNames[0], nullptr, PluginFieldType::kINT32, 1),
      PluginField(kFieldNames[1], nullptr, PluginFieldType::kINT32, 1),
      PluginField(kFieldNames[2], nullptr, PluginFieldType::kINT32, 1),
  };
  field_collection_.nbFields = static_cast<int32_t>(field_names_.size());
  field_collection_.fields = field_names_.data();
}

nvinfer1::IPluginV3* AffineGridSamplePluginCreator::createPlugin(char const* /*name*/,
                                                                 nvinfer1::PluginFieldCollection const* fc,
                                                                 nvinfer1::TensorRTPhase /*phase*/) noexcept {
  return guarded<nvinfer1::IPluginV3*>(nullptr, "createPlugin", nullptr,
                                       [&] { return new AffineGridSamplePlugin(parse_fields(fc)); });
}

}  // namespace plugin
}  // namespace deepemotion

// Registered once, by the macro (no exported getCreators). It pastes the name into a variable, so
// it takes an unqualified name at global scope.
using AffineGridSamplePluginCreator = deepemotion::plugin::AffineGridSamplePluginCreator;
REGISTER_TENSORRT_PLUGIN(AffineGridSamplePluginCreator);
