"""A lent GPU machine's results into the few files that come back, and out again at home.

    python scripts/device/gpu_pack.py pack WORK OUT     # there: WORK's results -> OUT/results.tar.NN (<= 15 MiB each)
    python scripts/device/gpu_pack.py unpack OUT DEST   # here: the parts -> DEST (the tree WORK had)

At most 8 files of at most 16 MiB (64 MiB together) come back from a device run, and only from its output
folder. ``pack`` writes one tar of WORK, split into parts of 15 MiB, at most ``--max-parts`` of them (6: the
run's log and its summary are the other two files): logs, JSON, CSV and plots first, then the students'
checkpoints (float32, as trained: they may be shipped), then the teachers' (float16: only distilled from), then
anything else; what does not fit is left out and named in ``MANIFEST.json``, which is always in the first part.
Resumable ``last.pt`` files are never packed (optimiser state: the selected ``best.pt`` is what is used).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
from pathlib import Path

PART = 15 << 20
TEXT = {".log", ".txt", ".json", ".csv", ".png", ".xml"}
SCRATCH = ("build", "data", "home", "plugin_build")  # the run's build trees, the faces, the home rehearsal


def _half(path: Path) -> bytes:
    """A checkpoint with its floating-point tensors in float16 (a teacher for distillation loses nothing that
    matters; half the bytes)."""
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=True)
    ck["state_dict"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["state_dict"].items()}
    ck["stored_as"] = "float16 for transport (scripts/device/gpu_pack.py); load_state_dict casts it back to float32"
    buf = io.BytesIO()
    torch.save(ck, buf)
    return buf.getvalue()


def plan(work: Path) -> list[tuple[str, Path, bool]]:
    """(name in the tar, file, as float16) for every file worth packing, in order of priority."""
    files = sorted(
        p
        for p in work.rglob("*")
        if p.is_file()
        and p.name != "last.pt"
        and not p.name.endswith(".tmp")
        and p.relative_to(work).parts[0] not in SCRATCH
    )
    text = [p for p in files if p.suffix in TEXT]
    ckpt = [p for p in files if p.suffix == ".pt"]
    teachers = [p for p in ckpt if p.parent.name.startswith("teacher")]
    students = [p for p in ckpt if p not in teachers]
    rest = [p for p in files if p not in text and p not in ckpt and p.suffix not in (".npz", ".fpk")]
    out = [(str(p.relative_to(work)), p, False) for p in text + students]
    out += [(str(p.relative_to(work)).replace(".pt", ".fp16.pt"), p, True) for p in teachers]
    out += [(str(p.relative_to(work)), p, False) for p in rest]
    return out


def pack(work: Path, out: Path, max_parts: int) -> dict[str, object]:
    budget = max_parts * PART - (1 << 20)  # tar headers and the manifest
    manifest: dict[str, object] = {"packed": [], "left_out": [], "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    members: list[tuple[str, bytes]] = []
    used = 0
    for name, path, half in plan(work):
        try:
            data = _half(path) if half else path.read_bytes()
        except Exception as exc:  # noqa: BLE001 - a checkpoint cut off at the deadline, say: name it, go on
            manifest["left_out"].append(f"{name} (unreadable: {type(exc).__name__}: {exc})")
            continue
        if used + len(data) + 1024 > budget:
            manifest["left_out"].append(f"{name} ({len(data)} bytes: over the {max_parts} x 15 MiB budget)")
            continue
        members.append((name, data))
        manifest["packed"].append(name)
        used += len(data) + 1024
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [("MANIFEST.json", json.dumps(manifest, indent=1).encode())] + members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    parts = [blob[i : i + PART] for i in range(0, len(blob), PART)]
    for i, part in enumerate(parts):
        (out / f"results.tar.{i:02d}").write_bytes(part)
    return {"parts": len(parts), "bytes": len(blob), "packed": len(members), "left_out": manifest["left_out"]}


def unpack(out: Path, dest: Path) -> dict[str, object]:
    parts = sorted(out.glob("results.tar.[0-9][0-9]"))
    if not parts:
        raise SystemExit(f"gpu_pack: no results.tar.NN in {out}")
    blob = b"".join(p.read_bytes() for p in parts)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        names = tar.getnames()
        bad = [n for n in names if n.startswith("/") or ".." in Path(n).parts]
        if bad:
            raise SystemExit(f"gpu_pack: refusing paths outside {dest}: {bad}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return {"parts": len(parts), "files": len(names)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("work", type=Path)
    a.add_argument("out", type=Path)
    a.add_argument("--max-parts", type=int, default=6)
    b = sub.add_parser("unpack")
    b.add_argument("out", type=Path)
    b.add_argument("dest", type=Path)
    args = p.parse_args(argv)
    info = pack(args.work, args.out, args.max_parts) if args.cmd == "pack" else unpack(args.out, args.dest)
    print(f"gpu_pack {args.cmd}: {json.dumps(info)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
