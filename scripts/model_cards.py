"""The model cards of the bundled models, made from their metadata (python/deepemotion/weights/*.json).

    python scripts/model_cards.py            # writes docs/models/<name>.md for every bundled model
    python scripts/model_cards.py --check    # exit 1 if a committed card differs from what the metadata gives

Every figure on a card comes from the bundle's JSON, which references/fer2013/bundle.py writes from measurements through
``Recognizer`` with the shipped files; ``tests/test_docs.py`` runs ``--check``, so a card cannot drift from its
model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "python" / "deepemotion" / "weights"
OUT = ROOT / "docs" / "models"

CONDITIONS = {  # the names fer-eval --perturb uses (deepemotion.evaluation.robustness.PERTURBATIONS)
    "size16": "face seen at 16 px",
    "size20": "face seen at 20 px",
    "size24": "face seen at 24 px",
    "size32": "face seen at 32 px",
    "blur1.2": "Gaussian blur σ 1.2 px",
    "blur2.0": "Gaussian blur σ 2.0 px",
    "motion7": "motion blur 7 px",
    "jpeg20": "JPEG quality 20",
    "jpeg40": "JPEG quality 40",
    "noise8": "sensor noise σ 8 gray levels",
    "zoom_out": "zoomed out (6 px border)",
    "zoom_in": "zoomed in (the central 40 px)",
    "rotate15": "rotated 15°",
    "dark45": "45% brightness",
    "bright150": "150% brightness",
    "camera": "a far face in a video (24 px + blur + noise + JPEG 40)",
}

USE = """\
## Intended use

Recognising one of seven facial expressions (angry, disgust, fear, happy, sad, surprise, neutral) on faces a
camera sees, as one input among others to a robot or an interactive system: to make a reply friendlier, to notice
that a person looks surprised or upset, to study expressions in research. The label is what the face *shows*, as
FER2013's annotators read it; it is not what the person feels.

## Not intended, and where the law restricts it

- **Not a measure of emotions, intentions, honesty or mental health**, and not a basis for decisions about a person
  (hiring, grading, credit, policing, access). A facial expression is not an emotion, and FER2013's labels are one
  annotator's reading of one photo.
- **The EU AI Act (Regulation (EU) 2024/1689) prohibits** placing on the market or using AI systems that infer the
  emotions of a natural person **in the workplace or in education institutions**, except for medical or safety
  reasons (Article 5(1)(f), applicable since 2 February 2025). Elsewhere in the EU, emotion recognition systems are
  high-risk (Annex III) and people exposed to one must be told (Article 50(3)). Other jurisdictions have their own
  rules on biometric data; check them before deploying.
- Not tested on children, on faces under masks or heavy make-up, or on infrared images.
"""

DATA = """\
## Training data and its terms

