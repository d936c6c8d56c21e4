// Splitting a deepemotion ONNX graph (see onnx_split.h). Field numbers are those of onnx/onnx.proto:
//   ModelProto.graph = 7; GraphProto.node = 1, initializer = 5, input = 11, output = 12, value_info = 13;
//   NodeProto.input = 1, output = 2, op_type = 4, attribute = 5; AttributeProto.name = 1, f = 2, i = 3, s = 4,
//   t = 5, ints = 8; TensorProto.dims = 1, data_type = 2, float_data = 4, int64_data = 7, name = 8, raw_data = 9;
//   ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.elem_type = 1, shape = 2;
//   TensorShapeProto.dim = 1; Dimension.dim_value = 1, dim_param = 2.
#include "sdk/onnx_split.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>

#include "sdk/protobuf.h"

namespace deepemotion {
namespace {

enum : uint32_t { kGraph = 7, kNode = 1, kInit = 5, kInput = 11, kOutput = 12, kValueInfo = 13 };

struct Tensor {
  std::vector<int64_t> dims;
  int64_t type = 0;
  std::vector<double> values;  // float32 / int64 / int32 data, as doubles
};

struct Node {
  std::string op;
  std::vector<std::string> in, out;
  std::map<std::string, std::vector<pb::Field>> attrs;
  std::string_view raw;
};

struct Graph {
  std::vector<pb::Field> fields;
  std::vector<Node> nodes;
  std::map<std::string, std::string_view> inits;
  std::map<std::string, int> producer;
  std::map<std::string, std::vector<int>> readers;
  std::vector<std::string_view> inputs, outputs;  // ValueInfoProto bytes (inputs: initializers left out)
};

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw std::runtime_error(where + ": not a deepemotion graph that this build can split (" + why + ")");
}

Tensor read_tensor(std::string_view buf) {
  const auto f = pb::parse(buf);
  Tensor t;
  t.dims = pb::packed_ints(f, 1);
  const auto types = pb::packed_ints(f, 2);
  t.type = types.empty() ? 0 : types.front();
  const auto raw = pb::sub(f, 9);
  if (t.type == 1) {  // float32
    std::string_view data = raw.empty() ? std::string_view() : raw.front();
    std::string joined;
    if (raw.empty()) {
      for (auto p : pb::sub(f, 4)) joined.append(p.data(), p.size());  // packed float_data
      data = joined;
    }
    for (size_t i = 0; i + 4 <= data.size(); i += 4) {
      float v;
      std::memcpy(&v, data.data() + i, 4);  // little-endian, as ONNX stores it
      t.values.push_back(v);
    }
  } else if (t.type == 7 || t.type == 6) {  // int64 / int32
    if (!raw.empty()) {
      const size_t size = t.type == 7 ? 8 : 4;
      for (size_t i = 0; i + size <= raw.front().size(); i += size) {
        int64_t v = 0;
        int32_t v32 = 0;
        if (size == 8) std::memcpy(&v, raw.front().data() + i, 8);
        else std::memcpy(&v32, raw.front().data() + i, 4), v = v32;
        t.values.push_back(static_cast<double>(v));
      }
    } else {
      for (int64_t v : pb::packed_ints(f, t.type == 7 ? 7 : 5)) t.values.push_back(static_cast<double>(v));
    }
  }
  return t;
}

Node read_node(std::string_view buf) {
  const auto f = pb::parse(buf);
  Node n;
  n.raw = buf;
  n.op = pb::text(f, 4);
  for (auto s : pb::sub(f, 1)) n.in.emplace_back(s);
  for (auto s : pb::sub(f, 2)) n.out.emplace_back(s);
  for (auto a : pb::sub(f, 5)) {
    auto af = pb::parse(a);
    n.attrs[pb::text(af, 1)] = std::move(af);
  }
  return n;
}

std::string value_info_name(std::string_view buf) { return pb::text(pb::parse(buf), 1); }

Graph read_graph(std::string_view buf) {
  Graph g;
  g.fields = pb::parse(buf);
  for (auto p : pb::sub(g.fields, kInit)) g.inits[pb::text(pb::parse(p), 8)] = p;
  for (auto p : pb::sub(g.fields, kNode)) g.nodes.push_back(read_node(p));
  for (int k = 0; k < static_cast<int>(g.nodes.size()); ++k) {
    for (const auto& o : g.nodes[k].out) g.producer[o] = k;
    for (const auto& i : g.nodes[k].in) g.readers[i].push_back(k);
  }
  for (auto p : pb::sub(g.fields, kInput)) {
    if (!g.inits.count(value_info_name(p))) g.inputs.push_back(p);
  }
  g.outputs = pb::sub(g.fields, kOutput);
  return g;
}

// An initializer's or a Constant node's value; `found` false when `name` is neither.
Tensor constant(const Graph& g, const std::string& name, bool* found) {
  *found = true;
  if (auto it = g.inits.find(name); it != g.inits.end()) return read_tensor(it->second);
  if (auto it = g.producer.find(name); it != g.producer.end() && g.nodes[it->second].op == "Constant") {
    const auto& attrs = g.nodes[it->second].attrs;
    if (auto a = attrs.find("value"); a != attrs.end()) {
      const auto t = pb::sub(a->second, 5);
      if (!t.empty()) return read_tensor(t.front());
    }
  }
  *found = false;
  return Tensor{};
}

int64_t attr_int(const Node& n, const std::string& name, int64_t fallback) {
  auto it = n.attrs.find(name);
  if (it == n.attrs.end()) return fallback;
  const auto v = pb::packed_ints(it->second, 3);
  return v.empty() ? fallback : v.front();
}

std::string attr_str(const Node& n, const std::string& name, const std::string& fallback) {
  auto it = n.attrs.find(name);
  return it == n.attrs.end() ? fallback : pb::text(it->second, 4);
}

// (elem_type, dims; -1 for a symbolic or unknown dimension) of a ValueInfoProto.
std::pair<int64_t, std::vector<int64_t>> tensor_type(std::string_view value_info) {
  std::pair<int64_t, std::vector<int64_t>> out{0, {}};
  for (auto type : pb::sub(pb::parse(value_info), 2)) {
    for (auto tensor : pb::sub(pb::parse(type), 1)) {
      const auto tf = pb::parse(tensor);
      const auto elem = pb::packed_ints(tf, 1);
      out.first = elem.empty() ? 0 : elem.front();
      for (auto shape : pb::sub(tf, 2)) {
        for (auto dim : pb::sub(pb::parse(shape), 1)) {
          const auto v = pb::packed_ints(pb::parse(dim), 1);
          out.second.push_back(v.empty() ? -1 : v.front());
        }
      }
    }
  }
  return out;
}

constexpr int64_t kMaxGraphSide = 4096;  // input and warp sides accepted (the models are 48 x 48)

// A node's first output (a crafted node may have none).
const std::string& first_out(const Node& n, const std::string& where) {
  if (n.out.empty()) fail(where, "a " + n.op + " node without outputs");
  return n.out.front();
}

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

int only(const Graph& g, const std::string& op, const std::string& where) {
  int found = -1;
  for (int k = 0; k < static_cast<int>(g.nodes.size()); ++k) {
    if (g.nodes[k].op != op) continue;
    if (found >= 0) fail(where, "more than one " + op + " node");
    found = k;
  }
  if (found < 0) fail(where, "no " + op + " node (the STN's sampler)");
  return found;
}

struct Head {
  int last = -1;       // the head is nodes[0 .. last]
  std::string cut;     // the tensor the rest starts from
  bool flip = false;
};

Head match_head(const Graph& g, const std::string& input, SplitGraph& s, const std::string& where) {
  const int gs = only(g, "GridSample", where);
  const Node& sample = g.nodes[gs];
  bool found = false;
  const Tensor grid = sample.in.size() == 2 ? constant(g, sample.in[1], &found) : Tensor{};
  if (!found || grid.type != 1 || grid.dims.size() != 4 || grid.dims[0] != 1 || grid.dims[3] != 2) {
    fail(where, "the GridSample's grid is not a constant (1, h, w, 2) float tensor: the STN is not constant");
  }
  if (grid.dims[1] < 1 || grid.dims[1] > kMaxGraphSide || grid.dims[2] < 1 || grid.dims[2] > kMaxGraphSide) {
    fail(where, "the GridSample's grid is " + std::to_string(grid.dims[1]) + "x" + std::to_string(grid.dims[2]) +
                    ", not 1.." + std::to_string(kMaxGraphSide) + " on each side");
  }
  if (grid.values.size() != static_cast<size_t>(grid.dims[1] * grid.dims[2] * 2)) {
    fail(where, "the GridSample's grid holds " + std::to_string(grid.values.size()) + " values, not the " +
                    std::to_string(grid.dims[1] * grid.dims[2] * 2) + " of its shape");
  }
  if (!std::all_of(grid.values.begin(), grid.values.end(), [](double v) { return std::isfinite(v); })) {
    fail(where, "the GridSample's grid holds NaN or infinite values");
  }
  if (attr_int(sample, "align_corners", 0) != 0 || attr_str(sample, "padding_mode", "zeros") != "zeros" ||
      (attr_str(sample, "mode", "bilinear") != "bilinear" && attr_str(sample, "mode", "bilinear") != "linear")) {
    fail(where, "the GridSample is not bilinear with zeros padding and align_corners=0");
  }
  const auto readers = g.readers.find(first_out(sample, where));
  if (readers == g.readers.end() || readers->second.size() != 1 || g.nodes[readers->second[0]].op != "Reshape") {
    fail(where, "the GridSample's output is not reshaped back to (N, 1, h, w)");
  }
  Head h;
  h.last = readers->second[0];
  h.cut = first_out(g.nodes[h.last], where);
  static const std::set<std::string> kHeadOps = {"Constant", "Reshape", "GridSample", "Slice", "Concat"};
  std::set<std::string> made;
  for (int k = 0; k <= h.last; ++k) {
    if (!kHeadOps.count(g.nodes[k].op)) fail(where, "a " + g.nodes[k].op + " node before the warp");
    if (g.nodes[k].op == "Concat") h.flip = g.nodes[k].in.size() == 2 && g.nodes[k].in[0] == input;
    for (const auto& o : g.nodes[k].out) made.insert(o);
  }
  for (int k = h.last + 1; k < static_cast<int>(g.nodes.size()); ++k) {
    for (const auto& i : g.nodes[k].in) {
      if (i != h.cut && made.count(i)) fail(where, "a tensor of the warp head is read after it");
    }
  }
  const int gh = static_cast<int>(grid.dims[1]), gw = static_cast<int>(grid.dims[2]);
  std::vector<float> grid_f(grid.values.begin(), grid.values.end());
  const auto theta = fit_affine_grid(grid_f.data(), gh, gw, &s.residual);
  for (int i = 0; i < 6; ++i) s.theta[static_cast<size_t>(i)] = static_cast<float>(theta[static_cast<size_t>(i)]);
  s.out_h = gh;
  s.out_w = gw;
  s.flip = h.flip;
  return h;
}

// The constant operand of a two-input node (the other being computed).
std::vector<float> operand(const Graph& g, const Node& n, const std::string& where) {
  for (const auto& name : n.in) {
    bool found = false;
    const Tensor t = constant(g, name, &found);
    if (found) return std::vector<float>(t.values.begin(), t.values.end());
  }
  fail(where, "the calibration's " + n.op + " has no constant operand");
}

// The tail after the classifier's last Gemm: the flip averaging (ReduceMean over the pairs) and the calibration.
int match_tail(const Graph& g, const Head& head, SplitGraph& s, const std::string& where) {
  int gemm = -1;
  for (int k = head.last + 1; k < static_cast<int>(g.nodes.size()); ++k) {
    if (g.nodes[k].op == "Gemm") gemm = k;
  }
  if (gemm < 0) fail(where, "no Gemm (fully connected) node after the warp");
  static const std::set<std::string> kTailOps = {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "ReduceMean",
                                                 "Constant", "Softmax", "ReduceMax", "Sub", "Relu", "MatMul", "Add",
                                                 "Mul"};
  bool mean = false;
  for (int k = gemm + 1; k < static_cast<int>(g.nodes.size()); ++k) {
    const Node& n = g.nodes[k];
    if (!kTailOps.count(n.op)) fail(where, "a " + n.op + " node after the classifier");
    if (n.op == "ReduceMean") mean = true;
    if (n.op == "Softmax") s.calibration.present = true;
    if (n.op == "Sub") s.calibration.knots = operand(g, n, where);
    if (n.op == "MatMul") s.calibration.scales = operand(g, n, where);
    if (n.op == "Add") {
      const auto bias = operand(g, n, where);
      if (bias.size() != 1) fail(where, "the calibration's bias is not one number");
      s.calibration.bias = bias.front();
    }
  }
  if (mean != head.flip) fail(where, "the mirror images are not averaged after the classifier");
  if (s.calibration.present &&
      (s.calibration.knots.empty() || s.calibration.knots.size() != s.calibration.scales.size())) {
    fail(where, "the score calibration's knots and scales do not match");
  }
  if (!all_finite(s.calibration.knots) || !all_finite(s.calibration.scales) || !std::isfinite(s.calibration.bias)) {
    fail(where, "the score calibration holds NaN or infinite constants");
  }
  return gemm;
}

std::string dims_value_info(const std::string& name, const std::vector<int64_t>& dims) {
  std::string shape;
  for (int64_t d : dims) {
    std::string dim;
    if (d < 0) pb::write(dim, 2, pb::kLen, "N");
    else pb::write_varint_field(dim, 1, static_cast<uint64_t>(d));
    pb::write(shape, 1, pb::kLen, dim);
  }
  std::string tensor, type, info;
  pb::write_varint_field(tensor, 1, 1);  // float
  pb::write(tensor, 2, pb::kLen, shape);
  pb::write(type, 1, pb::kLen, tensor);
  pb::write(info, 1, pb::kLen, name);
  pb::write(info, 2, pb::kLen, type);
  return info;
}

std::string rest_graph(const Graph& g, int first, int last, const std::string& input, const std::string& output,
                       int64_t classes, const SplitGraph& s) {
  std::string out;
  std::set<std::string> read;
  for (int k = first; k <= last; ++k) {
    pb::write(out, kNode, pb::kLen, g.nodes[k].raw);
    read.insert(g.nodes[k].in.begin(), g.nodes[k].in.end());
  }
  for (const auto& f : g.fields) {
    if (f.number == kNode || f.number == kOutput || f.number == kValueInfo) continue;
    if (f.number == kInit && !read.count(pb::text(pb::parse(f.payload), 8))) continue;
    if (f.number == kInput && !(g.inits.count(value_info_name(f.payload)) && read.count(value_info_name(f.payload)))) {
      continue;
    }
    pb::write(out, f);
  }
  pb::write(out, kInput, pb::kLen, dims_value_info(input, {-1, 1, s.out_h, s.out_w}));
  pb::write(out, kOutput, pb::kLen, dims_value_info(output, {-1, classes}));
  return out;
}

}  // namespace

