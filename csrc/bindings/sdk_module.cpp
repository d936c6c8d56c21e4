// deepemotion._sdk: the C++ Recognizer (include/deepemotion/recognizer.hpp) seen from Python, for the parity
// tests and timings that compare it with Python's Recognizer. Thin: numpy arrays in and out, the GIL released
// while C++ runs, deepemotion::Error mapped to ValueError / FileNotFoundError / RuntimeError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "deepemotion/recognizer.hpp"

namespace py = pybind11;
using deepemotion::Box;
using deepemotion::Detection;
using deepemotion::Face;
using deepemotion::ImageView;

namespace {

ImageView image_view(const py::array_t<uint8_t, py::array::c_style>& a) {
  if (a.ndim() == 2) return ImageView{a.data(), static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), 0,
                                      deepemotion::PixelFormat::Gray};
  if (a.ndim() == 3 && a.shape(2) == 3) {
    return ImageView{a.data(), static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), 0,
                     deepemotion::PixelFormat::BGR};
  }
  throw py::value_error("image must be uint8 HxW (gray) or HxWx3 (BGR)");
}

// (boxes (N, 4) int32, probs (N, 7) float32, landmarks (N, 5, 2) float32 -- NaN where a face has none)
py::tuple faces_arrays(const std::vector<Face>& faces) {
  const auto n = static_cast<py::ssize_t>(faces.size());
  py::array_t<int32_t> boxes({n, py::ssize_t{4}});
  py::array_t<float> probs({n, py::ssize_t{deepemotion::kNumClasses}});
  py::array_t<float> marks({n, py::ssize_t{5}, py::ssize_t{2}});
  for (py::ssize_t i = 0; i < n; ++i) {
    const Face& f = faces[static_cast<size_t>(i)];
    const int32_t b[4] = {f.box.x, f.box.y, f.box.width, f.box.height};
    std::copy(b, b + 4, boxes.mutable_data(i, 0));
    std::copy(f.probs.begin(), f.probs.end(), probs.mutable_data(i, 0));
    for (size_t k = 0; k < 5; ++k) {
      *marks.mutable_data(i, static_cast<py::ssize_t>(k), 0) = k < f.landmarks.size() ? f.landmarks[k].x : NAN;
      *marks.mutable_data(i, static_cast<py::ssize_t>(k), 1) = k < f.landmarks.size() ? f.landmarks[k].y : NAN;
    }
  }
  return py::make_tuple(boxes, probs, marks);
}

std::vector<Box> boxes_of(const py::array_t<int32_t, py::array::c_style | py::array::forcecast>& a) {
  if (a.ndim() != 2 || a.shape(1) != 4) throw py::value_error("boxes must have shape (N, 4)");
  std::vector<Box> out;
  for (py::ssize_t i = 0; i < a.shape(0); ++i) out.push_back(Box{a.at(i, 0), a.at(i, 1), a.at(i, 2), a.at(i, 3)});
  return out;
}

class PyRecognizer {
 public:
  explicit PyRecognizer(const deepemotion::Options& o) : rec_(o) {}

  py::tuple predict(const py::array_t<uint8_t, py::array::c_style>& frame, const py::object& boxes) const {
    const ImageView v = image_view(frame);
    std::vector<Face> faces;
    if (boxes.is_none()) {
      py::gil_scoped_release release;
      faces = rec_.predict(v);
    } else {
      const std::vector<Box> b = boxes_of(boxes.cast<py::array_t<int32_t, py::array::c_style | py::array::forcecast>>());
      py::gil_scoped_release release;
      faces = rec_.predict(v, b);
    }
    return faces_arrays(faces);
  }

  py::tuple predict_faces(const std::vector<py::array_t<uint8_t, py::array::c_style>>& crops) const {
    std::vector<ImageView> views;
    for (const auto& c : crops) views.push_back(image_view(c));
    std::vector<Face> faces;
    {
      py::gil_scoped_release release;
      faces = rec_.predict_faces(views);
    }
    return faces_arrays(faces);
  }

  py::tuple detect(const py::array_t<uint8_t, py::array::c_style>& frame) const {
    const ImageView v = image_view(frame);
    std::vector<Detection> det;
    {
      py::gil_scoped_release release;
      det = rec_.detect(v);
    }
    std::vector<Face> as_faces(det.size());
    py::array_t<float> scores(static_cast<py::ssize_t>(det.size()));
    for (size_t i = 0; i < det.size(); ++i) {
      as_faces[i].box = det[i].box;
      as_faces[i].landmarks = det[i].landmarks;
      scores.mutable_data()[i] = det[i].score;
    }
    py::tuple t = faces_arrays(as_faces);
    return py::make_tuple(t[0], scores, t[2]);
  }

