"""Gold objects of the builtin labeling service: known answers mixed into a job (docs/labeling-service.md,
"Gold objects"). Pure: no I/O.

* :func:`truth_of`: a gold manifest line's known answer in the stored answer form (the gold manifest is an
  augmented manifest with the job's label attribute and class list, read by
  :func:`gtpipe_shared.labeling_store.intake.gold_from_manifest` into :class:`GoldObject` s, which keep
  their line without the label: nothing the tasks table shows labelers carries it);
* :func:`gold_count` / :func:`queue_order`: how many gold objects a job gets (``goldShare`` of its tasks)
  and where they go in the queue (spread evenly, seeded by the job's name: nothing tells them apart);
* :func:`score` / :func:`worker_scores`: each worker's record on gold objects (classes: exact; boxes:
  matched one-to-one at IoU >= 0.5), which :mod:`gtpipe_shared.consolidation` counts into their weight;
* :func:`gold_statistics`: what the team statistics add: each worker's gold accuracy and count, and the
  label accuracy per class with a Wilson interval (gold objects consolidated leave-one-out, below).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.consolidation import (
    DEFAULT_IOU_THRESHOLD,
    Box,
    BoxAnswer,
    ClassAnswer,
    GoldScore,
    consolidate_boxes,
    consolidate_classes,
    match_boxes,
)
from gtpipe_shared.labeling_answers import AS_STORED, validate_answer
from gtpipe_shared.manifest import check_classification_label, check_detection_label
from gtpipe_shared.tasks import task_spec

# A 95% interval: the normal quantile of the Wilson score interval.
WILSON_Z = 1.96
# Keys of the line kept for a gold object (besides source-ref): what the API may read (the image's size).
KEPT_KEYS = ("source-ref", "image_size")


@dataclass(frozen=True)
class GoldObject:
    """A gold manifest line: its image, the line as the tasks table keeps it (no label), the known answer."""

    source_ref: str
    line: str
    truth: dict[str, Any]


def truth_of(task_type: str, obj: Mapping[str, Any], attribute: str, class_names: tuple[str, ...]) -> Any:
    """The known answer of one gold line (its label under ``attribute``) in stored form; ValueError naming
    the problem."""
    if attribute not in obj:
        raise ValueError(f"no label attribute '{attribute}'")
    value = obj[attribute]
    if not task_spec(task_type).boxes:
        problem = check_classification_label(value, obj.get(f"{attribute}-metadata"), class_names)
        if problem:
            raise ValueError(problem)
        return validate_answer(task_type, {"label": value}, class_names, rules=AS_STORED)
    problem = check_detection_label(value, class_names)
    if problem:
        raise ValueError(problem)
    size = value["image_size"][0]
    answer = {"boxes": value["annotations"], "image_size": {"width": size["width"], "height": size["height"]}}
    return validate_answer(task_type, answer, class_names, rules=AS_STORED)


def gold_count(objects: int, share: float, available: int) -> int:
    """Gold objects for a job of ``objects`` data objects, so that about ``share`` of all its tasks are
    gold (``round(share / (1 - share) x objects)``, at least 1 when ``share > 0``), at most ``available``."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"gold share must be in [0, 1), got {share}")
    if share == 0.0 or available == 0:
        return 0
    return min(available, max(1, round(share / (1.0 - share) * objects)))


def choose(gold: Sequence[GoldObject], count: int, seed: str, exclude: set[str]) -> list[GoldObject]:
    """``count`` gold objects drawn without replacement (seeded), leaving out images in ``exclude`` (the
    job's own data: an image is labeled once per job)."""
    candidates = [item for item in gold if item.source_ref not in exclude]
    return random.Random(f"gold:{seed}").sample(candidates, min(count, len(candidates)))


def pick(gold: Sequence[GoldObject], data_refs: Sequence[str], share: float, seed: str) -> list[GoldObject]:
    """The gold objects a job of the data objects ``data_refs`` gets (:func:`gold_count`, :func:`choose`)."""
    exclude = set(data_refs)
    available = sum(1 for item in gold if item.source_ref not in exclude)
    return choose(gold, gold_count(len(data_refs), share, available), seed, exclude)


def queue_order(objects: int, gold: int, seed: str) -> list[int | None]:
    """The job's queue: each data object's position in input order, with ``gold`` Nones (gold slots) at
    seeded random places, so gold objects come all along the job and never at predictable places."""
    rng = random.Random(f"gold-order:{seed}")
    slots = set(rng.sample(range(objects + gold), gold))
    order: list[int | None] = []
    data = iter(range(objects))
    for position in range(objects + gold):
        order.append(None if position in slots else next(data))
    return order


def _boxes(answer: Mapping[str, Any]) -> list[Box]:
    return [Box(**box) for box in answer.get("boxes", [])]