std::array<double, 6> fit_affine_grid(const float* grid, int h, int w, double* residual) {
  auto axis = [](int i, int n) { return static_cast<double>(static_cast<float>((2.0 * i + 1.0) / n - 1.0)); };
  double ata[3][3] = {}, atb[3][2] = {};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double a[3] = {axis(x, w), axis(y, h), 1.0};
      const float* t = grid + 2 * (static_cast<size_t>(y) * w + x);
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) ata[i][j] += a[i] * a[j];
        atb[i][0] += a[i] * t[0];
        atb[i][1] += a[i] * t[1];
      }
    }
  }
  // solve the 3 x 3 normal equations (symmetric positive definite) by Cramer's rule
  auto det3 = [](double m[3][3]) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  };
  const double d = det3(ata);
  std::array<double, 6> theta{};
  for (int out = 0; out < 2; ++out) {
    for (int col = 0; col < 3; ++col) {
      double m[3][3];
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) m[i][j] = j == col ? atb[i][out] : ata[i][j];
      }
      theta[static_cast<size_t>(3 * out + col)] = det3(m) / d;
    }
  }
  double worst = 0.0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float* t = grid + 2 * (static_cast<size_t>(y) * w + x);
      for (int o = 0; o < 2; ++o) {
        const double v = theta[3 * o] * axis(x, w) + theta[3 * o + 1] * axis(y, h) + theta[3 * o + 2];
        const double d = std::fabs(v - t[o]);
        worst = std::isnan(worst) || std::isnan(d) ? NAN : std::max(worst, d);  // a NaN is never "affine"
      }
    }
  }
  *residual = worst;
  return theta;
}

