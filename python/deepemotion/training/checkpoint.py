"""Checkpoints: a model's weights, its architecture and how it was made, loadable without running code.

Everything in a checkpoint is tensors, numbers, strings, lists and dicts, so it is read with
`torch.load(weights_only=True)`, which refuses pickled objects: a file that needs more than that
(a pickle payload, or a foreign checkpoint) is refused with `CheckpointError`, never executed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..model import DeepEmotion, DeepEmotionConfig

FORMAT = "deepemotion-checkpoint-2"
_READABLE = {FORMAT, "deepemotion-checkpoint-1"}


class CheckpointError(ValueError):
    """A file is not a (safe, readable) deepemotion checkpoint."""


def save_checkpoint(
    path: str | os.PathLike[str],
    model: DeepEmotion,
    meta: dict[str, Any],
    extra: dict[str, Any] | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write atomically (`deepemotion.files.atomic_write`): a crash never leaves a half-written checkpoint."""
    from ..files import atomic_write

    ckpt = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": state_dict if state_dict is not None else model.state_dict(),
        "meta": meta,
    }
    if extra:
        ckpt.update(extra)
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def bundled_checkpoint(name: str | None) -> dict[str, Any]:
    """A bundled model ("default", "tiny") as a checkpoint dict: its float16 weights as float32, its config and
    metadata (so that `fer-train --init default` and `--teacher default` start from what users get)."""
    from ..runtime.assets import bundled_model

    b = bundled_model(name)
    meta = b.metadata()
    state = torch.load(b.path("pt"), map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return {
        "format": FORMAT,
        "config": meta["config"],
        "state_dict": state,
        "meta": {"bundled": b.name, "data": meta.get("training_data"), "command": meta.get("training_command")},
    }


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw checkpoint dict, read safely (`weights_only=True`). A bundled model's name ("default", "tiny")
    that is not also a file here reads the bundled weights (`bundled_checkpoint`)."""
    from ..runtime.assets import is_bundled_name

    if isinstance(path, str) and is_bundled_name(path) and not Path(path).exists():
        return bundled_checkpoint(path)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
            raise CheckpointError(
                f"{path}: refused: the file holds Python objects, not only weights "
                "(loading it could run code); deepemotion checkpoints never do"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({msg})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in _READABLE:
        raise CheckpointError(f"{path}: not a deepemotion checkpoint (no format {FORMAT!r})")
    for key in ("config", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint has no {key!r}")
    return ckpt


def check_state_matches(config: DeepEmotionConfig, state: dict[str, torch.Tensor], where: str) -> None:
    """The network `config` describes has exactly the tensors of `state` (names and shapes) -- checked on
    PyTorch's meta device, before any memory is allocated for it (a small file whose config asks for a huge
    network is refused at once)."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in DeepEmotion(config).state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    if expected != given:
        diff = sorted(set(expected.items()) ^ set(given.items()))[:3]
        raise CheckpointError(f"{where}: weights do not match the architecture its config describes (e.g. {diff})")


def model_from_state(config: dict[str, Any], state: dict[str, torch.Tensor], where: str = "model") -> DeepEmotion:
    """A DeepEmotion in eval mode with float32 weights, from a config dict and a state dict (checked against each
    other first, without allocating)."""
    try:
        cfg = DeepEmotionConfig.from_dict(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: not a valid architecture config ({str(exc).splitlines()[0]})") from None
    check_state_matches(cfg, state, where)
    try:
        model = DeepEmotion(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{where}: weights do not match the architecture ({str(exc).splitlines()[0]})") from None
    return model.eval()


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[DeepEmotion, dict[str, Any]]:
    """(model in eval mode, checkpoint dict) from a file written by `save_checkpoint`, or a bundled model's
    name."""
    ckpt = read_checkpoint(path)
    return model_from_state(ckpt["config"], ckpt["state_dict"], str(path)), ckpt


def load_model(spec: Any = None) -> tuple[DeepEmotion, dict[str, Any]]:
    """(DeepEmotion in eval mode, metadata with its `config`) from a bundled model name (None: the default) or
    a checkpoint path. What export, the torch backend and the tools load models with."""
    from ..runtime.assets import bundled_model, is_bundled_name

    if is_bundled_name(spec) and not (isinstance(spec, str) and Path(spec).exists()):
        b = bundled_model(spec)
        ckpt = bundled_checkpoint(b.name)
        return model_from_state(ckpt["config"], ckpt["state_dict"], f"bundled model {b.name!r}"), b.metadata()
    path = os.fspath(spec)
    if path.endswith(".onnx"):
        raise ValueError(
            f"{path}: an .onnx file is not a PyTorch checkpoint; give a .pt checkpoint or a bundled model name"
        )
    model, ckpt = load_checkpoint(path)
    return model, {**ckpt.get("meta", {}), "config": ckpt["config"]}
