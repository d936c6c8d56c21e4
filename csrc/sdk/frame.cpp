// The framing geometry (see frame.h), in double precision.
#include "sdk/frame.h"

#include <cmath>
#include <stdexcept>

namespace deepemotion {
namespace frame {
namespace {

constexpr double kPi = 3.14159265358979323846;

double mean_of(const Points& p, int axis) {
  double s = 0.0;
  for (int k = 0; k < kLandmarks; ++k) s += p[2 * k + axis];
  return s / kLandmarks;
}

double eye_line_angle(const Points& p) { return std::atan2(p[3] - p[1], p[2] - p[0]); }

}  // namespace

Framing parse_framing(const std::string& name) {
  if (name == "roll") return Framing::Roll;
  if (name == "box") return Framing::Box;
  if (name == "landmarks") return Framing::Landmarks;
  throw std::invalid_argument("framing must be one of 'roll', 'box', 'landmarks', got '" + name + "'");
}

const char* framing_name(Framing framing) {
  switch (framing) {
    case Framing::Roll: return "roll";
    case Framing::Box: return "box";
    case Framing::Landmarks: return "landmarks";
  }
  return "?";
}

Theta box_theta(const double* box, const BoxInCrop& box_in_crop) {
  const double u0 = box_in_crop[0], v0 = box_in_crop[1];
  const double cw = box[2] / box_in_crop[2], ch = box[3] / box_in_crop[3];
  return Theta{cw, 0.0, box[0] - u0 * cw - 0.5, 0.0, ch, box[1] - v0 * ch - 0.5};
}

Theta similarity_theta(const Points& landmarks, const Points& canonical) {
  const double mcx = mean_of(canonical, 0), mcy = mean_of(canonical, 1);
  const double mpx = mean_of(landmarks, 0), mpy = mean_of(landmarks, 1);
  double ss = 0.0, sa = 0.0, sb = 0.0;
  for (int k = 0; k < kLandmarks; ++k) {
    const double cx = canonical[2 * k] - mcx, cy = canonical[2 * k + 1] - mcy;
    const double px = landmarks[2 * k] - mpx, py = landmarks[2 * k + 1] - mpy;
    ss += cx * cx + cy * cy;
    sa += cx * px + cy * py;
    sb += cx * py - cy * px;
  }
  const double a = sa / ss, b = sb / ss;
  return Theta{a, -b, mpx - (a * mcx - b * mcy), b, a, mpy - (b * mcx + a * mcy)};
}

double eye_roll(const Points& landmarks, const Points& canonical) {
  return eye_line_angle(landmarks) - eye_line_angle(canonical);
}

Theta rotate_theta(const Theta& t, double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  Theta out{c * t[0] - s * t[3], c * t[1] - s * t[4], 0.0, s * t[0] + c * t[3], s * t[1] + c * t[4], 0.0};
  // the crop's centre (0.5, 0.5) stays where it was
  const double cx = 0.5 * t[0] + 0.5 * t[1] + t[2], cy = 0.5 * t[3] + 0.5 * t[4] + t[5];
  out[2] = cx - (0.5 * out[0] + 0.5 * out[1]);
  out[5] = cy - (0.5 * out[3] + 0.5 * out[4]);
  return out;
}

double excess_roll(double roll, double max_roll_deg) {
  const double beyond = std::fabs(roll) - max_roll_deg * kPi / 180.0;
  return beyond > 0.0 ? std::copysign(beyond, roll) : 0.0;
}

Theta face_theta(const double* box, const Points* landmarks, Framing framing, const BoxInCrop& box_in_crop,
                 const Points& canonical, double max_roll_deg) {
  if (landmarks != nullptr && framing == Framing::Landmarks) return similarity_theta(*landmarks, canonical);
  const Theta theta = box_theta(box, box_in_crop);
  if (landmarks != nullptr && framing == Framing::Roll) {
    return rotate_theta(theta, excess_roll(eye_roll(*landmarks, canonical), max_roll_deg));
  }
  return theta;
}

}  // namespace frame
}  // namespace deepemotion
