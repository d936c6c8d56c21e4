"""Third-party model files the runtime fetches on first use (never bundled): the YuNet face detector.

Where the file is looked for, in order:

1. a path given as an argument (`Recognizer(detector_model=...)`, `fer-predict --detector-model`);
2. `$DEEPEMOTION_YUNET` (a path);
3. the user cache: `$XDG_CACHE_HOME/deepemotion/` (default `~/.cache/deepemotion/`);
4. else it is downloaded from OpenCV Zoo (`$DEEPEMOTION_YUNET_URL` overrides the address) into the
   cache: streamed to a temporary file in the cache folder, checked against the known size and
   SHA-256, then renamed into place -- a partial or corrupt download never lands in the cache.

A failed download is remembered for `RETRY_AFTER_S` seconds in the process: further `Recognizer()` calls
offline fail at once with the same message instead of waiting for the network again.

Robots that are offline in the field prefetch it once: `fer-predict --prefetch` (or
`python -m deepemotion.runtime.download`), or copy the file and set `$DEEPEMOTION_YUNET`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SIZE = 232_589
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx"
)
TIMEOUT_S = 15.0


class ModelUnavailable(FileNotFoundError):
    """A third-party model file is not here and could not be downloaded; the message names the fix."""


class DownloadFailed(ModelUnavailable):
    """The download itself failed (no network, a server that does not answer or sends a wrong file, a cache that
    cannot be written): a runtime failure, exit 1 in the tools (`exit_code`), where a missing path is exit 2."""

    exit_code = 1


#: a failed download is not tried again for this long in the same process (a robot that comes online later gets it)
RETRY_AFTER_S = 600.0
_FAILED: dict[tuple[str, str], tuple[float, str]] = {}  # (url, destination) -> (when, the message raised)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepemotion"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _valid(path: Path) -> bool:
    return path.is_file() and path.stat().st_size == YUNET_SIZE and sha256_file(path) == YUNET_SHA256


def _fix_hint(cached: Path) -> str:
    return (
        f"Fix: on a machine with internet run `fer-predict --prefetch` (it writes {cached}) and copy that file "
        f"here, or set DEEPEMOTION_YUNET=/path/to/{YUNET_FILE}; or use detector='haar'"
    )


#: the whole download may take at most this long (a server that trickles bytes must not block Recognizer())
DEADLINE_S = 60.0
#: partial downloads older than this, left by a process that was killed mid-download, are removed
STALE_PART_S = 3600.0


def _remove_stale_parts(folder: Path, name: str) -> None:
    now = time.time()
    for part in folder.glob(f".{name}.*.part"):
        try:
            if now - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
        except OSError:
            pass


def _fetch(url: str, out: Any, size: int, timeout: float, deadline: float, show: bool, name: str) -> str:
    """Stream `url` into the open file `out`; returns the SHA-256 of what was written."""
    import urllib.request

    from tqdm.auto import tqdm

    h, got = hashlib.sha256(), 0
    req = urllib.request.Request(url, headers={"User-Agent": "deepemotion"})
    # the bar comes first: a server that accepts and does not answer is waited for in sight, not silently
    with (
        tqdm(total=size, unit="B", unit_scale=True, desc=f"downloading {name}", disable=not show, leave=False) as bar,
        urllib.request.urlopen(req, timeout=timeout) as resp,
    ):
        while True:
            if time.monotonic() > deadline:
                raise ModelUnavailable(f"{url}: not complete after {DEADLINE_S:g} s ({got} of {size} bytes)")
            chunk = resp.read1(1 << 16)  # what has arrived: a trickling server cannot hold us past the deadline
            if not chunk:
                break
            got += len(chunk)
            if got > size:
                raise ModelUnavailable(f"{url}: the server sent more than the expected {size} bytes")
            h.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    if got != size:
        raise ModelUnavailable(f"{url}: the transfer ended after {got} of {size} bytes")
    return h.hexdigest()


def download(
    url: str,
    dest: Path,
    size: int = YUNET_SIZE,
    sha256: str = YUNET_SHA256,
    timeout: float = TIMEOUT_S,
    progress: bool | None = None,
    deadline_s: float = DEADLINE_S,
) -> Path:
    """Download `url` to `dest` atomically, verified by size and SHA-256, within `deadline_s` seconds in all;
    raise ModelUnavailable on any failure (no network, a cache folder that cannot be written, a slow or wrong
    server) -- never leave a partial file behind."""
    import urllib.error

    from ..files import PendingFile

    pending: PendingFile | None = None
    show = sys.stderr.isatty() if progress is None else progress
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(dest.parent, dest.name)
        pending = PendingFile(dest, suffix=".part")
        with open(pending.tmp, "wb") as out:
            digest = _fetch(url, out, size, timeout, time.monotonic() + deadline_s, show, dest.name)
        if digest != sha256:
            raise ModelUnavailable(
                f"{url}: checksum mismatch (got sha256 {digest[:16]}..., expected "
                f"{sha256[:16]}...); the file was not kept"
            )
        return pending.commit(sync=True)
    except ModelUnavailable:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelUnavailable(f"could not download {url} into {dest.parent} ({reason})") from None
    finally:
        if pending is not None:
            pending.discard()


def yunet_model_path(path: str | os.PathLike[str] | None = None, allow_download: bool = True) -> Path:
    """The YuNet model file, found or downloaded as the module docstring says."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ModelUnavailable(f"{p}: YuNet model file not found")
        return p
    env = os.environ.get("DEEPEMOTION_YUNET")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ModelUnavailable(f"{p} (from $DEEPEMOTION_YUNET): YuNet model file not found")
        return p
    cached = cache_dir() / YUNET_FILE
    try:
        if _valid(cached):
            return cached
    except OSError as exc:  # a cache that cannot be read (a file where the folder should be, no permission)
        raise ModelUnavailable(
            f"the cache {cached} cannot be read ({exc.strerror or exc}). {_fix_hint(cached)}"
        ) from None
    if not allow_download:
        raise ModelUnavailable(f"the YuNet face-detector model is not in the cache ({cached}). {_fix_hint(cached)}")
    return _download_once(
        os.environ.get("DEEPEMOTION_YUNET_URL", YUNET_URL),
        cached,
        "the YuNet face-detector model is not in the cache and ",
        _fix_hint(cached),
    )


