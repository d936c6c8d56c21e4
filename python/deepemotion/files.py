"""Files, safely: the output policy of every tool (`OutputPlan`: never onto an input or an existing file
without overwrite), atomic writes with a normal file's mode, and reading images whose names OpenCV cannot take.
Used by every part of the package; imports nothing of it but the image decoder (`runtime/images.py`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Callable

# decoding untrusted images (the size every format declares is read first; memory bounded per input byte) is the
# runtime's (it imports nothing of the package either); re-exported here for the tools
from .runtime.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, decode_image, image_header_size  # noqa: F401

if TYPE_CHECKING:
    import numpy as np


class OutputRefused(ValueError):
    """An output file cannot be written where asked: it exists (and no overwrite was given), it is an input, a
    folder, in a folder that does not exist, or named twice in one run."""


_UMASK: int | None = None


def normal_file_mode() -> int:
    """The mode a newly created file gets here (0o666 less the process's umask), e.g. 0o644 under umask 022.
    Temporary files are created 0o600; what replaces the output gets this mode, as a plain `open()` would."""
    global _UMASK
    if _UMASK is None:
        try:
            with open("/proc/self/status") as f:  # Linux: read the umask without changing it
                _UMASK = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
        except (OSError, StopIteration, ValueError):
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return 0o666 & ~_UMASK


class PendingFile:
    """A file written under a temporary name beside `path` and renamed onto `path` by `commit` only: the one
    temp-and-rename of the package (every atomic write goes through it).

    A crash, an exception or Ctrl-C before `commit` leaves `path` as it was (absent or the old content), never
    half-written; `discard` (or leaving the `with` block by an exception) removes the temporary file. The committed
    file gets the mode of a normally created file (umask respected). The temporary name is
    `.<name>.<random>.partial<suffix>`: hidden, unique, and ending in `path`'s suffix (OpenCV and numpy pick the
    format from it); `suffix` replaces that ending (the model download's `.part`).

    Args:
        path: the file to write.
        suffix: the temporary name's ending, by default `.partial` + `path`'s suffix.
    """

    def __init__(self, path: str | os.PathLike[str], suffix: str | None = None) -> None:
        self.path = Path(path)
        folder = self.path.parent if str(self.path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=suffix or f".partial{self.path.suffix}", dir=folder
        )
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self, sync: bool = False) -> Path:
        """Rename the temporary file onto `path` (`sync`: flushed to the disk first) and return `path`."""
        try:
            if sync:
                fd = os.open(self.tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.chmod(self.tmp, normal_file_mode())
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        """Remove the temporary file (nothing happens to `path`)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)

    def __enter__(self) -> PendingFile:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it onto `path` (a `PendingFile`).

    Args:
        path: the file to write.
        write: writes the content into the file it is given (a path string).

    Returns:
        `path`, written whole; on any failure it is left as it was and no temporary file remains.
    """
    pending = PendingFile(path)
    try:
        write(str(pending.tmp))
    except BaseException:
        pending.discard()
        raise
    return pending.commit()


class OutputPlan:
    """Every file a run will write, checked before any work starts -- the one output policy of the tools:

    - never an input of the run (same file, also through links), never a folder, never named twice in one run;
    - an existing file only with `overwrite` (`--overwrite`);
    - its folder must exist, or be one the run creates (`folders`).

    Files are then written with `atomic_write` (temporary file, renamed on success only)."""

    def __init__(
        self,
        inputs: Sequence[str | os.PathLike[str]] = (),
        overwrite: bool = False,
        folders: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.overwrite = overwrite
        self.inputs = [Path(i) for i in inputs if i is not None]
        self.folders = {os.path.abspath(f) for f in folders}
        self.planned: dict[str, str] = {}

    def _is_input(self, out: Path) -> bool:
        for i in self.inputs:
            try:
                if i.exists() and out.exists() and out.samefile(i):
                    return True
            except OSError:
                continue
            if os.path.abspath(i) == os.path.abspath(out):
                return True
        return False

    def add(self, path: str | os.PathLike[str], what: str = "output") -> Path:
        out = Path(path)
        key = os.path.abspath(out)
        shown = display_name(out)
        if key in self.planned:
            raise OutputRefused(
                f"{shown}: would be written twice in this run (as the {self.planned[key]} and the "
                f"{what}); give them different names"
            )
        if out.is_dir():
            raise OutputRefused(f"{shown}: is a folder; give a file name for the {what}")
        parent = os.path.abspath(out.parent)
        if not os.path.isdir(parent) and parent not in self.folders:
            raise OutputRefused(f"{display_name(out.parent)}: no such folder for the {what}")
        if self._is_input(out):
            raise OutputRefused(f"{shown}: is also an input; refusing to write the {what} onto it")
        if out.exists() and not self.overwrite:
            raise OutputRefused(f"{shown}: exists; pass --overwrite to replace it")
        self.planned[key] = what
        return out


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read_image(path: str | os.PathLike[str], gray: bool = False) -> np.ndarray:
    """Decode an image file (BGR, or gray) without handing its name to OpenCV: OpenCV's imread crashes
    the process on file names that are not valid UTF-8 (legal on Linux). Raises ValueError naming the file
    when it cannot be decoded or is too large (`decode_image`), FileNotFoundError when it is missing."""
    import numpy as np

    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{display_name(p)}: is a folder, not an image")
    if not p.is_file():
        raise FileNotFoundError(f"{display_name(p)}: no such file")
    try:
        if p.stat().st_size > MAX_IMAGE_BYTES:
            raise ValueError(
                f"{display_name(p)}: {p.stat().st_size >> 20} MB; image files above "
                f"{MAX_IMAGE_BYTES >> 20} MB are refused"
            )
        data = np.fromfile(os.fsencode(p), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"{display_name(p)}: cannot be read ({exc.strerror})") from None
    with quiet_native():  # libjpeg prints its own warnings on fd 2, past OpenCV's log level
        return decode_image(data, display_name(p), gray)


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Silence what native libraries (libjpeg, OpenCV's video back ends, FFmpeg) print on fd 2 meanwhile. For the
    tools' own reading of files, not for library calls in a server (fd 2 is shared by the whole process)."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def display_name(path: str | os.PathLike[str]) -> str:
    """A printable form of a path, also for names that are not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def opencv_safe_name(path: str | os.PathLike[str]) -> str:
    """`path` as a string OpenCV can take, or ValueError (OpenCV crashes on names that are not UTF-8)."""
    s = os.fspath(path)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{display_name(path)}: the file name is not valid UTF-8, which OpenCV cannot open; rename the file"
        ) from None
    return s


def write_image(path: str | os.PathLike[str], img: np.ndarray) -> Path:
    """Encode `img` by the path's suffix and write it atomically, without handing the name to OpenCV."""
    import cv2

    p = Path(path)
    ok, buf = cv2.imencode(p.suffix or ".png", img)
    if not ok:
        raise ValueError(f"{display_name(p)}: OpenCV cannot encode an image as {p.suffix or '.png'}")
    return atomic_write_bytes(p, buf.tobytes())
