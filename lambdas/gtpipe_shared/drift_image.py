"""One image's drift features with Pillow (``gtpipe_shared.drift`` defines them).

Only functions that load the image layer (Pillow: predict, monitor) import this module. The statistics are
computed on the grey image fitted into ANALYSIS_SIDE x ANALYSIS_SIDE pixels, so they cost the same for any
image size and ``blur`` (the Laplacian's variance) does not depend on the resolution sent; ``size`` is the
original's.
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageFilter, ImageStat

from gtpipe_shared.drift import EMBEDDING_SIDE, Features

ANALYSIS_SIDE = 128
# The 4-neighbour Laplacian; offset 128 keeps its negative half inside an 8-bit image.
LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)


def image_features(data: bytes, size: tuple[int, int] | None = None) -> Features:
    """The features of an encoded JPEG or PNG; ``size`` (width, height) overrides the decoded size (an upload
    downscaled before the endpoint call keeps its original size). Pillow's errors propagate."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = size or image.size
        # JPEG decodes straight to a smaller grey image (draft mode); PNG ignores it.
        image.draft("L", (ANALYSIS_SIDE, ANALYSIS_SIDE))
        grey = image.convert("L")
    grey.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    stat = ImageStat.Stat(grey)
    laplacian = ImageStat.Stat(grey.filter(LAPLACIAN))
    thumb = grey.resize((EMBEDDING_SIDE, EMBEDDING_SIDE), Image.Resampling.BOX)
    return Features(
        stats={
            "size": math.sqrt(float(width) * float(height)),
            "brightness": stat.mean[0] / 255.0,
            "contrast": stat.stddev[0] / 255.0,
            "blur": laplacian.var[0] / 255.0**2,
        },
        embedding=[value / 255.0 for value in thumb.tobytes()],
    )
