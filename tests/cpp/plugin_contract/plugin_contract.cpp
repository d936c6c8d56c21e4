// The AffineGridSample plugin's contract, exercised the way TensorRT uses it, through TensorRT's interfaces only
// (the plugin's own header is not included): the registry it registers with at load time, the creator TensorRT
// finds from an ONNX node, createPlugin with good and bad fields, the build-time queries (output types and
// shapes, the format matrix, configurePlugin, workspace), the run-time ones (onShapeChange, enqueue) and the
// copies TensorRT makes (clone, serialization, attachToContext). Built once per TensorRT header release.
//
//   plugin_contract --onnx-node FILE [--enqueue-data DIR] [--require-enqueue]
// FILE: the AffineGridSample node of a graph `fer-export onnx` wrote (tests/_plugin_contract.py writes it);
// DIR: inputs and PyTorch's outputs for enqueue (compared where a CUDA GPU is visible, and in the host variant,
// whose CUDA launchers are the CPU kernel on host memory: host_launch.h).
// Last line: "plugin_contract: PASS|FAIL ..."; exit status 0 only on PASS.
#include "contract.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "host_launch.h"

using nvinfer1::DataType;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::ErrorCode;
using nvinfer1::PluginCapabilityType;
using nvinfer1::PluginFieldCollection;
using nvinfer1::PluginFieldType;
using nvinfer1::PluginTensorDesc;
using nvinfer1::TensorFormat;
using nvinfer1::TensorRTPhase;

namespace contract {

// --- helpers ---------------------------------------------------------------------------------------------------

Fields& Fields::add_raw(char const* name, PluginFieldType type, int32_t length, std::vector<unsigned char> bytes) {
  blocks_.emplace_back(new unsigned char[bytes.size()]);
  if (!bytes.empty()) std::memcpy(blocks_.back().get(), bytes.data(), bytes.size());
  fields_.emplace_back(name, blocks_.back().get(), type, length);
  return *this;
}

Fields& Fields::add_int(char const* name, int32_t v) {
  std::vector<unsigned char> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return add_raw(name, PluginFieldType::kINT32, 1, b);
}

Fields& Fields::add_null_data(char const* name, PluginFieldType type, int32_t length) {
  fields_.emplace_back(name, nullptr, type, length);
  return *this;
}

Fields& Fields::add_nameless_int(int32_t v) {
  add_int("x", v);
  fields_.back().name = nullptr;
  return *this;
}

Fields& Fields::add_misaligned_int(char const* name, int32_t v) {
  blocks_.emplace_back(new unsigned char[sizeof v + 1]);
  std::memcpy(blocks_.back().get() + 1, &v, sizeof v);
  fields_.emplace_back(name, blocks_.back().get() + 1, PluginFieldType::kINT32, 1);
  return *this;
}

PluginFieldCollection const* Fields::fc() {
  fc_.nbFields = static_cast<int32_t>(fields_.size());
  fc_.fields = fields_.data();
  return &fc_;
}

size_t field_type_size(PluginFieldType t) {
  switch (t) {
    case PluginFieldType::kINT8:
    case PluginFieldType::kCHAR:
      return 1;
    case PluginFieldType::kFLOAT16:
    case PluginFieldType::kINT16:
    case PluginFieldType::kBF16:
      return 2;
    case PluginFieldType::kFLOAT32:
    case PluginFieldType::kINT32:
      return 4;
    case PluginFieldType::kFLOAT64:
    case PluginFieldType::kINT64:
      return 8;
    case PluginFieldType::kDIMS:
      return sizeof(nvinfer1::Dims);
    default:
      return 0;
  }
}

SerializedFields::SerializedFields(PluginFieldCollection const* fc) {
  if (fc == nullptr || fc->nbFields < 0 || (fc->nbFields > 0 && fc->fields == nullptr)) {
    ok_ = false;
    return;
  }
  std::vector<size_t> offsets;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    auto const& f = fc->fields[i];
    size_t const size = field_type_size(f.type) * static_cast<size_t>(std::max(f.length, 0));
    if (f.name == nullptr || (size > 0 && f.data == nullptr) || field_type_size(f.type) == 0) {
      ok_ = false;
      return;
    }
    names_.emplace_back(f.name);
    bytes_.push_back(0xA5);  // one byte of padding: the data lands at an odd offset
    offsets.push_back(bytes_.size());
    auto const* p = static_cast<unsigned char const*>(f.data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  bytes_.push_back(0);
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    auto const& f = fc->fields[i];
    fields_.emplace_back(names_[static_cast<size_t>(i)].c_str(), bytes_.data() + offsets[static_cast<size_t>(i)],
                         f.type, f.length);
  }
  fc_.nbFields = static_cast<int32_t>(fields_.size());
  fc_.fields = fields_.data();
}

std::string compare_fields(PluginFieldCollection const* a, PluginFieldCollection const* b) {
  if (a == nullptr || b == nullptr) return "a null collection";
  if (a->nbFields != b->nbFields) {
    return "nbFields " + std::to_string(a->nbFields) + " vs " + std::to_string(b->nbFields);
  }
  for (int32_t i = 0; i < a->nbFields; ++i) {
    auto const& x = a->fields[i];
    auto const& y = b->fields[i];
    std::string const at = "field " + std::to_string(i);
    if (x.name == nullptr || y.name == nullptr || std::strcmp(x.name, y.name) != 0) return at + ": names differ";
    if (x.type != y.type) return at + " (" + x.name + "): types differ";
    if (x.length != y.length) return at + " (" + x.name + "): lengths differ";
    size_t const size = field_type_size(x.type) * static_cast<size_t>(std::max(x.length, 0));
    if (size > 0 && (x.data == nullptr || y.data == nullptr || std::memcmp(x.data, y.data, size) != 0)) {
      return at + " (" + x.name + "): values differ";
    }
  }
  return "";
}

int64_t field_int(PluginFieldCollection const* fc, char const* name, int64_t fallback) {
  if (fc == nullptr) return fallback;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    auto const& f = fc->fields[i];
    if (f.name != nullptr && std::strcmp(f.name, name) == 0 && f.type == PluginFieldType::kINT32 && f.length == 1 &&
        f.data != nullptr) {
      int32_t v = 0;
      std::memcpy(&v, f.data, sizeof v);
      return v;
    }
  }
  return fallback;
}

nvinfer1::IPluginV3OneCore* core(nvinfer1::IPluginV3* p) {
  return static_cast<nvinfer1::IPluginV3OneCore*>(p->getCapabilityInterface(PluginCapabilityType::kCORE));
}
nvinfer1::IPluginV3OneBuild* build(nvinfer1::IPluginV3* p) {
  return static_cast<nvinfer1::IPluginV3OneBuild*>(p->getCapabilityInterface(PluginCapabilityType::kBUILD));
}
nvinfer1::IPluginV3OneRuntime* runtime(nvinfer1::IPluginV3* p) {
  return static_cast<nvinfer1::IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
}

nvinfer1::IPluginCreatorV3One* creator() { return registry().find_v3one(kName, kVersion, kNamespace); }

