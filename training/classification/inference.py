"""Serving handlers with the SageMaker inference convention and the built-in algorithm's formats.

* ``model_fn(model_dir)`` loads an extracted ``model.tar.gz``;
* ``input_fn(body, content_type)`` decodes ``application/x-image``, ``image/jpeg`` or ``image/png``;
* ``predict_fn(data, model)`` returns class probabilities, one row per image;
* ``output_fn(prediction, accept)`` encodes them: ``application/json`` gives the real-time form, a JSON
  list of probabilities (``[0.01, 0.97, ...]``); ``application/jsonlines`` gives the batch-transform
  form, ``{"prediction": [...]}`` per image. ``output_fn(..., batch=True)`` gives the batch form for
  ``application/json`` too (what a batch transform writes to ``<input>.out``).

Bad requests raise :class:`~training.errors.InvalidInputError` (HTTP 400),
:class:`~training.errors.UnsupportedContentTypeError` (415) or
:class:`~training.errors.UnsupportedAcceptError` (406); ``status_code`` carries the number.
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

from training.classification.hyperparameters import ALGORITHM
from training.classification.model import Architecture, CompactResNet, build_model
from training.contracts import JSONLINES_CONTENT_TYPE
from training.errors import InvalidInputError, ModelArtifactError
from training.images import ImageDecodeError, ImageSpec, center_crop, to_array
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
    "ImageInput",
    "LoadedModel",
    "accept_type",
    "input_fn",
    "model_fn",
    "output_content_type",
    "output_fn",
    "predict_fn",
    "predict_images",
    "read_model_dir",
]


@dataclass
class LoadedModel:
    """A network ready to serve, with what it needs to preprocess and label its answers."""

    network: CompactResNet
    classes: list[str]
    spec: ImageSpec
    mean: torch.Tensor
    std: torch.Tensor
    multi_label: bool
    device: torch.device
    config: dict[str, Any]


def model_fn(model_dir: str | os.PathLike[str]) -> LoadedModel:
    """Load a model directory (an extracted ``model.tar.gz``) onto the GPU if present, else the CPU.

    Unless ``OMP_NUM_THREADS`` is set, torch gets one CPU thread per process
    (:func:`training.serving.load_network`).
    """
    root = Path(model_dir)
    config, classes = read_model_dir(root, ALGORITHM)
    arch = Architecture.from_json_dict(config["architecture"])
    if len(classes) != arch.num_classes:
        raise ModelArtifactError(f"{root}: {len(classes)} class names for {arch.num_classes} outputs")
    network = build_model(arch)
    device = load_network(network, root)
    image = config["image"]
    channels = int(image["channels"])
    mean, std = normalization(config, channels, device)
    return LoadedModel(
        network=network,
        classes=[str(c) for c in classes],
        spec=ImageSpec(channels, int(image["height"]), int(image["width"]), image.get("resize")),
        mean=mean,
        std=std,
        multi_label=bool(config.get("multi_label", False)),
        device=device,
        config=config,
    )


def _preprocess(images: Sequence[ImageInput], model: LoadedModel) -> torch.Tensor:
    arrays = []
    for item in images:
        image = to_array(open_input(item), model.spec)
        arrays.append(center_crop(image, model.spec.height, model.spec.width))
    batch = torch.from_numpy(np.stack(arrays)).to(model.device, dtype=torch.float32)
    return (batch / 255.0 - model.mean) / model.std


def predict_fn(data: Sequence[ImageInput], model: LoadedModel) -> np.ndarray:
    """Class probabilities of shape (len(data), num_classes): softmax, or sigmoid for multi-label."""
    if len(data) == 0:
        return np.zeros((0, len(model.classes)), dtype=np.float32)
    try:
        inputs = _preprocess(data, model)
    except ImageDecodeError as exc:
        raise InvalidInputError(f"not a valid image ({exc})") from None
    with torch.inference_mode():
        logits = model.network(inputs).float()
        probabilities = torch.sigmoid(logits) if model.multi_label else torch.softmax(logits, dim=1)
    return probabilities.cpu().numpy()


def output_fn(prediction: np.ndarray, accept: str | None, batch: bool = False) -> str:
    """Serialise probabilities in the built-in algorithm's formats.

    ``application/json``: one image -> ``[p0, p1, ...]`` (real-time endpoint); several -> a list of
    such lists; with ``batch=True`` -> ``{"prediction": [...]}`` per image (batch transform), one per
    line. ``application/jsonlines``: always ``{"prediction": [...]}`` lines. Lines are joined by ``\\n``
    without a trailing newline (a transform job's ``AssembleWith: Line`` adds its own).
    """
    media_type = accept_type(accept)
    # float32's shortest round-trip text: "0.9612384", not float64 noise like "0.961238443851471".
    rows = [[float(str(v)) for v in row] for row in np.atleast_2d(np.asarray(prediction, dtype=np.float32))]
    if media_type == JSONLINES_CONTENT_TYPE or batch:
        return "\n".join(json.dumps({"prediction": row}) for row in rows)
    return json.dumps(rows[0] if len(rows) == 1 else rows)


def predict_images(model: LoadedModel, images: Sequence[ImageInput], batch_size: int = 64) -> np.ndarray:
    """Probabilities for many images at once (paths, bytes or PIL images), ``batch_size`` per forward
    pass: far faster than one request per image. Raises :class:`InvalidInputError` naming the index of
    an undecodable image."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    rows = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        try:
            rows.append(predict_fn(chunk, model))
        except InvalidInputError:
            for offset, item in enumerate(chunk):  # find which one, for a useful message
                try:
                    predict_fn([item], model)
                except InvalidInputError as exc:
                    raise InvalidInputError(f"image {start + offset}: {exc}") from None
            raise
    if not rows:
        return np.zeros((0, len(model.classes)), dtype=np.float32)
    return np.concatenate(rows)