  py::array_t<float> crops(const py::array_t<uint8_t, py::array::c_style>& frame,
                           const py::array_t<int32_t, py::array::c_style | py::array::forcecast>& boxes,
                           const py::object& landmarks) const {
    std::vector<Detection> det;
    for (const Box& b : boxes_of(boxes)) det.push_back(Detection{b, 1.0f, {}});
    if (!landmarks.is_none()) {
      auto m = landmarks.cast<py::array_t<float, py::array::c_style | py::array::forcecast>>();
      if (m.ndim() != 3 || m.shape(0) != static_cast<py::ssize_t>(det.size()) || m.shape(1) != 5 || m.shape(2) != 2) {
        throw py::value_error("landmarks must have shape (N, 5, 2)");
      }
      for (size_t i = 0; i < det.size(); ++i) {
        for (py::ssize_t k = 0; k < 5; ++k) {
          det[i].landmarks.push_back({m.at(static_cast<py::ssize_t>(i), k, 0), m.at(static_cast<py::ssize_t>(i), k, 1)});
        }
      }
    }
    const ImageView v = image_view(frame);
    std::vector<float> out;
    {
      py::gil_scoped_release release;
      out = rec_.crops(v, det);
    }
    const py::ssize_t s = rec_.input_size();
    py::array_t<float> arr({static_cast<py::ssize_t>(det.size()), py::ssize_t{1}, s, s});
    std::copy(out.begin(), out.end(), arr.mutable_data());
    return arr;
  }

  py::array_t<float> classify(const py::array_t<float, py::array::c_style>& batch) const {
    const py::ssize_t s = rec_.input_size();
    if (batch.ndim() != 4 || batch.shape(1) != 1 || batch.shape(2) != s || batch.shape(3) != s) {
      throw py::value_error("batch must be float32 (N, 1, " + std::to_string(s) + ", " + std::to_string(s) + ")");
    }
    const auto n = static_cast<size_t>(batch.shape(0));
    std::vector<std::array<float, deepemotion::kNumClasses>> p;
    {
      py::gil_scoped_release release;
      p = rec_.classify(batch.data(), n);
    }
    py::array_t<float> out({static_cast<py::ssize_t>(n), py::ssize_t{deepemotion::kNumClasses}});
    for (size_t i = 0; i < n; ++i) std::copy(p[i].begin(), p[i].end(), out.mutable_data(static_cast<py::ssize_t>(i), 0));
    return out;
  }

  const deepemotion::Recognizer& rec() const { return rec_; }

 private:
  deepemotion::Recognizer rec_;
};

deepemotion::Framing framing_of(const std::string& f) {
  if (f == "roll") return deepemotion::Framing::Roll;
  if (f == "box") return deepemotion::Framing::Box;
  if (f == "landmarks") return deepemotion::Framing::Landmarks;
  throw py::value_error("framing must be 'roll', 'box' or 'landmarks', got '" + f + "'");
}

}  // namespace

PYBIND11_MODULE(_sdk, m) {
  m.doc() = "The C++ deepemotion::Recognizer (libdeepemotion) for parity tests and timings";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const deepemotion::Error& e) {
      switch (e.code()) {
        case deepemotion::ErrorCode::NotFound: PyErr_SetString(PyExc_FileNotFoundError, e.what()); return;
        case deepemotion::ErrorCode::Unavailable: PyErr_SetString(PyExc_RuntimeError, e.what()); return;
        default: PyErr_SetString(PyExc_ValueError, e.what()); return;
      }
    }
  });
  m.def("version", &deepemotion::version);
  m.def("weights_dir", &deepemotion::weights_dir);
  m.def("class_names", [] {
    const auto& c = deepemotion::class_names();
    return std::vector<std::string>(c.begin(), c.end());
  });
  py::class_<PyRecognizer>(m, "Recognizer")
      .def(py::init([](const std::string& model, const std::string& backend, const std::string& detector,
                       const std::string& detector_model, const std::string& framing, int min_face, int supersample,
                       int max_batch, int threads) {
             deepemotion::Options o;
             o.model = model;
             o.backend = backend;
             o.detector = detector;
             o.detector_model = detector_model;
             o.framing = framing_of(framing);
             o.min_face = min_face;
             o.supersample = supersample;
             o.max_batch = max_batch;
             o.threads = threads;
             py::gil_scoped_release release;
             return std::make_unique<PyRecognizer>(o);
           }),
           py::arg("model") = "default", py::arg("backend") = "auto", py::arg("detector") = "yunet",
           py::arg("detector_model") = "", py::arg("framing") = "roll", py::arg("min_face") = 40,
           py::arg("supersample") = 0, py::arg("max_batch") = 256, py::arg("threads") = 0)
      .def("predict", &PyRecognizer::predict, py::arg("frame"), py::arg("boxes") = py::none(),
           "(boxes (N, 4) int32, probs (N, 7) float32, landmarks (N, 5, 2) float32, NaN where none)")
      .def("predict_faces", &PyRecognizer::predict_faces, py::arg("crops"))
      .def("detect", &PyRecognizer::detect, py::arg("frame"), "(boxes, scores, landmarks)")
      .def("crops", &PyRecognizer::crops, py::arg("frame"), py::arg("boxes"), py::arg("landmarks") = py::none())
      .def("classify", &PyRecognizer::classify, py::arg("batch"))
      .def_property_readonly("model_path", [](const PyRecognizer& r) { return r.rec().model_path(); })
      .def_property_readonly("backend_name", [](const PyRecognizer& r) { return r.rec().backend_name(); })
      .def_property_readonly("detector_name", [](const PyRecognizer& r) { return r.rec().detector_name(); });
}
