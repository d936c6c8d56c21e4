"""A camera loop: emotions of every face, drawn on the live picture. Press q to quit.

python examples/camera.py [camera index] [--backend tensorrt --model model.engine]
"""

import argparse

import cv2

from deepemotion import Recognizer
from deepemotion.runtime.draw import annotate

parser = argparse.ArgumentParser()
parser.add_argument("camera", type=int, nargs="?", default=0)
parser.add_argument("--backend", default="auto")
parser.add_argument("--model", default=None)
args = parser.parse_args()

rec = Recognizer(model=args.model, backend=args.backend, smoothing=0.6)  # smoothing: steadier labels on video
# stream(): capture, detection and classification overlap in threads; results come in frame order
for r in rec.stream(args.camera):
    for f in r.faces:
        print(f"frame {r.index} face #{f.track_id} {f.box}: {f.label} {f.score:.2f}")
    shown = annotate(r.frame, r.faces)
    cv2.putText(
        shown,
        f"{r.latency_ms:.0f} ms ({rec.backend.name}, {rec.detector_name})",
        (10, 25),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.7,
        (0, 255, 0),
        2,
    )
    try:
        cv2.imshow("deepemotion", shown)
        if cv2.waitKey(1) & 0xFF == ord("q"):
            break
    except cv2.error:  # headless OpenCV: no window, keep printing
        pass
