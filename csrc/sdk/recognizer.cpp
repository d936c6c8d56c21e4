// deepemotion::Recognizer (include/deepemotion/recognizer.hpp): the stages composed as Python's Recognizer
// composes them -- detect (yunet.h), frame (frame.h, the geometry Python calls too), crop (the crop_faces CPU
// kernel), classify (classifier.h).
#include "deepemotion/recognizer.hpp"

#include <opencv2/core.hpp>
#include <opencv2/core/persistence.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "ops/crop_faces/crop_faces.h"
#include "sdk/classifier.h"
#include "sdk/config.h"
#include "sdk/frame.h"
#include "sdk/image.h"
#include "sdk/paths.h"
#include "sdk/yunet.h"

namespace deepemotion {
namespace {

constexpr float kMaxCropValue = 1.0e4f;  // classify's input bound (crops are within about +-3)

static_assert(std::size(config::kClassNames) == kNumClasses, "face.hpp's kNumClasses is labels.py's class count");

// The framing calibration of assets/alignment.json (embedded at build time).
struct Calibration {
  frame::Points canonical{};
  frame::BoxInCrop yunet{}, given{};
};

template <size_t N>
std::array<double, N> read_numbers(const cv::FileNode& node, const char* what) {
  std::array<double, N> out{};
  size_t i = 0;
  auto put = [&](double v) {
    if (i < N) out[i] = v;
    ++i;
  };
  for (const auto& item : node) {
    if (item.isSeq()) {
      for (const auto& v : item) put(static_cast<double>(v));
    } else {
      put(static_cast<double>(item));
    }
  }
  if (i != N) throw Error(ErrorCode::Model, std::string("alignment calibration: ") + what + " has a wrong size");
  return out;
}

const Calibration& calibration() {
  static const Calibration c = [] {
    cv::FileStorage fs(config::kAlignmentJson, cv::FileStorage::READ | cv::FileStorage::MEMORY |
                                                   cv::FileStorage::FORMAT_JSON);
    Calibration out;
    out.canonical = read_numbers<10>(fs["canonical_landmarks"], "canonical_landmarks");
    out.yunet = read_numbers<4>(fs["box_in_crop"]["yunet"], "box_in_crop.yunet");
    out.given = read_numbers<4>(fs["box_in_crop"][config::kGivenBoxesFraming], "box_in_crop (given boxes)");
    return out;
  }();
  return c;
}

frame::Framing framing_of(Framing f) {
  switch (f) {
    case Framing::Box: return frame::Framing::Box;
    case Framing::Landmarks: return frame::Framing::Landmarks;
    case Framing::Roll: break;
  }
  return frame::Framing::Roll;
}

void check_options(const Options& o) {
  auto bad = [](const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); };
  if (o.framing != Framing::Roll && o.framing != Framing::Box && o.framing != Framing::Landmarks) {
    bad("framing must be Framing::Roll, Box or Landmarks, got " + std::to_string(static_cast<int>(o.framing)));
  }
  if (o.backend != "auto" && o.backend != "opencv") {
    if (o.backend == "tensorrt") {
      throw Error(ErrorCode::Unavailable, "backend 'tensorrt': the C++ Recognizer has no TensorRT backend yet; use "
                                          "Python's Recognizer(backend='tensorrt') on NVIDIA GPUs, or 'opencv'");
    }
    bad("backend must be 'auto' or 'opencv', got '" + o.backend + "'");
  }
  if (o.detector != "yunet" && o.detector != "none") bad("detector must be 'yunet' or 'none', got '" + o.detector + "'");
  if (o.min_face < 1) bad("min_face must be >= 1, got " + std::to_string(o.min_face));
  if (o.supersample < 0 || o.supersample > 16) bad("supersample must be in 0..16, got " + std::to_string(o.supersample));
  if (o.max_batch < 1 || o.max_batch > 65536) bad("max_batch must be in 1..65536, got " + std::to_string(o.max_batch));
  if (o.threads < 0) bad("threads must be >= 0, got " + std::to_string(o.threads));
}

Face make_face(const Box& box, const Probs& p, const std::vector<Point>& landmarks) {
  Face f;
  f.box = box;
  f.probs = p;
  f.class_id = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
  f.label = class_names()[static_cast<size_t>(f.class_id)];
  f.score = p[static_cast<size_t>(f.class_id)];
  f.landmarks = landmarks;
  return f;
}

}  // namespace

const std::array<std::string, kNumClasses>& class_names() {
  static const std::array<std::string, kNumClasses> names = [] {
    std::array<std::string, kNumClasses> out;
    for (int k = 0; k < kNumClasses; ++k) out[static_cast<size_t>(k)] = config::kClassNames[k];
    return out;
  }();
  return names;
}

struct Recognizer::Impl {
  Options options;
  std::string model_path;
  std::unique_ptr<OpenCvClassifier> classifier;
  std::unique_ptr<YuNet> detector;

