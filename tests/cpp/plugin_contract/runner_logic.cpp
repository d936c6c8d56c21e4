// The engine runner's checks (csrc/tensorrt/engine_checks.h), which need no libnvinfer: which tensors it binds,
// the shapes and types it accepts, the batch range of the profile, and a caller's batch against them.
#include <stdexcept>
#include <string>

#include "contract.h"
#include "tensorrt/engine_checks.h"

namespace contract {
namespace {

using deepemotion::trt::BatchRange;
using deepemotion::trt::InputProblem;
using deepemotion::trt::IoTensor;
using deepemotion::trt::TensorInfo;
using nvinfer1::DataType;
using nvinfer1::TensorIOMode;

// Runs f; returns the message of the exception of type E it throws, or "" (and fails the check) when none.
template <typename E, typename F>
std::string throws(F&& f, std::string const& label) {
  try {
    f();
  } catch (E const& e) {
    return e.what();
  } catch (std::exception const& e) {
    CHECK(false) << label << ": threw another exception: " << e.what();
    return "";
  }
  CHECK(false) << label << ": did not throw";
  return "";
}

bool has(std::string const& text, char const* needle) { return text.find(needle) != std::string::npos; }

}  // namespace

void test_runner_logic() {
  Section s("engine runner: I/O tensors, shapes, batch profile, a caller's batch");
  using namespace deepemotion::trt;
  {  // the I/O tensors: exactly one input and one output
    IoNames const io = pick_io({{"input", TensorIOMode::kINPUT}, {"logits", TensorIOMode::kOUTPUT}});
    CHECK(io.input == "input" && io.output == "logits");
    IoNames const rev = pick_io({{"logits", TensorIOMode::kOUTPUT}, {"input", TensorIOMode::kINPUT}});
    CHECK(rev.input == "input" && rev.output == "logits");
    CHECK(has(throws<std::runtime_error>([] { pick_io({{"a", TensorIOMode::kINPUT}, {"b", TensorIOMode::kINPUT},
                                                       {"y", TensorIOMode::kOUTPUT}}); }, "two inputs"),
              "2 and 1 (a, b, y)"));
    CHECK(has(throws<std::runtime_error>([] { pick_io({{"a", TensorIOMode::kINPUT}}); }, "no output"), "1 and 0"));
    CHECK(has(throws<std::runtime_error>([] { pick_io({}); }, "no tensors"), "0 and 0"));
    CHECK(has(throws<std::runtime_error>([] { pick_io({{"a", TensorIOMode::kINPUT}, {"", TensorIOMode::kOUTPUT}}); },
                                         "nameless"), "without a name"));
    CHECK(has(throws<std::runtime_error>([] { pick_io({{"a", TensorIOMode::kINPUT}, {"b", TensorIOMode::kNONE}}); },
                                         "kNONE"), "neither"));
  }
  {  // a bound tensor: batch axis first, the rest static, FP32 or FP16
    TensorInfo const x = describe_tensor("input", DataType::kFLOAT, make_dims({-1, 1, 48, 48}));
    CHECK(x.name == "input" && x.type == DataType::kFLOAT);
    CHECK((x.sample_shape == std::vector<int64_t>{1, 48, 48})) << x.sample_shape.size();
    CHECK(x.sample_bytes == 48 * 48 * 4) << x.sample_bytes;
    TensorInfo const y = describe_tensor("logits", DataType::kHALF, make_dims({-1, 7}));
    CHECK(y.sample_bytes == 14 && y.sample_shape.size() == 1);
    TensorInfo const fixed = describe_tensor("input", DataType::kFLOAT, make_dims({8, 1, 48, 48}));
    CHECK(fixed.sample_bytes == 48 * 48 * 4);
    CHECK(has(throws<std::runtime_error>([] { describe_tensor("x", DataType::kFLOAT, make_dims({-1, -1, 48, 48})); },
                                         "dynamic channel"), "only the batch axis may be dynamic"));
    CHECK(has(throws<std::runtime_error>([] { describe_tensor("x", DataType::kFLOAT, make_dims({})); }, "rank 0"),
              "no batch axis"));
    CHECK(has(throws<std::runtime_error>([] { describe_tensor("x", DataType::kFLOAT, make_dims({0, 1, 48, 48})); },
                                         "batch 0"), "bad batch axis"));
    CHECK(has(throws<std::runtime_error>([] { describe_tensor("x", DataType::kINT8, make_dims({-1, 1, 48, 48})); },
                                         "INT8"), "FP32 or FP16"));
    CHECK(has(throws<std::runtime_error>([] { describe_tensor("x", DataType::kBF16, make_dims({-1, 7})); }, "BF16"),
              "FP32 or FP16"));
    CHECK(element_size(DataType::kFLOAT) == 4 && element_size(DataType::kHALF) == 2);
    CHECK(std::string(type_name(DataType::kHALF)) == "float16" && std::string(type_name(DataType::kINT8)) == "other");
  }
  {  // the profile's batch range
    BatchRange r = profile_batch_range(make_dims({-1, 1, 48, 48}), make_dims({1, 1, 48, 48}), make_dims({32, 1, 48, 48}));
    CHECK(r.min == 1 && r.max == 32) << r.min << ".." << r.max;
    r = profile_batch_range(make_dims({-1, 1, 48, 48}), make_dims({4, 1, 48, 48}), make_dims({64, 1, 48, 48}));
    CHECK(r.min == 4 && r.max == 64);
    r = profile_batch_range(make_dims({8, 1, 48, 48}), make_dims({}), make_dims({}));  // a static batch
    CHECK(r.min == 8 && r.max == 8) << r.min << ".." << r.max;
    r = profile_batch_range(make_dims({-1, 1, 48, 48}), make_dims({0, 1, 48, 48}), make_dims({16, 1, 48, 48}));
    CHECK(r.min == 1 && r.max == 16) << "a profile minimum of 0 reads as 1";
    CHECK(has(throws<std::runtime_error>([] { profile_batch_range(make_dims({-1, 7}), make_dims({}), make_dims({})); },
                                         "no profile"), "maximum batch"));
    CHECK(has(throws<std::runtime_error>([] {
                profile_batch_range(make_dims({-1, 7}), make_dims({9, 7}), make_dims({8, 7}));
              }, "min > max"), "empty"));
  }
  {  // a caller's batch
    BatchRange const r{2, 32};
    check_batch(2, r);
    check_batch(32, r);
    std::string const over = throws<std::invalid_argument>([&] { check_batch(33, r); }, "33 > 32");
    CHECK(has(over, "batch 33 is outside the engine's profile [2, 32]") && has(over, "fer-export engine --batch"))
        << over;
    CHECK(has(throws<std::invalid_argument>([&] { check_batch(1, r); }, "1 < 2"), "outside"));
    CHECK(has(throws<std::invalid_argument>([&] { check_batch(0, r); }, "0"), "outside"));
    TensorInfo const x = describe_tensor("input", DataType::kFLOAT, make_dims({-1, 1, 48, 48}));
    nvinfer1::Dims const d = batch_shape(x, 5);
    CHECK(d.nbDims == 4 && d.d[0] == 5 && d.d[1] == 1 && d.d[2] == 48 && d.d[3] == 48);
  }
  {  // a host array as input: dtype, rank, sample shape, batch
    TensorInfo const x = describe_tensor("input", DataType::kHALF, make_dims({-1, 1, 48, 48}));
    BatchRange const r{2, 32};
    auto check = [&](std::string const& dtype, std::vector<int64_t> const& shape) {
      return check_host_input(x, r, dtype, shape, "EngineRunner.run");
    };
    CHECK(!check("float16", {8, 1, 48, 48}));
    CHECK(!check("float16", {0, 1, 48, 48})) << "an empty batch is accepted (nothing runs)";
    InputProblem p = check("float32", {8, 1, 48, 48});
    CHECK(p.kind == InputProblem::Kind::kType && p.message == "EngineRunner.run: input must be float16, got float32")
        << p.message;
    p = check("float16", {8, 48, 48});
    CHECK(p.kind == InputProblem::Kind::kValue && has(p.message, "3 dimensions, the engine takes 4: (N, 1, 48, 48)"))
        << p.message;
    p = check("float16", {8, 1, 48, 40});
    CHECK(p.kind == InputProblem::Kind::kValue &&
          has(p.message, "input shape (8, 1, 48, 40) does not match the engine's (N, 1, 48, 48)"))
        << p.message;
    p = check("float16", {33, 1, 48, 48});
    CHECK(p.kind == InputProblem::Kind::kValue && has(p.message, "batch 33 exceeds the engine's maximum 32"))
        << p.message;
    p = check("float16", {1, 1, 48, 48});
    CHECK(p.kind == InputProblem::Kind::kValue && has(p.message, "batch 1 is below the engine's minimum 2"))
        << p.message;
  }
}

}  // namespace contract