PluginPtr create(int32_t out_h, int32_t out_w, int32_t align_corners, TensorRTPhase phase) {
  Fields f;
  f.add_int("out_h", out_h).add_int("out_w", out_w).add_int("align_corners", align_corners);
  nvinfer1::IPluginCreatorV3One* c = creator();
  return PluginPtr(c != nullptr ? c->createPlugin("test", f.fc(), phase) : nullptr);
}

void expect_one_error(TestRecorder& rec, size_t before, std::string const& label, ErrorCode code,
                      std::string const& needle) {
  auto const entries = rec.entries();
  CHECK(entries.size() == before + 1) << label << ": " << (entries.size() - before) << " errors reported";
  if (entries.size() <= before) return;
  auto const& e = entries[before];
  CHECK(e.code == code) << label << ": error code " << static_cast<int>(e.code) << " (" << e.desc << ")";
  CHECK(e.desc.find(needle) != std::string::npos) << label << ": \"" << e.desc << "\" lacks \"" << needle << "\"";
  CHECK(e.desc.find(kName) != std::string::npos) << label << ": \"" << e.desc << "\" does not name the plugin";
}

namespace {

std::vector<int32_t> ints(std::initializer_list<int32_t> v) { return v; }
std::vector<unsigned char> bytes_of(std::vector<int32_t> const& v) {
  std::vector<unsigned char> b(v.size() * sizeof(int32_t));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

struct BuildDescs {
  DynamicPluginTensorDesc in[2];
  DynamicPluginTensorDesc out[1];
};

// X [n, c, h, w] and theta [n, 2, 3] (n = -1: dynamic), Y [n, c, oh, ow].
BuildDescs build_descs(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, DataType t) {
  BuildDescs d;
  d.in[0] = dynamic({n, c, h, w}, t);
  d.in[1] = dynamic({n, 2, 3}, DataType::kFLOAT);
  d.out[0] = dynamic({n, c, oh, ow}, t);
  return d;
}

struct RunDescs {
  PluginTensorDesc in[2];
  PluginTensorDesc out[1];
};

RunDescs run_descs(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, DataType t) {
  RunDescs d;
  d.in[0] = tensor({n, c, h, w}, t);
  d.in[1] = tensor({n, 2, 3}, DataType::kFLOAT);
  d.out[0] = tensor({n, c, oh, ow}, t);
  return d;
}

}  // namespace

// --- registration ----------------------------------------------------------------------------------------------

void test_registration() {
  Section s("registration: REGISTER_TENSORRT_PLUGIN registers one IPluginCreatorV3One at load time");
  auto const& regs = registry().registrations();
  CHECK(regs.size() == 1) << regs.size() << " creators registered";
  CHECK(registry().v2_registrations() == 0) << "an IPluginV2 creator was registered too";
  if (regs.empty()) return;
  CHECK(regs[0].library_namespace.empty()) << "registered under library namespace \"" << regs[0].library_namespace
                                           << "\"";
  nvinfer1::InterfaceInfo const info = regs[0].creator->getInterfaceInfo();
  CHECK(std::strcmp(info.kind, "PLUGIN CREATOR_V3ONE") == 0) << "kind " << info.kind;
  CHECK(info.major == 1 && info.minor == 0) << info.major << "." << info.minor;
  nvinfer1::IPluginCreatorV3One* c = creator();
  CHECK(c != nullptr) << "no creator " << kName << " v" << kVersion << " in namespace " << kNamespace;
  if (c == nullptr) return;
  CHECK(std::strcmp(c->getPluginName(), kName) == 0) << c->getPluginName();
  CHECK(std::strcmp(c->getPluginVersion(), kVersion) == 0) << c->getPluginVersion();
  CHECK(std::strcmp(c->getPluginNamespace(), kNamespace) == 0) << c->getPluginNamespace();
  CHECK(registry().getCreator(kName, kVersion, "") == nullptr) << "found without its namespace";
  CHECK(registry().getCreator(kName, "2", kNamespace) == nullptr) << "found as version 2";
  PluginFieldCollection const* names = c->getFieldNames();
  CHECK(names != nullptr && names->nbFields == 3) << "getFieldNames";
  if (names == nullptr) return;
  char const* want[] = {"out_h", "out_w", "align_corners"};
  for (int32_t i = 0; i < names->nbFields && i < 3; ++i) {
    CHECK(names->fields[i].name != nullptr && std::strcmp(names->fields[i].name, want[i]) == 0) << "field " << i;
    CHECK(names->fields[i].type == PluginFieldType::kINT32) << want[i] << " type";
    CHECK(names->fields[i].length == 1) << want[i] << " length";
  }
}

// --- the exporter's ONNX node ---------------------------------------------------------------------------------

namespace {

struct OnnxAttr {
  std::string type;  // INT, FLOAT, STRING, INTS, ...
  std::string value;
};

struct OnnxNode {
  std::string op_type, domain, name;
  int inputs = -1, outputs = -1;
  std::map<std::string, OnnxAttr> attrs;
};

bool read_node(std::string const& path, OnnxNode& node, std::string& error) {
  std::ifstream f(path);
  if (!f) {
    error = "cannot open " + path;
    return false;
  }
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "op_type") {
      ls >> node.op_type;
    } else if (key == "domain") {
      ls >> node.domain;
    } else if (key == "name") {
      ls >> node.name;
    } else if (key == "inputs") {
      ls >> node.inputs;
    } else if (key == "outputs") {
      ls >> node.outputs;
    } else if (key == "attr") {
      std::string name;
      OnnxAttr a;
      ls >> name >> a.type;
      std::getline(ls >> std::ws, a.value);
      node.attrs[name] = a;
    } else if (!key.empty() && key[0] != '#') {
      error = "unknown line in " + path + ": " + line;
      return false;
    }
  }
  if (node.op_type.empty()) {
    error = path + " names no op_type";
    return false;
  }
  return true;
}

}  // namespace

