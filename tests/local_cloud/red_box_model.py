"""A stand-in detection model for the local SageMaker (inference handlers of an ``Algorithm``): like the
built-in object detector it resizes every image to its square input (MODEL_SIDE pixels) and answers boxes
relative to the image (0..1); it finds the one red rectangle. Deterministic, so the same image answers the
same box whichever route (and size) it came through, up to the resizing's rounding."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from PIL import Image

MODEL_SIDE = 512


def model_fn(model_dir: str) -> dict[str, Any]:
    """Nothing to load: the model is its rule."""
    return {"side": MODEL_SIDE, "dir": model_dir}


def input_fn(body: bytes, content_type: str | None) -> Any:
    """The image at the model's input size, as RGB pixels."""
    with Image.open(io.BytesIO(body)) as image:
        image.draft("RGB", (MODEL_SIDE, MODEL_SIDE))
        square = image.convert("RGB").resize((MODEL_SIDE, MODEL_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.int16)


def predict_fn(pixels: Any, model: dict[str, Any]) -> list[list[float]]:
    """``[[class, score, xmin, ymin, xmax, ymax]]`` of the red rectangle, relative to the image."""
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 100) & (pixels[..., 2] < 100)
    columns, rows = np.flatnonzero(red.any(axis=0)), np.flatnonzero(red.any(axis=1))
    if not len(columns):
        return []
    side = float(model["side"])
    return [[0, 0.97, columns[0] / side, rows[0] / side, (columns[-1] + 1) / side, (rows[-1] + 1) / side]]


def output_fn(prediction: list[list[float]], accept: str | None) -> str:
    """The built-in detector's JSON answer."""
    return json.dumps({"prediction": prediction})
