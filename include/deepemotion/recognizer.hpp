// deepemotion::Recognizer: frames in, per-face emotions out -- the online flow of the Python package (detect with
// YuNet, frame each face as the training crops were framed, crop, classify), from the same C++ core.
//
//   #include <deepemotion/recognizer.hpp>
//   deepemotion::Recognizer rec;                       // bundled default model, OpenCV's DNN module on the CPU
//   for (const auto& f : rec.predict(frame))           // cv::Mat BGR or gray, or an ImageView
//     std::cout << f.label << " " << f.score << "\n";
//
// Thread safety: a Recognizer may be shared by threads; predict, predict_faces, detect, crops and classify are
// const and safe to call concurrently (each engine call takes a network of a small pool, or a lock). Errors:
// deepemotion::Error (errors.hpp) with a message naming the problem. A moved-from Recognizer throws
// Error(InvalidArgument) from every call until a Recognizer is assigned to it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "deepemotion/errors.hpp"
#include "deepemotion/export.hpp"
#include "deepemotion/face.hpp"

namespace deepemotion {

enum class PixelFormat { Gray, BGR, RGB };

// A frame in someone else's memory (a camera buffer, a ROS image): rows of width pixels, `stride` bytes apart
// (0: packed), 8 bits per channel. Nothing is copied unless a conversion needs it.
struct ImageView {
  const uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  size_t stride = 0;
  PixelFormat format = PixelFormat::BGR;
};

// How a detected face is framed for the network (Python's Recognizer(align=...)): the detector's box turned
// upright when the landmarks show a head roll beyond 15 degrees (Roll, the default), the box (Box), or a
// similarity transform from the five landmarks (Landmarks).
enum class Framing { Roll, Box, Landmarks };

struct Options {
  // "default" or "tiny" (the bundled models, found beside the library or in $DEEPEMOTION_WEIGHTS_DIR), or the
  // path of a deepemotion .onnx graph (fer-export onnx).
  std::string model = "default";
  // "auto" or "opencv": OpenCV's DNN module on the CPU (the graph's constant warp head and score calibration run
  // in deepemotion's C++).
  std::string backend = "auto";
  // "yunet" or "none" (then pass boxes to predict).
  std::string detector = "yunet";
  // The YuNet .onnx file; empty: $DEEPEMOTION_YUNET, else the file Python's first use downloaded
  // ($XDG_CACHE_HOME or ~/.cache, /deepemotion/face_detection_yunet_2023mar.onnx). Never downloaded from C++.
  std::string detector_model;
  Framing framing = Framing::Roll;
  int min_face = 40;       // smallest face side kept, frame pixels (it also sets the detector's downscale)
  int supersample = 0;     // sub-samples per axis when a crop shrinks a face; 0: per face
  int max_batch = 256;     // faces per engine call
  int threads = 0;         // > 0: cv::setNumThreads(threads) (process-wide); 0 leaves OpenCV's setting
};

class DEEPEMOTION_API Recognizer {
 public:
  Recognizer();
  explicit Recognizer(const Options& options);
  ~Recognizer();
  Recognizer(Recognizer&&) noexcept;
  Recognizer& operator=(Recognizer&&) noexcept;
  Recognizer(const Recognizer&) = delete;
  Recognizer& operator=(const Recognizer&) = delete;

  // Faces in a frame with their emotions ([] when there is none).
  std::vector<Face> predict(const ImageView& frame) const;
  // The given boxes (frame pixels, inside the frame), framed as Python frames caller boxes; no detection.
  std::vector<Face> predict(const ImageView& frame, const std::vector<Box>& boxes) const;
  // Already-cropped faces (any size, gray or colour), each taken whole and resized to the network's input.
  std::vector<Face> predict_faces(const std::vector<ImageView>& crops) const;

  // The stages, for callers who need them: the detector's faces; their network input, (N, 1, 48, 48) floats
  // normalised as in training, framed as predict(frame) frames the detector's faces (with detector "none": as
  // predict(frame, boxes) frames boxes); probabilities of such a batch (values beyond +-1e4 are refused).
  std::vector<Detection> detect(const ImageView& frame) const;
  std::vector<float> crops(const ImageView& frame, const std::vector<Detection>& faces) const;
  std::vector<std::array<float, kNumClasses>> classify(const float* batch, size_t n) const;

  // cv::Mat: CV_8UC3 (BGR) or CV_8UC1 (gray).
  std::vector<Face> predict(const cv::Mat& frame) const { return predict(view(frame)); }
  std::vector<Face> predict(const cv::Mat& frame, const std::vector<Box>& boxes) const {
    return predict(view(frame), boxes);
  }
  std::vector<Face> predict_faces(const std::vector<cv::Mat>& crops) const;
  std::vector<Detection> detect(const cv::Mat& frame) const { return detect(view(frame)); }
  std::vector<float> crops(const cv::Mat& frame, const std::vector<Detection>& faces) const {
    return crops(view(frame), faces);
  }
  static ImageView view(const cv::Mat& image);

  std::string backend_name() const;   // "opencv"
  std::string detector_name() const;  // "yunet" or "none"
  std::string model_path() const;     // the .onnx file in use
  int input_size() const;             // the network's input side (48)

 private:
  struct Impl;
  const Impl& impl() const;  // throws when moved from
  std::unique_ptr<Impl> impl_;
};

// The library's version (the Python package's) and where it looks for the bundled models.
DEEPEMOTION_API std::string version();
DEEPEMOTION_API std::string weights_dir();

}  // namespace deepemotion