void test_exporter_node(std::string const& node_file) {
  Section s("exporter: the creator is what `fer-export onnx` writes into the plugin node (" + node_file + ")");
  OnnxNode node;
  std::string error;
  CHECK(read_node(node_file, node, error)) << error;
  if (!error.empty()) return;
  // The ONNX parser's lookup: op_type, plugin_version (default "1"), plugin_namespace (default "").
  std::string const version = node.attrs.count("plugin_version") ? node.attrs["plugin_version"].value : "1";
  std::string const ns = node.attrs.count("plugin_namespace") ? node.attrs["plugin_namespace"].value : "";
  CHECK(node.attrs.count("plugin_version") == 0 || node.attrs["plugin_version"].type == "STRING");
  CHECK(node.attrs.count("plugin_namespace") == 0 || node.attrs["plugin_namespace"].type == "STRING");
  auto* found = static_cast<nvinfer1::IPluginCreatorV3One*>(
      registry().getCreator(node.op_type.c_str(), version.c_str(), ns.c_str()));
  CHECK(found != nullptr) << "the registry has no creator for op_type " << node.op_type << ", plugin_version \""
                          << version << "\", plugin_namespace \"" << ns << "\"";
  if (found == nullptr) return;
  CHECK(found == creator()) << "the node finds another creator";
  CHECK(node.inputs == 2) << "the node has " << node.inputs << " inputs";
  CHECK(node.outputs == 1) << "the node has " << node.outputs << " outputs";

  // Fields: every creator field is a node attribute of the matching type, and every other node attribute is one
  // the parser consumes itself (plugin_version, plugin_namespace).
  PluginFieldCollection const* names = found->getFieldNames();
  CHECK(names != nullptr);
  if (names == nullptr) return;
  std::map<std::string, PluginFieldType> field_types;
  for (int32_t i = 0; i < names->nbFields; ++i) field_types[names->fields[i].name] = names->fields[i].type;
  for (auto const& [name, type] : field_types) {
    CHECK(node.attrs.count(name) == 1) << "creator field " << name << " is not written by the exporter";
  }
  for (auto const& [name, attr] : node.attrs) {
    if (name == "plugin_version" || name == "plugin_namespace") continue;
    CHECK(field_types.count(name) == 1) << "node attribute " << name << " is not a creator field";
    if (field_types.count(name) == 0) continue;
    // the parser's conversion: INT/INTS -> kINT32, FLOAT/FLOATS -> kFLOAT32, STRING -> kCHAR
    PluginFieldType const want = attr.type == "INT" || attr.type == "INTS"       ? PluginFieldType::kINT32
                                 : attr.type == "FLOAT" || attr.type == "FLOATS" ? PluginFieldType::kFLOAT32
                                 : attr.type == "STRING"                         ? PluginFieldType::kCHAR
                                                                                 : PluginFieldType::kUNKNOWN;
    CHECK(field_types[name] == want) << "attribute " << name << " is ONNX " << attr.type
                                     << ", the creator's field type is " << static_cast<int>(field_types[name]);
  }

  // createPlugin from the node's attributes as the parser passes them (only the creator's fields).
  Fields fields;
  for (int32_t i = 0; i < names->nbFields; ++i) {
    auto const it = node.attrs.find(names->fields[i].name);
    if (it == node.attrs.end() || it->second.type != "INT") continue;
    fields.add_int(names->fields[i].name, static_cast<int32_t>(std::stoll(it->second.value)));
  }
  TestRecorder& rec = *static_cast<TestRecorder*>(registry().getErrorRecorder());
  size_t const before = rec.size();
  PluginPtr p(found->createPlugin(node.name.c_str(), fields.fc(), TensorRTPhase::kBUILD));
  CHECK(p != nullptr) << "createPlugin from the node's attributes failed";
  CHECK(rec.size() == before) << "errors reported";
  if (!p) return;
  PluginFieldCollection const* ser = runtime(p.get())->getFieldsToSerialize();
  for (auto const& [name, attr] : node.attrs) {
    if (attr.type != "INT") continue;
    CHECK(field_int(ser, name.c_str()) == std::stoll(attr.value))
        << name << ": plugin " << field_int(ser, name.c_str()) << ", node " << attr.value;
  }
  CHECK(build(p.get())->getNbOutputs() == node.outputs);
}

// --- createPlugin ---------------------------------------------------------------------------------------------

void test_create_valid() {
  Section s("createPlugin: valid fields, both phases, any order, defaults, unaligned data");
  nvinfer1::IPluginCreatorV3One* c = creator();
  CHECK(c != nullptr);
  if (c == nullptr) return;
  TestRecorder& rec = *static_cast<TestRecorder*>(registry().getErrorRecorder());
  size_t const before = rec.size();
  for (TensorRTPhase phase : {TensorRTPhase::kBUILD, TensorRTPhase::kRUNTIME}) {
    for (int32_t ac : {0, 1}) {
      PluginPtr p = create(48, 40, ac, phase);
      CHECK(p != nullptr) << "align_corners " << ac;
      if (!p) continue;
      auto const* ser = runtime(p.get())->getFieldsToSerialize();
      CHECK(field_int(ser, "out_h") == 48 && field_int(ser, "out_w") == 40 && field_int(ser, "align_corners") == ac);
    }
  }
  {  // align_corners is optional (default 0); order does not matter; a null layer name is fine
    Fields f;
    f.add_int("out_w", 7).add_int("out_h", 5);
    PluginPtr p(c->createPlugin(nullptr, f.fc(), TensorRTPhase::kBUILD));
    CHECK(p != nullptr);
    if (p) {
      auto const* ser = runtime(p.get())->getFieldsToSerialize();
      CHECK(field_int(ser, "out_h") == 5 && field_int(ser, "out_w") == 7 && field_int(ser, "align_corners") == 0);
    }
  }
  {  // deserialized data need not be aligned
    Fields f;
    f.add_misaligned_int("out_h", 33).add_misaligned_int("out_w", 1).add_misaligned_int("align_corners", 1);
    PluginPtr p(c->createPlugin("x", f.fc(), TensorRTPhase::kRUNTIME));
    CHECK(p != nullptr);
    if (p) {
      auto const* ser = runtime(p.get())->getFieldsToSerialize();
      CHECK(field_int(ser, "out_h") == 33 && field_int(ser, "out_w") == 1 && field_int(ser, "align_corners") == 1);
    }
  }
  {  // the largest extent the field allows
    PluginPtr p = create(INT32_MAX, 1, 0);
    CHECK(p != nullptr);
  }
  CHECK(rec.size() == before) << rec.size() - before << " errors reported for valid fields";
}

