#include "trt_doubles.h"

#include <cstring>
#include <limits>

// libnvinfer's entry point, which the plugin's REGISTER_TENSORRT_PLUGIN calls while the program loads.
extern "C" nvinfer1::IPluginRegistry* getPluginRegistry() noexcept { return &contract::registry(); }

namespace contract {

// --- TestRecorder -----------------------------------------------------------------------------------------

int32_t TestRecorder::getNbErrors() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int32_t>(entries_.size());
}

nvinfer1::ErrorCode TestRecorder::getErrorCode(int32_t i) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return i >= 0 && static_cast<size_t>(i) < entries_.size() ? entries_[static_cast<size_t>(i)].code
                                                            : nvinfer1::ErrorCode::kINVALID_ARGUMENT;
}

TestRecorder::ErrorDesc TestRecorder::getErrorDesc(int32_t i) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return i >= 0 && static_cast<size_t>(i) < entries_.size() ? entries_[static_cast<size_t>(i)].desc.c_str() : "";
}

void TestRecorder::clear() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

bool TestRecorder::reportError(nvinfer1::ErrorCode val, ErrorDesc desc) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back({val, desc != nullptr ? desc : "(null)"});
  } catch (...) {
  }
  return false;  // not fatal: carry on
}

std::vector<TestRecorder::Entry> TestRecorder::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

size_t TestRecorder::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

// --- TestRegistry -----------------------------------------------------------------------------------------

TestRegistry& registry() {
  static TestRegistry instance;  // constructed on first use: the plugin's static registrar may come first
  return instance;
}

bool TestRegistry::registerCreator(nvinfer1::IPluginCreatorInterface& creator,
                                   nvinfer1::AsciiChar const* const ns) noexcept {
  registrations_.push_back({&creator, ns != nullptr ? ns : "(null)"});
  all_.push_back(&creator);
  return true;
}

nvinfer1::IPluginCreatorInterface* const* TestRegistry::getAllCreators(int32_t* const numCreators) const noexcept {
  if (numCreators != nullptr) *numCreators = static_cast<int32_t>(all_.size());
  return all_.data();
}

nvinfer1::IPluginCreatorInterface* const* TestRegistry::getAllCreatorsRecursive(int32_t* const numCreators) noexcept {
  return getAllCreators(numCreators);
}

nvinfer1::IPluginCreatorV3One* TestRegistry::find_v3one(char const* name, char const* version, char const* ns) const {
  for (Registration const& r : registrations_) {
    nvinfer1::InterfaceInfo const info = r.creator->getInterfaceInfo();
    if (std::strcmp(info.kind, "PLUGIN CREATOR_V3ONE") != 0 || info.major != 1) continue;
    auto* c = static_cast<nvinfer1::IPluginCreatorV3One*>(r.creator);
    if (std::strcmp(c->getPluginName(), name) == 0 && std::strcmp(c->getPluginVersion(), version) == 0 &&
        std::strcmp(c->getPluginNamespace(), ns) == 0) {
      return c;
    }
  }
  return nullptr;
}

nvinfer1::IPluginCreatorInterface* TestRegistry::getCreator(nvinfer1::AsciiChar const* const pluginName,
                                                            nvinfer1::AsciiChar const* const pluginVersion,
                                                            nvinfer1::AsciiChar const* const pluginNamespace) noexcept {
  if (pluginName == nullptr || pluginVersion == nullptr) return nullptr;
  return find_v3one(pluginName, pluginVersion, pluginNamespace != nullptr ? pluginNamespace : "");
}

