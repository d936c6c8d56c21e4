#!/usr/bin/env bash
# Cheap guards for the platforms CI cannot run (part of .ci/run; about a minute):
#   1. ARM: the C++ core (ops, threading, bindings) compiled by Debian's aarch64 cross-compiler, warnings as errors,
#      and by the host compiler with `char` both signed and unsigned (ARM's char is unsigned);
#   2. Jetson GPUs: the CUDA kernels' device code -- which the TensorRT plugin shares -- compiled for sm_87 (Orin,
#      JetPack 6) by the installed nvcc, and for sm_72 (Xavier, JetPack 5) by clang with CUDA 11.8's headers and
#      assembled by CUDA 11.8's ptxas (CUDA 13's nvcc no longer targets sm_72; the CUDA 11.8 pieces come from
#      PyPI's nvidia-* wheels). Device code does not depend on the host CPU, so these checks hold for an aarch64
#      host too; the host side of the .cu files is compiled by the CPU build above;
#   3. TensorRT: every source that includes a TensorRT header (the plugin, the engine runner and its checks, the
#      _trt binding) compiled against the public headers of each release in ../shared/third_party/tensorrt (10.3 =
#      JetPack 6, 10.16, 11.1; $TRT_HEADERS_ROOT overrides), warnings as errors, and by the aarch64 cross-compiler
#      against 10.3 (JetPack 6 is aarch64). No TensorRT library is needed: its use is the plugin contract test's.
# Each step needs its tools: missing ones are installed with apt / pip when possible, else the step says SKIP
# with the reason. A compile error fails the script.
#
#   bash scripts/ci/cross_checks.sh [--no-install]
set -uo pipefail
cd "$(dirname "$0")/../.."
INSTALL=1
[ "${1:-}" = "--no-install" ] && INSTALL=0
WORK=$(mktemp -d /tmp/cross_checks.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail=0
t0=$(date +%s)
PY=${PYTHON:-python3}
PYINC=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
PBINC=$($PY -c "import pybind11; print(pybind11.get_include())" 2>/dev/null || true)

need_apt() {  # need_apt <command> <debian package>
  command -v "$1" >/dev/null && return 0
  [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] || return 1
  (apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 &&
    apt-get install -y -qq "$2" >/dev/null 2>&1; }) && command -v "$1" >/dev/null
}

compile() {  # compile <label> <command...>
  if "${@:2}" 2>"$WORK/err"; then echo "  ok    $1"; else echo "  FAIL  $1"; sed 's/^/        /' "$WORK/err" | head -20; fail=1; fi
}

echo "cross_checks: ARM (aarch64 cross-compiler) and char signedness"
if need_apt aarch64-linux-gnu-g++ g++-aarch64-linux-gnu; then
  for f in csrc/ops/*/cpu.cpp; do
    compile "aarch64 $f" aarch64-linux-gnu-g++ -std=c++17 -O2 -Wall -Wextra -Werror -Icsrc -c "$f" -o "$WORK/o.o"
  done
  if [ -n "$PBINC" ]; then
    for f in csrc/bindings/affine_grid_sample.cpp csrc/bindings/crop_faces.cpp csrc/bindings/build_info.cpp \
             csrc/bindings/module.cpp; do
      compile "aarch64 $f" aarch64-linux-gnu-g++ -std=c++17 -O1 -Wall -Werror -fsyntax-only -Icsrc -isystem "$PYINC" \
        -isystem "$PBINC" -DDEEPEMOTION_VERSION='"check"' "$f"
    done
  else
    echo "  SKIP  bindings: pybind11 is not importable by $PY"
  fi
else
  echo "  SKIP  no aarch64 cross-compiler (apt-get install g++-aarch64-linux-gnu)"
fi
for sign in -fsigned-char -funsigned-char; do
  for f in csrc/ops/*/cpu.cpp; do
    compile "host $sign $f" g++ -std=c++17 -O2 -Wall -Wextra -Werror "$sign" -Icsrc -c "$f" -o "$WORK/o.o"
  done
done

