// Each case must end in deepemotion::Error with the expected code and words -- not a crash, another exception type
// or an answer. Prints "ok" or "FAIL" per case and "sdk_edges: N/M passed"; exit status 0 only when all passed.
//   sdk_edges            (the bundled tiny model, no detector: nothing else is needed)
#include <deepemotion/recognizer.hpp>

#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace {

using deepemotion::Error;
using deepemotion::ErrorCode;

int passed = 0, total = 0;

void expect_error(const std::string& label, ErrorCode code, const std::string& words, const std::function<void()>& f) {
  ++total;
  std::string what;
  try {
    f();
    what = "no error";
  } catch (const Error& e) {
    if (e.code() == code && std::string(e.what()).find(words) != std::string::npos) {
      ++passed;
      std::cout << "ok    " << label << ": " << e.what() << std::endl;
      return;
    }
    what = "Error code " + std::to_string(static_cast<int>(e.code())) + ": " + e.what();
  } catch (const std::exception& e) {
    what = std::string("another exception: ") + e.what();
  }
  std::cout << "FAIL  " << label << ": expected code " << static_cast<int>(code) << " with '" << words << "', got "
            << what << std::endl;
}

void expect_true(const std::string& label, bool ok) {
  ++total;
  passed += ok ? 1 : 0;
  std::cout << (ok ? "ok    " : "FAIL  ") << label << std::endl;
}

deepemotion::Options tiny() {
  deepemotion::Options o;
  o.model = "tiny";
  o.detector = "none";
  return o;
}

}  // namespace

int main() {
  const std::vector<uint8_t> pixels(64 * 64 * 3, 128);
  const deepemotion::ImageView frame{pixels.data(), 64, 64, 0, deepemotion::PixelFormat::BGR};
  const std::vector<deepemotion::Box> boxes{{8, 8, 40, 40}};
  const std::vector<float> batch(48 * 48, 0.0f);
  const auto inv = ErrorCode::InvalidArgument;

  deepemotion::Recognizer a(tiny());
  deepemotion::Recognizer b(std::move(a));
  expect_true("the moved-to Recognizer answers", b.predict(frame, boxes).size() == 1);
  const std::string moved = "moved from";
  expect_error("moved-from predict(frame, boxes)", inv, moved, [&] { a.predict(frame, boxes); });
  expect_error("moved-from predict(frame)", inv, moved, [&] { a.predict(frame); });
  const std::vector<deepemotion::ImageView> crops{frame};
  expect_error("moved-from predict_faces", inv, moved, [&] { a.predict_faces(crops); });
  expect_error("moved-from detect", inv, moved, [&] { a.detect(frame); });
  expect_error("moved-from crops", inv, moved, [&] { a.crops(frame, {}); });
  expect_error("moved-from classify", inv, moved, [&] { a.classify(batch.data(), 1); });
  expect_error("moved-from model_path", inv, moved, [&] { a.model_path(); });
  expect_error("moved-from detector_name", inv, moved, [&] { a.detector_name(); });
  expect_error("moved-from backend_name", inv, moved, [&] { a.backend_name(); });
  expect_error("moved-from input_size", inv, moved, [&] { a.input_size(); });
  a = deepemotion::Recognizer(tiny());
  expect_true("a Recognizer assigned to it answers again", a.predict(frame, boxes).size() == 1);

  deepemotion::Options bad_framing = tiny();
  bad_framing.framing = static_cast<deepemotion::Framing>(42);
  expect_error("Framing(42)", inv, "framing must be", [&] { deepemotion::Recognizer r(bad_framing); });
  deepemotion::ImageView bad_format = frame;
  bad_format.format = static_cast<deepemotion::PixelFormat>(7);
  expect_error("PixelFormat(7)", inv, "format must be", [&] { b.predict(bad_format, boxes); });

  const size_t huge = std::numeric_limits<size_t>::max() / 4;
  expect_error("classify(batch, SIZE_MAX / 4)", inv, "cannot be in memory", [&] { b.classify(batch.data(), huge); });
  expect_error("classify(batch, 2^62)", inv, "cannot be in memory", [&] { b.classify(batch.data(), size_t{1} << 62); });

  const std::vector<float> extreme(48 * 48, 3.0e38f);
  expect_error("classify of 3e38 everywhere", inv, "normalised crops", [&] { b.classify(extreme.data(), 1); });

  std::cout << "sdk_edges: " << passed << "/" << total << " passed" << std::endl;
  return passed == total ? 0 : 1;
}