FER2013 (Goodfellow et al., *Challenges in Representation Learning*, ICML 2013 workshop): 48x48 gray faces found
by Google image search, labelled by the challenge's organisers. Trained on its 28,709 `train` faces; models and
epochs were chosen on `public_test:select`, half of the 3,589 PublicTest faces (by a hash of each face's id), and
the score calibration was fitted on the other half (`public_test:calibrate`); PrivateTest was not used at all.
FER2013 was released for research through the 2013 Kaggle challenge: cite Goodfellow et al. 2013 when you report
results, and check its terms before any other use. Its known flaws: about 1,500 groups of pixel-identical images
(some across splits, 57 with conflicting labels), 13 near-blank images, label noise, and the demographics of web
photos of 2013 (no record of age, gender or skin tone, so no per-group accuracy can be given).
"""


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _metrics(d: dict[str, Any]) -> list[str]:
    e = d["evaluation"]
    i8 = e.get("int8", {})
    lines = [
        "## Metrics",
        "",
        f"All through `Recognizer` with the shipped files on FER2013 PublicTest ({e['n']:,} faces): "
        f"`{e['command']}` reproduces them.",
        "",
        "| | value |",
        "| --- | ---: |",
        f"| accuracy, the CPU default (`{e['default_backend_cpu']}`) | **{pct(e['accuracy'])}** |",
        f"| accuracy, FP32 graph (`onnxruntime`, GPUs) | {pct(e['accuracy_fp32'])} |",
        f"| expected calibration error (15 bins) | {pct(e['ece'])} (a perfectly calibrated model would show "
        f"about {pct(e['ece_floor'])} on this many faces) |",
        f"| ECE on the half the calibration never saw (`public_test:select`) | {pct(e['ece_select_half'])} |",
    ]
    if i8:
        lines.append(
            f"| INT8 vs FP32 speed (batch 1 / 64, the bundling machine) | {i8['speedup_batch1']:.2f}x / "
            f"{i8['speedup_batch64']:.2f}x |"
        )
    lines += [
        "",
        "Recall per class (the CPU default):",
        "",
        "| " + " | ".join(e["per_class_recall"]) + " |",
        "|" + " ---: |" * len(e["per_class_recall"]),
        "| " + " | ".join(f"{v:.2f}" for v in e["per_class_recall"].values()) + " |",
        "",
    ]
    rob = e.get("robustness", {})
    if rob:
        lines += [
            "### Under a robot camera's conditions",
            "",
            f"Accuracy change in points from clean, `{rob['command']}`:",
            "",
            "| condition | change |",
            "| --- | ---: |",
        ]
        lines += [f"| {CONDITIONS.get(k, k)} | {v:+.2f} |" for k, v in rob["change_points"].items() if k != "clean"]
        lines.append("")
    return lines


def _failures(d: dict[str, Any]) -> list[str]:
    e = d["evaluation"]
    recall = e["per_class_recall"]
    weak = sorted(recall, key=recall.get)[:2]
    rob = e.get("robustness", {}).get("change_points", {})
    worst = sorted((k for k in rob if k != "clean"), key=rob.get)[:3]
    lines = [
        "## Known failure modes",
        "",
        f"- The weakest classes are {weak[0]} (recall {recall[weak[0]]:.2f}) and {weak[1]} "
        f"({recall[weak[1]]:.2f}): FER2013 has few disgust faces (436 of 28,709) and fear is often read as sad "
        "or surprise.",
        "- Small, blurred or moving faces: the largest drops are "
        + ", ".join(f"{CONDITIONS.get(k, k)} ({rob[k]:+.1f} points)" for k in worst)
        + ".",
        "- Faces turned away from the camera, partly hidden, or framed differently from FER2013's crops (use a "
        "detector's box through `Recognizer`, which frames faces as FER2013 does).",
        "- Posed, exaggerated expressions (CK+, JAFFE) differ from FER2013's web photos; accuracy there is "
        "only known after fine-tuning (see [the models overview](index.md)).",
        "",
    ]
    return lines


def card(d: dict[str, Any]) -> str:
    cfg, g = d["config"], d["graph"]
    name = d["name"]
    lines = [
        f"# Model card: `{name}`",
        "",
        "<!-- generated by scripts/model_cards.py from python/deepemotion/weights/"
        f"{d['file_stem']}.json: edit the script, not this page -->",
        "",
        f'`Recognizer(model="{name}")`. {d["architecture"]}.',
        "",
        "| | |",
        "| --- | --- |",
        f"| parameters | {d['parameters']:,} ({g['parameters']:,} in the graphs) |",
        f"| compute per face | {d['mflops_per_face']:.0f} MFLOP ({g['mflops_per_face']:.0f} in the graphs) |",
        f"| feature stages | widths {cfg['widths']}, depths {cfg['depths']}, hidden {cfg['hidden']}"
        f"{', flip averaging inside the graph' if cfg.get('tta_flip') else ''} |",
        f"| input | {d['input']} |",
        f"| output | 7 calibrated probabilities: {', '.join(d['classes'])} |",
        f"| weights | {d['weights_dtype']}; files `{d['file_stem']}.onnx`, `.int8.onnx`, `.pt` |",
        f"| trained / bundled | {d['trained_on']} / {d['bundled_on']} |",
        "",
        USE,
        DATA,
    ]
    lines += _metrics(d)
    lines += [
        "## Calibration",
        "",
        f"{d['evaluation']['calibration']['method']}. Fitted on {d['evaluation']['calibration']['fitted_on']}; "
        f"checked on {d['evaluation']['calibration']['checked_on']}. It is part of every graph, so every "
        "backend gives the same calibrated scores, and it never changes an answer "
        "([calibration](../calibration.md)).",
        "",
    ]
    lines += _failures(d)
    lines += ["## How it was made", "", "```bash", d["training_command"]]
    wi = d.get("weight_interpolation")
    if wi:
        lines += [f"# then the weights interpolated with {wi['start']!r} at alpha {wi['alpha']}"]
    lines += [
        d["bundle_command"].replace("tools/bundle.py", "references/fer2013/bundle.py"),
        "```",
        "",
        "Every bundled model's command and history: "
        "[references/fer2013/README.md](../../references/fer2013/README.md).",
        "",
    ]
    return "\n".join(lines)


def cards() -> dict[str, str]:
    out = {}
    for meta in sorted(WEIGHTS.glob("*.json")):
        d = json.loads(meta.read_text())
        out[f"{d['name']}.md"] = card(d)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the committed cards instead of writing")
    args = p.parse_args(argv)
    stale = []
    for name, text in cards().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"model_cards: out of date (run python scripts/model_cards.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