  CropParams crop_params() const {
    return CropParams{config::kInputSize, config::kMean, config::kStd, options.supersample};
  }
  std::vector<float> crop(const cv::Mat& img, const std::vector<Detection>& faces, const frame::BoxInCrop& b) const;
  std::vector<Face> classify_faces(const cv::Mat& img, const std::vector<Detection>& faces,
                                   const frame::BoxInCrop& b) const;
  std::vector<Probs> probs(const float* batch, size_t n) const;
  const YuNet& yunet() const {
    if (!detector) {
      throw Error(ErrorCode::InvalidArgument,
                  "this Recognizer has no detector (detector='none'): pass boxes to predict");
    }
    return *detector;
  }
};

std::vector<float> Recognizer::Impl::crop(const cv::Mat& img, const std::vector<Detection>& faces,
                                          const frame::BoxInCrop& box_in_crop) const {
  const size_t n = faces.size();
  std::vector<float> theta(6 * n);
  std::vector<int32_t> clip(4 * n);
  const auto framing = framing_of(options.framing);
  for (size_t i = 0; i < n; ++i) {
    const Detection& d = faces[i];
    const double box[4] = {static_cast<double>(d.box.x), static_cast<double>(d.box.y),
                           static_cast<double>(d.box.width), static_cast<double>(d.box.height)};
    frame::Points marks{};
    const bool has_marks = d.landmarks.size() == frame::kLandmarks;
    for (size_t k = 0; has_marks && k < frame::kLandmarks; ++k) {
      marks[2 * k] = d.landmarks[k].x;
      marks[2 * k + 1] = d.landmarks[k].y;
    }
    const frame::Theta t = frame::face_theta(box, has_marks ? &marks : nullptr, framing, box_in_crop,
                                             calibration().canonical);
    std::transform(t.begin(), t.end(), theta.begin() + static_cast<long>(6 * i),
                   [](double v) { return static_cast<float>(v); });
    const int32_t frame_clip[4] = {0, 0, img.cols, img.rows};  // affine crops clamp into the frame
    std::copy(frame_clip, frame_clip + 4, clip.begin() + static_cast<long>(4 * i));
  }
  const size_t side = static_cast<size_t>(config::kInputSize);
  std::vector<float> out(n * side * side);
  if (n) crop_faces_cpu(frame_view(img), theta.data(), clip.data(), static_cast<int64_t>(n), crop_params(), out.data());
  return out;
}

