"""Serving handlers of a stand-in object detector for labeling tests: it answers, in the built-in's
format, the detections stored in its model directory for each image (keyed by the image's SHA-256).

``answers.json``: ``{"<sha256 of the image bytes>": [[class_id, score, xmin, ymin, xmax, ymax], ...]}``
(coordinates relative); an unknown image gets no detections.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def model_fn(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The stored answers."""
    return dict(json.loads((Path(model_dir) / "answers.json").read_text(encoding="utf-8")))


def input_fn(body: bytes, content_type: str | None) -> str:
    """The image's SHA-256."""
    if content_type not in ("image/png", "image/jpeg", "application/x-image"):
        raise ValueError(f"unsupported content type {content_type}")
    return hashlib.sha256(bytes(body)).hexdigest()


def predict_fn(digest: str, model: dict[str, Any]) -> list[list[float]]:
    """The stored detections of that image."""
    return list(model.get(digest, []))


def output_fn(prediction: list[list[float]], accept: str | None) -> str:
    """``{"prediction": [...]}``."""
    return json.dumps({"prediction": prediction})