def score(task_type: str, answer: Mapping[str, Any], truth: Mapping[str, Any]) -> GoldScore:
    """One answer on a gold object. Classes: 1 of 1 when the class is the known one. Boxes: credit = the
    IoU of each known box matched (one-to-one, IoU >= 0.5) by a box of the same class, chances = the known
    boxes plus the answer's boxes matching none (the consolidation's reliability, measured)."""
    if not task_spec(task_type).boxes:
        return GoldScore(float(answer["label"] == truth["label"]), 1.0)
    drawn, known = _boxes(answer), _boxes(truth)
    matches = match_boxes(drawn, known, iou_threshold=DEFAULT_IOU_THRESHOLD)
    credit = sum(overlap for i, j, overlap in matches if drawn[i].class_id == known[j].class_id)
    return GoldScore(credit, float(len(known) + len(drawn) - len(matches)))


def worker_scores(
    task_type: str, truths: Mapping[int, Mapping[str, Any]], answers: Mapping[int, Sequence[Any]]
) -> dict[str, GoldScore]:
    """Each worker's summed record over the gold objects (``truths``: object -> known answer; ``answers``:
    object -> records with ``worker_id`` and ``answer`` in stored form)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for index, truth in truths.items():
        for record in answers.get(index, ()):
            one = score(task_type, record.answer, truth)
            totals[record.worker_id][0] += one.credit
            totals[record.worker_id][1] += one.chances
    return {worker: GoldScore(credit, chances) for worker, (credit, chances) in sorted(totals.items())}


def wilson(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) for no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def _without(
    scores: Mapping[str, GoldScore], task_type: str, records: Sequence[Any], truth: Mapping[str, Any]
) -> dict[str, GoldScore]:
    """``scores`` less one gold object's own answers (so its consolidation does not know its truth)."""
    left = dict(scores)
    for record in records:
        one = score(task_type, record.answer, truth)
        mine = left[record.worker_id]
        left[record.worker_id] = GoldScore(mine.credit - one.credit, mine.chances - one.chances)
    return left


def _hits(
    task_type: str,
    classes: int,
    records: Sequence[Any],
    truth: Mapping[str, Any],
    gold: Mapping[str, GoldScore],
) -> list[tuple[int, bool]]:
    """``[(true class, consolidated right)]`` of one gold object consolidated with the others' gold."""
    if not task_spec(task_type).boxes:
        votes = [ClassAnswer(r.worker_id, r.answer["label"]) for r in records]
        label = consolidate_classes([votes], classes, gold=gold).labels[0]
        return [(int(truth["label"]), label is not None and label.label == truth["label"])]
    drawn = [BoxAnswer(r.worker_id, tuple(_boxes(r.answer))) for r in records]
    known = _boxes(truth)
    merged = [item.box for item in consolidate_boxes([drawn], classes, gold=gold).images[0]]
    found = {j for i, j, _ in match_boxes(merged, known) if merged[i].class_id == known[j].class_id}
    return [(box.class_id, j in found) for j, box in enumerate(known)]


def gold_statistics(
    task_type: str,
    class_names: Sequence[str],
    truths: Mapping[int, Mapping[str, Any]],
    answers: Mapping[int, Sequence[Any]],
) -> dict[str, Any]:
    """``{"objects", "answers", "workers": {worker_id: {"gold_answers", "gold_accuracy"}}, "label_accuracy":
    [{"class_name", "items", "correct", "accuracy", "low", "high"}] (+ one row ``"class_name": null`` for
    all classes)}``. ``gold_accuracy`` = credit / chances (classes: the share right). Label accuracy: each
    answered gold object is consolidated like a data object (gold-weighted) but with its own answers left
    out of the gold records, and compared with its known answer (boxes: each known box found with its class
    at IoU >= 0.5); the interval is Wilson's (95%)."""
    scores = worker_scores(task_type, truths, answers)
    hits: list[tuple[int, bool]] = []
    for index, truth in sorted(truths.items()):
        records = list(answers.get(index, ()))
        if records:
            hits.extend(
                _hits(
                    task_type, len(class_names), records, truth, _without(scores, task_type, records, truth)
                )
            )
    rows = []
    for class_id in [*range(len(class_names)), None]:
        chosen = [right for cid, right in hits if class_id is None or cid == class_id]
        if not chosen:
            continue
        correct = sum(chosen)
        low, high = wilson(correct, len(chosen))
        rows.append(
            {
                "class_name": None if class_id is None else class_names[class_id],
                "items": len(chosen),
                "correct": correct,
                "accuracy": round(correct / len(chosen), 3),
                "low": round(low, 3),
                "high": round(high, 3),
            }
        )
    answered = {worker: s for worker, s in scores.items() if s.chances}
    return {
        "objects": len(truths),
        "answers": sum(len(answers.get(index, ())) for index in truths),
        "workers": {
            worker: {
                "gold_answers": sum(1 for i in truths for r in answers.get(i, ()) if r.worker_id == worker),
                "gold_accuracy": round(s.credit / s.chances, 3),
            }
            for worker, s in answered.items()
        },
        "label_accuracy": rows,
    }
