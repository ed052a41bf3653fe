"""Simulated bounding-box annotators (no AWS, no I/O).

A worker starts from the reference boxes of an image (the truth) and, per box:

- misses it with probability ``miss_rate`` (draws nothing for it);
- moves each edge by Gaussian noise of standard deviation ``jitter`` times the box's size along that
  axis (``0.05``: a few pixels on a 60-pixel box), rounding to whole pixels;
- picks a wrong class with probability ``wrong_class_rate`` (uniformly among the others).

Every drawn box is clipped inside the image and keeps at least one pixel. Everything is deterministic for
a given :class:`random.Random`. The answers are consolidated by the builtin labeling service's own code,
:func:`gtpipe_shared.consolidation.consolidate_boxes` (IoU clustering weighted by worker reliability).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gtpipe_shared.consolidation import Box, BoxAnswer, clip_box


@dataclass(frozen=True)
class BoxReference:
    """The truth for one image: its size in pixels and its boxes."""

    width: int
    height: int
    depth: int
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class BoxNoise:
    """How one simulated worker errs (see the module docstring)."""

    jitter: float = 0.05
    miss_rate: float = 0.05
    wrong_class_rate: float = 0.02

    def __post_init__(self) -> None:
        if self.jitter < 0:
            raise ValueError(f"box jitter must not be negative, got {self.jitter}")
        for name in ("miss_rate", "wrong_class_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"box {name} must be in [0, 1], got {value}")


def _number(entry: Mapping[str, object], key: str, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {key!r} must be a number, got {value!r}")
    return float(value)


def reference_boxes(entry: Mapping[str, object], num_classes: int, where: str) -> tuple[str, BoxReference]:
    """``(source-ref, BoxReference)`` of one reference line
    (``{"source-ref", "image_size": {"width", "height", "depth"}, "annotations": [{"class_id", "left",
    "top", "width", "height"}]}``; ``image_size`` may also be Ground Truth's one-element list).
    ValueError names the line and the problem."""
    source = entry.get("source-ref")
    if not isinstance(source, str) or not source:
        raise ValueError(f"{where}: no 'source-ref'")
    size = entry.get("image_size")
    if isinstance(size, list) and len(size) == 1:
        size = size[0]
    if not isinstance(size, Mapping):
        raise ValueError(f'{where}: \'image_size\' must be {{"width", "height", "depth"}}')
    width = int(_number(size, "width", where))
    height = int(_number(size, "height", where))
    depth = int(size.get("depth", 3)) if isinstance(size.get("depth", 3), int) else 3
    if width < 1 or height < 1:
        raise ValueError(f"{where}: image_size {width}x{height} is empty")
    annotations = entry.get("annotations")
    if not isinstance(annotations, list):
        raise ValueError(f"{where}: 'annotations' must be a list of boxes")
    boxes = []
    for position, annotation in enumerate(annotations):
        if not isinstance(annotation, Mapping):
            raise ValueError(f"{where}: annotation {position} is not an object")
        class_id = annotation.get("class_id")
        if isinstance(class_id, bool) or not isinstance(class_id, int) or not 0 <= class_id < num_classes:
            raise ValueError(
                f"{where}: annotation {position} class_id {class_id!r} is not a class index 0..{num_classes - 1}"
            )
        box = Box(
            class_id,
            _number(annotation, "left", where),
            _number(annotation, "top", where),
            _number(annotation, "width", where),
            _number(annotation, "height", where),
        )
        if box.width <= 0 or box.height <= 0:
            raise ValueError(f"{where}: annotation {position} has no area ({box.width} x {box.height})")
        boxes.append(clip_box(box, width, height))
    return source, BoxReference(width, height, depth, tuple(boxes))


def simulate_boxes(
    reference: BoxReference, num_classes: int, noise: BoxNoise, rng: random.Random
) -> tuple[Box, ...]:
    """The boxes one worker draws on an image (see the module docstring)."""
    drawn = []
    for box in reference.boxes:
        if rng.random() < noise.miss_rate:
            continue
        dx, dy = noise.jitter * box.width, noise.jitter * box.height
        left = box.left + rng.gauss(0.0, dx)
        right = box.right + rng.gauss(0.0, dx)
        top = box.top + rng.gauss(0.0, dy)
        bottom = box.bottom + rng.gauss(0.0, dy)
        left, right = min(left, right), max(left, right)
        top, bottom = min(top, bottom), max(top, bottom)
        class_id = box.class_id
        if num_classes > 1 and rng.random() < noise.wrong_class_rate:
            class_id = rng.randrange(num_classes - 1)
            class_id += class_id >= box.class_id  # uniform among the other classes
        drawn.append(
            clip_box(Box(class_id, left, top, right - left, bottom - top), reference.width, reference.height)
        )
    return tuple(drawn)


def simulate_box_answers(
    reference: BoxReference,
    num_classes: int,
    workers: Sequence[str],
    noise: BoxNoise | Mapping[str, BoxNoise],
    rng: random.Random,
) -> list[BoxAnswer]:
    """One answer per worker; ``noise`` is shared, or given per worker id."""
    answers = []
    for worker in workers:
        worker_noise = noise[worker] if isinstance(noise, Mapping) else noise
        answers.append(BoxAnswer(worker, simulate_boxes(reference, num_classes, worker_noise, rng)))
    return answers
