"""The labeling team's statistics as the report reads them (pure; no AWS, no matplotlib).

The builtin labeling service writes them (``gtpipe_shared.labeling_stats``); notify stores them on the run
item as ``labeling_team`` and the state machine keeps them in ``labeling.team``. Values may come back from
DynamoDB as ints where floats were written, and absent values are dropped there, so every number is
optional here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from report.labels import parse_time
from report.model import LabelAccuracy, LabelingTeam, TeamClass, TeamWorker


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else 0


def _share(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and 0.0 <= number <= 1.0 else None


def parse_team(raw: Any, source: str) -> LabelingTeam:
    """A :class:`LabelingTeam` from the statistics mapping; ValueError when it is not one (no ``workers``
    list). Entries that are not objects are skipped; unknown or malformed numbers become None."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("workers"), list):
        raise ValueError(f"the {source} holds no team statistics (an object with a 'workers' list)")
    workers = [
        TeamWorker(
            worker_id=str(item.get("worker_id", "")),
            username=str(item.get("username") or item.get("worker_id") or "unknown"),
            answers=_count(item.get("answers")),
            mean_seconds=_number(item.get("mean_seconds")),
            agreement=_share(item.get("agreement")),
            gold_accuracy=_share(item.get("gold_accuracy")),
            gold_answers=_count(item.get("gold_answers")),
        )
        for item in raw["workers"]
        if isinstance(item, Mapping)
    ]
    classes_raw = raw.get("classes")
    classes = [
        TeamClass(
            class_name=str(item.get("class_name", "")),
            objects=_count(item.get("objects")),
            agreement=_share(item.get("agreement")),
        )
        for item in (classes_raw if isinstance(classes_raw, list) else [])
        if isinstance(item, Mapping)
    ]
    return LabelingTeam(
        workers=workers,
        classes=classes,
        answers=_count(raw.get("answers")),
        objects=_count(raw.get("objects")),
        active_seconds=_number(raw.get("active_seconds")),
        answers_per_hour=_number(raw.get("answers_per_hour")),
        objects_per_hour=_number(raw.get("objects_per_hour")),
        mean_seconds_per_task=_number(raw.get("mean_seconds_per_task")),
        started_at=parse_time(raw.get("started_at")),
        finished_at=parse_time(raw.get("finished_at")),
        source=source,
        answers_per_object=_number(raw.get("answers_per_object")),
        answer_counts=_answer_counts(raw.get("answer_counts")),
        extra_answers=_count(raw.get("extra_answers")),
        extra_agreement=_share(raw.get("extra_agreement")),
        label_accuracy=_label_accuracy(raw.get("gold")),
        gold_answers=_count(raw["gold"].get("answers")) if isinstance(raw.get("gold"), Mapping) else 0,
        review=_review(raw.get("review")),
        suggestions=_suggestions(raw.get("suggestions")),
    )


SUGGESTION_COUNTS = ("objects", "answers", "accepted")


def _suggestions(suggestions: Any) -> dict[str, int]:
    """Pre-annotation's counts (empty without suggestions or when malformed)."""
    if not isinstance(suggestions, Mapping):
        return {}
    return {key: _count(suggestions.get(key)) for key in SUGGESTION_COUNTS}


REVIEW_COUNTS = ("items", "accepted", "fixed", "rejected", "pending", "rounds", "extra_answers")


def _review(review: Any) -> dict[str, int]:
    """The review stage's counts (empty without a review stage or when malformed)."""
    if not isinstance(review, Mapping):
        return {}
    return {key: _count(review.get(key)) for key in REVIEW_COUNTS}


def _label_accuracy(gold: Any) -> list[LabelAccuracy]:
    """The ``gold.label_accuracy`` rows (malformed ones dropped); empty without gold objects."""
    rows = gold.get("label_accuracy") if isinstance(gold, Mapping) else None
    parsed = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping) or not _count(row.get("items")):
            continue
        low, high = _share(row.get("low")), _share(row.get("high"))
        name = row.get("class_name")
        parsed.append(
            LabelAccuracy(
                class_name=None if name is None else str(name),
                items=_count(row.get("items")),
                correct=_count(row.get("correct")),
                low=low if low is not None else 0.0,
                high=high if high is not None else 1.0,
            )
        )
    return parsed


def _answer_counts(value: Any) -> dict[int, int]:
    """``{"1": objects, "2": objects, ...}`` as ``{1: objects, ...}``, malformed entries dropped."""
    if not isinstance(value, Mapping):
        return {}
    counts = {}
    for key, objects in value.items():
        if str(key).isdigit() and _count(objects):
            counts[int(key)] = _count(objects)
    return dict(sorted(counts.items()))