void test_create_invalid(TestRecorder& rec) {
  Section s("createPlugin: bad fields give a null plugin and one error through the recorder");
  nvinfer1::IPluginCreatorV3One* c = creator();
  CHECK(c != nullptr);
  if (c == nullptr) return;
  using T = PluginFieldType;
  struct Case {
    std::string label;
    std::string needle;
    std::function<PluginFieldCollection const*(Fields&)> make;
  };
  std::vector<Case> cases = {
      {"no collection", "no plugin field collection", [](Fields&) -> PluginFieldCollection const* { return nullptr; }},
      {"empty collection", "out_h is missing", [](Fields& f) { return f.fc(); }},
      {"out_h missing", "out_h is missing", [](Fields& f) { return f.add_int("out_w", 48).fc(); }},
      {"out_w missing", "out_w is missing",
       [](Fields& f) { return f.add_int("out_h", 48).add_int("align_corners", 0).fc(); }},
      {"a field without a name", "has no name",
       [](Fields& f) { return f.add_int("out_h", 48).add_nameless_int(48).fc(); }},
      {"unknown field", "unknown field out_hh",
       [](Fields& f) { return f.add_int("out_hh", 48).add_int("out_h", 48).add_int("out_w", 48).fc(); }},
      {"repeated field", "out_w is given twice",
       [](Fields& f) { return f.add_int("out_h", 48).add_int("out_w", 48).add_int("out_w", 40).fc(); }},
      {"out_h = 0", "must be positive", [](Fields& f) { return f.add_int("out_h", 0).add_int("out_w", 48).fc(); }},
      {"out_w = -5", "must be positive", [](Fields& f) { return f.add_int("out_h", 48).add_int("out_w", -5).fc(); }},
      {"out_h = INT32_MIN", "must be positive",
       [](Fields& f) { return f.add_int("out_h", INT32_MIN).add_int("out_w", 48).fc(); }},
  };
  // every enum-like value other than 0/1
  for (int32_t v : {2, -1, 7, INT32_MAX}) {
    cases.push_back({"align_corners = " + std::to_string(v), "align_corners must be 0 or 1", [v](Fields& f) {
                       return f.add_int("out_h", 48).add_int("out_w", 48).add_int("align_corners", v).fc();
                     }});
  }
  // each field: wrong type (data sized for that type), wrong length, no data
  for (char const* field : {"out_h", "out_w", "align_corners"}) {
    std::string const fs = field;
    auto others = [fs](Fields& f) -> Fields& {
      if (fs != "out_h") f.add_int("out_h", 48);
      if (fs != "out_w") f.add_int("out_w", 48);
      return f;
    };
    struct Wrong {
      char const* label;
      T type;
      size_t bytes;
    };
    for (Wrong w : {Wrong{"FLOAT32", T::kFLOAT32, 4}, Wrong{"INT64", T::kINT64, 8}, Wrong{"INT8", T::kINT8, 1},
                    Wrong{"INT16", T::kINT16, 2}, Wrong{"FLOAT16", T::kFLOAT16, 2}, Wrong{"CHAR", T::kCHAR, 2},
                    Wrong{"UNKNOWN", T::kUNKNOWN, 1}, Wrong{"DIMS", T::kDIMS, sizeof(nvinfer1::Dims)}}) {
      cases.push_back({fs + " of type " + w.label, fs + " must be INT32", [=](Fields& f) {
                         return others(f).add_raw(field, w.type, 1, std::vector<unsigned char>(w.bytes, 1)).fc();
                       }});
    }
    for (int32_t len : {0, 2, -1}) {
      cases.push_back({fs + " of length " + std::to_string(len), fs + " must hold 1 value", [=](Fields& f) {
                         return others(f)
                             .add_raw(field, T::kINT32, len, bytes_of(len > 0 ? std::vector<int32_t>(len, 48) : ints({})))
                             .fc();
                       }});
    }
    cases.push_back({fs + " without data", fs + " has no data",
                     [=](Fields& f) { return others(f).add_null_data(field, T::kINT32, 1).fc(); }});
  }
  // malformed collections
  static nvinfer1::PluginFieldCollection negative{-1, nullptr};
  static nvinfer1::PluginFieldCollection dangling{2, nullptr};
  cases.push_back({"nbFields = -1", "malformed", [](Fields&) { return &negative; }});
  cases.push_back({"2 fields, null array", "malformed", [](Fields&) { return &dangling; }});

  for (TensorRTPhase phase : {TensorRTPhase::kBUILD, TensorRTPhase::kRUNTIME}) {
    for (auto const& k : cases) {
      Fields f;
      PluginFieldCollection const* fc = k.make(f);
      size_t const before = rec.size();
      PluginPtr p(c->createPlugin("bad", fc, phase));
      std::string const label = k.label + (phase == TensorRTPhase::kBUILD ? " (build)" : " (runtime)");
      CHECK(p == nullptr) << label << ": a plugin was created";
      expect_one_error(rec, before, label, ErrorCode::kINVALID_ARGUMENT, k.needle);
    }
  }
  {  // no recorder anywhere: the error goes to stderr, and the call still ends cleanly
    nvinfer1::IErrorRecorder* saved = registry().getErrorRecorder();
    registry().setErrorRecorder(nullptr);
    Fields f;
    std::cout << "        (expected on stderr:) " << std::flush;
    PluginPtr p(c->createPlugin("bad", f.add_int("out_h", 3).fc(), TensorRTPhase::kBUILD));
    registry().setErrorRecorder(saved);
    CHECK(p == nullptr);
  }
  std::cout << "        " << cases.size() << " bad field sets x 2 phases" << std::endl;
}

// --- capabilities ---------------------------------------------------------------------------------------------

void test_capabilities() {
  Section s("getCapabilityInterface: core, build and runtime of IPluginV3One; nothing else");
  PluginPtr p = create(48, 48, 0);
  CHECK(p != nullptr);
  if (!p) return;
  nvinfer1::InterfaceInfo const plugin_info = p->getInterfaceInfo();
  CHECK(std::strcmp(plugin_info.kind, "PLUGIN") == 0 && plugin_info.major == 1) << plugin_info.kind;
  struct Want {
    PluginCapabilityType type;
    char const* kind;
  };
  for (Want w : {Want{PluginCapabilityType::kCORE, "PLUGIN_V3ONE_CORE"},
                 Want{PluginCapabilityType::kBUILD, "PLUGIN_V3ONE_BUILD"},
                 Want{PluginCapabilityType::kRUNTIME, "PLUGIN_V3ONE_RUNTIME"}}) {
    nvinfer1::IPluginCapability* cap = p->getCapabilityInterface(w.type);
    CHECK(cap != nullptr) << w.kind;
    if (cap == nullptr) continue;
    nvinfer1::InterfaceInfo const info = cap->getInterfaceInfo();
    CHECK(std::strcmp(info.kind, w.kind) == 0 && info.major == 1) << info.kind << " v" << info.major;
  }
  CHECK(p->getCapabilityInterface(static_cast<PluginCapabilityType>(42)) == nullptr);
  CHECK(std::strcmp(core(p.get())->getPluginName(), kName) == 0);
  CHECK(std::strcmp(core(p.get())->getPluginVersion(), kVersion) == 0);
  CHECK(std::strcmp(core(p.get())->getPluginNamespace(), kNamespace) == 0);
  CHECK(build(p.get())->getNbOutputs() == 1);
}

// --- build-time queries ---------------------------------------------------------------------------------------

