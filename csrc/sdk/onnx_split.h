// A deepemotion ONNX graph split for an engine that cannot run all of it (OpenCV's DNN module; see
// docs/cpp.md): the constant warp head (a constant STN: Reshape -> GridSample by a constant grid -> Reshape, with
// the optional in-graph flip averaging before it) and the score calibration after the classifier run in our
// C++; the engine runs the rest, from the warped faces to the classifier's logits. The same split as the Python
// CPU backend's (python/deepemotion/runtime/onnx_graph.py, constant_warp_head with patches=False), for the
// graphs fer-export writes; anything else is refused with a message naming what was expected.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace deepemotion {

struct ScoreCalibration {  // logits * (sum_k relu(max softmax - knots[k]) * scales[k] + bias)
  std::vector<float> knots, scales;
  float bias = 1.0f;
  bool present = false;
};

struct SplitGraph {
  std::string rest;                  // serialized ONNX: (M, 1, out_h, out_w) warped faces -> (M, classes) logits
  std::array<float, 6> theta{};      // the constant warp (affine_grid convention, align_corners = false)
  double residual = 0.0;             // largest |grid - affine_grid(theta)| (normalised coordinates)
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  bool flip = false;                 // the faces, then their mirror images, go through; logits averaged in pairs
  ScoreCalibration calibration;
};

// std::runtime_error naming `where` for bytes that are not such a graph.
SplitGraph split_graph(const std::string& onnx, const std::string& where);

// The names of a graph's outputs; std::runtime_error for bytes that are not an ONNX model.
std::vector<std::string> graph_outputs(const std::string& onnx);

// theta (2 x 3) of the affine map whose affine_grid (align_corners = false) is `grid` (h x w x 2, row-major):
// least squares over the base grid's float32 coordinates, as python/deepemotion/runtime/onnx_graph.fit_affine_grid.
std::array<double, 6> fit_affine_grid(const float* grid, int h, int w, double* residual);

}  // namespace deepemotion
