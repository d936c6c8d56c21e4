"""A camera loop: emotions of every face, drawn on the live picture. Press q to quit.

    python examples/camera.py [camera index] [--backend tensorrt --model model.engine]
"""
import argparse
import time

import cv2

from deepemotion import Recognizer
from deepemotion.cli_predict import annotate

parser = argparse.ArgumentParser()
parser.add_argument("camera", type=int, nargs="?", default=0)
parser.add_argument("--backend", default="auto")
parser.add_argument("--model", default=None)
args = parser.parse_args()

rec = Recognizer(model=args.model, backend=args.backend, smoothing=0.6)  # smoothing: steadier labels on video
cap = cv2.VideoCapture(args.camera)
if not cap.isOpened():
    raise SystemExit(f"cannot open camera {args.camera}")
fps = 0.0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    t0 = time.perf_counter()
    faces = rec.predict(frame)
    fps = 0.9 * fps + 0.1 / max(1e-6, time.perf_counter() - t0)
    for f in faces:
        print(f"{f.box}: {f.label} {f.score:.2f}")
    shown = annotate(frame, faces)
    cv2.putText(shown, f"{fps:.0f} fps ({rec.backend.name})", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2)
    try:
        cv2.imshow("deepemotion", shown)
        if cv2.waitKey(1) & 0xFF == ord("q"):
            break
    except cv2.error:  # headless OpenCV: no window, keep printing
        pass
cap.release()