std::vector<std::string> graph_outputs(const std::string& onnx) {
  const auto graphs = pb::sub(pb::parse(onnx), kGraph);
  if (graphs.size() != 1) throw std::runtime_error("no ONNX graph in the file");
  std::vector<std::string> names;
  for (auto v : pb::sub(pb::parse(graphs.front()), kOutput)) names.push_back(value_info_name(v));
  return names;
}

SplitGraph split_graph(const std::string& onnx, const std::string& where) {
  std::vector<pb::Field> top;
  Graph g;
  try {
    top = pb::parse(onnx);
    const auto graphs = pb::sub(top, kGraph);
    if (graphs.size() != 1) fail(where, "no ONNX graph in the file");
    g = read_graph(graphs.front());
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find(where) == 0) throw;
    fail(where, std::string("not an ONNX file: ") + e.what());
  }
  if (g.inputs.size() != 1 || g.outputs.size() != 1) fail(where, "expected one input and one output");
  const auto [elem, dims] = tensor_type(g.inputs.front());
  if (elem != 1 || dims.size() != 4 || dims[1] != 1 || dims[2] < 1 || dims[3] < 1 || dims[2] > kMaxGraphSide ||
      dims[3] > kMaxGraphSide) {
    fail(where, "the input is not float (N, 1, H, W) with sides 1.." + std::to_string(kMaxGraphSide));
  }
  SplitGraph s;
  s.in_h = static_cast<int>(dims[2]);
  s.in_w = static_cast<int>(dims[3]);
  const std::string input = value_info_name(g.inputs.front());
  const Head head = match_head(g, input, s, where);
  if (!(s.residual <= 1e-5)) fail(where, "the warp's grid is not affine");
  const int gemm = match_tail(g, head, s, where);
  const std::string logits = first_out(g.nodes[gemm], where);
  bool found = false;
  const Tensor weight = g.nodes[gemm].in.size() > 1 ? constant(g, g.nodes[gemm].in[1], &found) : Tensor{};
  const int64_t classes = found && weight.dims.size() == 2 ? weight.dims[attr_int(g.nodes[gemm], "transB", 0) ? 0 : 1]
                                                           : -1;
  std::string graph = rest_graph(g, head.last + 1, gemm, head.cut, logits, classes, s);
  for (const auto& f : top) {
    if (f.number == kGraph) pb::write(s.rest, kGraph, pb::kLen, graph);
    else pb::write(s.rest, f);
  }
  return s;
}

}  // namespace deepemotion
