"""The kernels' bandwidth sweep (deepemotion.benchmarks.sweep) with a table, a JSON file and a plot.

python scripts/device/kernel_sweep.py --device cuda --json sweep.json --plot sweep.png   # a GPU: the docs' numbers
python scripts/device/kernel_sweep.py --device cpu --small --json /tmp/s.json           # a rehearsal (seconds)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    samp = [r for r in rows if r["kernel"] == "affine_grid_sample"]
    crops = [r for r in rows if r["kernel"] == "crop_faces"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for dtype in sorted({r["dtype"] for r in samp}):
        rs = [r for r in samp if r["dtype"] == dtype]
        ax.plot([r["batch"] for r in rs], [r["ours_GBps"] for r in rs], "o-", label=f"ours {dtype}")
        ax.plot([r["batch"] for r in rs], [r["torch_GBps"] for r in rs], "s--", label=f"PyTorch {dtype}")
    ax.axhline(result["info"]["copy_GBps"], color="gray", lw=1, label="copy rate")
    ax.set_xscale("log")
    ax.set_xlabel("faces per call (1x48x48)")
    ax.set_ylabel("GB/s (read + written)")
    ax.set_title("STN sampler: affine_grid_sample")
    ax.legend(fontsize=8)
    ax = axes[1]
    if crops:
        labels = [str(r["batch"]) for r in crops]
        xs = range(len(crops))
        ax.bar([x - 0.2 for x in xs], [r["faces_per_s"] / 1e6 for r in crops], 0.4, label="ours")
        ax.bar([x + 0.2 for x in xs], [r["batch"] / (r["torch_ms"] / 1e3) / 1e6 for r in crops], 0.4, label="PyTorch")
        ax.set_xticks(list(xs), labels)
        ax.set_xlabel(f"faces per {crops[0]['frame']} frame")
        ax.set_ylabel("million faces/s")
        ax.set_title("face crops: crop_faces")
        ax.legend(fontsize=8)
    fig.suptitle(f"{result['info'].get('gpu', result['info']['device'])}, torch {result['info']['torch']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="small sizes: a rehearsal of the code path")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per case and implementation (at least)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None)
    args = p.parse_args(argv)
    from deepemotion.benchmarks.sweep import format_table, run

    if args.small:
        result = run(
            args.device,
            batches=(64, 512),
            crop_faces_per_frame=(4, 16),
            frame_hw=(240, 320),
            min_time=min(args.min_time, 0.2),
            max_bytes=8e6,
            copy_bytes=16 << 20,
        )
    else:
        result = run(args.device, min_time=args.min_time)
    print(format_table(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.plot:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
