"""The data the offline flow reads: data sets and their archives (`datasets.py`: FER2013's CSV, the project's .npz
archives, image folders, subject folds, `resolve_dataset`), their preparation (`prepare.py`, behind `fer-data`)
and synthetic scenes with known faces (`scenes.py`, for the detector benchmark and the framed training set). Never
imported by the runtime."""
