"""Files, safely: atomic writes (temp file + rename), never onto an input, and reading images and videos
whose names OpenCV cannot take. Used by every part of the package; imports nothing of it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import numpy as np


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it onto ``path``.

    A crash or an exception leaves ``path`` as it was (absent or the old content), never half-written.
    The temporary file keeps ``path``'s suffix (OpenCV picks the image format from it).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read_image(path: str | os.PathLike[str], gray: bool = False) -> np.ndarray:
    """Decode an image file (BGR, or gray) without handing its name to OpenCV: OpenCV's imread crashes
    the process on file names that are not valid UTF-8 (legal on Linux). Raises ValueError naming the file
    when it cannot be decoded, FileNotFoundError when it is missing."""
    import cv2
    import numpy as np

    p = Path(path)
    try:
        data = np.fromfile(os.fsencode(p), dtype=np.uint8) if p.is_file() else None
    except OSError as exc:
        raise ValueError(f"{display_name(p)}: cannot be read ({exc.strerror})") from None
    if data is None:
        raise FileNotFoundError(f"{display_name(p)}: no such file")
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ValueError(f"{display_name(p)}: cannot be decoded as an image")
    return img


def display_name(path: str | os.PathLike[str]) -> str:
    """A printable form of a path, also for names that are not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def opencv_safe_name(path: str | os.PathLike[str]) -> str:
    """``path`` as a string OpenCV can take, or ValueError (OpenCV crashes on names that are not UTF-8)."""
    s = os.fspath(path)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{display_name(path)}: the file name is not valid UTF-8, which OpenCV cannot open; "
                         "rename the file") from None
    return s


def write_image(path: str | os.PathLike[str], img: np.ndarray) -> Path:
    """Encode ``img`` by the path's suffix and write it atomically, without handing the name to OpenCV."""
    import cv2

    p = Path(path)
    ok, buf = cv2.imencode(p.suffix or ".png", img)
    if not ok:
        raise ValueError(f"{display_name(p)}: OpenCV cannot encode an image as {p.suffix or '.png'}")
    return atomic_write_bytes(p, buf.tobytes())
