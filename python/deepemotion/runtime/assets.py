"""Files the runtime ships with: the bundled models (ours only) and the example photo.

Bundled models live in `deepemotion/weights/<file stem>.{onnx,pt,json}`; the JSON is the model's
metadata (architecture, training data and command, selection split, accuracy as delivered by
`Recognizer`, date). `Recognizer(model="tiny")` picks one by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

#: bundled model name -> file stem in deepemotion/weights/
BUNDLED_MODELS: dict[str, str] = {"default": "deepemotion_fer2013", "tiny": "deepemotion_fer2013_tiny"}
DEFAULT_MODEL = "default"


def _package_file(*parts: str) -> Path:
    return Path(str(resources.files("deepemotion").joinpath(*parts)))


@dataclass(frozen=True)
class BundledModel:
    name: str
    stem: str

    def path(self, kind: str = "onnx") -> Path:
        """`onnx` (FP32 graph), `int8.onnx` (quantized graph), `pt` (weights) or `json` (metadata)."""
        p = _package_file("weights", f"{self.stem}.{kind}")
        if not p.is_file():
            raise FileNotFoundError(f"the bundled model file {p.name} is missing ({p}); reinstall deepemotion")
        return p

    def has(self, kind: str) -> bool:
        return _package_file("weights", f"{self.stem}.{kind}").is_file()

    def metadata(self) -> dict[str, Any]:
        return json.loads(self.path("json").read_text())


def bundled_model(name: str | None = None) -> BundledModel:
    """The bundled model called `name` (None or "default": the default model)."""
    key = DEFAULT_MODEL if name in (None, "bundled") else str(name)
    if key not in BUNDLED_MODELS:
        raise ValueError(f"unknown bundled model {name!r}; choose one of {sorted(BUNDLED_MODELS)} or give a file path")
    return BundledModel(key, BUNDLED_MODELS[key])


def is_bundled_name(spec: Any) -> bool:
    return spec is None or (isinstance(spec, str) and (spec in BUNDLED_MODELS or spec == "bundled"))


def example_image() -> Path:
    """The bundled example photo (NASA, public domain; see assets/README.md)."""
    p = _package_file("assets", "astronaut.jpg")
    if not p.is_file():
        raise FileNotFoundError(f"the example photo is missing ({p}); reinstall deepemotion")
    return p
