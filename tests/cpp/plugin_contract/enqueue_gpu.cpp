// enqueue on a GPU, compared with PyTorch: the plugin runs the real CUDA launcher on device buffers, for FP32 and
// FP16, both align_corners, batches 1, 64 and the full reference batch. The reference data (inputs exactly
// representable in FP16, theta, and PyTorch's affine_grid + grid_sample in FP32) comes from
// tests/_plugin_contract.py:
//   meta.txt       n c in_h in_w out_h out_w atol_fp32 atol_fp16 (one "key value" a line)
//   x_f32.bin x_f16.bin theta.bin ref_ac0.bin ref_ac1.bin   raw little-endian arrays
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "contract.h"
#include "host_launch.h"

namespace contract {
namespace {

using nvinfer1::DataType;

template <typename T>
bool read_array(std::string const& path, size_t count, std::vector<T>& out, std::string& error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = "cannot open " + path;
    return false;
  }
  out.resize(count);
  f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count * sizeof(T)));
  if (static_cast<size_t>(f.gcount()) != count * sizeof(T) || f.peek() != std::char_traits<char>::eof()) {
    error = path + " does not hold " + std::to_string(count) + " values of " + std::to_string(sizeof(T)) + " bytes";
    return false;
  }
  return true;
}

// Device memory, or in the host variant host memory of exactly the size asked (AddressSanitizer sees overruns).
struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) {
    if (kHostLaunch) {
      ptr = std::malloc(bytes);
    } else if (cudaMalloc(&ptr, bytes) != cudaSuccess) {
      ptr = nullptr;
    }
  }
  ~DeviceBuffer() {
    if (ptr == nullptr) return;
    if (kHostLaunch) {
      std::free(ptr);
    } else {
      cudaFree(ptr);
    }
  }
  DeviceBuffer(DeviceBuffer const&) = delete;
  DeviceBuffer& operator=(DeviceBuffer const&) = delete;
};

void copy(void* dst, void const* src, size_t bytes, cudaMemcpyKind kind) {
  if (kHostLaunch) {
    std::memcpy(dst, src, bytes);
  } else {
    cudaMemcpy(dst, src, bytes, kind);
  }
}

// What the host variant's launcher must have been handed by the enqueue just made.
void check_launch(size_t calls_before, int bits, deepemotion::SampleShape const& want, void const* in,
                  void const* theta, void const* out, cudaStream_t stream, std::string const& label) {
  auto const& calls = host_launches();
  CHECK(calls.size() == calls_before + 1) << label << ": " << calls.size() - calls_before << " launches";
  if (calls.size() != calls_before + 1) return;
  Launch const& l = calls.back();
  deepemotion::SampleShape const& s = l.shape;
  CHECK(l.bits == bits) << label << ": the FP" << l.bits << " launcher was called";
  CHECK(s.n == want.n && s.c == want.c && s.in_h == want.in_h && s.in_w == want.in_w && s.out_h == want.out_h &&
        s.out_w == want.out_w && s.align_corners == want.align_corners)
      << label << ": launched [" << s.n << ", " << s.c << ", " << s.in_h << ", " << s.in_w << "] -> " << s.out_h
      << "x" << s.out_w << " align_corners " << s.align_corners;
  CHECK(l.input == in && l.theta == theta && l.output == out) << label << ": other addresses than the bindings";
  CHECK(l.stream == stream) << label << ": another stream than enqueue's";
}

}  // namespace