void test_output_shapes(TestRecorder& rec) {
  Section s("getOutputShapes: dynamic and constant batch; inconsistent inputs refused");
  PluginPtr p = create(36, 28, 1);
  CHECK(p != nullptr);
  if (!p) return;
  auto* b = build(p.get());
  {
    ExprBuilder eb;
    auto const* n = eb.symbol("N");
    nvinfer1::DimsExprs in[2] = {eb.dims({n, eb.constant(3), eb.constant(40), eb.constant(52)}),
                                 eb.dims({n, eb.constant(2), eb.constant(3)})};
    nvinfer1::DimsExprs out[1] = {eb.dims({})};
    size_t const before = rec.size();
    CHECK(b->getOutputShapes(in, 2, nullptr, 0, out, 1, eb.builder()) == 0);
    CHECK(rec.size() == before);
    CHECK(out[0].nbDims == 4) << out[0].nbDims;
    if (out[0].nbDims == 4) {
      CHECK(out[0].d[0] == n) << "batch " << eb.describe(out[0].d[0]) << ", want the input's N";
      CHECK(out[0].d[1] == in[0].d[1]) << "channels " << eb.describe(out[0].d[1]);
      CHECK(out[0].d[2] != nullptr && out[0].d[2]->isConstant() && out[0].d[2]->getConstantValue() == 36)
          << eb.describe(out[0].d[2]);
      CHECK(out[0].d[3] != nullptr && out[0].d[3]->isConstant() && out[0].d[3]->getConstantValue() == 28)
          << eb.describe(out[0].d[3]);
    }
  }
  {  // all constant
    ExprBuilder eb;
    nvinfer1::DimsExprs in[2] = {eb.dims({eb.constant(8), eb.constant(1), eb.constant(48), eb.constant(48)}),
                                 eb.dims({eb.constant(8), eb.constant(2), eb.constant(3)})};
    nvinfer1::DimsExprs out[1] = {eb.dims({})};
    CHECK(b->getOutputShapes(in, 2, nullptr, 0, out, 1, eb.builder()) == 0);
    CHECK(out[0].nbDims == 4 && out[0].d[0]->isConstant() && out[0].d[0]->getConstantValue() == 8 &&
          out[0].d[1]->getConstantValue() == 1 && out[0].d[2]->getConstantValue() == 36 &&
          out[0].d[3]->getConstantValue() == 28);
  }
  struct Bad {
    char const* label;
    std::function<int32_t(ExprBuilder&, nvinfer1::DimsExprs*)> call;
    char const* needle;
  };
  auto run = [&](ExprBuilder& eb, std::vector<nvinfer1::DimsExprs> in, int32_t nb_in, int32_t nb_out,
                 nvinfer1::DimsExprs* out) {
    return b->getOutputShapes(in.data(), nb_in, nullptr, 0, out, nb_out, eb.builder());
  };
  std::vector<Bad> bad = {
      {"X 3-D", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         return run(eb, {eb.dims({eb.symbol("N"), eb.constant(48), eb.constant(48)}),
                         eb.dims({eb.symbol("N"), eb.constant(2), eb.constant(3)})}, 2, 1, out);
       }, "4-D"},
      {"theta 2-D", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         auto const* n = eb.symbol("N");
         return run(eb, {eb.dims({n, eb.constant(1), eb.constant(48), eb.constant(48)}),
                         eb.dims({n, eb.constant(6)})}, 2, 1, out);
       }, "theta"},
      {"theta [N, 3, 3]", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         auto const* n = eb.symbol("N");
         return run(eb, {eb.dims({n, eb.constant(1), eb.constant(48), eb.constant(48)}),
                         eb.dims({n, eb.constant(3), eb.constant(3)})}, 2, 1, out);
       }, "theta"},
      {"theta batch 4, X batch 8", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         return run(eb, {eb.dims({eb.constant(8), eb.constant(1), eb.constant(48), eb.constant(48)}),
                         eb.dims({eb.constant(4), eb.constant(2), eb.constant(3)})}, 2, 1, out);
       }, "theta"},
      {"one input", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         return run(eb, {eb.dims({eb.constant(8), eb.constant(1), eb.constant(48), eb.constant(48)})}, 1, 1, out);
       }, "expects"},
      {"two outputs", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         auto const* n = eb.symbol("N");
         return run(eb, {eb.dims({n, eb.constant(1), eb.constant(48), eb.constant(48)}),
                         eb.dims({n, eb.constant(2), eb.constant(3)})}, 2, 2, out);
       }, "expects"},
      {"IExprBuilder::constant fails", [&](ExprBuilder& eb, nvinfer1::DimsExprs* out) {
         auto const* n = eb.symbol("N");
         std::vector<nvinfer1::DimsExprs> in = {eb.dims({n, eb.constant(1), eb.constant(48), eb.constant(48)}),
                                                eb.dims({n, eb.constant(2), eb.constant(3)})};
         eb.fail_constants(true);
         return run(eb, in, 2, 1, out);
       }, "constant"},
  };
  for (auto const& k : bad) {
    ExprBuilder eb;
    nvinfer1::DimsExprs out[2] = {eb.dims({}), eb.dims({})};
    size_t const before = rec.size();
    CHECK(k.call(eb, out) != 0) << k.label << ": accepted";
    expect_one_error(rec, before, std::string("getOutputShapes, ") + k.label, ErrorCode::kINVALID_ARGUMENT, k.needle);
  }
}

void test_output_types(TestRecorder& rec) {
  Section s("getOutputDataTypes: Y has the type of X (FP32/FP16); other types refused");
  PluginPtr p = create(48, 48, 0);
  CHECK(p != nullptr);
  if (!p) return;
  auto* b = build(p.get());
  for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
    DataType in[2] = {t, DataType::kFLOAT};
    DataType out[1] = {DataType::kINT32};
    CHECK(b->getOutputDataTypes(out, 1, in, 2) == 0) << type_str(t);
    CHECK(out[0] == t) << type_str(t) << " -> " << type_str(out[0]);
  }
  struct Bad {
    DataType x, theta;
    int32_t nb_out, nb_in;
    char const* needle;
  };
  for (Bad k : {Bad{DataType::kINT8, DataType::kFLOAT, 1, 2, "X must be FP32 or FP16"},
                Bad{DataType::kBF16, DataType::kFLOAT, 1, 2, "X must be FP32 or FP16"},
                Bad{DataType::kFLOAT, DataType::kHALF, 1, 2, "theta must be FP32"},
                Bad{DataType::kFLOAT, DataType::kFLOAT, 2, 2, "expects"},
                Bad{DataType::kFLOAT, DataType::kFLOAT, 1, 3, "expects"}}) {
    DataType in[3] = {k.x, k.theta, DataType::kFLOAT};
    DataType out[2] = {DataType::kINT32, DataType::kINT32};
    size_t const before = rec.size();
    std::string const label = std::string("getOutputDataTypes(") + type_str(k.x) + ", " + type_str(k.theta) + ", " +
                              std::to_string(k.nb_in) + " in, " + std::to_string(k.nb_out) + " out)";
    CHECK(b->getOutputDataTypes(out, k.nb_out, in, k.nb_in) != 0) << label;
    expect_one_error(rec, before, label, ErrorCode::kINVALID_ARGUMENT, k.needle);
  }
}

