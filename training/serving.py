"""Serving pieces both algorithms' handlers share (SageMaker inference convention): the model directory
check, model loading (``load_network``, ``normalization``), request decoding (``input_fn``, ``open_input``)
and content negotiation (``accept_type``).

Each algorithm's handlers module (:mod:`training.classification.inference`,
:mod:`training.detection.inference`) adds ``model_fn``, ``predict_fn`` and ``output_fn``. Bad requests
raise :class:`~training.errors.InvalidInputError` (HTTP 400),
:class:`~training.errors.UnsupportedContentTypeError` (415) or
:class:`~training.errors.UnsupportedAcceptError` (406).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from training.contracts import (
    CLASSES_FILE,
    IMAGE_CONTENT_TYPES,
    JSON_CONTENT_TYPE,
    JSONLINES_CONTENT_TYPE,
    MODEL_CONFIG_FILE,
    MODEL_FORMAT_VERSION,
    WEIGHTS_FILE,
)
from training.errors import (
    InvalidInputError,
    ModelArtifactError,
    UnsupportedAcceptError,
    UnsupportedContentTypeError,
)
from training.images import ImageDecodeError, open_image

if TYPE_CHECKING:  # torch is imported when a model loads: reading a model directory needs no torch
    import torch

ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image
"""What ``predict_fn`` and ``predict_images`` accept per image: encoded bytes, a path or a PIL image."""

UNNAMED_ALGORITHM = "image-classification"
"""The algorithm of a model whose ``model-config.json`` names none: artifacts written before the
``algorithm`` entry existed were all image classification's."""


def read_model_dir(root: Path, algorithm: str) -> tuple[dict[str, Any], list[str]]:
    """The model configuration and class names of a model directory trained by ``algorithm``.

    Raises :class:`ModelArtifactError` when a file is missing, the format version is not this code's, or
    another algorithm trained the model (a configuration naming none is :data:`UNNAMED_ALGORITHM`'s).
    """
    for name in (WEIGHTS_FILE, CLASSES_FILE, MODEL_CONFIG_FILE):
        if not (root / name).is_file():
            raise ModelArtifactError(f"{root} is not a model directory: {name} is missing")
    config = json.loads((root / MODEL_CONFIG_FILE).read_text(encoding="utf-8"))
    if config.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelArtifactError(
            f"{root}: model format_version {config.get('format_version')!r} is not {MODEL_FORMAT_VERSION}"
        )
    trained_by = config.get("algorithm", UNNAMED_ALGORITHM)
    if trained_by != algorithm:
        raise ModelArtifactError(
            f"{root}: the model was trained by the {trained_by} algorithm, not {algorithm}"
        )
    classes = json.loads((root / CLASSES_FILE).read_text(encoding="utf-8"))
    return config, classes


def load_network(network: torch.nn.Module, root: Path) -> torch.device:
    """Load ``root``'s weights into ``network``, on the GPU if present, else the CPU, in eval mode; returns
    the device.

    Unless ``OMP_NUM_THREADS`` is set, this limits torch to one CPU thread per process: the usual
    setting for model servers, and measurably faster for small images on shared cores.
    """
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if "OMP_NUM_THREADS" not in os.environ:
        # One intra-op thread per serving process (servers scale with workers). Measured on 2 shared
        # cores: p50 1.9-2.0 ms with 1 thread vs 2.6-10.6 ms with 2, and batches faster too.
        torch.set_num_threads(1)
    network.load_state_dict(torch.load(root / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    network.to(device).eval()
    return device


def normalization(
    config: dict[str, Any], channels: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model configuration's per-channel ``(mean, std)`` as ``(1, channels, 1, 1)`` tensors on ``device``."""
    import torch

    norm = config["normalization"]
    mean, std = (
        torch.tensor(norm[name], dtype=torch.float32, device=device).view(1, channels, 1, 1)
        for name in ("mean", "std")
    )
    return mean, std


def open_input(item: ImageInput) -> Image.Image:
    """One request image as a PIL image: as given, or decoded from its bytes or path (raises
    :class:`~training.images.ImageDecodeError`)."""
    if isinstance(item, Image.Image):
        return item
    return open_image(bytes(item) if isinstance(item, bytearray | memoryview) else item)


def media_type_of(value: str) -> str:
    """The media type of a Content-Type or Accept entry: parameters dropped, lower case."""
    return value.split(";", 1)[0].strip().lower()


def input_fn(
    request_body: bytes | bytearray | memoryview, request_content_type: str | None
) -> list[Image.Image]:
    """Decode one request image; returns a one-image list for :func:`predict_fn`.

    Raises :class:`UnsupportedContentTypeError` unless the type is ``application/x-image``,
    ``image/jpeg`` or ``image/png`` (parameters ignored), and :class:`InvalidInputError` for an empty,
    corrupt or non-image body.
    """
    media_type = media_type_of(request_content_type or "")
    if media_type not in IMAGE_CONTENT_TYPES:
        raise UnsupportedContentTypeError(
            f"unsupported content type {request_content_type!r}; use one of {', '.join(IMAGE_CONTENT_TYPES)}"
        )
    if not isinstance(request_body, bytes | bytearray | memoryview):
        raise InvalidInputError(f"request body must be bytes, got {type(request_body).__name__}")
    if len(request_body) == 0:
        raise InvalidInputError("request body is empty; send the image bytes")
    try:
        return [open_image(bytes(request_body))]
    except ImageDecodeError as exc:
        raise InvalidInputError(f"request body is not a valid JPEG or PNG image ({exc})") from None


def accept_type(accept: str | None) -> str:
    """The answer's media type for an Accept header (JSON by default); raises
    :class:`UnsupportedAcceptError` when neither JSON nor JSON Lines is acceptable."""
    if not accept:
        return JSON_CONTENT_TYPE
    for part in accept.split(","):
        media_type = media_type_of(part)
        if media_type in (JSON_CONTENT_TYPE, JSONLINES_CONTENT_TYPE):
            return media_type
        if media_type in ("*/*", "application/*"):
            return JSON_CONTENT_TYPE
    raise UnsupportedAcceptError(
        f"unsupported accept type {accept!r}; use {JSON_CONTENT_TYPE} or {JSONLINES_CONTENT_TYPE}"
    )


def output_content_type(accept: str | None) -> str:
    """The Content-Type of :func:`output_fn`'s answer for an Accept header."""
    return accept_type(accept)