bool TestRegistry::deregisterCreator(nvinfer1::IPluginCreatorInterface const& creator) noexcept {
  for (size_t i = 0; i < registrations_.size(); ++i) {
    if (registrations_[i].creator == &creator) {
      registrations_.erase(registrations_.begin() + static_cast<std::ptrdiff_t>(i));
      all_.erase(all_.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  return false;
}

#if NV_TENSORRT_MAJOR < 11
bool TestRegistry::registerCreator(nvinfer1::IPluginCreator&, nvinfer1::AsciiChar const* const) noexcept {
  ++v2_registrations_;
  return true;
}

nvinfer1::IPluginCreator* const* TestRegistry::getPluginCreatorList(int32_t* const numCreators) const noexcept {
  if (numCreators != nullptr) *numCreators = 0;
  return nullptr;
}
#endif

// --- ExprBuilder --------------------------------------------------------------------------------------------

namespace expr_detail {  // named, not anonymous: ExprBuilder::Impl holds these

class DimImpl final : public nvinfer1::apiv::VDimensionExpr {
 public:
  DimImpl(bool is_constant, int64_t value, std::string name)
      : constant_(is_constant), value_(value), name_(std::move(name)) {}
  bool isConstant() const override { return constant_; }
  int64_t getConstantValue() const override { return constant_ ? value_ : std::numeric_limits<int64_t>::min(); }
  bool isSizeTensor() const override { return false; }
  std::string const& name() const { return name_; }

 private:
  bool constant_;
  int64_t value_;
  std::string name_;
};

// The public face TensorRT gives a plugin: IDimensionExpr forwards to its mImpl.
class DimExpr final : public nvinfer1::IDimensionExpr {
 public:
  explicit DimExpr(DimImpl* impl) { mImpl = impl; }
  DimImpl const& impl() const { return *static_cast<DimImpl const*>(mImpl); }
};

class PublicBuilder final : public nvinfer1::IExprBuilder {
 public:
  explicit PublicBuilder(nvinfer1::apiv::VExprBuilder* impl) { mImpl = impl; }
};

}  // namespace expr_detail

using expr_detail::DimExpr;
using expr_detail::DimImpl;
using expr_detail::PublicBuilder;

struct ExprBuilder::Impl final : public nvinfer1::apiv::VExprBuilder {
  explicit Impl(ExprBuilder& owner) : owner(owner), face(this) {}

  nvinfer1::IDimensionExpr const* make(bool is_constant, int64_t value, std::string name) {
    impls.push_back(std::make_unique<DimImpl>(is_constant, value, std::move(name)));
    exprs.push_back(std::make_unique<DimExpr>(impls.back().get()));
    return exprs.back().get();
  }

  nvinfer1::IDimensionExpr const* constant(int64_t value) override {
    ++owner.constant_calls_;
    if (owner.fail_constants_) return nullptr;
    return make(true, value, std::to_string(value));
  }

  nvinfer1::IDimensionExpr const* operation(nvinfer1::DimensionOperation op, nvinfer1::IDimensionExpr const& a,
                                            nvinfer1::IDimensionExpr const& b) override {
    auto const& x = static_cast<DimExpr const&>(a).impl();
    auto const& y = static_cast<DimExpr const&>(b).impl();
    if (!x.isConstant() || !y.isConstant()) return make(false, 0, "(" + x.name() + " op " + y.name() + ")");
    int64_t const u = x.getConstantValue(), v = y.getConstantValue();
    using Op = nvinfer1::DimensionOperation;
    switch (op) {
      case Op::kSUM:
        return make(true, u + v, "");
      case Op::kPROD:
        return make(true, u * v, "");
      case Op::kMAX:
        return make(true, u > v ? u : v, "");
      case Op::kMIN:
        return make(true, u < v ? u : v, "");
      case Op::kSUB:
        return make(true, u - v, "");
      case Op::kEQUAL:
        return make(true, u == v, "");
      case Op::kLESS:
        return make(true, u < v, "");
      default:
        return nullptr;
    }
  }

  nvinfer1::IDimensionExpr const* declareSizeTensor(int32_t, nvinfer1::IDimensionExpr const&,
                                                    nvinfer1::IDimensionExpr const&) override {
    return make(false, 0, "size tensor");
  }

  ExprBuilder& owner;
  PublicBuilder face;
  std::deque<std::unique_ptr<DimImpl>> impls;
  std::deque<std::unique_ptr<DimExpr>> exprs;
};

ExprBuilder::ExprBuilder() : impl_(std::make_unique<Impl>(*this)) {}
ExprBuilder::~ExprBuilder() = default;

nvinfer1::IExprBuilder& ExprBuilder::builder() { return impl_->face; }

nvinfer1::IDimensionExpr const* ExprBuilder::constant(int64_t value) {
  return impl_->make(true, value, std::to_string(value));
}

nvinfer1::IDimensionExpr const* ExprBuilder::symbol(std::string const& name) { return impl_->make(false, 0, name); }

nvinfer1::DimsExprs ExprBuilder::dims(std::vector<nvinfer1::IDimensionExpr const*> const& d) {
  nvinfer1::DimsExprs e{};
  e.nbDims = static_cast<int32_t>(d.size());
  for (size_t i = 0; i < d.size() && i < static_cast<size_t>(nvinfer1::Dims::MAX_DIMS); ++i) e.d[i] = d[i];
  return e;
}

std::string ExprBuilder::describe(nvinfer1::IDimensionExpr const* e) const {
  if (e == nullptr) return "null";
  return e->isConstant() ? std::to_string(e->getConstantValue()) : static_cast<DimExpr const*>(e)->impl().name();
}

// --- descriptors --------------------------------------------------------------------------------------------

nvinfer1::Dims make_dims(std::vector<int64_t> const& d) {
  nvinfer1::Dims dims{};
  dims.nbDims = static_cast<int32_t>(d.size());
  for (size_t i = 0; i < d.size() && i < static_cast<size_t>(nvinfer1::Dims::MAX_DIMS); ++i) dims.d[i] = d[i];
  return dims;
}

nvinfer1::PluginTensorDesc tensor(std::vector<int64_t> const& d, nvinfer1::DataType t, nvinfer1::TensorFormat f) {
  nvinfer1::PluginTensorDesc desc{};
  desc.dims = make_dims(d);
  desc.type = t;
  desc.format = f;
  desc.scale = 1.0f;
  return desc;
}

nvinfer1::DynamicPluginTensorDesc dynamic(std::vector<int64_t> const& d, nvinfer1::DataType t,
                                          nvinfer1::TensorFormat f, int64_t batch_min, int64_t batch_max) {
  nvinfer1::DynamicPluginTensorDesc desc{};
  desc.desc = tensor(d, t, f);
  std::vector<int64_t> lo = d, hi = d, opt = d;
  if (!d.empty() && d[0] < 0) {
    lo[0] = batch_min;
    hi[0] = batch_max;
    opt[0] = batch_max;
  }
  desc.min = make_dims(lo);
  desc.max = make_dims(hi);
  desc.opt = make_dims(opt);
  return desc;
}

char const* type_str(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT:
      return "FP32";
    case nvinfer1::DataType::kHALF:
      return "FP16";
    case nvinfer1::DataType::kINT8:
      return "INT8";
    case nvinfer1::DataType::kBF16:
      return "BF16";
    default:
      return "other";
  }
}

char const* format_str(nvinfer1::TensorFormat f) {
  switch (f) {
    case nvinfer1::TensorFormat::kLINEAR:
      return "LINEAR";
    case nvinfer1::TensorFormat::kCHW32:
      return "CHW32";
    case nvinfer1::TensorFormat::kHWC8:
      return "HWC8";
    default:
      return "other";
  }
}

}  // namespace contract
