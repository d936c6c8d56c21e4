// A camera (or video file) loop, as examples/camera.py: every frame's faces boxed and labelled.
//   ./camera [0 | video.mp4] [--frames N] [--headless]
// Without a display (--headless, or no $DISPLAY) it prints one line per frame instead of showing a window.
#include <deepemotion/recognizer.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

void draw(cv::Mat& frame, const deepemotion::Face& f) {
  const cv::Rect box(f.box.x, f.box.y, f.box.width, f.box.height);
  cv::rectangle(frame, box, cv::Scalar(0, 200, 0), 2);
  const std::string text = f.label + " " + std::to_string(static_cast<int>(f.score * 100)) + "%";
  cv::putText(frame, text, {box.x, std::max(12, box.y - 6)}, cv::FONT_HERSHEY_SIMPLEX, 0.6, {0, 200, 0}, 2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string source = "0";
  long max_frames = -1;
  bool headless = std::getenv("DISPLAY") == nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--frames" && i + 1 < argc) max_frames = std::atol(argv[++i]);
    else if (a == "--headless") headless = true;
    else source = a;
  }
  cv::VideoCapture cap;
  if (source.find_first_not_of("0123456789") == std::string::npos) cap.open(std::stoi(source));
  else cap.open(source);
  if (!cap.isOpened()) {
    std::cerr << "cannot open " << source << "\n";
    return 1;
  }
  try {
    const deepemotion::Recognizer rec;
    cv::Mat frame;
    for (long n = 0; (max_frames < 0 || n < max_frames) && cap.read(frame); ++n) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto faces = rec.predict(frame);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (headless) {
        std::cout << "frame " << n << ": " << faces.size() << " face(s)";
        for (const auto& f : faces) std::cout << " " << f.label << " " << f.score;
        std::cout << " (" << ms << " ms)\n";
        continue;
      }
      for (const auto& f : faces) draw(frame, f);
      cv::imshow("deepemotion", frame);
      if (cv::waitKey(1) == 27) break;  // Esc
    }
  } catch (const deepemotion::Error& e) {
    std::cerr << "deepemotion: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
