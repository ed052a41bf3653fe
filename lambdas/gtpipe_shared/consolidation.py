"""Consolidating several workers' answers into one label: image classes and bounding boxes (pure Python).

Used by the builtin labeling service (``lambdas/labeling``) and by the local Ground Truth emulation
(``local/sagemaker``), so the two consolidate identically. No AWS, no I/O, no numpy; deterministic.

**Classes** (:func:`consolidate_classes`): a weighted majority vote whose worker weights come from their
agreement with the consensus, in the spirit of Ground Truth's image-classification consolidation (a
modified Dawid-Skene). Concretely, one-coin Dawid-Skene EM:

1. posterior of each object's class: ``P(c) ∝ exp(sum of the weights of the workers answering c)``,
   with weight ``w = log(accuracy * (K - 1) / (1 - accuracy))`` (the optimal vote weight when a worker
   errs uniformly over the other ``K - 1`` classes); all weights equal at first (plain majority vote);
2. each worker's accuracy = expected agreement with the posterior (Beta(2, 1)-smoothed);

until the accuracies settle. The label is the posterior's argmax, the confidence its probability (2
decimals). Exact ties are broken by a fixed pseudo-random order per object (``seed``), never
systematically towards low class indices.

**Boxes** (:func:`consolidate_boxes`) merges the workers' boxes of each image the way Ground Truth's
bounding-box consolidation does, weighting workers by a reliability estimated from agreement:

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

repeated until the weights settle. Weights are the reliabilities (bounded below by ``BOX_MIN_WEIGHT``).

**Gold answers** (both, keyword ``gold``): a worker's answers on gold objects (known labels; scored by
:mod:`gtpipe_shared.labeling_gold`) are observations of their accuracy whose truth is certain. They join the
Beta(2, 1) smoothing as counts: accuracy (reliability) = ``(agreement + gold credit + 2) / (answers + gold
answers + 3)``, and the first iteration starts from ``(gold credit + 2) / (gold answers + 3)`` instead of
equal weights. A worker with few gold answers stays near the prior and the agreement estimate; one with
many is weighted by what they were measured to get right. Without ``gold`` nothing changes.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Class weights are bounded so that one worker can never silence or dominate everyone else completely.
CLASS_MIN_WEIGHT = 1e-3
CLASS_MAX_WEIGHT = 10.0
CLASS_MAX_ITERATIONS = 50
BOX_MIN_WEIGHT = 0.05
BOX_MAX_ITERATIONS = 20
TOLERANCE = 1e-6
# Beta prior on a worker's accuracy: (agreements + 2) / (answers + 3) keeps new workers trusted a bit.
PRIOR_AGREE = 2.0
PRIOR_TOTAL = 3.0
DEFAULT_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class GoldScore:
    """A worker's measured record on gold objects: ``credit`` (classes: right answers; boxes: the IoU of
    each known box matched with the same class) out of ``chances`` (classes: gold answers; boxes: known
    boxes plus the worker's boxes that match none)."""

    credit: float
    chances: float

    def smoothed(self) -> float:
        """The Beta(2, 1)-smoothed accuracy ``(credit + 2) / (chances + 3)`` (2/3 with no gold answers)."""
        return (self.credit + PRIOR_AGREE) / (self.chances + PRIOR_TOTAL)


NO_GOLD = GoldScore(0.0, 0.0)


# -- classes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassAnswer:
    """One worker's class index for one object."""

    worker_id: str
    label: int


@dataclass(frozen=True)
class ConsolidatedClass:
    """A consolidated label and its confidence (posterior probability, 0..1, 2 decimals)."""

    label: int
    confidence: float


@dataclass(frozen=True)
class ClassConsolidation:
    """Result of :func:`consolidate_classes`: one label per object (None: the object had no answers), each
    worker's estimated accuracy (0..1), their final vote weights and the EM iterations used."""

    labels: list[ConsolidatedClass | None]
    worker_accuracy: dict[str, float]
    worker_weight: dict[str, float]
    iterations: int


def _class_weight(accuracy: float, num_classes: int) -> float:
    odds = accuracy * max(num_classes - 1, 1) / max(1.0 - accuracy, 1e-9)
    return min(max(math.log(odds), CLASS_MIN_WEIGHT), CLASS_MAX_WEIGHT)


def _posterior(
    item: Sequence[ClassAnswer], weights: Mapping[str, float], jitter: Sequence[float]
) -> list[float]:
    scores = list(jitter)
    for answer in item:
        scores[answer.label] += weights[answer.worker_id]
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


def consolidate_classes(
    answers: Sequence[Sequence[ClassAnswer]],
    num_classes: int,
    *,
    seed: int = 0,
    gold: Mapping[str, GoldScore] | None = None,
) -> ClassConsolidation:
    """Weighted majority vote with agreement-derived worker weights (see the module docstring); ``gold``:
    each worker's gold record, counted into their accuracy (module docstring, "Gold answers").

    ``answers[i]`` holds the answers for object ``i`` (an empty one gets label None). ValueError when
    ``num_classes < 1`` or a label is not a class index ``0..num_classes - 1``.
    """
    if num_classes < 1:
        raise ValueError("num_classes must be >= 1")
    for index, item in enumerate(answers):
        for answer in item:
            if isinstance(answer.label, bool) or not 0 <= answer.label < num_classes:
                raise ValueError(
                    f"object {index}: worker {answer.worker_id} answered {answer.label!r}, "
                    f"not a class index 0..{num_classes - 1}"
                )
    rng = random.Random(f"ties:{seed}")
    # Tiny per-object jitter decides exact ties without biasing real differences.
    jitter = [[rng.random() * 1e-9 for _ in range(num_classes)] for _ in answers]
    workers = sorted({answer.worker_id for item in answers for answer in item})
    scores = {w: (gold or {}).get(w, NO_GOLD) for w in workers}
    weights = (
        {w: _class_weight(scores[w].smoothed(), num_classes) for w in workers}
        if gold
        else dict.fromkeys(workers, 1.0)
    )
    accuracies = dict.fromkeys(workers, 0.0)
    iterations = 0
    while iterations < CLASS_MAX_ITERATIONS and workers:
        iterations += 1
        agree: dict[str, float] = defaultdict(float)
        seen: dict[str, int] = defaultdict(int)
        for index, item in enumerate(answers):
            if not item:
                continue
            posterior = _posterior(item, weights, jitter[index])
            for answer in item:
                agree[answer.worker_id] += posterior[answer.label]
                seen[answer.worker_id] += 1
        new = {
            w: (agree[w] + scores[w].credit + PRIOR_AGREE) / (seen[w] + scores[w].chances + PRIOR_TOTAL)
            for w in workers
        }
        settled = all(abs(new[w] - accuracies[w]) < TOLERANCE for w in workers)
        accuracies = new
        weights = {w: _class_weight(accuracies[w], num_classes) for w in workers}
        if settled:
            break
    labels: list[ConsolidatedClass | None] = []
    for index, item in enumerate(answers):
        if not item:
            labels.append(None)
            continue
        posterior = _posterior(item, weights, jitter[index])
        best = max(range(num_classes), key=posterior.__getitem__)
        labels.append(ConsolidatedClass(best, round(posterior[best], 2)))
    return ClassConsolidation(labels, accuracies, weights, iterations)


# -- boxes ------------------------------------------------------------------------------------------


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
class BoxAnswer:
    """The boxes one worker drew on one image (possibly none)."""

    worker_id: str
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class ConsolidatedBox:
    """A merged box, its confidence (0..1, 2 decimals) and how many workers drew it."""

    box: Box
    confidence: float
    workers: int = 1


@dataclass(frozen=True)
class BoxConsolidation:
    """Result of :func:`consolidate_boxes`: merged boxes per image (ordered by top, then left; an image
    without answers gets none), each worker's reliability (its vote weight, 0..1) and the iterations."""

    images: list[list[ConsolidatedBox]]
    worker_reliability: dict[str, float]
    iterations: int


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
    for answer in sorted(item, key=lambda answer: (-weights[answer.worker_id], answer.worker_id)):
        worker, boxes = answer.worker_id, answer.boxes
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
    total = sum(weights[answer.worker_id] for answer in item)
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
        left, top = round(merged.left), round(merged.top)
        rounded = Box(
            class_id, left, top, max(1, round(merged.right) - left), max(1, round(merged.bottom) - top)
        )
        mean_iou = sum(iou(box, rounded) for _, box in cluster.members) / len(cluster.members)
        confidence = round(len(cluster.members) / len(item) * mean_iou, 2)
        kept.append(ConsolidatedBox(rounded, confidence, len(cluster.members)))
        kept_clusters.append(cluster)
    return kept, kept_clusters, dropped


def consolidate_boxes(
    answers: Sequence[Sequence[BoxAnswer]],
    num_classes: int,
    *,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    gold: Mapping[str, GoldScore] | None = None,
) -> BoxConsolidation:
    """Merge every image's worker boxes (see the module docstring); ``gold``: each worker's gold record,
    counted into their reliability (module docstring, "Gold answers").

    ``answers[i]`` holds the answers for image ``i`` (an answer may hold no box; an image without answers
    gets no boxes). ValueError when a box's class is not ``0..num_classes - 1``, a box has no area, or
    ``iou_threshold`` is not in (0, 1].
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if num_classes < 1:
        raise ValueError("num_classes must be >= 1")
    for index, item in enumerate(answers):
        for answer in item:
            for box in answer.boxes:
                if isinstance(box.class_id, bool) or not 0 <= box.class_id < num_classes:
                    raise ValueError(
                        f"image {index}: worker {answer.worker_id} drew class {box.class_id!r}, "
                        f"not a class index 0..{num_classes - 1}"
                    )
                if not box.width > 0 or not box.height > 0:
                    raise ValueError(
                        f"image {index}: worker {answer.worker_id} drew a box without area "
                        f"({box.width} x {box.height})"
                    )
    workers = sorted({answer.worker_id for item in answers for answer in item})
    scores = {w: (gold or {}).get(w, NO_GOLD) for w in workers}
    weights = (
        {w: max(scores[w].smoothed(), BOX_MIN_WEIGHT) for w in workers}
        if gold
        else dict.fromkeys(workers, 1.0)
    )
    iterations = 0
    results: list[list[ConsolidatedBox]] = []
    while True:
        iterations += 1
        results = []
        agree: dict[str, float] = defaultdict(float)
        chances: dict[str, float] = defaultdict(float)
        for item in answers:
            if not item:
                results.append([])
                continue
            kept, kept_clusters, dropped = _merge_image(item, weights, iou_threshold)
            results.append(kept)
            for answer in item:
                chances[answer.worker_id] += len(kept)
            for merged, cluster in zip(kept, kept_clusters, strict=True):
                for worker, box in cluster.members:
                    if box.class_id == merged.box.class_id:
                        agree[worker] += iou(box, merged.box)
            for cluster in dropped:
                for worker, _ in cluster.members:
                    chances[worker] += 1
        new = {
            w: max(
                (agree[w] + scores[w].credit + PRIOR_AGREE) / (chances[w] + scores[w].chances + PRIOR_TOTAL),
                BOX_MIN_WEIGHT,
            )
            for w in workers
        }
        settled = all(abs(new[w] - weights[w]) < TOLERANCE for w in workers)
        if settled or iterations >= BOX_MAX_ITERATIONS:
            break
        weights = new
    for kept in results:
        kept.sort(key=lambda item: (item.box.top, item.box.left, item.box.class_id))
    return BoxConsolidation(results, weights, iterations)
