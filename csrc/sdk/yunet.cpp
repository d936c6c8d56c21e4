#include "sdk/yunet.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "deepemotion/errors.hpp"
#include "sdk/config.h"
#include "sdk/onnx_split.h"
#include "sdk/paths.h"

namespace deepemotion {
namespace {

struct Candidate {
  double x, y, w, h;  // detector input pixels
  float score;
  std::array<double, 10> marks;
};

std::vector<std::string> output_names() {
  std::vector<std::string> names;
  for (const char* head : {"cls", "obj", "bbox", "kps"}) {
    for (int s : config::kYuNetStrides) names.push_back(std::string(head) + "_" + std::to_string(s));
  }
  return names;
}

// One stride's priors (python/deepemotion/runtime/detect/yunet.py decode): score = sqrt(cls * obj); box centre
// ((col + dx) s, (row + dy) s), size (exp(dw) s, exp(dh) s); landmark k at ((col + kx) s, (row + ky) s).
void decode_stride(const cv::Mat* out, int s, int width, int height, std::vector<Candidate>& found) {
  const int cols = width / s, rows = height / s;
  const float *cls = out[0].ptr<float>(), *obj = out[1].ptr<float>(), *bb = out[2].ptr<float>(),
              *kp = out[3].ptr<float>();
  const size_t priors = static_cast<size_t>(cols) * rows;
  if (out[0].total() != priors || out[1].total() != priors || out[2].total() != 4 * priors ||
      out[3].total() != 10 * priors) {
    throw Error(ErrorCode::Model, "YuNet output sizes do not match a " + std::to_string(cols) + "x" +
                                      std::to_string(rows) + " grid at stride " + std::to_string(s) +
                                      ": not a YuNet model");
  }
  for (size_t i = 0; i < priors; ++i) {
    const float score = std::sqrt(std::clamp(cls[i], 0.0f, 1.0f) * std::clamp(obj[i], 0.0f, 1.0f));
    if (!(score >= config::kYuNetScoreThreshold)) continue;
    const float* b = bb + 4 * i;
    const float* k = kp + 10 * i;
    if (!std::all_of(b, b + 4, [](float v) { return std::isfinite(v); }) ||
        !std::all_of(k, k + 10, [](float v) { return std::isfinite(v); })) {
      continue;
    }
    const double c = static_cast<double>(i % cols), r = static_cast<double>(i / cols);
    const double w = static_cast<double>(std::exp(std::min(b[2], 10.0f)) * static_cast<float>(s));
    const double h = static_cast<double>(std::exp(std::min(b[3], 10.0f)) * static_cast<float>(s));
    Candidate cand{(c + b[0]) * s - w / 2, (r + b[1]) * s - h / 2, w, h, score, {}};
    for (int j = 0; j < 5; ++j) {
      cand.marks[2 * j] = (c + k[2 * j]) * s;
      cand.marks[2 * j + 1] = (r + k[2 * j + 1]) * s;
    }
    found.push_back(cand);
  }
}

// Greedy NMS, highest score first (stable); a box is dropped when its IoU with a kept one exceeds the threshold.
std::vector<Candidate> nms(const std::vector<Candidate>& c) {
  std::vector<size_t> order(c.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c[a].score > c[b].score; });
  if (order.size() > 5000) order.resize(5000);
  std::vector<Candidate> kept;
  std::vector<bool> gone(order.size(), false);
  for (size_t a = 0; a < order.size(); ++a) {
    if (gone[a]) continue;
    const Candidate& k = c[order[a]];
    kept.push_back(k);
    const double area_k = std::max(k.w, 0.0) * std::max(k.h, 0.0);
    for (size_t b = a + 1; b < order.size(); ++b) {
      if (gone[b]) continue;
      const Candidate& o = c[order[b]];
      const double iw = std::max(std::min(k.x + k.w, o.x + o.w) - std::max(k.x, o.x), 0.0);
      const double ih = std::max(std::min(k.y + k.h, o.y + o.h) - std::max(k.y, o.y), 0.0);
      const double inter = iw * ih;
      const double area_o = std::max(o.w, 0.0) * std::max(o.h, 0.0);
      if (inter / std::max(area_k + area_o - inter, 1e-12) > config::kYuNetNmsThreshold) gone[b] = true;
    }
  }
  return kept;
}

std::vector<Candidate> run_yunet(const NetPool& pool, const std::string& path, const cv::Mat& img) {
  const int h = img.rows, w = img.cols;
  const int ph = (h + 31) / 32 * 32, pw = (w + 31) / 32 * 32;  // pad bottom/right to a multiple of 32
  cv::Mat padded;
  cv::copyMakeBorder(img, padded, 0, ph - h, 0, pw - w, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  const cv::Mat blob = cv::dnn::blobFromImage(padded);  // NCHW float32, BGR, 0..255 as YuNet takes it
  static const std::vector<std::string> names = output_names();
  std::vector<cv::Mat> outs;
  pool.run([&](cv::dnn::Net& net) {
    try {
      net.setInput(blob);
      net.forward(outs, names);
    } catch (const cv::Exception& e) {
      throw Error(ErrorCode::Model, path + ": OpenCV cannot run this YuNet model on a " + std::to_string(pw) + "x" +
                                        std::to_string(ph) + " input (" + e.msg + ")");
    }
    return 0;
  });
  std::vector<Candidate> found;
  const size_t n_strides = std::size(config::kYuNetStrides);
  for (size_t i = 0; i < n_strides; ++i) {
    const cv::Mat heads[4] = {outs[i], outs[n_strides + i], outs[2 * n_strides + i], outs[3 * n_strides + i]};
    decode_stride(heads, config::kYuNetStrides[i], pw, ph, found);
  }
  return nms(found);
}

}  // namespace

std::string find_yunet(const std::string& given) {
  if (!given.empty()) {
    if (!is_file(given)) throw Error(ErrorCode::NotFound, given + ": YuNet ONNX file not found");
    return given;
  }
  if (const char* env = std::getenv("DEEPEMOTION_YUNET"); env && *env) {
    if (!is_file(env)) throw Error(ErrorCode::NotFound, std::string(env) + " ($DEEPEMOTION_YUNET): file not found");
    return env;
  }
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = xdg && *xdg ? std::string(xdg) : std::string(home ? home : "") + "/.cache";
  const std::string cached = base + "/deepemotion/" + config::kYuNetFile;
  if (!is_file(cached)) {
    throw Error(ErrorCode::NotFound,
                "the YuNet face-detector model is not in the cache (" + cached + "); the C++ library never downloads "
                "it: run `fer-predict --prefetch` once (Python), set $DEEPEMOTION_YUNET, or give "
                "Options::detector_model");
  }
  return cached;
}

// The YuNet file's bytes, or Error(Model) naming it when it is not YuNet (its twelve head outputs).
static std::string yunet_bytes(const std::string& path) {
  std::string onnx = read_file(path, "YuNet model");
  std::vector<std::string> outputs;
  try {
    outputs = graph_outputs(onnx);
  } catch (const std::runtime_error& e) {
    throw Error(ErrorCode::Model, path + ": not a readable ONNX file (" + e.what() + ")");
  }
  for (const auto& n : output_names()) {
    if (std::find(outputs.begin(), outputs.end(), n) == outputs.end()) {
      throw Error(ErrorCode::Model, path + ": not a YuNet face-detector model (no output " + n +
                                        "; YuNet has the outputs cls_8 ... kps_32)");
    }
  }
  return onnx;
}

YuNet::YuNet(const std::string& path, int min_face)
    : path_(path), min_face_(min_face), pool_(yunet_bytes(path), path) {}

double YuNet::scale_for(int h, int w) const {
  const double side = std::max(h, w);
  return std::min({1.0, std::max(static_cast<double>(config::kMinDetectorPx) / min_face_, 32.0 / side),
                   config::kYuNetMaxSide / side});
}


std::vector<Detection> YuNet::detect(const cv::Mat& frame) const {
  cv::Mat bgr = frame;
  if (frame.channels() == 1) cv::cvtColor(frame, bgr, cv::COLOR_GRAY2BGR);
  const int h = bgr.rows, w = bgr.cols;
  const double s = scale_for(h, w);
  const int sw = std::max(1, static_cast<int>(std::nearbyint(w * s)));
  const int sh = std::max(1, static_cast<int>(std::nearbyint(h * s)));
  cv::Mat small = bgr;
  if (s < 1.0) cv::resize(bgr, small, cv::Size(sw, sh), 0, 0, cv::INTER_AREA);
  const double sx = static_cast<double>(sw) / w, sy = static_cast<double>(sh) / h;
  std::vector<Detection> out;
  for (const Candidate& c : run_yunet(pool_, path_, small)) {
    const double x0 = std::nearbyint(c.x / sx), y0 = std::nearbyint(c.y / sy);
    const double x1 = std::clamp(x0 + std::nearbyint(c.w / sx), 0.0, static_cast<double>(w));
    const double y1 = std::clamp(y0 + std::nearbyint(c.h / sy), 0.0, static_cast<double>(h));
    const double cx0 = std::clamp(x0, 0.0, static_cast<double>(w)), cy0 = std::clamp(y0, 0.0, static_cast<double>(h));
    Detection d;
    d.box = Box{static_cast<int>(cx0), static_cast<int>(cy0), static_cast<int>(x1 - cx0), static_cast<int>(y1 - cy0)};
    if (d.box.width <= 0 || d.box.height <= 0 || d.box.width < min_face_ || d.box.height < min_face_) continue;
    d.score = c.score;
    for (int j = 0; j < 5; ++j) {
      d.landmarks.push_back(Point{static_cast<float>(c.marks[2 * j] / sx), static_cast<float>(c.marks[2 * j + 1] / sy)});
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace deepemotion
