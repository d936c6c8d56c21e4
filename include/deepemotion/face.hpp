// Value types of deepemotion's C++ API: a box, a detected face, a recognised face.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "deepemotion/export.hpp"

namespace deepemotion {

// The classes, in the order of every probability vector: angry, disgust, fear, happy, sad, surprise, neutral.
constexpr int kNumClasses = 7;
DEEPEMOTION_API const std::array<std::string, kNumClasses>& class_names();

struct Box {  // frame pixels
  int x = 0, y = 0, width = 0, height = 0;
};

struct Point {
  float x = 0.0f, y = 0.0f;
};

// A face found by the detector: its box, its score and, for YuNet, five landmarks (right eye, left eye, nose
// tip, right and left mouth corner; "right" is the subject's right, on the image's left).
struct Detection {
  Box box;
  float score = 1.0f;
  std::vector<Point> landmarks;  // 5 points, or empty
};

struct Face {
  Box box;                                // frame pixels (predict_faces: the whole crop)
  int class_id = 0;                       // the most likely class, an index into class_names()
  std::string label;                      // its name
  float score = 0.0f;                     // its probability (calibrated: of faces scored p, about p are right)
  std::array<float, kNumClasses> probs{}; // over the classes, in class_names() order; sums to 1
  std::vector<Point> landmarks;           // from the detector: 5 points, or empty
};

}  // namespace deepemotion
