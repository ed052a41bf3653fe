"""Simulated bounding-box annotators and Ground Truth-style box consolidation (no AWS, no I/O).

**Annotators.** A worker starts from the reference boxes of an image (the truth) and, per box:

- misses it with probability ``miss_rate`` (draws nothing for it);
- moves each edge by Gaussian noise of standard deviation ``jitter`` times the box's size along that
  axis (``0.05``: a few pixels on a 60-pixel box), rounding to whole pixels;
- picks a wrong class with probability ``wrong_class_rate`` (uniformly among the others).

Every drawn box is clipped inside the image and keeps at least one pixel. Everything is deterministic for
a given :class:`random.Random`.

**Consolidation** (:func:`consolidate_boxes`) merges the workers' boxes of each image the way Ground
Truth's bounding-box consolidation does, weighting workers by a reliability estimated from agreement:

1. *cluster*: workers are visited in order of decreasing weight; each worker's boxes are matched to the
   existing clusters greedily by IoU with the cluster's current (weighted mean) box, highest IoU first,
   IoU at least ``iou_threshold`` (0.5) and at most one box per worker per cluster, whatever its class;
   a box matching no cluster starts a new one;
2. *keep* the clusters whose workers hold more than half of the image's total worker weight (with equal
   weights: drawn by a majority of the workers; a box only one of three workers drew is dropped);
3. *merge*: the class is the weighted vote of the cluster's boxes, the box the weighted mean of their
   edges (rounded to pixels), and the confidence ``share of the image's workers in the cluster x mean
   IoU of their boxes with the merged box`` (1.0 when every worker drew the same box);
4. *re-weight*: a worker's reliability is ``(agreement + 2) / (opportunities + 3)`` over all images,
   where agreement sums, for each kept box, the IoU of the worker's own box with it (0 if the worker
   missed it or gave another class) and opportunities counts the kept boxes of the images the worker
   answered plus the worker's boxes that were dropped (spurious ones);

repeated until the weights settle. Weights are the reliabilities (bounded below by ``MIN_WEIGHT``).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIN_WEIGHT = 0.05
MAX_ITERATIONS = 20
TOLERANCE = 1e-6
PRIOR_AGREE = 2.0
PRIOR_TOTAL = 3.0
DEFAULT_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Box:
    """A box in pixels: class index, left/top edge, width and height (left/top inclusive)."""

    class_id: int
    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        """The right edge (``left + width``)."""
        return self.left + self.width

    @property
    def bottom(self) -> float:
        """The bottom edge (``top + height``)."""
        return self.top + self.height

    def as_annotation(self) -> dict[str, int]:
        """Ground Truth's ``annotations`` entry: ``class_id``, ``left``, ``top``, ``width``, ``height``."""
        return {
            "class_id": self.class_id,
            "left": round(self.left),
            "top": round(self.top),
            "width": round(self.width),
            "height": round(self.height),
        }


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


