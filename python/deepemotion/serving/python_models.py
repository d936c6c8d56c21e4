"""What the python-backend models (``triton_models/``) share, importable without Triton (tested here)."""

from __future__ import annotations

import sys
from typing import Any

#: the one error this hides: numpy's DLPack capsule destructor, after the python backend's
#: ``Tensor.from_dlpack`` consumed the capsule (the data was copied: the output is right)
CAPSULE_NOISE = "PyCapsule_GetPointer called with incorrect name"


def quiet_consumed_capsules() -> None:
    """Stop the python backend's ``Tensor.from_dlpack(numpy array)`` from writing a traceback to the server's log
    on every inference (an "unraisable" ValueError from numpy's capsule destructor; about 360 bytes a call): that
    error alone is dropped, every other unraisable error goes to the hook that was there before. Idempotent."""
    previous = sys.unraisablehook
    if getattr(previous, "deepemotion_quiet", False):
        return

    def hook(unraisable: Any) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, ValueError) and str(exc) == CAPSULE_NOISE:
            return
        previous(unraisable)

    hook.deepemotion_quiet = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