echo "cross_checks: CUDA device code for Jetson GPUs"
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if [ -x "$NVCC" ]; then
  for f in csrc/ops/*/cuda.cu; do
    compile "sm_87 (Orin) $f, $("$NVCC" --version | grep -o 'release [0-9.]*')" \
      "$NVCC" -std=c++17 -O2 -Icsrc -gencode arch=compute_87,code=sm_87 -Xcompiler -Wall -c "$f" -o "$WORK/o.o"
  done
else
  echo "  SKIP  sm_87: no nvcc"
fi
CU11="$WORK/cuda11.8"
if need_apt clang++-14 clang-14 && $PY -m pip download -q --no-deps -d "$WORK/wheels" "nvidia-cuda-nvcc-cu11==11.8.*" \
     "nvidia-cuda-runtime-cu11==11.8.*" "nvidia-curand-cu11==10.3.0.*" >/dev/null 2>&1; then
  mkdir -p "$CU11/bin" "$CU11/include" "$CU11/nvvm" "$CU11/lib64" "$WORK/unz"  # the layout clang looks for
  for w in "$WORK"/wheels/*.whl; do $PY -m zipfile -e "$w" "$WORK/unz"; done
  N="$WORK/unz/nvidia"
  chmod +x "$N/cuda_nvcc/bin/ptxas"
  ln -s "$N/cuda_nvcc/bin/ptxas" "$CU11/bin/ptxas"
  ln -s "$N/cuda_nvcc/nvvm/libdevice" "$CU11/nvvm/libdevice"
  for d in cuda_runtime/include cuda_nvcc/include curand/include; do cp -rs "$N/$d/." "$CU11/include/" 2>/dev/null; done
  echo "CUDA Version 11.8" > "$CU11/version.txt"
  # clang 14 lowers <<<>>> to cudaConfigureCall for CUDA versions it does not know; declare it (device-only here)
  printf '#include <cuda_runtime_api.h>\nextern "C" cudaError_t cudaConfigureCall(dim3, dim3, size_t, cudaStream_t);\n' \
    > "$WORK/compat.h"
  for f in csrc/ops/*/cuda.cu; do
    compile "sm_72 (Xavier) $f, clang 14 + CUDA 11.8 ptxas" bash -c "clang++-14 -x cuda --cuda-path='$CU11' \
      --cuda-gpu-arch=sm_72 --cuda-device-only -Wno-unknown-cuda-version -std=c++17 -O2 -Icsrc \
      -include '$WORK/compat.h' -S '$f' -o '$WORK/k.ptx' && '$CU11/bin/ptxas' -arch=sm_72 '$WORK/k.ptx' -o '$WORK/k.cubin'"
  done
else
  echo "  SKIP  sm_72: needs clang-14 and the nvidia-cuda-*-cu11 wheels from PyPI"
fi
echo "cross_checks: TensorRT-facing sources against TensorRT's public headers"
TRT_ROOT=${TRT_HEADERS_ROOT:-../shared/third_party/tensorrt}
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
# sources that include a TensorRT header, directly or through one of ours (engine_checks.h, ...)
trt_include='#[[:space:]]*include[[:space:]]*[<"]Nv(Infer|Onnx)[A-Za-z]*\.h'
trt_headers=$(grep -rlE "$trt_include" csrc --include='*.h' --include='*.hpp' | xargs -r -n1 basename | paste -sd'|')
trt_sources=$(grep -rlE "$trt_include${trt_headers:+|#[[:space:]]*include[[:space:]]*\"([a-z_]+/)*($trt_headers)\"}" \
  csrc --include='*.cpp' --include='*.cc' --include='*.cu' | sort)
trt_releases=$(ls -d "$TRT_ROOT"/*/include 2>/dev/null | sort -V)
if [ -z "$trt_releases" ]; then
  echo "  SKIP  no TensorRT headers in $TRT_ROOT/<version>/include"
elif [ ! -f "$CUDA_INC/cuda_runtime_api.h" ]; then
  echo "  SKIP  no CUDA headers in $CUDA_INC (set CUDA_HOME)"
else
  for inc in $trt_releases; do
    rel=$(basename "$(dirname "$inc")")
    trt_flags=(-Icsrc -isystem "$inc" -isystem "$CUDA_INC" -DDEEPEMOTION_WITH_CUDA=1 -DDEEPEMOTION_WITH_TENSORRT=1)
    for f in $trt_sources; do
      case "$f" in
        *.cu) compile "TensorRT $rel $f" "$NVCC" -std=c++17 "${trt_flags[@]}" -c "$f" -o "$WORK/o.o" ;;
        csrc/bindings/*)
          if [ -n "$PBINC" ]; then
            compile "TensorRT $rel $f" g++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -Wno-deprecated-declarations \
              "${trt_flags[@]}" -isystem "$PYINC" -isystem "$PBINC" "$f"
          else
            echo "  SKIP  TensorRT $rel $f: pybind11 is not importable by $PY"
          fi ;;
        *) compile "TensorRT $rel $f" g++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -Wno-deprecated-declarations \
             "${trt_flags[@]}" "$f" ;;
      esac
    done
  done
  jp6="$TRT_ROOT/10.3/include"
  if command -v aarch64-linux-gnu-g++ >/dev/null && [ -f "$jp6/NvInfer.h" ]; then
    for f in $trt_sources; do
      case "$f" in csrc/bindings/*|*.cu) continue ;; esac
      compile "aarch64 TensorRT 10.3 (JetPack 6) $f" aarch64-linux-gnu-g++ -std=c++17 -fsyntax-only -Wall -Wextra \
        -Werror -Wno-deprecated-declarations -Icsrc -isystem "$jp6" -isystem "$CUDA_INC" -DDEEPEMOTION_WITH_CUDA=1 \
        -DDEEPEMOTION_WITH_TENSORRT=1 "$f"
    done
  else
    echo "  SKIP  aarch64 TensorRT 10.3: no aarch64 cross-compiler or no 10.3 headers"
  fi
fi
echo "cross_checks: $([ $fail = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - t0 )) s"
exit $fail