def _download_once(url: str, cached: Path, lead: str, hint: str) -> Path:
    """`download(url, cached)`, or DownloadFailed (`lead` + the reason + `hint`) -- at once, with the same
    message, when it failed in this process less than `RETRY_AFTER_S` ago."""
    key = (url, str(cached))
    failed = _FAILED.get(key)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_S:
        raise DownloadFailed(failed[1])
    try:
        path = download(url, cached)
    except ModelUnavailable as exc:
        message = f"{lead}{exc}. {hint}"
        _FAILED[key] = (time.monotonic(), message)
        raise DownloadFailed(message) from None
    _FAILED.pop(key, None)
    return path


def prefetch() -> Path:
    """The YuNet model file, downloaded into the cache now unless it is there (or `$DEEPEMOTION_YUNET` names it):
    for a machine that will be offline. DownloadFailed says what to check."""
    try:
        return yunet_model_path(allow_download=False)
    except ModelUnavailable:
        if os.environ.get("DEEPEMOTION_YUNET"):
            raise
    cached = cache_dir() / YUNET_FILE
    return _download_once(
        os.environ.get("DEEPEMOTION_YUNET_URL", YUNET_URL),
        cached,
        "",
        f"Fix: check this machine's network (and https_proxy), or get that file elsewhere and copy it to {cached}",
    )


def main() -> int:
    try:
        p = prefetch()
    except ModelUnavailable as exc:
        print(f"deepemotion: {exc}", file=sys.stderr)
        return 1
    print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
