"""Serving handlers for the object detector, in the built-in object-detection algorithm's formats.

* ``model_fn(model_dir)`` loads an extracted ``model.tar.gz`` written by ``training.detection.train``;
* ``input_fn(body, content_type)`` decodes ``application/x-image``, ``image/jpeg`` or ``image/png``
  (the same decoder and errors as :mod:`training.inference`);
* ``predict_fn(data, model)`` returns, per image, an array of rows
  ``[class_id, score, xmin, ymin, xmax, ymax]``: coordinates relative (0..1) to the submitted image,
  best score first, at most 100;
* ``output_fn(prediction, accept)`` answers ``{"prediction": [[...], ...]}`` (``application/json``, the
  real-time form, and ``application/jsonlines``, one line per image, which is also what a batch
  transform writes to ``<input>.out``).

Bad requests raise :class:`~training.errors.InvalidInputError` (HTTP 400),
:class:`~training.errors.UnsupportedContentTypeError` (415) or
:class:`~training.errors.UnsupportedAcceptError` (406).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.contracts import JSONLINES_CONTENT_TYPE
from training.detection.hyperparameters import ALGORITHM
from training.detection.model import CompactDetector, DetectorArchitecture, build_detector, decode
from training.errors import InvalidInputError, ModelArtifactError
from training.images import ImageDecodeError, resize_exact
from training.serving import (
    ImageInput,
    accept_type,
    input_fn,
    load_network,
    normalization,
    open_input,
    output_content_type,
    read_model_dir,
)

__all__ = [
    "LoadedDetector",
    "input_fn",
    "model_fn",
    "output_content_type",
    "output_fn",
    "predict_fn",
    "predict_images",
]


@dataclass
class LoadedDetector:
    """A detector ready to serve, with its preprocessing and post-processing settings."""

    network: CompactDetector
    classes: list[str]
    image_size: int
    mean: torch.Tensor
    std: torch.Tensor
    nms_threshold: float
    min_score: float
    max_detections: int
    device: torch.device
    config: dict[str, Any]


def model_fn(model_dir: str | os.PathLike[str]) -> LoadedDetector:
    """Load a model directory (an extracted ``model.tar.gz``) onto the GPU if present, else the CPU.

    Raises :class:`ModelArtifactError` when a file is missing or the model is not an object detector.
    Unless ``OMP_NUM_THREADS`` is set, torch gets one CPU thread per process
    (:func:`training.serving.load_network`).
    """
    root = Path(model_dir)
    config, classes = read_model_dir(root, ALGORITHM)
    arch = DetectorArchitecture.from_json_dict(config["architecture"])
    if len(classes) != arch.num_classes:
        raise ModelArtifactError(f"{root}: {len(classes)} class names for {arch.num_classes} classes")
    network = build_detector(arch)
    device = load_network(network, root)
    network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
    mean, std = normalization(config, 3, device)
    post = config["postprocess"]
    return LoadedDetector(
        network=network,
        classes=[str(c) for c in classes],
        image_size=arch.image_size,
        mean=mean,
        std=std,
        nms_threshold=float(post["nms_threshold"]),
        min_score=float(post["min_score"]),
        max_detections=int(post["max_detections"]),
        device=device,
        config=config,
    )


def _array(item: ImageInput, size: int) -> np.ndarray:
    return resize_exact(open_input(item), size, size, 3)


def predict_fn(data: Sequence[ImageInput], model: LoadedDetector) -> list[np.ndarray]:
    """Detections per image: a float32 array (D, 6) of rows ``class_id, score, xmin, ymin, xmax, ymax``.

    The whole image is stretched to the network's square input, so relative coordinates need no
    mapping back: they are relative to the submitted image whatever its size and aspect ratio.
    """
    if len(data) == 0:
        return []
    try:
        arrays = np.stack([_array(item, model.image_size) for item in data])
    except ImageDecodeError as exc:
        raise InvalidInputError(f"not a valid image ({exc})") from None
    batch = torch.from_numpy(arrays).to(model.device, dtype=torch.float32)
    batch = ((batch / 255.0 - model.mean) / model.std).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        heat, box = model.network(batch)
        rows = decode(
            heat,
            box,
            nms_threshold=model.nms_threshold,
            min_score=model.min_score,
            max_detections=model.max_detections,
        )
    return [r.numpy().astype(np.float32) for r in rows]


def _rows(detections: np.ndarray) -> list[list[float]]:
    # Class ids as whole numbers (0.0, as the built-in writes them); float32's shortest round-trip text.
    return [[float(int(row[0])), *(float(str(np.float32(v))) for v in row[1:])] for row in detections]


def output_fn(prediction: Sequence[np.ndarray], accept: str | None, batch: bool = False) -> str:
    """Serialise detections in the built-in's format ``{"prediction": [[class_id, score, xmin, ymin,
    xmax, ymax], ...]}``.

    One image gives one JSON object. Several images give one object per line with
    ``application/jsonlines`` or ``batch=True``, and a JSON list of objects with ``application/json``.
    Raises :class:`~training.errors.UnsupportedAcceptError` for other Accept types.
    """
    media_type = accept_type(accept)
    answers = [json.dumps({"prediction": _rows(np.asarray(p).reshape(-1, 6))}) for p in prediction]
    if len(answers) == 1:
        return answers[0]
    if media_type == JSONLINES_CONTENT_TYPE or batch:
        return "\n".join(answers)
    return "[" + ", ".join(answers) + "]"


def predict_images(
    model: LoadedDetector, images: Sequence[ImageInput], batch_size: int = 32
) -> list[np.ndarray]:
    """Detections for many images (paths, bytes or PIL images), ``batch_size`` per forward pass."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        try:
            out.extend(predict_fn(chunk, model))
        except InvalidInputError as exc:
            raise InvalidInputError(f"images {start}..{start + len(chunk) - 1}: {exc}") from None
    return out
