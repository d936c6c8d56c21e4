// Test implementations of what TensorRT hands a plugin, so that the plugin's own code runs without libnvinfer:
// the global plugin registry (getPluginRegistry(), which REGISTER_TENSORRT_PLUGIN calls at load time), an error
// recorder, the dimension-expression builder of getOutputShapes, and the resource context of attachToContext.
//
// IExprBuilder and IDimensionExpr are thin classes forwarding to TensorRT's internal apiv::V* interfaces; the
// doubles implement those (TensorRT says not to inherit from them: only a test does, to stand in for TensorRT).
#pragma once

#include <NvInfer.h>
#include <NvInferRuntime.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace contract {

// Collects reportError calls; thread-safe as TensorRT requires.
class TestRecorder final : public nvinfer1::IErrorRecorder {
 public:
  struct Entry {
    nvinfer1::ErrorCode code;
    std::string desc;
  };

  int32_t getNbErrors() const noexcept override;
  nvinfer1::ErrorCode getErrorCode(int32_t errorIdx) const noexcept override;
  ErrorDesc getErrorDesc(int32_t errorIdx) const noexcept override;
  bool hasOverflowed() const noexcept override { return false; }
  void clear() noexcept override;
  bool reportError(nvinfer1::ErrorCode val, ErrorDesc desc) noexcept override;
  RefCount incRefCount() noexcept override { return ++refs_; }
  RefCount decRefCount() noexcept override { return --refs_; }

  std::vector<Entry> entries() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  RefCount refs_ = 0;
};

// The process's plugin registry (what libnvinfer's getPluginRegistry() returns), with the lookup TensorRT does
// for a plugin node: name, version and namespace of a V3One creator.
class TestRegistry final : public nvinfer1::IPluginRegistry {
 public:
  struct Registration {
    nvinfer1::IPluginCreatorInterface* creator;
    std::string library_namespace;
  };

  ~TestRegistry() noexcept override = default;

  std::vector<Registration> const& registrations() const { return registrations_; }
  nvinfer1::IPluginCreatorV3One* find_v3one(char const* name, char const* version, char const* ns) const;

  // IPluginRegistry (deliberately without `override`: the set of pure virtuals differs between 10.x and 11.x,
  // and a missing or mismatched one leaves this class abstract, which fails to compile)
  bool registerCreator(nvinfer1::IPluginCreatorInterface& creator, nvinfer1::AsciiChar const* const ns) noexcept;
  nvinfer1::IPluginCreatorInterface* const* getAllCreators(int32_t* const numCreators) const noexcept;
  nvinfer1::IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* const numCreators) noexcept;
  nvinfer1::IPluginCreatorInterface* getCreator(nvinfer1::AsciiChar const* const pluginName,
                                                nvinfer1::AsciiChar const* const pluginVersion,
                                                nvinfer1::AsciiChar const* const pluginNamespace = "") noexcept;
  bool deregisterCreator(nvinfer1::IPluginCreatorInterface const& creator) noexcept;
  void setErrorRecorder(nvinfer1::IErrorRecorder* const recorder) noexcept { recorder_ = recorder; }
  nvinfer1::IErrorRecorder* getErrorRecorder() const noexcept { return recorder_; }
  bool isParentSearchEnabled() const { return false; }
  void setParentSearchEnabled(bool const) {}
  PluginLibraryHandle loadLibrary(nvinfer1::AsciiChar const*) noexcept { return nullptr; }
  void deregisterLibrary(PluginLibraryHandle) noexcept {}
  nvinfer1::IPluginResource* acquirePluginResource(nvinfer1::AsciiChar const*, nvinfer1::IPluginResource*) noexcept {
    return nullptr;
  }
  int32_t releasePluginResource(nvinfer1::AsciiChar const*) noexcept { return -1; }
#if NV_TENSORRT_MAJOR < 11
  // the IPluginV2 registry, deprecated in 10.x and gone in 11.x: never used by an IPluginV3 plugin
  bool registerCreator(nvinfer1::IPluginCreator& creator, nvinfer1::AsciiChar const* const ns) noexcept;
  nvinfer1::IPluginCreator* const* getPluginCreatorList(int32_t* const numCreators) const noexcept;
  nvinfer1::IPluginCreator* getPluginCreator(nvinfer1::AsciiChar const* const, nvinfer1::AsciiChar const* const,
                                             nvinfer1::AsciiChar const* const = "") noexcept {
    return nullptr;
  }
  bool deregisterCreator(nvinfer1::IPluginCreator const&) noexcept { return false; }
  int32_t v2_registrations() const { return v2_registrations_; }
#else
  int32_t v2_registrations() const { return 0; }
#endif

 private:
  std::vector<Registration> registrations_;
  std::vector<nvinfer1::IPluginCreatorInterface*> all_;
  nvinfer1::IErrorRecorder* recorder_ = nullptr;
  int32_t v2_registrations_ = 0;
};

TestRegistry& registry();

// Expressions: constants, or symbols standing for a runtime extent (the dynamic batch).
class ExprBuilder {
 public:
  ExprBuilder();
  ~ExprBuilder();
  nvinfer1::IExprBuilder& builder();
  nvinfer1::IDimensionExpr const* constant(int64_t value);
  nvinfer1::IDimensionExpr const* symbol(std::string const& name);
  nvinfer1::DimsExprs dims(std::vector<nvinfer1::IDimensionExpr const*> const& d);
  std::string describe(nvinfer1::IDimensionExpr const* e) const;  // "48" or "N"
  void fail_constants(bool on) { fail_constants_ = on; }          // constant() returns nullptr: a builder failure
  int32_t constant_calls() const { return constant_calls_; }

  struct Impl;

 private:
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  bool fail_constants_ = false;
  int32_t constant_calls_ = 0;
};

class ResourceContext final : public nvinfer1::IPluginResourceContext {
 public:
  explicit ResourceContext(nvinfer1::IErrorRecorder* recorder) : recorder_(recorder) {}
  nvinfer1::IGpuAllocator* getGpuAllocator() const noexcept override { return nullptr; }
  nvinfer1::IErrorRecorder* getErrorRecorder() const noexcept override { return recorder_; }

 private:
  nvinfer1::IErrorRecorder* recorder_;
};

// Descriptor helpers.
nvinfer1::Dims make_dims(std::vector<int64_t> const& d);
nvinfer1::PluginTensorDesc tensor(std::vector<int64_t> const& d, nvinfer1::DataType t,
                                  nvinfer1::TensorFormat f = nvinfer1::TensorFormat::kLINEAR);
// A build-time descriptor: desc with -1 for runtime extents, min/max/opt filled from the given ranges.
nvinfer1::DynamicPluginTensorDesc dynamic(std::vector<int64_t> const& d, nvinfer1::DataType t,
                                          nvinfer1::TensorFormat f = nvinfer1::TensorFormat::kLINEAR,
                                          int64_t batch_min = 1, int64_t batch_max = 64);

char const* type_str(nvinfer1::DataType t);
char const* format_str(nvinfer1::TensorFormat f);

}  // namespace contract
