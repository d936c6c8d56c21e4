"""Faces as robots see them: accuracy (and calibration) of a model under the conditions of a robot's camera --
small faces, optical and motion blur, compression, sensor noise, framing, roll, exposure -- each applied to every
face of a data split with OpenCV, and the results through `Recognizer(detector=None).predict_faces`, exactly as
users get them (a small face goes in at its size and is up-sampled to 48 by the runtime's crop).

    fer-eval --model default --data fer2013 --split public_test --perturb --out docs/results/robustness

The perturbations are written with OpenCV here, independently of the training's degradation (a torch
simulation in `training/augment.py`), so that the benchmark does not grade the training's own code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..labels import INPUT_SIZE

Faces = np.ndarray  # (N, 48, 48) uint8


@dataclass(frozen=True)
class Perturbation:
    name: str
    description: str
    apply: Callable[[Faces, np.random.Generator], Any]  # faces -> crops for predict_faces (array or list)


def _smaller(size: int) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        import cv2

        return np.stack([cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in faces])

    return f


def _gaussian(sigma: float) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        import cv2

        return np.stack([cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE) for x in faces])

    return f


def _motion(length: int) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        import cv2

        out = []
        for x, angle in zip(faces, rng.uniform(0, 180, len(faces))):
            k = np.zeros((length, length), np.float32)
            k[length // 2, :] = 1.0
            rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(angle), 1.0)
            k = cv2.warpAffine(k, rot, (length, length), flags=cv2.INTER_LINEAR)
            out.append(cv2.filter2D(x, -1, k / k.sum(), borderType=cv2.BORDER_REPLICATE))
        return np.stack(out)

    return f


def _jpeg(quality: int) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        import cv2

        return np.stack(
            [
                cv2.imdecode(cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)
                for x in faces
            ]
        )

    return f


def _noise(sigma: float) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        return np.clip(np.rint(faces + rng.normal(0, sigma, faces.shape)), 0, 255).astype(np.uint8)

    return f


def _gain(gain: float) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        return np.clip(np.rint(faces.astype(np.float32) * gain), 0, 255).astype(np.uint8)

    return f


def _zoom_out(border: int) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        return np.pad(faces, ((0, 0), (border, border), (border, border)), mode="edge")

    return f


def _zoom_in(size: int) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        a = (INPUT_SIZE - size) // 2
        return np.ascontiguousarray(faces[:, a : a + size, a : a + size])

    return f


def _rotate(degrees: float) -> Callable[[Faces, np.random.Generator], Any]:
    def f(faces: Faces, rng: np.random.Generator) -> Any:
        import cv2

        c = (INPUT_SIZE - 1) / 2
        out = []
        for x, sign in zip(faces, rng.choice([-1.0, 1.0], len(faces))):
            m = cv2.getRotationMatrix2D((c, c), sign * degrees, 1.0)
            out.append(
                cv2.warpAffine(x, m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            )
        return np.stack(out)

    return f


def _camera(faces: Faces, rng: np.random.Generator) -> Any:
    """A far, moving, streamed face: 24 px, Gaussian blur 0.8 at that size, noise 4, JPEG 40."""
    import cv2

    small = _smaller(24)(faces, rng)
    small = np.stack([cv2.GaussianBlur(x, (0, 0), 0.8, borderType=cv2.BORDER_REPLICATE) for x in small])
    return _jpeg(40)(_noise(4.0)(small, rng), rng)


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation("clean", "the data as it is", lambda faces, rng: faces),
        Perturbation("size16", "face seen at 16 px (INTER_AREA down; the runtime's crop up-samples it)", _smaller(16)),
        Perturbation("size20", "face seen at 20 px", _smaller(20)),
        Perturbation("size24", "face seen at 24 px", _smaller(24)),
        Perturbation("size32", "face seen at 32 px", _smaller(32)),
        Perturbation("blur1.2", "Gaussian blur sigma 1.2 px", _gaussian(1.2)),
        Perturbation("blur2.0", "Gaussian blur sigma 2.0 px", _gaussian(2.0)),
        Perturbation("motion7", "motion blur 7 px in a random direction", _motion(7)),
        Perturbation("jpeg20", "JPEG quality 20", _jpeg(20)),
        Perturbation("jpeg40", "JPEG quality 40", _jpeg(40)),
        Perturbation("noise8", "sensor noise, Gaussian sigma 8 gray levels", _noise(8.0)),
        Perturbation("zoom_out", "zoomed out: 6 px border replicated, resized back", _zoom_out(6)),
        Perturbation("zoom_in", "zoomed in: the central 40 px", _zoom_in(40)),
        Perturbation("rotate15", "rotated by 15 degrees (either way)", _rotate(15.0)),
        Perturbation("dark45", "45% brightness", _gain(0.45)),
        Perturbation("bright150", "150% brightness (clipped)", _gain(1.5)),
        Perturbation("camera", "24 px + blur 0.8 + noise 4 + JPEG 40 (a far face in a streamed video)", _camera),
    )
}
#: the camera conditions the robustness goals are stated on (one of each kind: a small face, blur, compression, a
#: looser and a tighter framing, roll, a dark exposure); `evaluate` names the worst of them ``worst_condition``
CAMERA_CONDITIONS = ("size20", "blur1.2", "jpeg20", "zoom_out", "rotate15", "dark45", "zoom_in")


def evaluate(
    model: Any,
    images: Faces,
    labels: np.ndarray,
    names: Sequence[str] | None = None,
    backend: str = "auto",
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Accuracy and calibration of `model` on `images` under each perturbation in `names` (all by default),
    through `Recognizer.predict_faces`; each perturbation draws its randomness from `seed`."""
    from tqdm.auto import tqdm

    from ..runtime.recognizer import Recognizer
    from .metrics import reliability

    names = list(names or PERTURBATIONS)
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown:
        raise ValueError(f"unknown perturbation(s) {unknown}; choose from {', '.join(PERTURBATIONS)}")
    if "clean" not in names:
        names.insert(0, "clean")
    rec = Recognizer(model=model, backend=backend, detector=None)
    rows = []
    for name in tqdm(names, desc="perturbations", disable=None if progress else True, leave=False):
        crops = PERTURBATIONS[name].apply(images, np.random.default_rng(seed))
        probs = np.stack([f.probs for f in rec.predict_faces(crops)])
        r = reliability(probs, labels)
        rows.append(
            {
                "condition": name,
                "description": PERTURBATIONS[name].description,
                "accuracy": r["accuracy"],
                "ece": r["ece"],
                "ece_debiased": r["ece_debiased"],
                "ece_floor": r["ece_floor"],
            }
        )
    clean = rows[0]["accuracy"]
    for r in rows:
        r["change_points"] = 100 * (r["accuracy"] - clean)
    scored = [r for r in rows if r["condition"] != "clean"]
    worst = min(scored, key=lambda r: r["accuracy"]) if scored else rows[0]
    camera = [r for r in scored if r["condition"] in CAMERA_CONDITIONS]
    return {
        "model": str(model),
        "backend": rec.backend.name,
        "n": int(len(labels)),
        "seed": seed,
        "rows": rows,
        "worst": worst["condition"],
        "worst_change_points": worst["change_points"],
        "worst_condition": min(camera, key=lambda r: r["accuracy"])["condition"] if camera else None,
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['model']} ({result['backend']}), {result['n']} faces:",
        f"  {'condition':10} {'accuracy':>8} {'change':>8} {'ECE':>6}  description",
    ]
    for r in result["rows"]:
        lines.append(
            f"  {r['condition']:10} {100 * r['accuracy']:7.2f}% {r['change_points']:+7.2f} "
            f"{100 * r['ece']:5.2f}%  {r['description']}"
        )
    lines.append(f"  worst: {result['worst']} ({result['worst_change_points']:+.2f} points)")
    return "\n".join(lines)


def plot(results: Sequence[dict[str, Any]], path: str, title: str = "") -> None:
    """Horizontal bars: accuracy change (points) per condition, one colour per model."""
    from ..plots import pyplot

    plt = pyplot()
    conds = [r["condition"] for r in results[0]["rows"] if r["condition"] != "clean"]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(conds) * max(1, len(results)) + 1.6))
    h = 0.8 / len(results)
    for k, res in enumerate(results):
        by = {r["condition"]: r for r in res["rows"]}
        ys = np.arange(len(conds)) + k * h
        vals = [by[c]["change_points"] if c in by else np.nan for c in conds]
        clean = by["clean"]["accuracy"]
        ax.barh(ys, vals, height=h, label=f"{res.get('label', res['model'])} (clean {100 * clean:.1f}%)")
        for y, v in zip(ys, vals):
            if np.isfinite(v):
                ax.text(v - 0.2, y, f"{v:+.1f}", va="center", ha="right", fontsize=7)
    ax.set_yticks(np.arange(len(conds)) + 0.4 - h / 2, conds)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("accuracy change vs clean faces (points)")
    ax.set_title(title or "accuracy under a robot camera's conditions")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
