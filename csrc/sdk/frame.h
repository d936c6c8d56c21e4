// Framing: where a face is cropped for the network. The one copy of the box / landmark geometry: the C++
// Recognizer calls it, and so does Python (deepemotion._C, python/deepemotion/runtime/align.py).
//
// A face's crop is an affine map theta (2 x 3, row-major) from unit crop coordinates (u, v, 1) -- pixel centres at
// (i + 0.5) / 48 -- to frame pixel coordinates (0 = centre of the first pixel), the geometry of
// ops/crop_faces/crop_faces.h. Three framings:
//   box        the detector's calibrated box-to-crop mapping: where its boxes sit inside a training crop,
//              box_in_crop = (u0, v0, width, height) in unit coordinates (assets/alignment.json);
//   roll       the box framing turned about the crop's centre by the head's roll beyond kMaxRollDeg, as the eye
//              line shows it (a face rolled by 40 degrees is cropped as if rolled by 15; one rolled by 10 as it is);
//   landmarks  the least-squares similarity taking the canonical landmark positions onto the face's landmarks.
// Landmarks are YuNet's five points (right eye, left eye, nose tip, right and left mouth corner), (x, y) each.
// No OpenCV, no framework types: plain arrays in, plain arrays out.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace deepemotion {
namespace frame {

enum class Framing { Roll, Box, Landmarks };

// head roll (degrees) that the roll framing leaves as it is; beyond it a face is turned back to this roll
constexpr double kMaxRollDeg = 15.0;
constexpr int kLandmarks = 5;

using Theta = std::array<double, 6>;                     // [t0 t1 t2; t3 t4 t5]
using Points = std::array<double, 2 * kLandmarks>;       // x0, y0, x1, y1, ...
using BoxInCrop = std::array<double, 4>;                 // u0, v0, width, height (unit crop coordinates)

// "roll", "box" or "landmarks"; std::invalid_argument naming the choices otherwise.
Framing parse_framing(const std::string& name);
const char* framing_name(Framing framing);

// The crop around an (x, y, w, h) box, given where such a box sits in a training crop.
Theta box_theta(const double* box, const BoxInCrop& box_in_crop);
// The least-squares similarity [[a, -b, tx], [b, a, ty]] taking `canonical` onto `landmarks`.
Theta similarity_theta(const Points& landmarks, const Points& canonical);
// Head roll (radians) from the eye line of `landmarks`, relative to the canonical eye line.
double eye_roll(const Points& landmarks, const Points& canonical);
// `theta` turned by `angle` radians about the centre of its crop.
Theta rotate_theta(const Theta& theta, double angle);
// The part of `roll` (radians) beyond `max_roll_deg` degrees, with its sign (0 within the limit).
double excess_roll(double roll, double max_roll_deg = kMaxRollDeg);

// A face's crop: `landmarks` may be null (then every framing is the box's).
Theta face_theta(const double* box, const Points* landmarks, Framing framing, const BoxInCrop& box_in_crop,
                 const Points& canonical, double max_roll_deg = kMaxRollDeg);

}  // namespace frame
}  // namespace deepemotion