BoxAnswer = tuple[str, tuple[Box, ...]]
"""``(worker id, the boxes that worker drew on the image)``."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap; classes are ignored)."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def clip_box(box: Box, image_width: int, image_height: int) -> Box:
    """``box`` in whole pixels inside a ``image_width`` x ``image_height`` image, at least 1 x 1."""
    left = min(max(round(box.left), 0), image_width - 1)
    top = min(max(round(box.top), 0), image_height - 1)
    right = min(max(round(box.right), left + 1), image_width)
    bottom = min(max(round(box.bottom), top + 1), image_height)
    return Box(box.class_id, left, top, right - left, bottom - top)


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
        answers.append((worker, simulate_boxes(reference, num_classes, worker_noise, rng)))
    return answers


@dataclass(frozen=True)
class ConsolidatedBox:
    """A merged box, its confidence (0..1) and how many workers drew it."""

    box: Box
    confidence: float
    workers: int


@dataclass(frozen=True)
class BoxConsolidation:
    """Result of :func:`consolidate_boxes`: merged boxes per image, the worker weights, iterations."""

    images: list[list[ConsolidatedBox]]
    weights: dict[str, float]
    iterations: int


@dataclass
class _Cluster:
    members: list[tuple[str, Box]]
    center: Box


def _weighted_box(members: Sequence[tuple[str, Box]], weights: Mapping[str, float], class_id: int) -> Box:
    total = sum(weights[worker] for worker, _ in members)
    left = sum(weights[w] * b.left for w, b in members) / total
    top = sum(weights[w] * b.top for w, b in members) / total
    right = sum(weights[w] * b.right for w, b in members) / total
    bottom = sum(weights[w] * b.bottom for w, b in members) / total
    return Box(class_id, left, top, right - left, bottom - top)


def _cluster(item: Sequence[BoxAnswer], weights: Mapping[str, float], threshold: float) -> list[_Cluster]:
    clusters: list[_Cluster] = []
    for worker, boxes in sorted(item, key=lambda answer: (-weights[answer[0]], answer[0])):
        pairs = sorted(
            (
                (-iou(cluster.center, box), c, b)
                for c, cluster in enumerate(clusters)
                for b, box in enumerate(boxes)
                if iou(cluster.center, box) >= threshold
            ),
        )
        used_clusters: set[int] = set()
        used_boxes: set[int] = set()
        for _, c, b in pairs:
            if c in used_clusters or b in used_boxes:
                continue
            used_clusters.add(c)
            used_boxes.add(b)
            clusters[c].members.append((worker, boxes[b]))
        for b, box in enumerate(boxes):
            if b not in used_boxes:
                clusters.append(_Cluster([(worker, box)], box))
        for c in used_clusters:
            cluster = clusters[c]
            cluster.center = _weighted_box(cluster.members, weights, cluster.center.class_id)
    return clusters


def _vote(members: Sequence[tuple[str, Box]], weights: Mapping[str, float]) -> int:
    votes: dict[int, float] = defaultdict(float)
    for worker, box in members:
        votes[box.class_id] += weights[worker]
    # Ties go to the class of the most trusted member (members are in decreasing weight order).
    best = max(votes.values())
    return next(box.class_id for _, box in members if votes[box.class_id] >= best - 1e-12)


def _merge_image(
    item: Sequence[BoxAnswer], weights: Mapping[str, float], threshold: float
) -> tuple[list[ConsolidatedBox], list[_Cluster], list[_Cluster]]:
    clusters = _cluster(item, weights, threshold)
    total = sum(weights[worker] for worker, _ in item)
    kept: list[ConsolidatedBox] = []
    kept_clusters: list[_Cluster] = []
    dropped: list[_Cluster] = []
    for cluster in clusters:
        support = sum(weights[worker] for worker, _ in cluster.members)
        if support <= 0.5 * total + 1e-12:
            dropped.append(cluster)
            continue
        class_id = _vote(cluster.members, weights)
        merged = _weighted_box(cluster.members, weights, class_id)
        rounded = Box(class_id, round(merged.left), round(merged.top), 0, 0)
        rounded = Box(
            class_id,
            rounded.left,
            rounded.top,
            max(1, round(merged.right) - rounded.left),
            max(1, round(merged.bottom) - rounded.top),
        )
        mean_iou = sum(iou(box, rounded) for _, box in cluster.members) / len(cluster.members)
        confidence = round(len(cluster.members) / len(item) * mean_iou, 2)
        kept.append(ConsolidatedBox(rounded, confidence, len(cluster.members)))
        kept_clusters.append(cluster)
    return kept, kept_clusters, dropped


def consolidate_boxes(
    images: Sequence[Sequence[BoxAnswer]], *, iou_threshold: float = DEFAULT_IOU_THRESHOLD
) -> BoxConsolidation:
    """Merge every image's worker boxes (see the module docstring).

    ``images[i]`` holds the answers for image ``i`` (at least one; an answer may hold no box). Merged
    boxes of an image are ordered by their top-left corner (top, then left).
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if any(not item for item in images):
        raise ValueError("every image needs at least one answer")
    workers = sorted({worker for item in images for worker, _ in item})
    weights = dict.fromkeys(workers, 1.0)
    iterations = 0
    results: list[list[ConsolidatedBox]] = []
    while True:
        iterations += 1
        results = []
        agree: dict[str, float] = defaultdict(float)
        chances: dict[str, float] = defaultdict(float)
        for item in images:
            kept, kept_clusters, dropped = _merge_image(item, weights, iou_threshold)
            results.append(kept)
            for worker, _ in item:
                chances[worker] += len(kept)
            for merged, cluster in zip(kept, kept_clusters, strict=True):
                for worker, box in cluster.members:
                    if box.class_id == merged.box.class_id:
                        agree[worker] += iou(box, merged.box)
            for cluster in dropped:
                for worker, _ in cluster.members:
                    chances[worker] += 1
        new = {
            worker: max((agree[worker] + PRIOR_AGREE) / (chances[worker] + PRIOR_TOTAL), MIN_WEIGHT)
            for worker in workers
        }
        settled = all(abs(new[w] - weights[w]) < TOLERANCE for w in workers)
        if settled or iterations >= MAX_ITERATIONS:
            break
        weights = new
    for kept in results:
        kept.sort(key=lambda item: (item.box.top, item.box.left, item.box.class_id))
    return BoxConsolidation(results, weights, iterations)


def match_boxes(
    predicted: Sequence[Box], truth: Sequence[Box], *, iou_threshold: float = DEFAULT_IOU_THRESHOLD
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by IoU (highest first, at least ``iou_threshold``, classes ignored):
    ``[(predicted index, truth index, IoU), ...]``."""
    pairs = sorted(
        (
            (-iou(p, t), i, j)
            for i, p in enumerate(predicted)
            for j, t in enumerate(truth)
            if iou(p, t) >= iou_threshold
        )
    )
    used_p: set[int] = set()
    used_t: set[int] = set()
    matches = []
    for negative, i, j in pairs:
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
        matches.append((i, j, -negative))
    return matches
