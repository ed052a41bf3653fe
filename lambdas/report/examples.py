"""Which validation images the report shows, and how detections match true boxes (pure functions).

Classification: per true class, the wrong predictions first (at most half the row when there are
enough correct ones), then correct ones. Detection: per class, images with a miss or a false positive
of that class first. Detections below ``DISPLAY_MIN_SCORE`` are not drawn and do not count as false
positives (the evaluation's mAP still uses every detection). A chosen image is decoded and downscaled
with :func:`thumbnail`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from gtpipe_shared.images import MAX_IMAGE_PIXELS
from gtpipe_shared.metrics import match_detection
from PIL import Image

from report.model import Box

DISPLAY_MIN_SCORE = 0.3
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Prediction:
    """A classification validation image before its pixels are fetched."""

    source_ref: str
    true_class: int
    predicted_class: int | None
    confidence: float | None

    @property
    def correct(self) -> bool:
        """The prediction equals the true class."""
        return self.predicted_class == self.true_class


def choose_classification(
    predictions: Sequence[Prediction], num_classes: int, per_class: int
) -> list[Prediction]:
    """Up to ``per_class`` images of each true class: wrong ones first, then correct ones."""
    chosen: list[Prediction] = []
    for class_id in range(num_classes):
        mine = [p for p in predictions if p.true_class == class_id]
        wrong = [p for p in mine if not p.correct]
        right = [p for p in mine if p.correct]
        # Keep both kinds visible: wrong ones take at most half the row unless correct ones run out.
        wrong_slots = max(per_class // 2, per_class - len(right))
        picked = wrong[:wrong_slots]
        picked += right[: per_class - len(picked)]
        chosen.extend(picked)
    return chosen


@dataclass(frozen=True)
class BoxMatch:
    """Indices of matched true boxes and of drawn detections that matched one."""

    matched_truth: frozenset[int]
    matched_detections: frozenset[int]
    drawn_detections: frozenset[int]


def match_boxes(
    truth: Sequence[tuple[int, Box]],
    detections: Sequence[tuple[int, float, Box]] | None,
    min_score: float = DISPLAY_MIN_SCORE,
    iou_threshold: float = IOU_THRESHOLD,
) -> BoxMatch:
    """Greedy matching, highest score first: a detection hits an unmatched true box of its class."""
    drawn = [i for i, det in enumerate(detections or []) if det[1] >= min_score]
    used: set[int] = set()
    hits: set[int] = set()
    for index in sorted(drawn, key=lambda i: -(detections or [])[i][1]):
        class_id, _score, box = (detections or [])[index]
        if match_detection(class_id, box, truth, used, iou_threshold):
            hits.add(index)
    return BoxMatch(frozenset(used), frozenset(hits), frozenset(drawn))


def class_errors(
    truth: Sequence[tuple[int, Box]], detections: Sequence[tuple[int, float, Box]] | None, class_id: int
) -> tuple[int, int]:
    """``(misses, false positives)`` of ``class_id`` in one image."""
    match = match_boxes(truth, detections)
    misses = sum(1 for i, (c, _) in enumerate(truth) if c == class_id and i not in match.matched_truth)
    false_positives = sum(
        1
        for i in match.drawn_detections
        if (detections or [])[i][0] == class_id and i not in match.matched_detections
    )
    return misses, false_positives


def classes_in(
    truth: Sequence[tuple[int, Box]], detections: Sequence[tuple[int, float, Box]] | None
) -> set[int]:
    """Classes with a true box or a drawn detection in the image."""
    present = {c for c, _ in truth}
    present |= {c for c, score, _ in detections or [] if score >= DISPLAY_MIN_SCORE}
    return present


def choose_detection_rows(
    images: Sequence[tuple[Sequence[tuple[int, Box]], Sequence[tuple[int, float, Box]] | None]],
    num_classes: int,
    per_class: int,
) -> dict[int, list[int]]:
    """For each class, indices of up to ``per_class`` images showing it: images with errors first."""
    rows: dict[int, list[int]] = {}
    for class_id in range(num_classes):
        with_errors: list[int] = []
        clean: list[int] = []
        for index, (truth, detections) in enumerate(images):
            if class_id not in classes_in(truth, detections):
                continue
            misses, false_positives = class_errors(truth, detections, class_id)
            (with_errors if misses or false_positives else clean).append(index)
        picked = with_errors[: max(per_class // 2, per_class - len(clean))]
        picked += clean[: per_class - len(picked)]
        rows[class_id] = picked
    return rows


def choose_detection_samples(
    images: Sequence[tuple[Sequence[tuple[int, Box]], Sequence[tuple[int, float, Box]] | None]],
    count: int,
) -> list[int]:
    """Indices of ``count`` sample images covering as many classes as possible, in manifest order."""
    chosen: list[int] = []
    covered: set[int] = set()
    for index, (truth, _detections) in enumerate(images):
        classes = {c for c, _ in truth}
        if classes - covered:
            chosen.append(index)
            covered |= classes
        if len(chosen) >= count:
            return sorted(chosen)
    for index in range(len(images)):
        if len(chosen) >= count:
            break
        if index not in chosen:
            chosen.append(index)
    return sorted(chosen)


def thumbnail(data: bytes, size: int) -> Image.Image:
    """Decode an image and shrink it to fit ``size`` x ``size`` (RGB).

    Images declaring more than ``MAX_IMAGE_PIXELS`` (the predict API's limit) are refused before their
    pixels are decoded: a few bytes of PNG can claim billions of pixels.
    """
    try:
        opened = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image declares too many pixels ({exc})") from exc
    width, height = opened.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"image declares {width}x{height} pixels (limit {MAX_IMAGE_PIXELS})")
    opened.draft("RGB", (size, size))
    image = opened.convert("RGB")
    image.thumbnail((size, size))
    return image
