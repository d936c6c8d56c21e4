// Timing of the C++ Recognizer: predict(frame) on a frame scaled to 640x480, and predict_faces on batches of
// that frame's face crops (per-face throughput). One JSON line, for fer-bench-like comparisons with Python.
//   ./bench IMAGE [--seconds S] [--model default|tiny]
#include <deepemotion/recognizer.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

// milliseconds per call of f, over at least `seconds` (after a warm-up)
template <typename F>
double ms_per_call(F&& f, double seconds) {
  for (int i = 0; i < 3; ++i) f();
  const auto t0 = std::chrono::steady_clock::now();
  long n = 0;
  double elapsed = 0.0;
  do {
    f();
    ++n;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  return 1000.0 * elapsed / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " IMAGE [--seconds S] [--model default|tiny]\n";
    return 2;
  }
  double seconds = 3.0;
  deepemotion::Options options;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--model") options.model = argv[i + 1];
  }
  try {
    const deepemotion::Recognizer rec(options);
    cv::Mat frame;
    cv::resize(cv::imread(argv[1]), frame, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
    const auto faces = rec.predict(frame);
    const double frame_ms = ms_per_call([&] { rec.predict(frame); }, seconds);
    std::vector<cv::Mat> crops;
    for (size_t i = 0; crops.size() < 64 && !faces.empty(); ++i) {
      const auto& b = faces[i % faces.size()].box;
      crops.push_back(frame(cv::Rect(b.x, b.y, b.width, b.height)).clone());
    }
    std::vector<cv::Mat> gray48(crops.size());
    for (size_t i = 0; i < crops.size(); ++i) {
      cv::Mat g;
      cv::cvtColor(crops[i], g, cv::COLOR_BGR2GRAY);
      cv::resize(g, gray48[i], cv::Size(48, 48), 0, 0, cv::INTER_AREA);
    }
    const double batch_ms = crops.empty() ? 0.0 : ms_per_call([&] { rec.predict_faces(gray48); }, seconds);
    const double one_ms = crops.empty() ? 0.0 : ms_per_call([&] { rec.predict_faces(std::vector<cv::Mat>{gray48[0]}); }, seconds);
    std::cout << "{\"engine\": \"c++ " << rec.backend_name() << "\", \"model\": \"" << options.model
              << "\", \"faces_in_frame\": " << faces.size() << ", \"predict_frame_ms\": " << frame_ms
              << ", \"faces_per_s_batch64\": " << (batch_ms > 0 ? 1000.0 * gray48.size() / batch_ms : 0.0)
              << ", \"face_ms_batch1\": " << one_ms << "}\n";
  } catch (const deepemotion::Error& e) {
    std::cerr << "deepemotion: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
