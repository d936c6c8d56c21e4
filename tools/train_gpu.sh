#!/usr/bin/env bash
# Issue 21/22's training on a lent GPU machine (one CUDA GPU, 16 CPU cores, PyTorch there), in one call of about nine
# minutes: three teachers side by side (a wide base, a wider one, an independently seeded base), then the two bundled
# models fine-tuned by distillation from those teachers and the shipped default (flip-averaged), with the camera chain
# (--degrade). Each phase runs on a wall-time budget (fer-train --time-budget: after the first epoch, the epochs that
# fit, so the schedule anneals before the machine goes back). Checkpoints, metrics and logs land under $OUT (default
# ./gpu_out); bring them back, then here:
#   python tools/teacher_check.py default gpu_out/teacher-wide/best.pt     # is a teacher better than the default?
#   python tools/bundle.py --checkpoint gpu_out/default/best.pt --name default --int8 --robustness
#   bash tools/train_gpu.sh                         # on the GPU machine
#   SMOKE=1 OUT=/tmp/smoke bash tools/train_gpu.sh  # here: the same phases on the CPU, 1,500 faces, small nets
# Knobs: TEACHER_S, STUDENT_S (seconds per phase; default 240 and 200), THREADS (CPU threads per run: the batched
# augmentation and the camera chain run on the CPU).
set -uo pipefail
OUT=${OUT:-gpu_out}
TEACHER_S=${TEACHER_S:-240}
STUDENT_S=${STUDENT_S:-200}
THREADS=${THREADS:-5}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DEEPEMOTION_DATA=${DEEPEMOTION_DATA:-$(cd .. && pwd)/shared/data}
start=$(date +%s)
DATA=fer2013
DEVICE=cuda
TEACHER_BATCH=256
WIDE=(--arch base --widths 64,128,256,512 --hidden 512)
WIDER=(--arch base --widths 48,96,192,384 --hidden 384 --seed 1)
SEEDED=(--arch base --seed 2)
if [ "${SMOKE:-0}" = 1 ]; then
  DEVICE=cpu
  TEACHER_BATCH=64
  WIDE=(--arch tiny)
  WIDER=(--arch tiny --widths 8,16,24,24 --seed 1)
  SEEDED=(--arch tiny --seed 2)
  DATA="$OUT/fer2013_smoke.npz"
  python3 - "$DEEPEMOTION_DATA/fer2013.npz" "$DATA" <<'EOF'
import sys
import numpy as np
src = np.load(sys.argv[1])
rng = np.random.default_rng(0)  # a random subset: the archive is not in random order
keep = np.concatenate([rng.choice(np.flatnonzero(src["split"] == split), n, replace=False)
                       for split, n in (("train", 1500), ("public_test", 300))])
np.savez(sys.argv[2], **{k: src[k][keep] for k in ("images", "labels", "split", "ids")}, class_names=src["class_names"])
EOF
else
  nvidia-smi -L | tee "$OUT/nvidia-smi.txt"
  python3 -m pip install -q --no-build-isolation scikit-build-core pybind11 2>&1 | tail -2
  python3 -m pip install -q --no-build-isolation --no-deps . 2>&1 | tail -3
  python3 -m pip install -q numpy tqdm matplotlib 2>&1 | tail -2
fi
# training needs no compiled core: where the install failed (a machine without the package registries), the
# sources run as they are
FER_TRAIN=(fer-train)
if ! command -v fer-train >/dev/null; then
  export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
  FER_TRAIN=(python3 -m deepemotion.cli.train)
fi
python3 -c "import deepemotion.training.loop, torch, tqdm; print('torch', torch.__version__, torch.cuda.is_available())" \
  || { echo "train_gpu: deepemotion's training, torch and tqdm must import here"; exit 1; }
common=(--data "$DATA" --train-split train --val-split public_test:select --device "$DEVICE" --threads "$THREADS" --quiet)

echo "train_gpu: teachers, ${TEACHER_S} s each, side by side"
pids=()
for spec in wide wider seeded; do
  case $spec in wide) arch=("${WIDE[@]}") ;; wider) arch=("${WIDER[@]}") ;; seeded) arch=("${SEEDED[@]}") ;; esac
  "${FER_TRAIN[@]}" "${common[@]}" "${arch[@]}" --batch-size "$TEACHER_BATCH" --lr 0.003 --epochs 100 \
    --time-budget "$TEACHER_S" --out "$OUT/teacher-$spec" > "$OUT/teacher-$spec.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || echo "train_gpu: a teacher run failed (see $OUT/teacher-*.log)"; done
teachers=()
for t in "$OUT"/teacher-*/best.pt; do [ -f "$t" ] && teachers+=(--teacher "$t"); done
echo "train_gpu: $(( ${#teachers[@]} / 2 )) teacher(s) after $(( $(date +%s) - start )) s"

echo "train_gpu: students, ${STUDENT_S} s each, side by side"
student=(--teacher default --teacher-tta --kd-alpha 0.9 --degrade 0.5 --batch-size 128 --epochs 40 --warmup-epochs 1
         --time-budget "$STUDENT_S")
"${FER_TRAIN[@]}" "${common[@]}" --init default "${teachers[@]}" "${student[@]}" --lr 0.0005 --out "$OUT/default" \
  > "$OUT/default.log" 2>&1 &
p1=$!
"${FER_TRAIN[@]}" "${common[@]}" --init tiny "${teachers[@]}" "${student[@]}" --lr 0.001 --out "$OUT/tiny" \
  > "$OUT/tiny.log" 2>&1 &
p2=$!
wait "$p1" || echo "train_gpu: the default's run failed (see $OUT/default.log)"
wait "$p2" || echo "train_gpu: tiny's run failed (see $OUT/tiny.log)"
rm -f "$OUT"/*/last.pt "$OUT"/fer2013_smoke.npz  # keep the selected weights, metrics and logs
grep -h -E "time budget|^epoch" "$OUT"/*.log | tail -n 40
echo "train_gpu: finished in $(( $(date +%s) - start )) s"
