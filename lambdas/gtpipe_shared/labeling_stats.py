"""Team statistics of a labeling job: throughput, time per task, agreement per worker and per class.

Pure Python. :func:`team_statistics` answers (contracts: ``docs/labeling-service.md``, "Team statistics")::

    {"workers": [{"worker_id", "username", "answers", "mean_seconds", "agreement"}],
     "classes": [{"class_name", "objects", "agreement"}],
     "answers", "objects", "started_at", "finished_at", "active_seconds",
     "answers_per_hour", "objects_per_hour", "mean_seconds_per_task"}

- ``answers``: every answer given (also on objects that did not get all their answers); ``objects``: the
  consolidated objects; ``started_at``/``finished_at``: first ``accepted_at`` / last ``submitted_at``
  (ISO, UTC); ``active_seconds`` their difference; ``answers_per_hour``/``objects_per_hour`` over it
  (None when it is 0); ``mean_seconds_per_task``: the mean of the seconds workers reported per answer.
- Worker ``agreement``: classification: the share of the worker's answers on consolidated objects equal
  to the consolidated label; boxes: the share of the worker's drawn boxes (on consolidated images)
  matched one-to-one (IoU >= 0.5) to a consolidated box of the same class. None when the worker has no
  such answer (box).
- Class ``objects`` and ``agreement``: classification: the objects consolidated as that class, and the
  share of their answers that gave that class; boxes: the consolidated boxes of that class, and the share
  of (consolidated box, worker who answered its image) pairs where the worker drew a matching box of that
  class. Classes without objects have agreement None.

Workers are ordered by answers (most first), then user name; classes in class-id order. Shares have 3
decimals, seconds 2, rates 1.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .consolidation import Box, ConsolidatedBox, ConsolidatedClass, match_boxes

MATCH_IOU = 0.5


class AnswerRecord(Protocol):
    """What the statistics read of one answer (``labeling_output.WorkerAnswer`` is one); box answers must
    be normalized (``labeling_answers.validate_answer``)."""

    @property
    def index(self) -> int: ...
    @property
    def worker_id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def answer(self) -> Mapping[str, Any]: ...
    @property
    def accepted_at(self) -> str: ...
    @property
    def submitted_at(self) -> str: ...
    @property
    def seconds(self) -> float: ...


def _time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _share(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def _boxes(answer: Mapping[str, Any]) -> list[Box]:
    return [
        Box(int(b["class_id"]), float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"]))
        for b in answer.get("boxes", [])
    ]


def team_statistics(
    task_type: str,
    class_names: Sequence[str],
    answers: Sequence[AnswerRecord],
    consensus: Mapping[int, ConsolidatedClass | Sequence[ConsolidatedBox]],
) -> dict[str, Any]:
    """The team statistics (module docstring) of ``answers`` given the consolidated labels ``consensus``
    (object index -> :class:`ConsolidatedClass` for classification, the merged boxes for detection;
    objects missing from it were not consolidated)."""
    usernames: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    agreed: dict[str, float] = defaultdict(float)
    judged: dict[str, int] = defaultdict(int)
    class_agreed = [0] * len(class_names)
    class_judged = [0] * len(class_names)
    class_objects = [0] * len(class_names)
    by_object: dict[int, list[AnswerRecord]] = defaultdict(list)
    for record in answers:
        usernames.setdefault(record.worker_id, record.username)
        counts[record.worker_id] += 1
        seconds[record.worker_id] += float(record.seconds)
        by_object[record.index].append(record)

    for index, label in consensus.items():
        records = by_object.get(index, [])
        if isinstance(label, ConsolidatedClass):
            class_objects[label.label] += 1
            for record in records:
                same = int(record.answer.get("label") == label.label)
                agreed[record.worker_id] += same
                judged[record.worker_id] += 1
                class_agreed[label.label] += same
                class_judged[label.label] += 1
            continue
        merged = [item.box for item in label]
        for box in merged:
            class_objects[box.class_id] += 1
        for record in records:
            drawn = _boxes(record.answer)
            matches = match_boxes(drawn, merged, iou_threshold=MATCH_IOU)
            hits = {j for i, j, _ in matches if drawn[i].class_id == merged[j].class_id}
            agreed[record.worker_id] += len(hits)
            judged[record.worker_id] += len(drawn)
            for j, box in enumerate(merged):
                class_judged[box.class_id] += 1
                class_agreed[box.class_id] += j in hits

    workers = [
        {
            "worker_id": worker,
            "username": usernames[worker],
            "answers": counts[worker],
            "mean_seconds": round(seconds[worker] / counts[worker], 2),
            "agreement": _share(agreed[worker], judged[worker]),
        }
        for worker in sorted(counts, key=lambda w: (-counts[w], usernames[w], w))
    ]
    classes = [
        {
            "class_name": name,
            "objects": class_objects[c],
            "agreement": _share(class_agreed[c], class_judged[c]),
        }
        for c, name in enumerate(class_names)
    ]
    started = min((_time(record.accepted_at) for record in answers), default=None)
    finished = max((_time(record.submitted_at) for record in answers), default=None)
    active = max((finished - started).total_seconds(), 0.0) if started and finished else 0.0
    total_seconds = sum(seconds.values())
    return {
        "workers": workers,
        "classes": classes,
        "answers": len(answers),
        "objects": len(consensus),
        "started_at": _iso(started) if started else None,
        "finished_at": _iso(finished) if finished else None,
        "active_seconds": round(active, 2),
        "answers_per_hour": round(len(answers) * 3600 / active, 1) if active else None,
        "objects_per_hour": round(len(consensus) * 3600 / active, 1) if active else None,
        "mean_seconds_per_task": round(total_seconds / len(answers), 2) if answers else None,
    }
