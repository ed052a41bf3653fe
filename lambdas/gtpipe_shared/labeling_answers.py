"""A worker's answer to a labeling task: its one validator (pure).

The answer body (docs/labeling-service.md, ``POST .../answer``): ``{"label": <class id>}`` for image
classification; ``{"boxes": [{"class_id", "left", "top", "width", "height"}], "image_size": {"width",
"height"}}`` for bounding boxes, in pixels of the image (an empty list says the image shows none of the
classes). :func:`validate_answer` returns its stored form, the one the output writer reads: boxes clipped
to whole pixels inside the image, ``image_size`` whole pixels.

One validator, two sets of rules (:class:`AnswerRules`): :data:`AS_SUBMITTED` for what the labeling API
takes from a worker (at most :data:`MAX_BOXES` boxes, edges at most :data:`EDGE_TOLERANCE` outside the
image, images the service could label) and :data:`AS_STORED` for answers read back by the output writer
(any box that overlaps its image is clipped to it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.consolidation import Box, clip_box
from gtpipe_shared.images import MAX_IMAGE_PIXELS
from gtpipe_shared.labeling_errors import InvalidAnswer
from gtpipe_shared.tasks import TASK_TYPES, task_spec

MAX_BOXES = 500
# A box may overshoot the image edge by this share of the side (mouse drags end a pixel outside); it is
# clipped. Anything further out is a client bug and is refused.
EDGE_TOLERANCE = 0.02


@dataclass(frozen=True)
class AnswerRules:
    """Limits on a box answer; None: no limit (``edge_tolerance`` None: any overshoot is clipped)."""

    max_boxes: int | None
    edge_tolerance: float | None
    max_image_pixels: int | None


AS_SUBMITTED = AnswerRules(MAX_BOXES, EDGE_TOLERANCE, MAX_IMAGE_PIXELS)
# Stored answers passed AS_SUBMITTED when they arrived; the output writer re-checks their shape only.
AS_STORED = AnswerRules(None, None, None)


def is_number(value: Any) -> bool:
    """A finite JSON number (booleans are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _class_id(value: Any, class_count: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidAnswer(f"{where} must be an integer class id, got {json.dumps(value)[:40]}")
    if not 0 <= value < class_count:
        raise InvalidAnswer(f"{where} {value} is not a known class id (0..{class_count - 1})")
    return value


def validate_answer(
    task_type: str,
    answer: Any,
    class_names: Sequence[str],
    image_size: tuple[int, int] | None = None,
    *,
    rules: AnswerRules = AS_SUBMITTED,
) -> dict[str, Any]:
    """The answer in its stored form, or InvalidAnswer (a ValueError) naming the problem.

    ``image_size`` (the server's ``(width, height)`` of the image, when known) is the size stored: a box
    answer may leave its own out, and one that differs is refused. ``image_size`` must be whole pixels.
    Boxes overshooting an edge within ``rules.edge_tolerance`` of the side are clipped; stored boxes are
    whole pixels inside the image.
    """
    if not isinstance(answer, Mapping):
        raise InvalidAnswer("answer must be a JSON object")
    try:
        boxes_task = task_spec(task_type).boxes
    except ValueError:
        raise InvalidAnswer(f"unknown task type {task_type} (known: {', '.join(TASK_TYPES)})") from None
    if not boxes_task:
        if "label" not in answer:
            raise InvalidAnswer("answer needs 'label' (a class id)")
        return {"label": _class_id(answer["label"], len(class_names), "label")}
    width, height = _answer_size(answer.get("image_size"), image_size, rules)
    boxes = answer.get("boxes")
    if not isinstance(boxes, list):
        raise InvalidAnswer("answer needs 'boxes' (a list, empty when the image shows no object)")
    if rules.max_boxes is not None and len(boxes) > rules.max_boxes:
        raise InvalidAnswer(f"at most {rules.max_boxes} boxes per image, got {len(boxes)}")
    clipped = [
        _clipped_box(box, f"boxes[{n}]", len(class_names), width, height, rules)
        for n, box in enumerate(boxes)
    ]
    if width != int(width) or height != int(height):
        raise InvalidAnswer(f"image_size {width!r} x {height!r} must be positive whole numbers")
    whole_width, whole_height = int(width), int(height)
    return {
        "boxes": [clip_box(box, whole_width, whole_height).as_annotation() for box in clipped],
        "image_size": {"width": whole_width, "height": whole_height},
    }


def _clipped_box(
    box: Any, where: str, class_count: int, width: float, height: float, rules: AnswerRules
) -> Box:
    """One box of an answer, checked and clipped to the image (still in fractional pixels)."""
    if not isinstance(box, Mapping):
        raise InvalidAnswer(f"{where} must be an object")
    class_id = _class_id(box.get("class_id"), class_count, f"{where}.class_id")
    edges = {}
    for name in ("left", "top", "width", "height"):
        if not is_number(box.get(name)):
            raise InvalidAnswer(f"{where}.{name} must be a number")
        edges[name] = float(box[name])
    if edges["width"] <= 0 or edges["height"] <= 0:
        raise InvalidAnswer(f"{where} must have a positive width and height")
    left, right = _clip_span(edges["left"], edges["width"], width, where, "width", rules)
    top, bottom = _clip_span(edges["top"], edges["height"], height, where, "height", rules)
    return Box(class_id, left, top, right - left, bottom - top)


def _answer_size(size: Any, known: tuple[int, int] | None, rules: AnswerRules) -> tuple[float, float]:
    """The image size a box answer is drawn on: the server's ``known`` size (the answer's own, when it
    gives one, must equal it), else the answer's, bounded like images the service takes."""
    if size is None and known is not None:
        return float(known[0]), float(known[1])
    if not isinstance(size, Mapping):
        raise InvalidAnswer("answer needs 'image_size': {width, height}")
    width: Any = size.get("width")
    height: Any = size.get("height")
    if not (is_number(width) and is_number(height) and width > 0 and height > 0):
        raise InvalidAnswer("image_size width and height must be positive numbers")
    if known is not None and (width, height) != known:
        raise InvalidAnswer(
            f"image_size {width:g}x{height:g} is not the image's size ({known[0]}x{known[1]}); "
            "draw on the image as served"
        )
    if rules.max_image_pixels is not None and width * height > rules.max_image_pixels:
        raise InvalidAnswer(f"image_size {width:g}x{height:g} is larger than any image the service labels")
    return float(width), float(height)


def _clip_span(
    start: float, length: float, side: float, where: str, axis: str, rules: AnswerRules
) -> tuple[float, float]:
    reach = math.inf if rules.edge_tolerance is None else rules.edge_tolerance * side
    end = start + length
    if start < -reach or end > side + reach:
        raise InvalidAnswer(f"{where} lies outside the image ({axis} {side:g})")
    start, end = max(start, 0.0), min(end, side)
    if end - start <= 0:
        raise InvalidAnswer(f"{where} has no area inside the image")
    return start, end
