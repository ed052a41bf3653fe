"""Image streams for drift tests: the demo's digits as PNG bytes, as trained on, and shifted (rotated and
recoloured) as a serving stream that drifted. Deterministic: sklearn's digits in a fixed order."""

from __future__ import annotations

import io
from collections.abc import Iterator

from PIL import Image, ImageOps

SIDE = 32


def digit_images(start: int, count: int) -> Iterator[tuple[int, Image.Image]]:
    """``count`` of sklearn's 8x8 digits from ``start``, as the demo writes them (32x32 grey, bilinear):
    (class, image)."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index in range(start, start + count):
        pixels = np.clip(np.rint(digits.images[index] * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
        yield int(digits.target[index]), image


def shifted(image: Image.Image) -> Image.Image:
    """The drifted version of a digit: rotated a quarter turn and recoloured (dark ink on a light ground)."""
    return ImageOps.invert(image.rotate(90))


def png(image: Image.Image) -> bytes:
    """The image as PNG bytes."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
