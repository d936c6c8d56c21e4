#!/usr/bin/env bash
# Do the INT8 graphs give the same answers on CPUs without VNNI (x86) or without dot-product instructions (ARM)?
# (maintainer script; README, "The same answers on every CPU")
#
#   sudo bash scripts/device/int8_isa_check.sh OLD.int8.onnx NEW.int8.onnx [ARM64_ROOT]
#
# Runs each graph on the first 128 FER2013 PublicTest faces natively, as a Haswell (AVX2, no VNNI) under
# qemu-x86_64, and -- given a Debian arm64 root with /opt/v holding numpy and onnxruntime (debootstrap --arch=arm64
# --variant=minbase --include=python3,python3-venv,python3-pip bookworm ROOT; then python3 -m venv /opt/v and pip
# install numpy onnxruntime inside it) -- as a Cortex-A72 (no dot product) and qemu's "max" CPU under qemu-aarch64.
# Prints, per graph and CPU, the accuracy and how far the probabilities are from the native ones.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); root=${3:-}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
py=${PYTHON:-python}
cat > "$work/probs.py" <<'PY'
import sys, numpy as np, onnxruntime as ort
faces = np.load(sys.argv[1])
x = ((faces.astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]   # Recognizer's normalisation of 48x48 crops
out = {}
for path in sys.argv[3:]:
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    z = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i + 64]})[0] for i in range(0, len(x), 64)])
    e = np.exp(z - z.max(1, keepdims=True)); out[path.split("/")[-1]] = e / e.sum(1, keepdims=True)
np.savez(sys.argv[2], **out)
PY
cp "$old" "$work/old.int8.onnx"; cp "$new" "$work/new.int8.onnx"
"$py" - "$work" <<'PY'
import sys, numpy as np
from deepemotion.data.datasets import resolve_dataset
d = resolve_dataset("fer2013", "public_test")
np.save(f"{sys.argv[1]}/faces.npy", d.images[:128]); np.save(f"{sys.argv[1]}/labels.npy", d.labels[:128])
PY
cd "$work"
graphs=(old.int8.onnx new.int8.onnx)
"$py" probs.py faces.npy native.npz "${graphs[@]}"
qemu-x86_64-static -cpu Haswell "$(command -v "$py")" probs.py faces.npy haswell.npz "${graphs[@]}" 2>/dev/null
runs=(haswell)
if [ -n "$root" ]; then
  mkdir -p "$root/check"; cp probs.py faces.npy "${graphs[@]}" "$root/check/"
  for cpu in cortex-a72 max; do
    chroot "$root" /bin/bash -c "cd /check && QEMU_CPU=$cpu /opt/v/bin/python probs.py faces.npy arm_$cpu.npz ${graphs[*]}" \
      2>/dev/null
    cp "$root/check/arm_$cpu.npz" .; runs+=("arm_$cpu")
  done
fi
"$py" - "${runs[@]}" <<'PY'
import sys, numpy as np
y, native = np.load("labels.npy"), np.load("native.npz")
for run in sys.argv[1:]:
    other = np.load(f"{run}.npz")
    for g in other.files:
        a, b = native[g], other[g]
        print(f"{g:15s} {run:15s} accuracy {100 * (b.argmax(1) == y).mean():5.1f}% (native "
              f"{100 * (a.argmax(1) == y).mean():5.1f}%)  same answers {100 * (a.argmax(1) == b.argmax(1)).mean():5.1f}%"
              f"  max |dp| {np.abs(a - b).max():.2g}")
PY
