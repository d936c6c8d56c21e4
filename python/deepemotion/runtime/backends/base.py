"""What every inference backend is: the interface, the error it raises when it cannot run, and the
registry that maps backend names to factories together with what each backend can do (one table;
``BACKENDS`` lists it, ``auto`` ranks on it, the Recognizer and the contract tests read it).

Depends on numpy and ``deepemotion.labels`` only: every other backend module and the Recognizer build on this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...labels import INPUT_SIZE, NUM_CLASSES


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says what to install or build."""


class Backend:
    """Maps a normalised batch (N, 1, INPUT_SIZE, INPUT_SIZE) float32 to logits (N, NUM_CLASSES) float32."""

    name: str = "?"
    device: str = "cpu"
    #: the largest batch one run() call is given; the Recognizer cuts larger batches into chunks
    max_batch: int = 256

    def run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def pipeline_twin(self) -> Backend:
        """A backend for the same model fit to run as one stage of a pipeline, beside threads that keep the
        other cores busy (``Recognizer.stream``). Default: this backend itself."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.device}>"


#: where a backend computes: this machine's CPU, a CUDA GPU here, or a server over the network
DEVICES = ("cpu", "cuda", "remote")
#: the graph's arithmetic: FP32, FP16, the calibrated INT8 graph, or whatever the given model file holds
PRECISIONS = ("fp32", "fp16", "int8", "model")


@dataclass(frozen=True)
class BackendEntry:
    """One registered backend and what it can do. Code that chooses a backend reads these fields, never names."""

    name: str
    factory: Callable[..., Backend]
    description: str
    device: str  # one of DEVICES
    precision: str  # one of PRECISIONS
    needs: str  # what to install for it (shown in errors and --help)
    spins: bool = False  # its idle threads busy-wait after a run; takes ``spinning=`` to turn that off
    auto: bool = False  # backend="auto" may pick it (ranked by device, then precision; see backends.auto)
    needs_model_file: bool = False  # runs only a file of its own kind (an engine), never the bundled ONNX
    also_on: tuple[str, ...] = ()  # other devices it runs on when asked (device=...)

    def __post_init__(self) -> None:
        if self.device not in DEVICES or self.precision not in PRECISIONS:
            raise ValueError(
                f"backend {self.name!r}: device must be one of {DEVICES} and precision one of {PRECISIONS}"
            )


_REGISTRY: dict[str, BackendEntry] = {}


def register(
    name: str,
    description: str,
    *,
    device: str,
    precision: str,
    needs: str,
    spins: bool = False,
    auto: bool = False,
    needs_model_file: bool = False,
    also_on: tuple[str, ...] = (),
) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    """Class/function decorator: make a backend creatable by ``name``, declaring what it can do. The factory is
    called as ``factory(model, device=..., **options)`` and raises `BackendUnavailable` when it cannot run
    here."""

    def deco(factory: Callable[..., Backend]) -> Callable[..., Backend]:
        _REGISTRY[name] = BackendEntry(
            name, factory, description, device, precision, needs, spins, auto, needs_model_file, also_on
        )
        return factory

    return deco


def registry() -> dict[str, BackendEntry]:
    return dict(_REGISTRY)


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices that cut ``n`` items into pieces of at most ``size`` (every ``max_batch`` loop uses this)."""
    for start in range(0, n, max(1, size)):
        yield slice(start, min(n, start + size))


def check_logits(out: Any, n: int, where: str) -> np.ndarray:
    """A backend's output as (n, 7) float32, or a clear error (a model with the wrong number of classes,
    or one that produced NaN/inf, never gives a silently wrong answer)."""
    out = np.asarray(out)
    if out.shape != (n, NUM_CLASSES):
        raise ValueError(
            f"{where}: the model returned shape {out.shape} for {n} faces; a deepemotion model "
            f"returns (N, {NUM_CLASSES}) logits"
        )
    out = out.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise FloatingPointError(f"{where}: the model returned NaN or infinite logits")
    return out


def check_model_io(input_shape: Any, output_shape: Any, where: str) -> None:
    """Refuse, at load time, a graph whose declared input or output shape cannot be ours."""

    def fixed(dims: Any) -> list[int | None]:
        return [d if isinstance(d, int) and d > 0 else None for d in dims]

    i, o = fixed(input_shape), fixed(output_shape)
    want_i = [None, 1, INPUT_SIZE, INPUT_SIZE]
    if len(i) != 4 or any(a is not None and a != b for a, b in zip(i[1:], want_i[1:])):
        raise ValueError(
            f"{where}: model input has shape {list(input_shape)}; expected (N, 1, {INPUT_SIZE}, {INPUT_SIZE})"
        )
    if len(o) != 2 or (o[1] is not None and o[1] != NUM_CLASSES):
        raise ValueError(
            f"{where}: model output has shape {list(output_shape)}; expected (N, {NUM_CLASSES}) logits (one per class)"
        )
