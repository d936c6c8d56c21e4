#!/usr/bin/env bash
# Reproduces every published figure, in order: the two bundled models, the accuracy-vs-compute plot, CK+ and JAFFE,
# the detector benchmark, the speed benchmarks, the training-speed comparison and the saliency picture.
# Needs $DEEPEMOTION_DATA (fer2013.npz, ckplus48.npz, jaffe.npz: fer-data builds them), the package installed with
# the train/export/bench extras, and for the detector steps the YuNet file (cached, or $DEEPEMOTION_YUNET).
# Training output goes to ${RUNS:-runs}/ (never committed); run folders keep the relative paths the metadata records.
# Install the package editable (pip install -e .) to run all steps in one go: the steps after 'bundle' then use the
# new weights; with a plain install, reinstall after 'bundle'.
# On the project's 2-core CPU: teacher ~65 min, default ~90 min, framed ~40 min, tiny ~45 min, robust ~60 min,
# CK+/JAFFE ~40 min.
#   bash references/fer2013/reproduce.sh [teacher|default|framed|tiny|bundle|robust|confusion|family|ckplus|jaffe|detectors|bench|training|saliency ...]
set -euo pipefail
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(teacher default framed tiny bundle robust confusion family ckplus jaffe detectors bench training saliency)
fer=(--data fer2013 --train-split train --val-split public_test --quiet)
for step in "${steps[@]}"; do
  case $step in
    teacher)   # the plain recipe; also the first point of the family plot
      (cd "$RUNS" && fer-train "${fer[@]}" --arch base --epochs 100 --out base-r1)
      cp "$RUNS/base-r1/best.pt" "$RUNS/teacher-base-r1.pt" ;;
    default)   # distilled from the teacher, which averages each face with its mirror image
      (cd "$RUNS" && fer-train "${fer[@]}" --arch base --epochs 100 --teacher teacher-base-r1.pt --teacher-tta \
         --out base-r2) ;;
    framed)    # the default, fine-tuned on Training faces framed by the detector as predict() frames them
      python references/fer2013/make_framed_set.py --out "$RUNS/fer2013_framed.npz" --seed 0 --backgrounds noise
      python references/fer2013/make_framed_set.py --add-to "$RUNS/fer2013_framed.npz" --out "$RUNS/fer2013_framed2.npz" \
        --seed 1 --backgrounds mixed
      cp "$RUNS/base-r2/best.pt" "$RUNS/teacher-base-r2.pt"
      (cd "$RUNS" && fer-train --data fer2013_framed2.npz --train-split train --val-split public_test --quiet \
         --init base-r2/best.pt --epochs 5 --lr 0.0005 --warmup-epochs 1 --teacher teacher-base-r1.pt \
         --teacher teacher-base-r2.pt --teacher-tta --out ft-framed) ;;
    tiny)      # the paper's size, flip averaging inside its graph, distilled from the same teacher
      (cd "$RUNS" && fer-train "${fer[@]}" --arch tiny --tta-flip --epochs 100 --teacher teacher-base-r1.pt \
         --out tiny-r1) ;;
    bundle)
      python references/fer2013/bundle.py --checkpoint "$RUNS/ft-framed/best.pt" --name default --int8
      python references/fer2013/bundle.py --checkpoint "$RUNS/tiny-r1/best.pt" --name tiny --int8
      cp "$RUNS/ft-framed/curves.png" docs/results/archive/default_training_curves.png
      cp "$RUNS/ft-framed/metrics.csv" docs/results/archive/default_training_metrics.csv
      cp "$RUNS/base-r2/curves.png" docs/results/archive/base_r2_training_curves.png
      cp "$RUNS/base-r2/metrics.csv" docs/results/archive/base_r2_training_metrics.csv
      cp "$RUNS/base-r1/curves.png" docs/results/archive/teacher_training_curves.png
      cp "$RUNS/base-r1/metrics.csv" docs/results/archive/teacher_training_metrics.csv
      echo "reinstall the package (pip install .) so that the bundled weights are picked up, then run step 'confusion'" ;;
    robust)    # robot-camera fine-tunes of the bundled models (README, "Faces as robot cameras see them")
      rob=(--data fer2013 --train-split train --teacher default --teacher-tta --degrade 0.5 --warmup-epochs 1 --quiet)
      (cd "$RUNS" && fer-train "${rob[@]}" --val-split public_test --keep last --init default --label-smoothing 0.0 \
         --epochs 8 --lr 0.0005 --out robust-default)
      (cd "$RUNS" && fer-train "${rob[@]}" --val-split public_test:select --init default --kd-alpha 0.9 --epochs 5 \
         --lr 0.0002 --threads 1 --out robust-default2)
      (cd "$RUNS" && fer-train "${rob[@]}" --val-split public_test:select --init tiny --kd-alpha 0.9 --epochs 8 \
         --lr 0.001 --threads 1 --out robust-tiny)
      # the two default fine-tunes averaged, then the line from the bundled default to that average; chosen on
      # public_test:select (OUT/selection.json); the tiny one the same way
      python references/fer2013/interpolate.py --start "$RUNS/robust-default/best.pt" --end "$RUNS/robust-default2/best.pt" \
        --alpha 0.5 --out "$RUNS/r12"
      python references/fer2013/interpolate.py --start default --end "$RUNS/r12/alpha0.5.pt" --alpha 0 0.6 0.8 1 --select \
        --out "$RUNS/soup3"
      python references/fer2013/interpolate.py --start tiny --end "$RUNS/robust-tiny/best.pt" --alpha 0 0.5 0.7 1 --select \
        --out "$RUNS/soup-tiny"
      python references/fer2013/bundle.py --checkpoint "$RUNS/soup3/alpha0.8.pt" --name default --int8 --robustness
      python references/fer2013/bundle.py --checkpoint "$RUNS/soup-tiny/alpha1.pt" --name tiny --int8 --robustness
      fer-eval --model default --data fer2013 --split public_test --perturb --out docs/results/robustness_default
      fer-eval --model tiny --data fer2013 --split public_test --perturb --out docs/results/robustness_tiny ;;
    confusion)
      fer-eval --model default --data fer2013 --split public_test --out docs/results/default_public_test ;;
    family)
      python references/fer2013/plot_family.py "base (plain recipe)=$RUNS/base-r1/best.pt" \
        "base + flip TTA (over budget)=$RUNS/base-r1/best.pt:tta" "base, distilled=$RUNS/base-r2/best.pt" \
        "base, distilled+framed=$RUNS/ft-framed/best.pt" "tiny, distilled, flip TTA=$RUNS/tiny-r1/best.pt" --bundled --extra docs/results/family_extra.json \
        --out docs/results/accuracy_vs_mflops ;;
    ckplus)
      fer-train --data ckplus --cv-folds 10 --arch tiny --epochs 60 --batch-size 32 --ema 0.99 --quiet \
        --out "$RUNS/ckplus-scratch"
      fer-train --data ckplus --cv-folds 10 --init "$RUNS/base-r2/best.pt" --epochs 30 --lr 0.0005 \
        --warmup-epochs 1 --batch-size 32 --ema 0.99 --quiet --out "$RUNS/ckplus-finetune"
      cp "$RUNS/ckplus-scratch/cv_summary.json" docs/results/ckplus_scratch_cv10.json
      cp "$RUNS/ckplus-finetune/cv_summary.json" docs/results/ckplus_finetune_cv10.json ;;
    jaffe)
      fer-train --data jaffe --variant images_facecrop --cv-folds 10 --arch tiny --epochs 100 --batch-size 32 \
        --ema 0.99 --quiet --out "$RUNS/jaffe-scratch"
      fer-train --data jaffe --variant images_facecrop --cv-folds 10 --init "$RUNS/base-r2/best.pt" --epochs 40 \
        --lr 0.0005 --warmup-epochs 1 --batch-size 32 --ema 0.99 --quiet --out "$RUNS/jaffe-finetune"
      cp "$RUNS/jaffe-scratch/cv_summary.json" docs/results/jaffe_scratch_cv10.json
      cp "$RUNS/jaffe-finetune/cv_summary.json" docs/results/jaffe_finetune_cv10.json ;;
    detectors)
      fer-bench --no-backends --no-stages --detectors --json docs/results/detectors.json --plot ""
      for seed in 1 2 3; do   # the other frame sets of docs/detectors.md (not committed)
        fer-bench --no-backends --no-stages --detectors --detector-seed $seed --json "$RUNS/detectors_seed$seed.json" \
          --plot ""
      done
      for seed in 10 11 12 13; do   # frame sets not looked at while choosing the framing: the default row only
        fer-bench --no-backends --no-stages --detectors --detector-setups default --detector-seed $seed \
          --json "$RUNS/detectors_default_seed$seed.json" --plot ""
      done ;;
    bench)
      fer-bench --batches 1 8 64 256 --min-time 2 --recognizer --stream --accuracy --json docs/bench_cpu.json \
        --plot docs/bench_cpu.png
      fer-bench --no-backends --no-stages --accuracy --json docs/results/accuracy_fp32_int8.json --plot ""
      fer-bench --no-backends --no-stages --kernels --json docs/results/kernels_cpu.json --plot ""
      fer-bench --model tiny --backends onnxruntime onnxruntime-int8 --batches 1 64 256 --min-time 2 --no-stages \
        --recognizer --json docs/results/bench_tiny_cpu.json --plot "" ;;
    training)
      python references/fer2013/experiments/bench_training.py --rounds 8 --steps 15 --json docs/results/training_speed.json ;;
    saliency)
      fer-saliency --example --out docs/saliency ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
