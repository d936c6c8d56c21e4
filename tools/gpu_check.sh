#!/usr/bin/env bash
# The GPU check, as one script for a lent GPU machine (CUDA, PyTorch, CuPy; no TensorRT):
# build the extension with the CUDA kernels for the GPU present, run the CUDA tests, the kernel
# micro-benchmark and fer-bench, and leave logs and JSON under $OUT (default ./gpu_out).
#   bash tools/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi | tee "$OUT/nvidia-smi.txt"
python3 -m pip install -q --no-build-isolation scikit-build-core pybind11 2>&1 | tail -2
DEEPEMOTION_WITH_CUDA=ON python3 -m pip install -q --no-build-isolation --no-deps . 2>&1 | tail -5
python3 -m pip install -q numpy onnxruntime 'opencv-python-headless<5' tqdm onnx pytest matplotlib 2>&1 | tail -2
python3 -c "import deepemotion, json; print(json.dumps(deepemotion.build_info()), deepemotion.cuda_available())" | tee "$OUT/build_info.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_stn_cuda.py tests/test_stn_cpu.py 2>&1 | tee "$OUT/pytest_cuda.txt"
python3 -m deepemotion.kernel_bench --device all --batches 1 64 4096 --json "$OUT/kernel_bench.json" 2>&1 | tee "$OUT/kernel_bench.txt"
fer-bench --batches 1 8 64 256 --min-time 1 --json "$OUT/fer_bench_gpu.json" --plot "$OUT/fer_bench_gpu.png" 2>&1 | tee "$OUT/fer_bench.txt"
