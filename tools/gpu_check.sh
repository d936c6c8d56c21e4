#!/usr/bin/env bash
# The GPU check, one script for a lent GPU machine (CUDA, PyTorch, CuPy; no TensorRT): build the extension with
# the CUDA kernels for the GPU present, run the CUDA op tests (affine_grid_sample and crop_faces against PyTorch /
# OpenCV, through tests/test_ops.py's device-parametrised testers), the kernel micro-benchmark (CUDA events), and
# fer-bench with ONNX Runtime's CUDA provider and PyTorch on CUDA; logs and JSON land under $OUT (default ./gpu_out).
#   bash tools/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DEEPEMOTION_DATA=${DEEPEMOTION_DATA:-$(cd .. && pwd)/shared/data}
nvidia-smi | tee "$OUT/nvidia-smi.txt"
python3 -m pip install -q --no-build-isolation scikit-build-core pybind11 2>&1 | tail -2
DEEPEMOTION_WITH_CUDA=ON python3 -m pip install -q --no-build-isolation --no-deps . 2>&1 | tail -5
python3 -m pip install -q numpy onnxruntime-gpu 'opencv-python-headless<5' tqdm onnx pytest matplotlib 2>&1 | tail -2
python3 -c "import deepemotion, json; print(json.dumps(deepemotion.build_info()), deepemotion.cuda_available())" \
  | tee "$OUT/build_info.txt"
cd tests && python3 -m pytest -q -p no:cacheprovider test_ops.py -rs 2>&1 | tee "../$OUT/pytest_cuda.txt"; cd ..
fer-bench --no-backends --no-stages --kernels --min-time 1 --json "$OUT/kernel_bench.json" --plot "" 2>&1 \
  | tee "$OUT/kernel_bench.txt"
fer-bench --batches 1 8 64 256 --min-time 1 --backends onnxruntime onnxruntime-cuda torch torch-cuda \
  --json "$OUT/fer_bench_gpu.json" --plot "$OUT/fer_bench_gpu.png" 2>&1 | tee "$OUT/fer_bench.txt"
