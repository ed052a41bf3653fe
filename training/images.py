"""Image decoding and resizing shared by training and serving, so both see identical pixels.

Policy (``image_shape`` = C,H,W):

* without ``resize``: scale the image so it covers HxW (aspect ratio kept), then centre-crop to HxW;
* with ``resize``: scale so the shorter side of an HxW-shaped box is ``resize`` pixels, store that box,
  then crop HxW from it (randomly when augmenting, centred otherwise), as the built-in does.

Images are kept as uint8 arrays (C, h, w) until batching, to keep memory at one byte per pixel.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Never decode half an image silently: a truncated file must be reported as bad.
Image.LOAD_TRUNCATED_IMAGES = False  # type: ignore[attr-defined,unused-ignore]


class ImageDecodeError(ValueError):
    """The bytes or file are not a decodable image."""


@dataclass(frozen=True)
class ImageSpec:
    """How raw images become network inputs: ``image_shape`` plus the optional ``resize``."""

    channels: int
    height: int
    width: int
    resize: int | None = None

    @property
    def stored_size(self) -> tuple[int, int]:
        """(height, width) of the stored image, before the final crop."""
        if self.resize is None:
            return self.height, self.width
        scale = self.resize / min(self.height, self.width)
        return max(self.height, round(self.height * scale)), max(self.width, round(self.width * scale))


def open_image(source: bytes | str | os.PathLike[str]) -> Image.Image:
    """Decode an image from bytes or a file path, fully (so corruption is detected now, not later)."""
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning would only be logged; treat huge images like other input.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            stream = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
            image = Image.open(stream)
            image.load()
            return ImageOps.exif_transpose(image) or image
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"cannot decode image: {exc}") from exc
    except Image.DecompressionBombWarning as exc:
        raise ImageDecodeError(f"image too large: {exc}") from exc


def to_array(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """Convert a decoded image to a uint8 array of shape (C, *spec.stored_size)."""
    mode = "L" if spec.channels == 1 else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    out_h, out_w = spec.stored_size
    if image.size != (out_w, out_h):
        # Cover the target box, keeping the aspect ratio, then crop the centre.
        scale = max(out_h / image.height, out_w / image.width)
        new_w = max(out_w, round(image.width * scale))
        new_h = max(out_h, round(image.height * scale))
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - out_w) // 2, (new_h - out_h) // 2
        image = image.crop((left, top, left + out_w, top + out_h))
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        return array[np.newaxis, :, :].copy()
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def resize_exact(image: Image.Image, height: int, width: int, channels: int = 3) -> np.ndarray:
    """Stretch an image to exactly HxW (aspect ratio not kept) as a uint8 (C, H, W) array.

    Object detection resizes this way, as the built-in does ("rescaled to a square"): nothing is cropped,
    so every box stays in the picture and relative coordinates are the same before and after.
    """
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        return array[np.newaxis, :, :].copy()
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def center_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop the centre HxW of a (..., h, w) array (a no-op when it is already HxW)."""
    h, w = array.shape[-2:]
    top, left = (h - height) // 2, (w - width) // 2
    return array[..., top : top + height, left : left + width]


def load_array(source: bytes | str | os.PathLike[str], spec: ImageSpec) -> np.ndarray:
    """Decode and resize one image to the stored uint8 form (see the module docstring)."""
    return to_array(open_image(source), spec)
