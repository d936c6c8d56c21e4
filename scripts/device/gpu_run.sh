#!/usr/bin/env bash
# The one command for a lent GPU machine (one H200: CUDA 13, PyTorch 2.11, 16 cores, no registry, no TensorRT),
# made to work the first time inside one 600 s call. In order, against one clock:
#   1. the machine's facts (nvidia-smi, torch, OpenCV, nvcc, Python.h)                           -> machine.txt
#   2. FER2013 unpacked from .gpu/fer2013.fpk (scripts/device/gpu_data.py: bit-exact, checked) -- before anything slow
#   3. three teachers trained side by side, data resident on the GPU              (background, TEACH_S seconds)
#      while the package is built with the CUDA kernels for sm_90 (full log; build_info()['cuda'] must be true)
#      and the CUDA op tests run against PyTorch                                         -> build.log, pytest_cuda.txt
#      and, with TensorRT's headers carried in .gpu/trt, the plugin's enqueue against PyTorch     -> plugin_enqueue.txt
#   4. the kernel sweep on a quiet GPU: sampler and crops against PyTorch, past L2, GB/s vs the copy rate
#   5. students distilled from the teachers side by side (STUDENT_SET: the default fine-tuned and from scratch
#      within 200 MFLOP; tiny and tiny-fast from scratch on request), each on the time left
#   6. at DEADLINE (570 s) at the latest, whatever happened: everything packed into <= 8 files <= 15 MiB in $OUT
# Every training run is under a planner (fer-train --time-budget, planned after its warm-up epoch), a `timeout`,
# and a retry on the host path in fp32 if the resident path fails at its start. A watchdog stops every run in
# time for the packing. Results home: docs/gpu.md ("Bringing the results home").
#   bash scripts/device/gpu_run.sh                   # there (device tool: carry .gpu; command: bash scripts/device/gpu_run.sh)
#   DRY=1 bash scripts/device/gpu_run.sh             # here: the same steps on the CPU, 2,500 faces, small nets, <= 3 min
# Knobs: OUT (default ./gpu_out), WORK (scratch, default /tmp/gpu_run), DEADLINE (s), FPK (the packed faces),
# TEACH_PCT (the teachers' share of the time, default 50), STUDENT_SET (default "default-ft default-kd": the first
# run's four students shared the GPU with four flip-averaged teachers each and ran 26-28 epochs), KD_DEFAULT=1 (the
# shipped default as a fourth teacher).
set -uo pipefail
START=$(date +%s)
cd "$(dirname "$0")/../.."
ROOT=$PWD
DRY=${DRY:-0}
OUT=${OUT:-$ROOT/gpu_out}
WORK=${WORK:-/tmp/gpu_run}
FPK=${FPK:-$ROOT/.gpu/fer2013.fpk}
PACK_S=25                                   # seconds kept for the packing at the end
TEACH_PCT=${TEACH_PCT:-50}
STUDENT_SET=${STUDENT_SET:-"default-ft default-kd"}
KD_DEFAULT=${KD_DEFAULT:-0}
if [ "$DRY" = 1 ]; then DEADLINE=${DEADLINE:-170}; else DEADLINE=${DEADLINE:-570}; fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
rm -rf "$WORK" && mkdir -p "$WORK/runs"
export PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
exec > >(tee -a "$OUT/run.log") 2>&1

t() { echo $(( $(date +%s) - START )); }
# stop PATTERN...: TERM to every process whose command line holds one of the patterns (/proc: no pkill needed)
stop() {
  local f pid cmd pat
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
    cmd=$( { tr '\0' ' ' < "$f"; } 2>/dev/null ) || continue  # a process may end while we look
    for pat in "$@"; do
      case $cmd in *"$pat"*) kill -TERM "$pid" 2>/dev/null ;; esac
    done
  done
}
fail() { echo "$*" >> "$WORK/failures"; echo "[$(t) s] gpu_run: FAILED: $*"; }
say() { echo "[$(t) s] gpu_run: $*"; }
left() { echo $(( DEADLINE - PACK_S - $(t) )); }