void test_format_matrix() {
  Section s("supportsFormatCombination: positions x {FP32, FP16, INT8, BF16} x {LINEAR, CHW32, HWC8}");
  PluginPtr p = create(48, 48, 0);
  CHECK(p != nullptr);
  if (!p) return;
  auto* b = build(p.get());
  DataType const types[] = {DataType::kFLOAT, DataType::kHALF, DataType::kINT8, DataType::kBF16};
  TensorFormat const formats[] = {TensorFormat::kLINEAR, TensorFormat::kCHW32, TensorFormat::kHWC8};
  // The kernel: X FP32/FP16 linear; theta FP32 linear; Y linear of the type of X.
  auto expected = [](int pos, DynamicPluginTensorDesc const* io) {
    auto const& d = io[pos].desc;
    bool const sample = d.type == DataType::kFLOAT || d.type == DataType::kHALF;
    if (d.format != TensorFormat::kLINEAR) return false;
    if (pos == 0) return sample;
    if (pos == 1) return d.type == DataType::kFLOAT;
    return sample && d.type == io[0].desc.type;
  };
  int queries = 0, mismatches = 0, accepted = 0;
  std::vector<std::string> full;  // combinations accepted at every position
  for (DataType t0 : types) {
    for (TensorFormat f0 : formats) {
      for (DataType t1 : types) {
        for (TensorFormat f1 : formats) {
          for (DataType t2 : types) {
            for (TensorFormat f2 : formats) {
              DynamicPluginTensorDesc io[3] = {dynamic({-1, 1, 48, 48}, t0, f0), dynamic({-1, 2, 3}, t1, f1),
                                               dynamic({-1, 1, 48, 48}, t2, f2)};
              bool all = true;
              for (int pos = 0; pos < 3; ++pos) {
                bool const got = b->supportsFormatCombination(pos, io, 2, 1);
                ++queries;
                accepted += got ? 1 : 0;
                all = all && got;
                if (got != expected(pos, io)) {
                  ++mismatches;
                  CHECK(false) << "pos " << pos << " of (" << type_str(t0) << " " << format_str(f0) << ", "
                               << type_str(t1) << " " << format_str(f1) << ", " << type_str(t2) << " "
                               << format_str(f2) << "): " << (got ? "accepted" : "refused");
                }
              }
              if (all) {
                full.push_back(std::string(type_str(t0)) + "/" + type_str(t1) + "/" + type_str(t2) + " " +
                               format_str(f0));
              }
            }
          }
        }
      }
    }
  }
  CHECK(mismatches == 0) << mismatches << " of " << queries << " answers differ from the kernel's support";
  CHECK(full.size() == 2 && full[0] == "FP32/FP32/FP32 LINEAR" && full[1] == "FP16/FP32/FP16 LINEAR")
      << full.size() << " full combinations";
  DynamicPluginTensorDesc io[3] = {dynamic({-1, 1, 48, 48}, DataType::kFLOAT), dynamic({-1, 2, 3}, DataType::kFLOAT),
                                   dynamic({-1, 1, 48, 48}, DataType::kFLOAT)};
  CHECK(b->supportsFormatCombination(0, io, 2, 1));
  CHECK(!b->supportsFormatCombination(-1, io, 2, 1));
  CHECK(!b->supportsFormatCombination(3, io, 2, 1));
  CHECK(!b->supportsFormatCombination(0, io, 1, 1));
  CHECK(!b->supportsFormatCombination(0, io, 2, 2));
  CHECK(!b->supportsFormatCombination(0, nullptr, 2, 1));
  std::cout << "        " << queries << " queries, " << accepted << " accepted; full combinations: " << full[0]
            << ", " << (full.size() > 1 ? full[1] : "-") << std::endl;
}

void test_configure(TestRecorder& rec) {
  Section s("configurePlugin / onShapeChange: consistent descriptors accepted, inconsistent ones refused");
  PluginPtr p = create(36, 28, 0);
  CHECK(p != nullptr);
  if (!p) return;
  auto* b = build(p.get());
  auto* r = runtime(p.get());
  size_t before = rec.size();
  for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
    for (int64_t n : {-1, 1, 64}) {
      BuildDescs d = build_descs(n, 2, 40, 52, 36, 28, t);
      CHECK(b->configurePlugin(d.in, 2, d.out, 1) == 0) << "configurePlugin, batch " << n << ", " << type_str(t);
    }
    for (int64_t n : {0, 1, 4096}) {
      RunDescs d = run_descs(n, 2, 40, 52, 36, 28, t);
      CHECK(r->onShapeChange(d.in, 2, d.out, 1) == 0) << "onShapeChange, batch " << n << ", " << type_str(t);
    }
  }
  CHECK(rec.size() == before) << "errors reported for consistent descriptors";

  struct Bad {
    char const* label;
    std::function<void(BuildDescs&)> edit;
    char const* needle;
  };
  std::vector<Bad> bad = {
      {"theta [N, 3, 3]", [](BuildDescs& d) { d.in[1] = dynamic({-1, 3, 3}, DataType::kFLOAT); }, "theta"},
      {"theta [N, 2, 2]", [](BuildDescs& d) { d.in[1] = dynamic({-1, 2, 2}, DataType::kFLOAT); }, "theta"},
      {"theta 2-D", [](BuildDescs& d) { d.in[1] = dynamic({-1, 6}, DataType::kFLOAT); }, "theta"},
      {"theta batch 4, X batch 8",
       [](BuildDescs& d) {
         d.in[0] = dynamic({8, 2, 40, 52}, DataType::kFLOAT);
         d.in[1] = dynamic({4, 2, 3}, DataType::kFLOAT);
         d.out[0] = dynamic({8, 2, 36, 28}, DataType::kFLOAT);
       },
       "theta"},
      {"X 3-D", [](BuildDescs& d) { d.in[0] = dynamic({-1, 40, 52}, DataType::kFLOAT); }, "4-D"},
      {"X with empty images", [](BuildDescs& d) { d.in[0] = dynamic({-1, 2, 0, 52}, DataType::kFLOAT); }, "empty"},
      {"Y height 35", [](BuildDescs& d) { d.out[0] = dynamic({-1, 2, 35, 28}, DataType::kFLOAT); }, "output"},
      {"Y width 29", [](BuildDescs& d) { d.out[0] = dynamic({-1, 2, 36, 29}, DataType::kFLOAT); }, "output"},
      {"Y channels 3", [](BuildDescs& d) { d.out[0] = dynamic({-1, 3, 36, 28}, DataType::kFLOAT); }, "output"},
      {"Y 3-D", [](BuildDescs& d) { d.out[0] = dynamic({-1, 36, 28}, DataType::kFLOAT); }, "output"},
      {"Y FP16, X FP32", [](BuildDescs& d) { d.out[0].desc.type = DataType::kHALF; }, "type of X"},
      {"theta FP16", [](BuildDescs& d) { d.in[1].desc.type = DataType::kHALF; }, "theta must be FP32"},
      {"X INT8", [](BuildDescs& d) {
         d.in[0].desc.type = DataType::kINT8;
         d.out[0].desc.type = DataType::kINT8;
       }, "FP32 or FP16"},
      {"X CHW32", [](BuildDescs& d) { d.in[0].desc.format = TensorFormat::kCHW32; }, "linear"},
  };
  for (auto const& k : bad) {
    BuildDescs d = build_descs(-1, 2, 40, 52, 36, 28, DataType::kFLOAT);
    k.edit(d);
    before = rec.size();
    CHECK(b->configurePlugin(d.in, 2, d.out, 1) != 0) << "configurePlugin accepted " << k.label;
    expect_one_error(rec, before, std::string("configurePlugin, ") + k.label, ErrorCode::kINVALID_ARGUMENT, k.needle);
    // the same at run time, with the dynamic batch resolved to 8
    RunDescs rd;
    for (int i = 0; i < 2; ++i) rd.in[i] = d.in[i].desc;
    rd.out[0] = d.out[0].desc;
    for (PluginTensorDesc* t : {&rd.in[0], &rd.in[1], &rd.out[0]}) {
      if (t->dims.nbDims > 0 && t->dims.d[0] < 0) t->dims.d[0] = 8;
    }
    before = rec.size();
    CHECK(r->onShapeChange(rd.in, 2, rd.out, 1) != 0) << "onShapeChange accepted " << k.label;
    expect_one_error(rec, before, std::string("onShapeChange, ") + k.label, ErrorCode::kINVALID_ARGUMENT, k.needle);
  }
  {  // wrong counts and null descriptors
    BuildDescs d = build_descs(-1, 2, 40, 52, 36, 28, DataType::kFLOAT);
    before = rec.size();
    CHECK(b->configurePlugin(d.in, 1, d.out, 1) != 0);
    expect_one_error(rec, before, "configurePlugin, one input", ErrorCode::kINVALID_ARGUMENT, "expects");
    before = rec.size();
    CHECK(b->configurePlugin(nullptr, 2, nullptr, 1) != 0);
    expect_one_error(rec, before, "configurePlugin, null descriptors", ErrorCode::kINVALID_ARGUMENT, "expects");
    RunDescs rd = run_descs(8, 2, 40, 52, 36, 28, DataType::kFLOAT);
    before = rec.size();
    CHECK(r->onShapeChange(rd.in, 2, rd.out, 2) != 0);
    expect_one_error(rec, before, "onShapeChange, two outputs", ErrorCode::kINVALID_ARGUMENT, "expects");
    rd.in[0].dims.d[0] = -1;
    rd.in[1].dims.d[0] = -1;
    rd.out[0].dims.d[0] = -1;
    before = rec.size();
    CHECK(r->onShapeChange(rd.in, 2, rd.out, 1) != 0);
    expect_one_error(rec, before, "onShapeChange, unknown batch at run time", ErrorCode::kINVALID_ARGUMENT,
                     "unknown extent");
  }
}

