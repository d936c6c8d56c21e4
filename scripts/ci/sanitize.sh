#!/usr/bin/env bash
# Build deepemotion._C with AddressSanitizer + UndefinedBehaviorSanitizer and run the C++ op tests
# (CPU kernels, crops, the bindings' input checks, the fuzz test) under them, and the TensorRT plugin's contract
# test (tests/cpp/plugin_contract: its own executables, built under ASan + UBSan with leak checking, one per
# TensorRT header release; its exporter node comes from the instrumented package).
#   bash scripts/ci/sanitize.sh            # venv in ${SANITIZE_VENV:-/tmp/deepemotion-asan}
# The CPU-only build keeps it quick; UBSan aborts on the first finding (-fno-sanitize-recover), ASan on the
# first memory error. Leak checking is off: CPython itself does not free everything at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${SANITIZE_VENV:-/tmp/deepemotion-asan}
python3 -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
pip install -q -c constraints.txt torch numpy "opencv-python-headless<5" onnx onnxruntime tqdm pytest pyyaml \
  scikit-build-core pybind11
if [ "${SANITIZE_SKIP_BUILD:-0}" != 1 ]; then
  DEEPEMOTION_WITH_CUDA=OFF pip install -q --no-build-isolation --force-reinstall --no-deps \
    -Ccmake.define.DEEPEMOTION_SANITIZE=ON -Cbuild-dir="$VENV/build" .
fi
# the sanitizer runtimes must be the first libraries of the process: preload them into Python
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd tests  # import the installed (instrumented) package, not the source tree
python - <<'PY'
import deepemotion
info = deepemotion.build_info()
assert info.get("sanitizers") == "address,undefined", info
print("build_info:", info)
PY
python -m pytest -q -p no:cacheprovider test_ops.py test_fuzz.py test_plugin_contract.py "$@"
echo "sanitize: the op tests and the plugin contract test ran clean under AddressSanitizer + UndefinedBehaviorSanitizer"
