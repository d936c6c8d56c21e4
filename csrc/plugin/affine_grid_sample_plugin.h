// AffineGridSample: TensorRT IPluginV3 plugin fusing the STN's affine grid generation and
// bilinear grid sampling (zeros padding) into one kernel. Name "AffineGridSample", namespace
// "deepemotion", version "1".
//
//   input 0  X      [N, C, H, W]   FP32 or FP16, linear (NCHW)
//   input 1  theta  [N, 2, 3]      FP32 (coordinates are always computed in FP32)
//   output 0 Y      [N, C, out_h, out_w], same type as X
//   fields   out_h (INT32), out_w (INT32), align_corners (INT32, 0/1)
//
// enqueue() only maps the tensor descriptors onto deepemotion::affine_grid_sample_cuda_f32/_f16,
// the same launcher the Python CUDA path uses. See README.md beside this file.
//
// Errors: every TensorRT-facing method is noexcept; a failure returns -1 / false / nullptr and is reported
// through an IErrorRecorder -- the execution context's (given to attachToContext), else the plugin
// registry's -- or, when neither has one, on stderr.
#pragma once

#include <NvInfer.h>
#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace deepemotion {
namespace plugin {

constexpr char const* kPluginName = "AffineGridSample";
constexpr char const* kPluginVersion = "1";
constexpr char const* kPluginNamespace = "deepemotion";

struct AffineGridSampleParams {
  int32_t out_h = 0;
  int32_t out_w = 0;
  int32_t align_corners = 0;
};

class AffineGridSamplePlugin final : public nvinfer1::IPluginV3,
                                     public nvinfer1::IPluginV3OneCore,
                                     public nvinfer1::IPluginV3OneBuild,
                                     public nvinfer1::IPluginV3OneRuntime {
 public:
  explicit AffineGridSamplePlugin(AffineGridSampleParams params, nvinfer1::IErrorRecorder* recorder = nullptr);
  ~AffineGridSamplePlugin() override = default;
  // fields_ points into this object's params_: a memberwise copy would point into the original
  AffineGridSamplePlugin(AffineGridSamplePlugin const&) = delete;
  AffineGridSamplePlugin& operator=(AffineGridSamplePlugin const&) = delete;

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  char const* getPluginName() const noexcept override { return kPluginName; }
  char const* getPluginVersion() const noexcept override { return kPluginVersion; }
  char const* getPluginNamespace() const noexcept override { return kPluginNamespace; }

  // IPluginV3OneBuild
  int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                          nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
                             nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
                          int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                          nvinfer1::IExprBuilder& exprBuilder) noexcept override;
  bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  int32_t getNbOutputs() const noexcept override { return 1; }

  // IPluginV3OneRuntime
  int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
                        int32_t nbOutputs) noexcept override;
  int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                  void const* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

  AffineGridSampleParams const& params() const { return params_; }

 private:
  // checks shared by configurePlugin, onShapeChange and enqueue; throw std::invalid_argument
  void check_io(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
                int32_t nbOutputs) const;

  AffineGridSampleParams params_;
  nvinfer1::IErrorRecorder* recorder_ = nullptr;  // the execution context's, once attached
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection field_collection_{};
};

class AffineGridSamplePluginCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  AffineGridSamplePluginCreator();
  ~AffineGridSamplePluginCreator() override = default;

  char const* getPluginName() const noexcept override { return kPluginName; }
  char const* getPluginVersion() const noexcept override { return kPluginVersion; }
  char const* getPluginNamespace() const noexcept override { return kPluginNamespace; }
  nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override { return &field_collection_; }
  nvinfer1::IPluginV3* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;

 private:
  std::vector<nvinfer1::PluginField> field_names_;
  nvinfer1::PluginFieldCollection field_collection_{};
};

// Parses a field collection into parameters; throws std::invalid_argument naming the problem: no collection, a
// field without a name, an unknown or repeated field, a type other than INT32, a length other than 1, no data,
// out_h/out_w missing or not positive, align_corners other than 0/1.
AffineGridSampleParams parse_fields(nvinfer1::PluginFieldCollection const* fc);

}  // namespace plugin
}  // namespace deepemotion
