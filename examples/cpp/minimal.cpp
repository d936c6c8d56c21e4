// The smallest deepemotion program: the emotions of the faces in a photo.
//   ./minimal photo.jpg
#include <deepemotion/recognizer.hpp>
#include <opencv2/imgcodecs.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " IMAGE\n";
    return 2;
  }
  try {
    const deepemotion::Recognizer rec;  // bundled default model; YuNet from $DEEPEMOTION_YUNET or the cache
    const cv::Mat frame = cv::imread(argv[1]);
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
