// The smallest deepemotion program: the emotions of the faces in a photo.
//   ./minimal photo.jpg
#include <deepemotion/recognizer.hpp>
#include <opencv2/imgcodecs.hpp>

#include <iomanip>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " IMAGE\n";
    return 2;
  }
  try {
    const deepemotion::Recognizer rec;  // bundled default model; YuNet from $DEEPEMOTION_YUNET or the cache
    const cv::Mat frame = cv::imread(argv[1]);
    if (frame.empty()) {
      std::cerr << "cannot read an image from " << argv[1] << "\n";
      return 1;
    }
    std::cout << std::fixed << std::setprecision(3);
    for (const deepemotion::Face& f : rec.predict(frame)) {
      std::cout << f.label << " " << f.score << " at " << f.box.x << "," << f.box.y << " " << f.box.width << "x"
                << f.box.height << "\n";
    }
  } catch (const deepemotion::Error& e) {  // bad input, a missing or foreign model file: a message, no crash
    std::cerr << "deepemotion: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