finish() {
  trap - EXIT
  [ "$WATCHDOG" = 0 ] || { kill "$WATCHDOG" 2>/dev/null; stop "sleep $WATCHDOG_S"; }
  say "packing (deadline ${DEADLINE} s)"
  stop deepemotion.cli.train kernel_sweep.py
  sleep 1
  cp "$OUT"/summary.json "$WORK/" 2>/dev/null
  python3 scripts/device/gpu_pack.py pack "$WORK" "$OUT" --max-parts 6 || fail "packing"
  python3 - "$OUT" "$WORK" <<'EOF' || true
import json, sys, time
from pathlib import Path
out, work = Path(sys.argv[1]), Path(sys.argv[2])
runs = {}
for m in sorted(work.glob("runs/*/summary.json")):
    s = json.loads(m.read_text())
    runs[m.parent.name] = {k: s.get(k) for k in ("best_val_accuracy", "best_epoch", "median_epoch_seconds",
                                                 "total_seconds", "mflops_per_face", "parameters")}
for m in sorted(work.glob("runs/*/metrics.json")):
    h = json.loads(m.read_text())
    r = runs.setdefault(m.parent.name, {})
    r["epochs_done"] = len(h)
    if h:
        r["last_epoch_seconds"] = h[-1].get("epoch_seconds")
        r["best_val_accuracy_so_far"] = max(x.get("val_accuracy", 0) for x in h)
summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
summary["runs"] = runs
summary["files_back"] = sorted(p.name for p in out.iterdir())
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(runs, indent=1))
EOF
  ls -la "$OUT"
  # what comes back: at most 8 files, each at most 16 MiB, 64 MiB together
  local n big total
  n=$(find "$OUT" -type f | wc -l); big=$(find "$OUT" -type f -size +16M | wc -l)
  total=$(du -sb "$OUT" | cut -f1)
  [ "$n" -le 8 ] && [ "$big" -eq 0 ] && [ "$total" -le $(( 64 << 20 )) ] \
    || fail "the output breaks the limits: $n files, $big over 16 MiB, $total bytes"
  if [ "$DRY" = 1 ]; then  # the way home, rehearsed: unpack the parts and check a teacher and a student
    python3 scripts/device/gpu_pack.py unpack "$OUT" "$WORK/home" || fail "unpacking the results"
    local ck=()
    for f in "$WORK"/home/runs/*/best*.pt; do [ -f "$f" ] && ck+=("$f"); done
    if [ ${#ck[@]} -gt 0 ]; then
      python3 references/fer2013/teacher_check.py "${ck[@]}" || fail "teacher_check on the results"
    else
      fail "no checkpoint came back"
    fi
  fi
  say "done in $(t) s; $(ls "$OUT" | wc -l) files in $OUT"
  if [ -s "$WORK/failures" ]; then
    say "failures:"; cat "$WORK/failures"
    [ "$DRY" = 1 ] && exit 1
  fi
  exit 0
}
WATCHDOG=0 WATCHDOG_S=0
trap finish EXIT

# a watchdog: whatever is still running at the deadline is stopped so the packing starts in time (its own output
# goes straight to the log: an orphaned sleep must not hold the caller's pipe open)
WATCHDOG_S=$(( DEADLINE - PACK_S - $(t) ))
( exec >>"$OUT/run.log" 2>&1 </dev/null; sleep "$WATCHDOG_S"
  echo "[$(t) s] gpu_run: watchdog: stopping what still runs"
  stop deepemotion.cli.train kernel_sweep.py pytest "pip install" ) &
WATCHDOG=$!

# --- 1. the machine -----------------------------------------------------------------------------------------
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc 2>/dev/null | head -1)
[ -n "$NVCC" ] || NVCC=$(timeout 20 find /usr /opt -name nvcc -type f -perm -u+x 2>/dev/null | head -1)
{
  echo "date: $(date -u)"; echo "DRY=$DRY DEADLINE=$DEADLINE"; uname -a; nproc; free -g | head -2
  nvidia-smi 2>&1 || echo "no nvidia-smi"
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  echo "nvcc: ${NVCC:-none}"; [ -n "$NVCC" ] && "$NVCC" --version | tail -2
  python3 - <<'EOF'
import importlib, os, sys, sysconfig
print("python", sys.version.split()[0], sys.executable)
inc = sysconfig.get_paths()["include"]
print("Python.h:", os.path.join(inc, "Python.h"), os.path.exists(os.path.join(inc, "Python.h")))
for m in ("torch", "numpy", "cv2", "onnx", "onnxruntime", "scikit_build_core", "pybind11", "cmake", "ninja",
          "matplotlib", "pytest", "tqdm"):
    try:
        mod = importlib.import_module(m)
        print(m, getattr(mod, "__version__", "?"))
    except Exception as exc:
        print(m, "MISSING", type(exc).__name__)
import torch
print("cuda available:", torch.cuda.is_available(), "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu:", p.name, "sm", f"{p.major}.{p.minor}", "SMs", p.multi_processor_count,
          "memory GiB", round(p.total_memory / 2**30, 1), "L2", getattr(p, "L2_cache_size", "?"))
EOF
} > "$WORK/machine.txt" 2>&1
cat "$WORK/machine.txt"
if [ "$DRY" = 1 ]; then
  DEVICE=cpu
else
  DEVICE=cuda
  python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { say "PyTorch sees no GPU: training falls back to the CPU"; DEVICE=cpu; }
fi

# --- 2. the data, before anything slow ----------------------------------------------------------------------
SRC=${DEEPEMOTION_DATA:-$ROOT/../shared/data}/fer2013.npz
export DEEPEMOTION_DATA=$WORK/data
if [ "$DRY" = 1 ]; then
  [ -f "$SRC" ] || { say "DRY needs $SRC (the shared data beside the checkout)"; exit 1; }
  FPK=$WORK/fer2013_dry.fpk
  python3 scripts/device/gpu_data.py pack "$SRC" "$FPK" --limit 2500 || exit 1
fi
HAVE_DATA=0
if [ -f "$FPK" ] && python3 scripts/device/gpu_data.py unpack "$FPK" "$DEEPEMOTION_DATA/fer2013.npz"; then
  HAVE_DATA=1
else
  fail "no data"
  say "NO DATA: $FPK is missing or damaged: no training; the build, tests and kernel sweep still run"
fi

# --- the TensorRT plugin's enqueue against PyTorch (background; no TensorRT needed: tests/_plugin_contract.py builds
#     the contract test with nvcc against the headers carried in .gpu/trt/<version>/include) ---------------------
PLUGIN_PID=0
if [ "$DRY" = 1 ]; then
  python3 tests/_plugin_contract.py --help >/dev/null || fail "tests/_plugin_contract.py does not run"
elif compgen -G "$ROOT/.gpu/trt/*/include" >/dev/null; then
  HDRS=(); for h in "$ROOT"/.gpu/trt/*/include; do HDRS+=(--headers "$h"); done
  say "plugin contract test with enqueue against PyTorch (${#HDRS[@]} / 2 header versions; log: plugin.log)"
  ( timeout 300 python3 tests/_plugin_contract.py "${HDRS[@]}" --variants plain --enqueue --require-enqueue \
      --build "$WORK/plugin_build" --report "$WORK/plugin_enqueue.txt" > "$WORK/plugin.log" 2>&1
    echo "plugin contract test: exit $?" >> "$WORK/plugin.log" ) &
  PLUGIN_PID=$!
else
  say "no .gpu/trt headers carried: the plugin's enqueue is not tested in this run"
fi

# --- training helpers ---------------------------------------------------------------------------------------
# train NAME BUDGET_S ARGS...: one fer-train run from the sources (training needs no compiled core), under the
# planner and a timeout; a run that fails within its first 120 s on the resident path is retried on the host path
# in fp32 with what is left of its budget
train() {
  local name=$1 budget=$2; shift 2
  local dir=$WORK/runs/$name t0 rc
  t0=$(date +%s)
  local common=(--data fer2013 --train-split train --val-split public_test:select --device "$DEVICE" --quiet
                --threads 2 --out "$dir")
  local fit=$(( budget - 25 ))  # the planner's budget: the run's own, less its start (imports, data, teachers)
  [ $fit -ge 10 ] || fit=$(( budget / 2 + 1 ))
  PYTHONPATH=$ROOT/python timeout -k 10 $(( budget + 45 )) python3 -m deepemotion.cli.train "${common[@]}" "$@" \
    --time-budget "$fit" > "$WORK/runs/$name.log" 2>&1
  rc=$?
  local used=$(( $(date +%s) - t0 ))
  if [ $rc -ne 0 ] && [ ! -f "$dir/best.pt" ] && [ $used -lt 120 ] && [ $(( budget - used )) -gt 60 ]; then
    say "$name failed (rc $rc) after $used s on the resident path; retrying on the host path in fp32"
    tail -5 "$WORK/runs/$name.log"
    mv "$WORK/runs/$name.log" "$WORK/runs/$name.failed.log"; rm -rf "$dir"
    PYTHONPATH=$ROOT/python timeout -k 10 $(( budget - used + 30 )) python3 -m deepemotion.cli.train \
      "${common[@]}" "$@" --resident off --precision fp32 --time-budget $(( (budget - used) * 2 / 3 )) \
      > "$WORK/runs/$name.log" 2>&1
    rc=$?
  fi
  [ $rc -eq 0 ] || fail "$name exited with $rc"
  say "$name: exit $rc after $(( $(date +%s) - t0 )) s; $(grep -E 'time budget' "$WORK/runs/$name.log" | tail -1)"
  grep -E "^epoch" "$WORK/runs/$name.log" | tail -2
}

if [ "$DRY" = 1 ]; then
  TEACHERS=(wide "--arch tiny --widths 8,16,24,24 --batch-size 64 --lr 0.003 --epochs 40"
            wider "--arch tiny --widths 8,16,16,16 --seed 1 --batch-size 64 --lr 0.003 --epochs 40"
            seeded "--arch tiny-fast --seed 2 --batch-size 64 --lr 0.003 --epochs 40")
  RESIDENT=(--resident on)  # the GPU's path, rehearsed on the CPU (the dense camera chain included)
else
  TEACHERS=(wide "--arch base --widths 64,128,256,512 --hidden 512 --batch-size 256 --lr 0.003 --epochs 200"
            wider "--arch base --widths 48,96,192,384 --hidden 384 --seed 1 --batch-size 256 --lr 0.003 --epochs 200"
            seeded "--arch base --seed 2 --batch-size 256 --lr 0.003 --epochs 200")
  RESIDENT=()
fi

# --- 3. teachers (background) while the package is built and tested --------------------------------------------
TEACH_S=$(( (DEADLINE - PACK_S - $(t)) * TEACH_PCT / 100 ))
TEACH_PIDS=()
if [ $HAVE_DATA = 1 ]; then
  say "teachers: ${TEACH_S} s each, side by side, on $DEVICE"
  for ((i = 0; i < ${#TEACHERS[@]}; i += 2)); do
    # shellcheck disable=SC2086
    train "teacher-${TEACHERS[i]}" "$TEACH_S" ${TEACHERS[i+1]} "${RESIDENT[@]}" &
    TEACH_PIDS+=($!)
  done
fi

BUILT=0
if [ "$DRY" = 1 ] || [ "${BUILD:-1}" = 0 ]; then
  say "no CUDA build here (DRY or BUILD=0: the installed package is used); build_info: $(python3 -c 'import deepemotion, json; print(json.dumps(deepemotion.build_info()))' 2>&1)"
  python3 -c "import deepemotion" 2>/dev/null && BUILT=1
else
  say "building the package with the CUDA kernels for sm_90 (log: build.log)"
  [ -n "$NVCC" ] && export CUDACXX=$NVCC PATH=$PATH:$(dirname "$NVCC")
  CMAKE_BUILD_PARALLEL_LEVEL=10 DEEPEMOTION_WITH_CUDA=ON DEEPEMOTION_WITH_TENSORRT=OFF \
    timeout 300 python3 -m pip install -v --no-build-isolation --no-deps \
    -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 -Cbuild-dir="$WORK/build" . > "$WORK/build.log" 2>&1
  rc=$?
  grep -E "deepemotion:|error|Error" "$WORK/build.log" | head -20
  (cd /tmp && python3 -c "import deepemotion, json, sys; b = deepemotion.build_info(); print('build_info:', json.dumps(b)); sys.exit(0 if b['cuda'] else 3)")
  brc=$?
  if [ $rc -eq 0 ] && [ $brc -eq 0 ]; then BUILT=1; say "built with CUDA in $(t) s"
  else fail "the build (pip rc $rc, build_info rc $brc): see build.log"; fi
fi

if [ $BUILT = 1 ]; then
  say "op tests (CPU and CUDA cases) against PyTorch"
  # -W default: a deprecation in that image's newer numpy/torch is reported, not turned into a failure
  (cd "$ROOT" && timeout 150 python3 -m pytest -q -p no:cacheprovider -W default -rs tests/test_ops.py) \
    > "$WORK/pytest_cuda.txt" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail "op tests (exit $rc)"
  say "op tests: exit $rc -- $(tail -1 "$WORK/pytest_cuda.txt")"
  grep -E "passed|failed|SKIPPED" "$WORK/pytest_cuda.txt" | tail -8
fi

for p in "${TEACH_PIDS[@]}"; do wait "$p"; done
say "teachers done"
if [ "$PLUGIN_PID" != 0 ]; then
  wait "$PLUGIN_PID"
  say "$(tail -1 "$WORK/plugin.log")"; grep -E "PASS|FAIL|enqueue" "$WORK/plugin.log" | tail -6
  grep -q "exit 0" <(tail -1 "$WORK/plugin.log") || fail "the plugin contract test with enqueue (plugin.log)"
fi

# --- 4. the kernel sweep, on a quiet GPU ---------------------------------------------------------------------
if [ "$DRY" = 1 ]; then SWEEP_NEED=30; else SWEEP_NEED=150; fi
if [ $BUILT = 1 ] && [ "$(left)" -gt $SWEEP_NEED ]; then
  SWEEP=(--device "$DEVICE" --min-time 1.0)
  [ "$DRY" = 1 ] && SWEEP=(--device cpu --small)
  SWEEP_S=$(( $(left) / 4 )); [ $SWEEP_S -ge 90 ] || SWEEP_S=90  # a busy CPU rehearsal needs more than a quarter
  (cd "$ROOT" && timeout $SWEEP_S python3 scripts/device/kernel_sweep.py "${SWEEP[@]}" --json "$WORK/kernel_sweep.json" \
    --plot "$WORK/kernel_sweep.png") 2>&1 | tee "$WORK/kernel_sweep.txt"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || fail "kernel sweep (exit $rc)"
  say "kernel sweep: exit $rc"
fi

# --- 5. students, distilled from the teachers (and the shipped default, flip-averaged) --------------------------
if [ $HAVE_DATA = 1 ]; then
  KD=()
  # the shipped default as a fourth teacher: off since the first run (its teachers' ensemble was better, and every
  # teacher costs each student step two forward passes); too slow for the CPU rehearsal anyway
  [ "$DRY" = 1 ] || [ "$KD_DEFAULT" = 0 ] || KD=(--teacher default)
  for f in "$WORK"/runs/teacher-*/best.pt; do [ -f "$f" ] && KD+=(--teacher "$f"); done
  say "students: $(( ${#KD[@]} / 2 )) teacher(s): ${KD[*]}"
  # with no teacher at all (every teacher run failed) the students train without distillation
  [ ${#KD[@]} -gt 0 ] && KD+=(--teacher-tta --kd-alpha 0.9)
  KD+=(--degrade 0.5 --batch-size 128 "${RESIDENT[@]}")
  STUDENT_S=$(( $(left) - 5 ))
  if [ "$DRY" = 1 ]; then
    STUDENTS=(tiny-ft "--init tiny --lr 0.0005 --epochs 4 --warmup-epochs 1"
              tinyfast-kd "--arch tiny-fast --lr 0.003 --epochs 20")
  else
    declare -A RECIPE=([default-ft]="--init default --lr 0.0005 --epochs 60 --warmup-epochs 1"
                       [default-kd]="--arch base --lr 0.002 --epochs 200"
                       [tiny-kd]="--arch tiny --lr 0.003 --epochs 200"
                       [tinyfast-kd]="--arch tiny-fast --lr 0.003 --epochs 200")
    STUDENTS=()
    for name in $STUDENT_SET; do
      [ -n "${RECIPE[$name]:-}" ] || { fail "unknown student $name (known: ${!RECIPE[*]})"; continue; }
      STUDENTS+=("$name" "${RECIPE[$name]}")
    done
  fi
  if [ "$STUDENT_S" -gt 40 ]; then
    say "students: ${STUDENT_S} s each, side by side"
    PIDS=()
    for ((i = 0; i < ${#STUDENTS[@]}; i += 2)); do
      # shellcheck disable=SC2086
      train "${STUDENTS[i]}" "$STUDENT_S" ${STUDENTS[i+1]} "${KD[@]}" &
      PIDS+=($!)
    done
    for p in "${PIDS[@]}"; do wait "$p"; done
  else
    say "no time left for the students (${STUDENT_S} s)"
  fi
fi

python3 - "$WORK" "$OUT/summary.json" "$START" "$DRY" <<'EOF' || true
import json, sys, time
from pathlib import Path
work = Path(sys.argv[1])
s = {"dry": sys.argv[4] == "1", "seconds": round(time.time() - int(sys.argv[3]))}
t = work / "pytest_cuda.txt"
s["op_tests"] = t.read_text().strip().splitlines()[-1] if t.exists() and t.read_text().strip() else None
k = work / "kernel_sweep.json"
if k.exists():
    r = json.loads(k.read_text())
    s["copy_GBps"] = r["info"]["copy_GBps"]
    s["kernels"] = [{x: row[x] for x in ("kernel", "dtype", "batch", "ours_ms", "torch_ms", "speedup_vs_torch",
                                         "ours_GBps", "fraction_of_copy_rate") if x in row} for row in r["rows"]]
Path(sys.argv[2]).write_text(json.dumps(s, indent=1))
EOF
exit 0
