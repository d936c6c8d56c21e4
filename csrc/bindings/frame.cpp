// Bindings of the framing geometry (csrc/sdk/frame.h), the one copy that Python's runtime/align.py calls.
// Thin: check shapes, loop over the faces, no policy (the calibration values come from Python's caller).
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "sdk/frame.h"

namespace deepemotion {
namespace bindings {
namespace {

constexpr const char* kOp = "framing";
using frame::Points;
using frame::Theta;

// A C-contiguous float64 array of shape (N, *tail) (tail empty: (N,)); returns N.
int64_t check_rows(const py::object& obj, py::array& keep, const char* name, const std::vector<int64_t>& tail,
                   const char* layout) {
  keep = check_numpy<double>(obj, {kOp, name});
  const auto s = shape_of(keep);
  bool ok = s.size() == tail.size() + 1;
  for (size_t i = 0; ok && i < tail.size(); ++i) ok = s[i + 1] == tail[i];
  if (!ok) throw py::value_error(std::string(kOp) + ": " + name + " must have shape " + layout + ", got " + shape_str(s));
  return s[0];
}

template <typename T>
T fixed(const py::object& obj, const char* name, const std::vector<int64_t>& shape, const char* layout) {
  py::array a = check_numpy<double>(obj, {kOp, name});
  if (shape_of(a) != shape) {
    throw py::value_error(std::string(kOp) + ": " + name + " must have shape " + layout + ", got " +
                          shape_str(shape_of(a)));
  }
  T out{};
  const auto* p = static_cast<const double*>(a.data());
  std::copy(p, p + out.size(), out.begin());
  return out;
}

Points canonical_of(const py::object& obj) { return fixed<Points>(obj, "canonical", {5, 2}, "(5, 2)"); }

Points points_at(const py::array& a, int64_t i) {
  Points p{};
  const auto* d = static_cast<const double*>(a.data()) + i * 10;
  std::copy(d, d + 10, p.begin());
  return p;
}

py::array_t<double> thetas_array(const std::vector<Theta>& thetas) {
  py::array_t<double> out({static_cast<int64_t>(thetas.size()), int64_t{2}, int64_t{3}});
  double* o = out.mutable_data();
  for (size_t i = 0; i < thetas.size(); ++i) std::copy(thetas[i].begin(), thetas[i].end(), o + 6 * i);
  return out;
}

py::array_t<double> face_thetas(const py::object& boxes_obj, const py::object& marks_obj, const std::string& framing,
                                const py::object& box_in_crop_obj, const py::object& canonical_obj,
                                double max_roll_deg) {
  py::array boxes, marks;
  const int64_t n = check_rows(boxes_obj, boxes, "boxes", {4}, "(N, 4) as (x, y, w, h)");
  const bool has_marks = !marks_obj.is_none();
  if (has_marks && check_rows(marks_obj, marks, "landmarks", {5, 2}, "(N, 5, 2)") != n) {
    throw py::value_error(std::string(kOp) + ": landmarks must have one row per box");
  }
  frame::Framing f;
  try {
    f = frame::parse_framing(framing);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
  const auto box_in_crop = fixed<frame::BoxInCrop>(box_in_crop_obj, "box_in_crop", {4}, "(4,)");
  const Points canonical = canonical_of(canonical_obj);
  const auto* b = static_cast<const double*>(boxes.data());
  std::vector<Theta> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const Points p = has_marks ? points_at(marks, i) : Points{};
    out[static_cast<size_t>(i)] = frame::face_theta(b + 4 * i, has_marks ? &p : nullptr, f, box_in_crop, canonical,
                                                    max_roll_deg);
  }
  return thetas_array(out);
}

py::array_t<double> box_thetas(const py::object& boxes_obj, const py::object& box_in_crop_obj) {
  py::array boxes;
  const int64_t n = check_rows(boxes_obj, boxes, "boxes", {4}, "(N, 4) as (x, y, w, h)");
  const auto box_in_crop = fixed<frame::BoxInCrop>(box_in_crop_obj, "box_in_crop", {4}, "(4,)");
  const auto* b = static_cast<const double*>(boxes.data());
  std::vector<Theta> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = frame::box_theta(b + 4 * i, box_in_crop);
  return thetas_array(out);
}

py::array_t<double> similarity_thetas(const py::object& marks_obj, const py::object& canonical_obj) {
  py::array marks;
  const int64_t n = check_rows(marks_obj, marks, "landmarks", {5, 2}, "(N, 5, 2)");
  const Points canonical = canonical_of(canonical_obj);
  std::vector<Theta> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = frame::similarity_theta(points_at(marks, i), canonical);
  return thetas_array(out);
}

py::array_t<double> eye_rolls(const py::object& marks_obj, const py::object& canonical_obj) {
  py::array marks;
  const int64_t n = check_rows(marks_obj, marks, "landmarks", {5, 2}, "(N, 5, 2)");
  const Points canonical = canonical_of(canonical_obj);
  py::array_t<double> out(n);
  for (int64_t i = 0; i < n; ++i) out.mutable_data()[i] = frame::eye_roll(points_at(marks, i), canonical);
  return out;
}

py::array_t<double> rotate_thetas(const py::object& theta_obj, const py::object& angle_obj) {
  py::array theta, angle;
  const int64_t n = check_rows(theta_obj, theta, "theta", {2, 3}, "(N, 2, 3)");
  if (check_rows(angle_obj, angle, "angle", {}, "(N,)") != n) {
    throw py::value_error(std::string(kOp) + ": angle must have one value per theta");
  }
  const auto* t = static_cast<const double*>(theta.data());
  const auto* a = static_cast<const double*>(angle.data());
  std::vector<Theta> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Theta ti{};
    std::copy(t + 6 * i, t + 6 * i + 6, ti.begin());
    out[static_cast<size_t>(i)] = frame::rotate_theta(ti, a[i]);
  }
  return thetas_array(out);
}

}  // namespace

void bind_frame(py::module_& m) {
  m.attr("MAX_ROLL_DEG") = frame::kMaxRollDeg;
  m.def("face_thetas", &face_thetas, py::arg("boxes"), py::arg("landmarks"), py::arg("framing"),
        py::arg("box_in_crop"), py::arg("canonical"), py::arg("max_roll_deg") = frame::kMaxRollDeg,
        "(N, 2, 3) float64 crop maps of faces: boxes (N, 4) float64, landmarks (N, 5, 2) float64 or None, "
        "framing 'roll' | 'box' | 'landmarks', box_in_crop (4,), canonical landmarks (5, 2).");
  m.def("box_thetas", &box_thetas, py::arg("boxes"), py::arg("box_in_crop"),
        "(N, 2, 3) float64 box framing of (N, 4) float64 boxes.");
  m.def("similarity_thetas", &similarity_thetas, py::arg("landmarks"), py::arg("canonical"),
        "(N, 2, 3) float64 least-squares similarities taking canonical (5, 2) onto landmarks (N, 5, 2).");
  m.def("eye_rolls", &eye_rolls, py::arg("landmarks"), py::arg("canonical"),
        "(N,) head roll in radians from the eye lines of landmarks (N, 5, 2), relative to the canonical one.");
  m.def("rotate_thetas", &rotate_thetas, py::arg("theta"), py::arg("angle"),
        "theta (N, 2, 3) float64 turned by angle (N,) radians about the centre of each crop.");
}

}  // namespace bindings
}  // namespace deepemotion