void test_workspace() {
  Section s("getWorkspaceSize: the kernel needs no workspace");
  PluginPtr p = create(48, 48, 0);
  CHECK(p != nullptr);
  if (!p) return;
  for (int64_t n : {-1, 1, 4096}) {
    for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
      BuildDescs d = build_descs(n, 3, 480, 640, 48, 48, t);
      CHECK(build(p.get())->getWorkspaceSize(d.in, 2, d.out, 1) == 0) << "batch " << n << " " << type_str(t);
    }
  }
}

// --- copies ---------------------------------------------------------------------------------------------------

namespace {

// The plugin's answers that depend on its fields: serialized fields and output shape.
std::string behaviour(nvinfer1::IPluginV3* p) {
  ExprBuilder eb;
  auto const* n = eb.symbol("N");
  nvinfer1::DimsExprs in[2] = {eb.dims({n, eb.constant(1), eb.constant(48), eb.constant(48)}),
                               eb.dims({n, eb.constant(2), eb.constant(3)})};
  nvinfer1::DimsExprs out[1] = {eb.dims({})};
  std::ostringstream s;
  s << build(p)->getOutputShapes(in, 2, nullptr, 0, out, 1, eb.builder()) << ":";
  for (int32_t i = 0; i < out[0].nbDims; ++i) s << eb.describe(out[0].d[i]) << ",";
  auto const* fc = runtime(p)->getFieldsToSerialize();
  for (char const* f : {"out_h", "out_w", "align_corners"}) s << f << "=" << field_int(fc, f) << ",";
  return s.str();
}

}  // namespace

void test_clone_and_serialization() {
  Section s("clone and serialization: equal in every field, independent of the original");
  struct Params {
    int32_t h, w, ac;
  };
  for (Params prm : {Params{48, 48, 0}, Params{36, 28, 1}, Params{1, 1, 1}, Params{INT32_MAX, 3, 0}}) {
    std::string const label = std::to_string(prm.h) + "x" + std::to_string(prm.w) + " ac" + std::to_string(prm.ac);
    PluginPtr original = create(prm.h, prm.w, prm.ac);
    CHECK(original != nullptr) << label;
    if (!original) continue;
    std::string const want = behaviour(original.get());
    SerializedFields ser(runtime(original.get())->getFieldsToSerialize());
    CHECK(ser.ok()) << label << ": getFieldsToSerialize gave an unserializable collection";
    // the serialized fields are the creator's fields, by name and type
    auto const* names = creator()->getFieldNames();
    CHECK(ser.fc()->nbFields == names->nbFields) << label;
    for (int32_t i = 0; i < ser.fc()->nbFields && i < names->nbFields; ++i) {
      CHECK(std::strcmp(ser.fc()->fields[i].name, names->fields[i].name) == 0 &&
            ser.fc()->fields[i].type == names->fields[i].type)
          << label << ": serialized field " << i;
    }

    PluginPtr copy(original->clone());
    CHECK(copy != nullptr && copy.get() != original.get()) << label << ": clone";
    PluginPtr restored(creator()->createPlugin("restored", ser.fc(), TensorRTPhase::kRUNTIME));
    CHECK(restored != nullptr) << label << ": createPlugin(kRUNTIME) from the serialized fields";
    if (!copy || !restored) continue;
    CHECK(compare_fields(runtime(copy.get())->getFieldsToSerialize(), ser.fc()).empty())
        << label << ", clone: " << compare_fields(runtime(copy.get())->getFieldsToSerialize(), ser.fc());
    CHECK(compare_fields(runtime(restored.get())->getFieldsToSerialize(), ser.fc()).empty())
        << label << ", round trip: " << compare_fields(runtime(restored.get())->getFieldsToSerialize(), ser.fc());
    // the copies own their data: the original goes away first (AddressSanitizer sees any read of it)
    original.reset();
    CHECK(behaviour(copy.get()) == want) << label << ": clone " << behaviour(copy.get()) << " vs " << want;
    CHECK(behaviour(restored.get()) == want) << label << ": restored " << behaviour(restored.get()) << " vs " << want;
    PluginPtr second(copy->clone());  // a clone of a clone
    copy.reset();
    CHECK(second != nullptr && behaviour(second.get()) == want) << label << ": clone of a clone";
  }
}