std::string test_enqueue_gpu(std::string const& data_dir) {
  int devices = 0;
  cudaError_t const err = kHostLaunch ? cudaErrorNoDevice : cudaGetDeviceCount(&devices);
  std::string gpu;
  if (kHostLaunch) {
    gpu = "the host (the CPU kernel linked in place of the CUDA launchers)";
  } else if (err == cudaSuccess && devices > 0) {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    gpu = std::string(prop.name) + ", sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
  } else {
    cudaGetLastError();
  }
  std::string const no_gpu = "no CUDA GPU visible (" + std::string(err != cudaSuccess ? cudaGetErrorString(err)
                                                                                       : "0 devices") + ")";
  if (data_dir.empty()) {
    std::string const why = gpu.empty()   ? no_gpu
                            : kHostLaunch ? "no --enqueue-data was given"
                                          : "a GPU is visible (" + gpu + ") but no --enqueue-data was given";
    std::cout << "  SKIP  enqueue vs PyTorch: " << why << std::endl;
    return "SKIPPED: " + why;
  }
  // The reference data is read and checked everywhere (its FP16 input must be its FP32 input exactly: this also
  // checks the FP16 decoding the comparison uses); the kernel runs only on a GPU.
  std::map<std::string, std::string> meta;
  {
    std::ifstream f(data_dir + "/meta.txt");
    std::string k, v;
    while (f >> k >> v) meta[k] = v;
  }
  std::vector<float> x32, theta, ref[2];
  std::vector<uint16_t> x16;
  int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0;
  double tol32 = 0, tol16 = 0;
  size_t in_plane = 0, out_plane = 0;
  {
    Section s("enqueue reference data (" + data_dir + ")");
    for (char const* k : {"n", "c", "in_h", "in_w", "out_h", "out_w", "atol_fp32", "atol_fp16"}) {
      CHECK(meta.count(k) == 1) << data_dir << "/meta.txt lacks " << k;
      if (meta.count(k) == 0) return "FAILED: bad reference data";
    }
    N = std::stoll(meta["n"]), C = std::stoll(meta["c"]), H = std::stoll(meta["in_h"]), W = std::stoll(meta["in_w"]);
    OH = std::stoll(meta["out_h"]), OW = std::stoll(meta["out_w"]);
    tol32 = std::stod(meta["atol_fp32"]), tol16 = std::stod(meta["atol_fp16"]);
    in_plane = static_cast<size_t>(C * H * W), out_plane = static_cast<size_t>(C * OH * OW);
    std::string error;
    bool const ok = read_array(data_dir + "/x_f32.bin", N * in_plane, x32, error) &&
                    read_array(data_dir + "/x_f16.bin", N * in_plane, x16, error) &&
                    read_array(data_dir + "/theta.bin", static_cast<size_t>(N) * 6, theta, error) &&
                    read_array(data_dir + "/ref_ac0.bin", N * out_plane, ref[0], error) &&
                    read_array(data_dir + "/ref_ac1.bin", N * out_plane, ref[1], error);
    CHECK(ok) << error;
    if (!ok) return "FAILED: " + error;
    size_t differ = 0;
    for (size_t i = 0; i < x32.size(); ++i) differ += half_to_float(x16[i]) != x32[i] ? 1 : 0;
    CHECK(differ == 0) << differ << " FP16 inputs decode to other values than the FP32 inputs";
    CHECK(half_to_float(0x3C00) == 1.0f && half_to_float(0xC000) == -2.0f &&
          half_to_float(0x0001) == 5.960464477539063e-8f && half_to_float(0x7BFF) == 65504.0f &&
          std::isinf(half_to_float(0x7C00)) && std::isnan(half_to_float(0x7E00)));
    // the host build's FP16 stores: nearest, ties to even, overflow to infinity; every half survives a round trip
    CHECK(float_to_half(1.0f) == 0x3C00 && float_to_half(-2.0f) == 0xC000 && float_to_half(65504.0f) == 0x7BFF &&
          float_to_half(65519.0f) == 0x7BFF && float_to_half(65520.0f) == 0x7C00 && float_to_half(1e9f) == 0x7C00 &&
          float_to_half(1.0f + 0x1p-11f) == 0x3C00 && float_to_half(1.0f + 0x3p-11f) == 0x3C02 &&
          float_to_half(0x1p-25f) == 0x0000 && float_to_half(0x3p-25f) == 0x0002 && float_to_half(0x1p-24f) == 0x0001 &&
          float_to_half(0x3FFp-24f + 0x1p-25f) == 0x0400 && (float_to_half(NAN) & 0x7FFFu) > 0x7C00u);
    size_t trips = 0;
    for (uint32_t h = 0; h < 0x10000u; ++h) {
      auto const v = static_cast<uint16_t>(h);
      trips += (std::isnan(half_to_float(v)) || float_to_half(half_to_float(v)) == v) ? 1 : 0;
    }
    CHECK(trips == 0x10000u) << 0x10000u - trips << " halves do not survive float and back";
  }
  if (gpu.empty()) {
    std::cout << "  SKIP  enqueue vs PyTorch: " << no_gpu << std::endl;
    return "SKIPPED: " + no_gpu;
  }
  Section s("enqueue vs PyTorch on " + gpu + ": FP32/FP16 x align_corners x batch 1, 64, " + std::to_string(N));
  cudaStream_t stream = nullptr;
  if (kHostLaunch) {
    stream = reinterpret_cast<cudaStream_t>(&stream);  // never used as a stream: only passed on, and compared
  } else {
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  }
  TestRecorder context_rec;
  ResourceContext ctx(&context_rec);
  size_t const guard = 256;  // elements after the output that must stay untouched
  for (int32_t ac : {0, 1}) {
    PluginPtr engine_plugin = create(static_cast<int32_t>(OH), static_cast<int32_t>(OW), ac);
    CHECK(engine_plugin != nullptr);
    if (!engine_plugin) continue;
    PluginPtr p(runtime(engine_plugin.get())->attachToContext(&ctx));  // what TensorRT runs: the context's copy
    CHECK(p != nullptr);
    if (!p) continue;
    for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
      size_t const es = t == DataType::kFLOAT ? 4 : 2;
      {
        nvinfer1::DynamicPluginTensorDesc in[2] = {dynamic({-1, C, H, W}, t, nvinfer1::TensorFormat::kLINEAR, 1, N),
                                                   dynamic({-1, 2, 3}, DataType::kFLOAT,
                                                           nvinfer1::TensorFormat::kLINEAR, 1, N)};
        nvinfer1::DynamicPluginTensorDesc out[1] = {dynamic({-1, C, OH, OW}, t, nvinfer1::TensorFormat::kLINEAR, 1, N)};
        CHECK(build(engine_plugin.get())->configurePlugin(in, 2, out, 1) == 0);
      }
      for (int64_t n : {int64_t{1}, int64_t{64}, N}) {
        if (n > N) continue;
        std::string const label = std::string(type_str(t)) + " align_corners=" + std::to_string(ac) +
                                  " batch " + std::to_string(n);
        nvinfer1::PluginTensorDesc in[2] = {tensor({n, C, H, W}, t), tensor({n, 2, 3}, DataType::kFLOAT)};
        nvinfer1::PluginTensorDesc out[1] = {tensor({n, C, OH, OW}, t)};
        CHECK(runtime(p.get())->onShapeChange(in, 2, out, 1) == 0) << label;
        size_t const n_in = static_cast<size_t>(n) * in_plane, n_out = static_cast<size_t>(n) * out_plane;
        DeviceBuffer dx(n_in * es), dth(static_cast<size_t>(n) * 6 * 4), dy((n_out + guard) * es);
        CHECK(dx.ptr && dth.ptr && dy.ptr) << label << ": cudaMalloc";
        if (!dx.ptr || !dth.ptr || !dy.ptr) continue;
        void const* src = t == DataType::kFLOAT ? static_cast<void const*>(x32.data()) : x16.data();
        copy(dx.ptr, src, n_in * es, cudaMemcpyHostToDevice);
        copy(dth.ptr, theta.data(), static_cast<size_t>(n) * 6 * 4, cudaMemcpyHostToDevice);
        // NaN in both types: every output must be written
        std::vector<unsigned char> host((n_out + guard) * es, 0xFF);
        copy(dy.ptr, host.data(), host.size(), cudaMemcpyHostToDevice);
        void const* ins[2] = {dx.ptr, dth.ptr};
        void* outs[1] = {dy.ptr};
        size_t const calls_before = host_launches().size();
        CHECK(runtime(p.get())->enqueue(in, out, ins, outs, nullptr, stream) == 0) << label;
        if (kHostLaunch) {
          check_launch(calls_before, t == DataType::kFLOAT ? 32 : 16, {n, C, H, W, OH, OW, ac != 0}, dx.ptr,
                       dth.ptr, dy.ptr, stream, label);
        } else {
          cudaError_t const e = cudaStreamSynchronize(stream);
          CHECK(e == cudaSuccess) << label << ": " << cudaGetErrorString(e);
        }
        copy(host.data(), dy.ptr, host.size(), cudaMemcpyDeviceToHost);
        double max_err = 0.0;
        size_t bad = 0;
        double const tol = t == DataType::kFLOAT ? tol32 : tol16;
        for (size_t i = 0; i < n_out; ++i) {
          float y;
          if (t == DataType::kFLOAT) {
            std::memcpy(&y, host.data() + i * 4, 4);
          } else {
            uint16_t h;
            std::memcpy(&h, host.data() + i * 2, 2);
            y = half_to_float(h);
          }
          double const d = std::fabs(static_cast<double>(y) - static_cast<double>(ref[ac][i]));
          if (!(d <= tol)) ++bad;  // NaN counts as bad
          if (d > max_err || std::isnan(d)) max_err = std::isnan(d) ? INFINITY : d;
        }
        bool guard_intact = true;
        for (size_t i = n_out * es; i < host.size(); ++i) guard_intact = guard_intact && host[i] == 0xFF;
        CHECK(bad == 0) << label << ": " << bad << " of " << n_out << " values off by more than " << tol
                        << " (max " << max_err << ")";
        CHECK(guard_intact) << label << ": wrote past the output";
        std::cout << "        " << label << ": max |Y - PyTorch| " << max_err << " (tolerance " << tol << ")"
                  << std::endl;
      }
    }
  }
  CHECK(context_rec.size() == 0) << context_rec.size() << " errors reported";
  for (auto const& e : context_rec.entries()) std::cout << "        reported: " << e.desc << std::endl;
  if (kHostLaunch) return "HOST: matched on " + gpu + " (not a GPU)";
  if (stream != nullptr) cudaStreamDestroy(stream);
  return "ran on " + gpu;
}

}  // namespace contract