std::vector<Probs> Recognizer::Impl::probs(const float* batch, size_t n) const {
  const size_t plane = static_cast<size_t>(config::kInputSize) * config::kInputSize;
  const size_t chunk = static_cast<size_t>(options.max_batch);
  std::vector<Probs> out;
  out.reserve(n);
  for (size_t start = 0; start < n; start += chunk) {
    const auto part = classifier->probs(batch + start * plane, std::min(chunk, n - start));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::vector<Face> Recognizer::Impl::classify_faces(const cv::Mat& img, const std::vector<Detection>& faces,
                                                   const frame::BoxInCrop& b) const {
  std::vector<Face> out;
  const size_t chunk = static_cast<size_t>(options.max_batch);
  for (size_t start = 0; start < faces.size(); start += chunk) {  // memory bounded by max_batch faces
    const std::vector<Detection> part(faces.begin() + static_cast<long>(start),
                                      faces.begin() + static_cast<long>(std::min(faces.size(), start + chunk)));
    const std::vector<float> batch = crop(img, part, b);
    const std::vector<Probs> p = classifier->probs(batch.data(), part.size());
    for (size_t i = 0; i < part.size(); ++i) out.push_back(make_face(part[i].box, p[i], part[i].landmarks));
  }
  return out;
}

Recognizer::Recognizer() : Recognizer(Options{}) {}

Recognizer::Recognizer(const Options& options) : impl_(std::make_unique<Impl>()) {
  check_options(options);
  impl_->options = options;
  if (options.threads > 0) cv::setNumThreads(options.threads);
  impl_->model_path = model_file(options.model);
  impl_->classifier = std::make_unique<OpenCvClassifier>(impl_->model_path);
  if (options.detector == "yunet") {
    impl_->detector = std::make_unique<YuNet>(find_yunet(options.detector_model), options.min_face);
  }
  calibration();  // read once, now
}

Recognizer::~Recognizer() = default;

const Recognizer::Impl& Recognizer::impl() const {
  if (!impl_) {
    throw Error(ErrorCode::InvalidArgument, "this Recognizer was moved from: assign a Recognizer to it before use");
  }
  return *impl_;
}

Recognizer::Recognizer(Recognizer&&) noexcept = default;
Recognizer& Recognizer::operator=(Recognizer&&) noexcept = default;

std::vector<Detection> Recognizer::detect(const ImageView& frame) const {
  return impl().yunet().detect(checked_image(frame, "frame"));
}

std::vector<Face> Recognizer::predict(const ImageView& frame) const {
  const cv::Mat img = checked_image(frame, "frame");
  return impl().classify_faces(img, impl().yunet().detect(img), calibration().yunet);
}

std::vector<Face> Recognizer::predict(const ImageView& frame, const std::vector<Box>& boxes) const {
  const cv::Mat img = checked_image(frame, "frame");
  check_boxes(boxes, img.cols, img.rows);
  std::vector<Detection> faces(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i) faces[i].box = boxes[i];
  return impl().classify_faces(img, faces, calibration().given);
}

std::vector<float> Recognizer::crops(const ImageView& frame, const std::vector<Detection>& faces) const {
  const cv::Mat img = checked_image(frame, "frame");
  std::vector<Box> boxes;
  for (const auto& d : faces) boxes.push_back(d.box);
  check_boxes(boxes, img.cols, img.rows);
  return impl().crop(img, faces, impl().detector ? calibration().yunet : calibration().given);
}

std::vector<Probs> Recognizer::classify(const float* batch, size_t n) const {
  const Impl& im = impl();
  if (batch == nullptr && n > 0) throw Error(ErrorCode::InvalidArgument, "classify: batch is null");
  const size_t plane = static_cast<size_t>(config::kInputSize) * config::kInputSize;
  if (n > std::numeric_limits<size_t>::max() / plane / sizeof(float)) {
    throw Error(ErrorCode::InvalidArgument, "classify: n = " + std::to_string(n) + " faces cannot be in memory");
  }
  const size_t values = n * plane;
  if (!std::all_of(batch, batch + values, [](float v) { return std::isfinite(v); })) {
    throw Error(ErrorCode::InvalidArgument, "classify: batch contains NaN or infinite values");
  }
  // normalised crops lie within a few units of 0: far larger values are something else, and overflow the network
  const auto far = std::find_if(batch, batch + values, [](float v) { return std::fabs(v) > kMaxCropValue; });
  if (far != batch + values) {
    char value[32];
    std::snprintf(value, sizeof value, "%g", static_cast<double>(*far));
    throw Error(ErrorCode::InvalidArgument, std::string("classify: the batch holds ") + value +
                                                "; it takes normalised crops (crops() gives them), whose values lie "
                                                "within a few units of 0");
  }
  return im.probs(batch, n);
}

std::vector<Face> Recognizer::predict_faces(const std::vector<ImageView>& crops) const {
  const size_t side = static_cast<size_t>(config::kInputSize), plane = side * side;
  std::vector<float> batch(crops.size() * plane);
  std::vector<Box> boxes(crops.size());
  for (size_t i = 0; i < crops.size(); ++i) {
    const cv::Mat img = checked_image(crops[i], ("crop " + std::to_string(i)).c_str());
    boxes[i] = Box{0, 0, img.cols, img.rows};
    float* out = batch.data() + i * plane;
    if (img.channels() == 1 && static_cast<size_t>(img.rows) == side && static_cast<size_t>(img.cols) == side) {
      const uint8_t* p = img.ptr<uint8_t>();  // gray, network-sized: taken as it is (Python's normalise_faces)
      for (size_t k = 0; k < plane; ++k) out[k] = (static_cast<float>(p[k]) / 255.0f - config::kMean) / config::kStd;
      continue;
    }
    const int32_t box[4] = {0, 0, img.cols, img.rows};
    float theta[6];
    int32_t clip[4];
    box_geometry(box, theta, clip);
    crop_faces_cpu(frame_view(img), theta, clip, 1, impl().crop_params(), out);
  }
  const std::vector<Probs> p = impl().probs(batch.data(), crops.size());
  std::vector<Face> faces;
  for (size_t i = 0; i < crops.size(); ++i) faces.push_back(make_face(boxes[i], p[i], {}));
  return faces;
}

std::vector<Face> Recognizer::predict_faces(const std::vector<cv::Mat>& crops) const {
  std::vector<ImageView> views;
  for (const auto& c : crops) views.push_back(view(c));
  return predict_faces(views);
}

ImageView Recognizer::view(const cv::Mat& image) {
  if (image.empty()) throw Error(ErrorCode::InvalidArgument, "image is empty");
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3)) {
    throw Error(ErrorCode::InvalidArgument, "image must be CV_8UC3 (BGR) or CV_8UC1 (gray), got type " +
                                                cv::typeToString(image.type()) +
                                                (image.channels() == 4 ? " (BGRA? convert with cv::COLOR_BGRA2BGR)" : ""));
  }
  if (image.dims != 2) throw Error(ErrorCode::InvalidArgument, "image must be 2-D");
  return ImageView{image.data, image.rows, image.cols, image.step[0],
                   image.channels() == 1 ? PixelFormat::Gray : PixelFormat::BGR};
}

std::string Recognizer::backend_name() const {
  impl();
  return "opencv";
}
std::string Recognizer::detector_name() const { return impl().detector ? "yunet" : "none"; }
std::string Recognizer::model_path() const { return impl().model_path; }
int Recognizer::input_size() const {
  impl();
  return config::kInputSize;
}

}  // namespace deepemotion