void test_attach_to_context(TestRecorder& registry_rec) {
  Section s("attachToContext: an independent copy per execution context, reporting to the context's recorder");
  PluginPtr p = create(36, 28, 1);
  CHECK(p != nullptr);
  if (!p) return;
  std::string const want = behaviour(p.get());
  TestRecorder context_rec;
  ResourceContext ctx(&context_rec);
  PluginPtr a(runtime(p.get())->attachToContext(&ctx));
  PluginPtr b(runtime(p.get())->attachToContext(&ctx));
  CHECK(a != nullptr && b != nullptr && a.get() != p.get() && b.get() != p.get() && a.get() != b.get());
  if (!a || !b) return;
  CHECK(compare_fields(runtime(a.get())->getFieldsToSerialize(), runtime(p.get())->getFieldsToSerialize()).empty());
  p.reset();  // the engine's plugin may go before the context's
  CHECK(behaviour(a.get()) == want) << behaviour(a.get()) << " vs " << want;
  // a run-time error of the attached copy goes to the context's recorder, not the registry's
  RunDescs d = run_descs(4, 1, 48, 48, 36, 28, DataType::kINT8);
  size_t const reg_before = registry_rec.size();
  size_t const ctx_before = context_rec.size();
  CHECK(runtime(a.get())->enqueue(d.in, d.out, nullptr, nullptr, nullptr, nullptr) != 0);
  expect_one_error(context_rec, ctx_before, "enqueue on the attached copy", ErrorCode::kINVALID_ARGUMENT, "FP32");
  CHECK(registry_rec.size() == reg_before) << "the error went to the registry's recorder";
  b.reset();
  CHECK(behaviour(a.get()) == want);
  {  // a context without a recorder: errors fall back to the registry's
    ResourceContext bare(nullptr);
    PluginPtr c(runtime(a.get())->attachToContext(&bare));
    CHECK(c != nullptr);
    PluginPtr fresh = create(36, 28, 1);
    PluginPtr e(runtime(fresh.get())->attachToContext(&bare));
    CHECK(e != nullptr);
    if (e) {
      size_t const before = registry_rec.size();
      CHECK(runtime(e.get())->enqueue(d.in, d.out, nullptr, nullptr, nullptr, nullptr) != 0);
      expect_one_error(registry_rec, before, "enqueue, context without recorder", ErrorCode::kINVALID_ARGUMENT, "FP32");
    }
  }
}

// --- enqueue without a GPU --------------------------------------------------------------------------------------

void test_enqueue_errors(TestRecorder& rec) {
  Section s("enqueue: refused descriptors and an empty batch, before any CUDA call");
  PluginPtr p = create(36, 28, 0);
  CHECK(p != nullptr);
  if (!p) return;
  auto* r = runtime(p.get());
  struct Bad {
    char const* label;
    std::function<void(RunDescs&)> edit;
    char const* needle;
  };
  std::vector<Bad> bad = {
      {"X INT8", [](RunDescs& d) { d.in[0].type = d.out[0].type = DataType::kINT8; }, "FP32 or FP16"},
      {"X BF16", [](RunDescs& d) { d.in[0].type = d.out[0].type = DataType::kBF16; }, "FP32 or FP16"},
      {"Y FP16, X FP32", [](RunDescs& d) { d.out[0].type = DataType::kHALF; }, "type of X"},
      {"theta [N, 2, 2]", [](RunDescs& d) { d.in[1].dims.d[2] = 2; }, "theta"},
      {"Y height 20", [](RunDescs& d) { d.out[0].dims.d[2] = 20; }, "output"},
      {"X HWC8", [](RunDescs& d) { d.in[0].format = TensorFormat::kHWC8; }, "linear"},
  };
  int dummy = 0;
  void const* ins[2] = {&dummy, &dummy};
  void* outs[1] = {&dummy};
  size_t const launches = host_launches().size();  // the host variant counts launcher calls: none below
  for (auto const& k : bad) {
    RunDescs d = run_descs(4, 1, 48, 48, 36, 28, DataType::kFLOAT);
    k.edit(d);
    size_t const before = rec.size();
    CHECK(r->enqueue(d.in, d.out, ins, outs, nullptr, nullptr) != 0) << k.label;
    expect_one_error(rec, before, std::string("enqueue, ") + k.label, ErrorCode::kINVALID_ARGUMENT, k.needle);
  }
  {  // null addresses for a non-empty batch
    RunDescs d = run_descs(4, 1, 48, 48, 36, 28, DataType::kFLOAT);
    void const* null_ins[2] = {nullptr, &dummy};
    size_t const before = rec.size();
    CHECK(r->enqueue(d.in, d.out, null_ins, outs, nullptr, nullptr) != 0);
    expect_one_error(rec, before, "enqueue, null input address", ErrorCode::kINVALID_ARGUMENT, "null");
  }
  {  // an empty batch does nothing, not even look at the addresses
    RunDescs d = run_descs(0, 1, 48, 48, 36, 28, DataType::kFLOAT);
    size_t const before = rec.size();
    CHECK(r->enqueue(d.in, d.out, nullptr, nullptr, nullptr, nullptr) == 0);
    CHECK(rec.size() == before);
  }
  CHECK(host_launches().size() == launches) << "a refused enqueue or an empty batch reached the launcher";
  if (kHostLaunch) return;  // the launcher is the CPU kernel: it cannot fail for want of a GPU
  int devices = 0;
  cudaError_t const err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0) {
    // no GPU: the real launcher runs and its launch fails; the plugin reports it and returns non-zero
    cudaGetLastError();
    RunDescs d = run_descs(2, 1, 48, 48, 36, 28, DataType::kFLOAT);
    size_t const before = rec.size();
    CHECK(r->enqueue(d.in, d.out, ins, outs, nullptr, nullptr) != 0) << "a launch without a GPU succeeded";
    expect_one_error(rec, before, "enqueue without a GPU", ErrorCode::kFAILED_EXECUTION, "kernel launch");
    cudaGetLastError();
  }
}

}  // namespace contract

// --- main -----------------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  std::string node_file, data_dir;
  bool require_enqueue = false;
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    if (a == "--onnx-node" && i + 1 < argc) {
      node_file = argv[++i];
    } else if (a == "--enqueue-data" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (a == "--require-enqueue") {
      require_enqueue = true;
    } else {
      std::cerr << "usage: " << argv[0] << " --onnx-node FILE [--enqueue-data DIR] [--require-enqueue]" << std::endl;
      return 2;
    }
  }
  if (node_file.empty()) {
    std::cerr << argv[0] << ": --onnx-node FILE is required (tests/_plugin_contract.py writes it)" << std::endl;
    return 2;
  }
  std::string const trt = std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
                          std::to_string(NV_TENSORRT_PATCH);
  std::cout << "plugin_contract: AffineGridSample against TensorRT " << trt << " headers (CUDA runtime headers "
            << CUDART_VERSION << ")" << std::endl;
  contract::TestRecorder rec;
  contract::registry().setErrorRecorder(&rec);
  contract::test_registration();
  contract::test_exporter_node(node_file);
  contract::test_create_valid();
  contract::test_create_invalid(rec);
  contract::test_capabilities();
  contract::test_output_shapes(rec);
  contract::test_output_types(rec);
  contract::test_format_matrix();
  contract::test_configure(rec);
  contract::test_workspace();
  contract::test_clone_and_serialization();
  contract::test_attach_to_context(rec);
  contract::test_enqueue_errors(rec);
  contract::test_runner_logic();
  std::string const enqueue = contract::test_enqueue_gpu(data_dir);
  contract::registry().setErrorRecorder(nullptr);
  auto const& t = contract::total();
  bool const enqueue_missing = require_enqueue && enqueue.rfind("ran", 0) != 0;
  bool const pass = t.failures == 0 && !enqueue_missing;
  std::cout << "plugin_contract: " << (pass ? "PASS" : "FAIL") << " " << t.checks - t.failures << "/" << t.checks
            << " checks against TensorRT " << trt << "; enqueue vs PyTorch: " << enqueue
            << (enqueue_missing ? " (required)" : "") << std::endl;
  return pass ? 0 : 1;
}
