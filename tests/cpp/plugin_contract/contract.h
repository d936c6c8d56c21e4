// Shared pieces of the plugin contract test (see plugin_contract.cpp).
#pragma once

#include <NvInfer.h>
#include <NvInferRuntime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "trt_doubles.h"

namespace contract {

// What the plugin must be (csrc/plugin/README.md); the exporter's node is checked against the creator separately.
constexpr char const* kName = "AffineGridSample";
constexpr char const* kVersion = "1";
constexpr char const* kNamespace = "deepemotion";

struct PluginDeleter {
  void operator()(nvinfer1::IPluginV3* p) const { delete p; }
};
using PluginPtr = std::unique_ptr<nvinfer1::IPluginV3, PluginDeleter>;

// A field collection whose every field's data is its own heap block of exactly the bytes given, so that
// AddressSanitizer sees any read past a field's data.
class Fields {
 public:
  Fields& add_int(char const* name, int32_t v);
  Fields& add_raw(char const* name, nvinfer1::PluginFieldType type, int32_t length, std::vector<unsigned char> bytes);
  Fields& add_null_data(char const* name, nvinfer1::PluginFieldType type, int32_t length);
  Fields& add_nameless_int(int32_t v);
  // an INT32 whose data pointer is odd (deserialized data need not be aligned)
  Fields& add_misaligned_int(char const* name, int32_t v);
  nvinfer1::PluginFieldCollection const* fc();

 private:
  std::vector<std::unique_ptr<unsigned char[]>> blocks_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection fc_{};
};

// TensorRT's serialization of a plugin: the fields' names, types, lengths and bytes copied into one buffer
// (data at odd offsets), and a collection pointing into that buffer for createPlugin(..., kRUNTIME).
class SerializedFields {
 public:
  explicit SerializedFields(nvinfer1::PluginFieldCollection const* fc);
  nvinfer1::PluginFieldCollection const* fc() const { return &fc_; }
  bool ok() const { return ok_; }

 private:
  std::vector<std::string> names_;
  std::vector<unsigned char> bytes_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection fc_{};
  bool ok_ = true;
};

size_t field_type_size(nvinfer1::PluginFieldType t);
// Empty when equal, else what differs.
std::string compare_fields(nvinfer1::PluginFieldCollection const* a, nvinfer1::PluginFieldCollection const* b);
// The INT32 value of field `name`, or `fallback` when absent or not a single INT32.
int64_t field_int(nvinfer1::PluginFieldCollection const* fc, char const* name, int64_t fallback = INT64_MIN);

nvinfer1::IPluginV3OneCore* core(nvinfer1::IPluginV3* p);
nvinfer1::IPluginV3OneBuild* build(nvinfer1::IPluginV3* p);
nvinfer1::IPluginV3OneRuntime* runtime(nvinfer1::IPluginV3* p);

// The plugin's creator, looked up in the registry as TensorRT does (nullptr when absent).
nvinfer1::IPluginCreatorV3One* creator();
PluginPtr create(int32_t out_h, int32_t out_w, int32_t align_corners,
                 nvinfer1::TensorRTPhase phase = nvinfer1::TensorRTPhase::kBUILD);

// Runs `f` and checks that it reported exactly one error to `rec`, with `code`, naming the plugin and containing
// `needle`. `label` names the case in failure messages.
void expect_one_error(TestRecorder& rec, size_t before, std::string const& label, nvinfer1::ErrorCode code,
                      std::string const& needle);

// The sections (each prints its summary).
void test_registration();
void test_exporter_node(std::string const& node_file);
void test_create_valid();
void test_create_invalid(TestRecorder& rec);
void test_capabilities();
void test_output_shapes(TestRecorder& rec);
void test_output_types(TestRecorder& rec);
void test_format_matrix();
void test_configure(TestRecorder& rec);
void test_workspace();
void test_clone_and_serialization();
void test_attach_to_context(TestRecorder& rec);
void test_enqueue_errors(TestRecorder& rec);
void test_runner_logic();
// Returns "ran", or why it did not run ("SKIPPED: ..."); `data_dir` empty: no reference data given.
std::string test_enqueue_gpu(std::string const& data_dir);

}  // namespace contract
