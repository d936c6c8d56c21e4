#!/usr/bin/env bash
# Train on a lent GPU machine (one CUDA GPU, PyTorch there): the teacher and the two bundled models' recipes,
# within about ten minutes, checkpoints and logs under $OUT (default ./gpu_out) to bring back and bundle here
# (python tools/bundle.py --checkpoint ...). Epoch counts are the README's; shorten with EPOCHS=... if needed.
#   bash tools/train_gpu.sh
set -uo pipefail
OUT=${OUT:-gpu_out}
EPOCHS=${EPOCHS:-100}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DEEPEMOTION_DATA=${DEEPEMOTION_DATA:-$(cd .. && pwd)/shared/data}
python3 -m pip install -q --no-build-isolation scikit-build-core pybind11 2>&1 | tail -2
python3 -m pip install -q --no-build-isolation --no-deps . 2>&1 | tail -3
python3 -m pip install -q numpy onnxruntime 'opencv-python-headless<5' tqdm onnx matplotlib 2>&1 | tail -2
common=(--data fer2013 --train-split train --val-split public_test --device cuda --batch-size 256 --lr 0.003 --quiet)
fer-train "${common[@]}" --arch base --epochs "$EPOCHS" --out "$OUT/teacher" 2>&1 | tee "$OUT/teacher.log"
fer-train "${common[@]}" --arch base --epochs "$EPOCHS" --teacher "$OUT/teacher/best.pt" --teacher-tta \
  --out "$OUT/default" 2>&1 | tee "$OUT/default.log"
fer-train "${common[@]}" --arch tiny --tta-flip --epochs "$EPOCHS" --teacher "$OUT/teacher/best.pt" --teacher-tta \
  --out "$OUT/tiny" 2>&1 | tee "$OUT/tiny.log"
rm -f "$OUT"/*/last.pt  # keep the selected weights and the metrics only
