#!/usr/bin/env bash
# Reproduces every figure in the README's Results table and docs/benchmarks.md, in order.
# Needs $DEEPEMOTION_DATA (the folder with fer2013.npz, ckplus48.npz, jaffe.npz) and the package
# installed with the train/export extras. Training output goes to ${RUNS:-runs}/. On the project's
# 2-core CPU machine the FER2013 run took 70 minutes; the CK+ and JAFFE cross-validations (a
# narrower width-16 model: small data sets) take minutes each.
#   bash tools/reproduce_results.sh [fer2013|bundle|ckplus|jaffe|bench|saliency ...]   (default: all)
set -euo pipefail
RUNS=${RUNS:-runs}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(fer2013 bundle ckplus jaffe bench saliency)
for step in "${steps[@]}"; do
  case $step in
    fer2013)
      fer-train --data fer2013 --train-split train --val-split public_test --width 32 --hidden 128 --batch-norm \
        --epochs 30 --threads 2 --quiet --out "$RUNS/fer2013-w32" ;;
    bundle)
      python -m deepemotion.export.bundle --checkpoint "$RUNS/fer2013-w32/best.pt"
      echo "reinstall the package (pip install .) so that the bundled weights are picked up" ;;
    ckplus)
      fer-train --data ckplus --cv-folds 10 --width 16 --hidden 64 --batch-norm --epochs 30 --batch-size 32 \
        --threads 2 --quiet --out "$RUNS/ckplus-cv10" ;;
    jaffe)
      fer-train --data jaffe --variant images_facecrop --cv-folds 10 --width 16 --hidden 64 --batch-norm \
        --epochs 80 --batch-size 32 --threads 2 --quiet --out "$RUNS/jaffe-loso" ;;
    bench)
      fer-bench --batches 1 8 64 256 --min-time 2 --json docs/bench_cpu.json --plot docs/bench_cpu.png --kernels ;;
    saliency)
      fer-saliency --example --out docs/saliency ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
