"""The bundled trained model: files inside the package, loadable without a network."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

BUNDLED_NAME = "deepemotion_fer2013"


def bundled_dir() -> Path:
    return Path(str(resources.files("deepemotion") / "weights"))


def bundled_metadata() -> dict[str, Any]:
    """The metadata record of the bundled model (architecture, data, accuracy, command, date)."""
    path = bundled_dir() / f"{BUNDLED_NAME}.json"
    if not path.is_file():
        raise FileNotFoundError(f"the bundled model's metadata is missing ({path}); reinstall deepemotion")
    return json.loads(path.read_text())


def bundled_path(kind: str = "pt") -> Path:
    """Path of a bundled model file: ``pt`` (PyTorch state dict) or ``onnx``."""
    path = bundled_dir() / f"{BUNDLED_NAME}.{kind}"
    if not path.is_file():
        raise FileNotFoundError(f"the bundled model file {path.name} is missing ({path}); reinstall deepemotion")
    return path


def load_model(spec: str = "bundled") -> tuple[Any, dict[str, Any]]:
    """A PyTorch DeepEmotion in eval mode and its metadata, from ``"bundled"`` or a checkpoint path."""
    import torch

    from .model import DeepEmotion
    from .train import load_checkpoint

    if spec == "bundled":
        meta = bundled_metadata()
        model = DeepEmotion.from_config(meta["config"])
        state = torch.load(bundled_path("pt"), map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model.eval(), meta
    model, ckpt = load_checkpoint(spec)
    meta = dict(ckpt.get("meta", {}))
    meta["config"] = ckpt["config"]
    return model, meta
