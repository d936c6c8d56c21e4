# Type stubs of deepemotion._C (csrc/bindings/). The *_cuda functions and cuda_device_info exist only in builds
# with the CUDA kernels (build_info()["cuda"] is True); reach them through deepemotion.ops, which checks.
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

def build_info() -> dict[str, Any]: ...
def cuda_device_count() -> int: ...
def affine_grid_sample_cpu(
    input: npt.NDArray[np.float32],
    theta: npt.NDArray[np.float32],
    out_h: int,
    out_w: int,
    align_corners: bool = False,
    threads: int = 0,
) -> npt.NDArray[np.float32]: ...
def crop_faces(
    frame: npt.NDArray[np.uint8],
    boxes: npt.NDArray[np.int32],
    out_size: int,
    mean: float,
    std: float,
    supersample: int,
    threads: int = 0,
) -> npt.NDArray[np.float32]: ...
def crop_faces_affine(
    frame: npt.NDArray[np.uint8],
    theta: npt.NDArray[np.float32],
    out_size: int,
    mean: float,
    std: float,
    supersample: int,
    threads: int = 0,
) -> npt.NDArray[np.float32]: ...
def crop_box_geometry(boxes: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]: ...

# CUDA builds only:
def affine_grid_sample_cuda(
    input: Any, theta: Any, output: Any, align_corners: bool = False, stream: int = 0
) -> None: ...
def crop_faces_cuda(
    frame: Any, theta: Any, clip: Any, output: Any, mean: float, std: float, supersample: int, stream: int = 0
) -> None: ...
def cuda_device_info(device: int = 0) -> dict[str, Any]: ...

# The framing geometry (csrc/sdk/frame.h), the one copy: runtime/align.py and the C++ Recognizer call it.
MAX_ROLL_DEG: float

def face_thetas(
    boxes: npt.NDArray[np.float64],
    landmarks: npt.NDArray[np.float64] | None,
    framing: str,
    box_in_crop: npt.NDArray[np.float64],
    canonical: npt.NDArray[np.float64],
    max_roll_deg: float = ...,
) -> npt.NDArray[np.float64]: ...
def box_thetas(boxes: npt.NDArray[np.float64], box_in_crop: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def similarity_thetas(
    landmarks: npt.NDArray[np.float64], canonical: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def eye_rolls(landmarks: npt.NDArray[np.float64], canonical: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def rotate_thetas(theta: npt.NDArray[np.float64], angle: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
