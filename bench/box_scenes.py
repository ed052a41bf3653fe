"""Random box scenes and the recall of boxes against them: what the consolidation benchmark measures with,
and what the consolidation tests measure with.

Only :mod:`gtpipe_shared.consolidation` is needed (an installed package), so the Lambda tests, which
do not import the local cloud, use it too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gtpipe_shared.consolidation import Box, iou, match_boxes


def random_scene(rng: random.Random, num_classes: int) -> tuple[int, int, list[Box]]:
    """An image (width, height) of 120-200 px with 1-4 boxes of 20-60 px overlapping each other by IoU < 0.3."""
    width, height = rng.randint(120, 200), rng.randint(120, 200)
    boxes: list[Box] = []
    wanted = rng.randint(1, 4)
    while len(boxes) < wanted:
        w, h = rng.randint(20, 60), rng.randint(20, 60)
        box = Box(rng.randrange(num_classes), rng.randint(0, width - w), rng.randint(0, height - h), w, h)
        if all(iou(box, other) < 0.3 for other in boxes):
            boxes.append(box)
    return width, height, boxes


def recall_and_iou(predicted: Sequence[Sequence[Box]], truth: Sequence[Sequence[Box]]) -> tuple[float, float]:
    """Share of true boxes matched (IoU >= 0.5, same class) and the mean IoU of those matches, over images
    (``predicted[k]`` and ``truth[k]`` are the boxes of image ``k``)."""
    hits: list[float] = []
    total = 0
    for boxes, true_boxes in zip(predicted, truth, strict=True):
        total += len(true_boxes)
        for i, j, overlap in match_boxes(boxes, true_boxes):
            if boxes[i].class_id == true_boxes[j].class_id:
                hits.append(overlap)
    return len(hits) / max(total, 1), sum(hits) / max(len(hits), 1)
