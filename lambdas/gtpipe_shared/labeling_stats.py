"""Team statistics of a labeling job: throughput, time per task, agreement per worker and per class.

Pure Python. :func:`team_statistics` answers (contracts: ``docs/labeling-service.md``, "Team statistics")::

    {"workers": [{"worker_id", "username", "answers", "mean_seconds", "agreement"}],
     "classes": [{"class_name", "objects", "agreement"}],
     "answers", "objects", "started_at", "finished_at", "active_seconds",
     "answers_per_hour", "objects_per_hour", "mean_seconds_per_task",
     "answers_per_object", "answer_counts", "extra_answers", "extra_agreement"}

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

- ``answers_per_object``: the mean answers of the objects that got any (2 decimals; None without answers);
  ``answer_counts``: how many objects got 1, 2, ... answers (``{"1": objects, ...}``, string keys);
  ``extra_answers``: the answers after each object's first (by ``submitted_at``); ``extra_agreement``: the
  share of them that agree with their object's first answer
  (:func:`gtpipe_shared.adaptive_redundancy.agree`: the same class, or the same boxes one-to-one at IoU >=
  0.5 with the same classes; None without extra answers). With adaptive redundancy these show what it saved
  and how often the extra answers it asked for confirmed the first.

Workers are ordered by answers (most first), then user name; classes in class-id order. Shares have 3
decimals, seconds 2, rates 1.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .adaptive_redundancy import agree
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


@dataclass
class _Tally:
    """Running sums per worker and per class, filled by :func:`_tally_answers` and the ``_judge_*`` steps."""

    class_count: int
    usernames: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    agreed: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    judged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    class_agreed: list[int] = field(init=False)
    class_judged: list[int] = field(init=False)
    class_objects: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.class_agreed = [0] * self.class_count
        self.class_judged = [0] * self.class_count
        self.class_objects = [0] * self.class_count


def _tally_answers(tally: _Tally, answers: Sequence[AnswerRecord]) -> dict[int, list[AnswerRecord]]:
    """Count every answer and its seconds per worker; the answers grouped by object index."""
    by_object: dict[int, list[AnswerRecord]] = defaultdict(list)
    for record in answers:
        tally.usernames.setdefault(record.worker_id, record.username)
        tally.counts[record.worker_id] += 1
        tally.seconds[record.worker_id] += float(record.seconds)
        by_object[record.index].append(record)
    return by_object


def _judge_class(tally: _Tally, label: ConsolidatedClass, records: Sequence[AnswerRecord]) -> None:
    """One consolidated classification object: each answer agrees when it gave the consolidated label."""
    tally.class_objects[label.label] += 1
    for record in records:
        same = int(record.answer.get("label") == label.label)
        tally.agreed[record.worker_id] += same
        tally.judged[record.worker_id] += 1
        tally.class_agreed[label.label] += same
        tally.class_judged[label.label] += 1


def _judge_boxes(tally: _Tally, label: Sequence[ConsolidatedBox], records: Sequence[AnswerRecord]) -> None:
    """One consolidated image: a drawn box agrees when it matches a merged box of its class one-to-one."""
    merged = [item.box for item in label]
    for box in merged:
        tally.class_objects[box.class_id] += 1
    for record in records:
        drawn = _boxes(record.answer)
        matches = match_boxes(drawn, merged, iou_threshold=MATCH_IOU)
        hits = {j for i, j, _ in matches if drawn[i].class_id == merged[j].class_id}
        tally.agreed[record.worker_id] += len(hits)
        tally.judged[record.worker_id] += len(drawn)
        for j, box in enumerate(merged):
            tally.class_judged[box.class_id] += 1
            tally.class_agreed[box.class_id] += j in hits


def _worker_rows(tally: _Tally) -> list[dict[str, Any]]:
    """The ``workers`` rows: most answers first, then user name (then worker id, for a total order)."""
    counts, usernames = tally.counts, tally.usernames
    return [
        {
            "worker_id": worker,
            "username": usernames[worker],
            "answers": counts[worker],
            "mean_seconds": round(tally.seconds[worker] / counts[worker], 2),
            "agreement": _share(tally.agreed[worker], tally.judged[worker]),
        }
        for worker in sorted(counts, key=lambda w: (-counts[w], usernames[w], w))
    ]


def _class_rows(tally: _Tally, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """The ``classes`` rows, in class-id order."""
    return [
        {
            "class_name": name,
            "objects": tally.class_objects[c],
            "agreement": _share(tally.class_agreed[c], tally.class_judged[c]),
        }
        for c, name in enumerate(class_names)
    ]


def _throughput(tally: _Tally, answers: Sequence[AnswerRecord], objects: int) -> dict[str, Any]:
    """The job-wide counts, times and rates (every key of the result but ``workers`` and ``classes``)."""
    started = min((_time(record.accepted_at) for record in answers), default=None)
    finished = max((_time(record.submitted_at) for record in answers), default=None)
    active = max((finished - started).total_seconds(), 0.0) if started and finished else 0.0
    total_seconds = sum(tally.seconds.values())
    return {
        "answers": len(answers),
        "objects": objects,
        "started_at": _iso(started) if started else None,
        "finished_at": _iso(finished) if finished else None,
        "active_seconds": round(active, 2),
        "answers_per_hour": round(len(answers) * 3600 / active, 1) if active else None,
        "objects_per_hour": round(objects * 3600 / active, 1) if active else None,
        "mean_seconds_per_task": round(total_seconds / len(answers), 2) if answers else None,
    }


def _redundancy(task_type: str, by_object: Mapping[int, Sequence[AnswerRecord]]) -> dict[str, Any]:
    """Answers per object and how often the answers after an object's first agreed with it."""
    counts: dict[int, int] = defaultdict(int)
    extra = agreed = 0
    for records in by_object.values():
        ordered = sorted(records, key=lambda record: (record.submitted_at, record.worker_id))
        counts[len(ordered)] += 1
        for record in ordered[1:]:
            extra += 1
            agreed += agree(task_type, ordered[0].answer, record.answer)
    objects = sum(counts.values())
    return {
        "answers_per_object": round(sum(n * c for n, c in counts.items()) / objects, 2) if objects else None,
        "answer_counts": {str(n): counts[n] for n in sorted(counts)},
        "extra_answers": extra,
        "extra_agreement": _share(agreed, extra),
    }


def team_statistics(
    task_type: str,
    class_names: Sequence[str],
    answers: Sequence[AnswerRecord],
    consensus: Mapping[int, ConsolidatedClass | Sequence[ConsolidatedBox]],
) -> dict[str, Any]:
    """The team statistics (module docstring) of ``answers`` given the consolidated labels ``consensus``
    (object index -> :class:`ConsolidatedClass` for classification, the merged boxes for detection;
    objects missing from it were not consolidated)."""
    tally = _Tally(len(class_names))
    by_object = _tally_answers(tally, answers)
    for index, label in consensus.items():
        records = by_object.get(index, [])
        if isinstance(label, ConsolidatedClass):
            _judge_class(tally, label, records)
        else:
            _judge_boxes(tally, label, records)
    return {
        "workers": _worker_rows(tally),
        "classes": _class_rows(tally, class_names),
        **_throughput(tally, answers, len(consensus)),
        **_redundancy(task_type, by_object),
    }


def _weighted(rows: Sequence[Mapping[str, Any]], key: str, weight: str) -> float | None:
    """The ``weight``-weighted mean of ``key`` over the rows that have it (None when none does)."""
    pairs = [(row[key], row.get(weight) or 0) for row in rows if isinstance(row.get(key), int | float)]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _merged_rows(
    groups: Sequence[Sequence[Mapping[str, Any]]], key: str, count: str, means: Sequence[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Rows of several jobs merged by ``key``: ``count`` summed, each ``(mean, digits)`` weighted by it."""
    by_key: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for rows in groups:
        for row in rows:
            by_key[row.get(key)].append(row)
    merged = []
    for rows in by_key.values():
        row = dict(rows[0])
        row[count] = sum(int(r.get(count) or 0) for r in rows)
        for mean, digits in means:
            value = _weighted(rows, mean, count)
            row[mean] = round(value, digits) if value is not None else None
        merged.append(row)
    return merged


def merge_team_statistics(teams: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One job's statistics (module docstring) from the statistics of several jobs of the same team and
    classes (automated labeling's human batches): counts summed, means and shares weighted by the answers
    (workers, team) or objects (classes) they are of, rates over the summed active seconds; workers ordered
    as :func:`team_statistics` orders them, classes in their first job's order."""
    teams = [team for team in teams if isinstance(team, Mapping)]
    answers = sum(int(team.get("answers") or 0) for team in teams)
    objects = sum(int(team.get("objects") or 0) for team in teams)
    active = sum(float(team.get("active_seconds") or 0.0) for team in teams)
    extra = sum(int(team.get("extra_answers") or 0) for team in teams)
    counts: dict[str, int] = defaultdict(int)
    for team in teams:
        for n, c in (team.get("answer_counts") or {}).items():
            counts[str(n)] += int(c)
    seconds = _weighted(teams, "mean_seconds_per_task", "answers")
    extra_agreement = _weighted(teams, "extra_agreement", "extra_answers")
    workers = _merged_rows(
        [team.get("workers") or [] for team in teams],
        "worker_id",
        "answers",
        [("mean_seconds", 2), ("agreement", 3)],
    )
    workers.sort(key=lambda row: (-int(row.get("answers") or 0), str(row.get("username") or "")))
    started = [str(team["started_at"]) for team in teams if team.get("started_at")]
    finished = [str(team["finished_at"]) for team in teams if team.get("finished_at")]
    return {
        "workers": workers,
        "classes": _merged_rows(
            [team.get("classes") or [] for team in teams], "class_name", "objects", [("agreement", 3)]
        ),
        "answers": answers,
        "objects": objects,
        "started_at": min(started) if started else None,
        "finished_at": max(finished) if finished else None,
        "active_seconds": round(active, 2),
        "answers_per_hour": round(answers * 3600 / active, 1) if active else None,
        "objects_per_hour": round(objects * 3600 / active, 1) if active else None,
        "mean_seconds_per_task": round(seconds, 2) if seconds is not None else None,
        "answers_per_object": (
            round(sum(int(n) * c for n, c in counts.items()) / sum(counts.values()), 2)
            if sum(counts.values())
            else None
        ),
        "answer_counts": {n: counts[n] for n in sorted(counts, key=int)},
        "extra_answers": extra,
        "extra_agreement": round(extra_agreement, 3) if extra_agreement is not None else None,
    }
