"""Harvest: which captured predictions go back to people for labels (README "Model lifecycle: harvest,
relabel, retrain").

A harvest looks at the captured records (``gtpipe_shared.capture``) of one *window* of capture time,
``[since, until)``: the previous harvest's ``until`` is the next one's ``since`` (kept in
``harvest/state.json``), so no inference is ever considered twice. Within the window, at most
``HarvestConfig.budget`` images are picked, in this order:

1. every **corrected** inference (a user's ``POST /feedback``): the model was wrong there, by a person's word;
2. the **most uncertain** answers, ``uncertain_share`` of what the corrections left of the budget, taken
   round-robin over the predicted classes (the least confident first within each class), so one class the
   model confuses a lot does not take the whole budget;
3. a **random sample** of the rest, ``sample_share`` of what the corrections left (seeded by the window, so
   a retried harvest picks the same images), so the new labels also cover what the model finds easy.

An image whose 64-bit difference hash (:func:`difference_hash`) is within ``near_duplicate_bits`` bits of an
image already picked is skipped (a burst of the same photo costs one label, not twenty). Hashes are asked for
lazily, in pick order, so only the images that could be picked are read.

The picked images are copied to ``images/feedback/<yyyy-mm-dd>/<inference id>.<ext>`` (captured objects
expire after ``retentionDays``; the dataset that trains on them must not) and listed in
``incoming/feedback-<yyyy-mm-dd>.manifest``, an unlabeled manifest (``source-ref`` only): its run labels every
line, corrections included (a correction is one person's answer; the labeling job asks the usual number of
workers). Everything here is pure: the handler owns the I/O and the clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gtpipe_shared.config import HarvestConfig

STATE_KEY = "harvest/state.json"
SUMMARY_PREFIX = "harvest/"
IMAGE_PREFIX = "images/feedback/"
# A run of a manifest under this prefix trains on the label set's cumulative dataset (gtpipe_shared.dataset).
MANIFEST_PREFIX = "incoming/feedback-"


@dataclass(frozen=True)
class Candidate:
    """One captured inference a harvest may pick."""

    inference_id: str
    captured_at: str
    image_key: str
    predicted: str
    confidence: float
    corrected: str | None = None


@dataclass(frozen=True)
class Pick:
    """A picked candidate and why: ``corrected``, ``uncertain`` or ``sample``."""

    candidate: Candidate
    reason: str


def candidate_of(record: dict[str, Any], correction: dict[str, Any] | None) -> Candidate | None:
    """The candidate a capture record (and its correction, if any) describes; None for a record that is not
    a classification capture with an image (object-detection captures are not harvested yet)."""
    prediction = record.get("prediction") or {}
    image = record.get("image") or {}
    if "label" not in prediction or not image.get("key") or not record.get("inference_id"):
        return None
    label = correction.get("label") if correction else None
    return Candidate(
        inference_id=str(record["inference_id"]),
        captured_at=str(record.get("captured_at") or ""),
        image_key=str(image["key"]),
        predicted=str(prediction["label"]),
        confidence=float(record.get("confidence", prediction.get("confidence", 1.0))),
        corrected=str(label) if label else None,
    )


def hamming(a: int, b: int) -> int:
    """The number of bits in which two hashes differ."""
    return (a ^ b).bit_count()


def _round_robin_by_class(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Least confident first within each predicted class, classes taken in turn (the class with the least
    confident answer first; ties by inference id, so the order is deterministic)."""
    per_class: dict[str, list[Candidate]] = {}
    for candidate in sorted(candidates, key=lambda c: (c.confidence, c.inference_id)):
        per_class.setdefault(candidate.predicted, []).append(candidate)
    queues = list(per_class.values())
    ordered: list[Candidate] = []
    while queues:
        ordered.extend(queue.pop(0) for queue in queues)
        queues = [queue for queue in queues if queue]
    return ordered


def select(
    candidates: list[Candidate],
    config: HarvestConfig,
    *,
    seed: str,
    hash_of: Callable[[Candidate], int | None],
) -> list[Pick]:
    """The harvest's picks in order (corrections, uncertain, sample), at most ``config.budget``.

    ``seed`` seeds the random sample (the window, so a retry picks the same); ``hash_of`` gives an image's
    difference hash, or None when it cannot be computed (that image is kept: no hash, no duplicate)."""
    picks: list[Pick] = []
    hashes: list[int] = []
    taken: set[str] = set()

    def take(pool: Iterable[Candidate], reason: str, limit: int) -> None:
        added = 0
        for candidate in pool:
            if added >= limit or len(picks) >= config.budget:
                return
            if candidate.inference_id in taken:
                continue
            digest = hash_of(candidate)
            if digest is not None and any(hamming(digest, h) <= config.near_duplicate_bits for h in hashes):
                continue
            taken.add(candidate.inference_id)
            if digest is not None:
                hashes.append(digest)
            picks.append(Pick(candidate, reason))
            added += 1

    ordered = sorted(candidates, key=lambda c: (c.captured_at, c.inference_id))
    take((c for c in ordered if c.corrected), "corrected", config.budget)
    rest = config.budget - len(picks)
    # balanced over what is left (a corrected image must not use up its class's turn)
    left = [c for c in ordered if c.inference_id not in taken]
    take(_round_robin_by_class(left), "uncertain", int(rest * config.uncertain_share))
    remaining = [c for c in ordered if c.inference_id not in taken]
    random.Random(seed).shuffle(remaining)
    take(remaining, "sample", int(rest * config.sample_share))
    return picks


def difference_hash(image: Any) -> int:
    """The 64-bit difference hash of a Pillow image: grey, 9x8 pixels, one bit per horizontally adjacent pair
    (left brighter than right). Near-identical images (re-encoded, slightly resized or brightened) differ in
    a few bits; different images in about half of them."""
    small = image.convert("L").resize((9, 8))
    pixels = small.tobytes()
    value = 0
    for row in range(8):
        for col in range(8):
            value = value << 1 | (pixels[row * 9 + col] > pixels[row * 9 + col + 1])
    return value


def window_day(until: datetime) -> str:
    """The ``yyyy-mm-dd`` (UTC) that names a harvest ending at ``until``."""
    return until.astimezone(UTC).strftime("%Y-%m-%d")


def manifest_key(until: datetime) -> str:
    """``incoming/feedback-<yyyy-mm-dd>.manifest``: one harvest a day at most (a second one that day finds
    it and only advances the window: see the handler)."""
    return f"{MANIFEST_PREFIX}{window_day(until)}.manifest"


def image_copy_key(pick: Pick, until: datetime) -> str:
    """Where a picked image is copied: ``images/feedback/<yyyy-mm-dd>/<inference id>.<ext>``."""
    extension = pick.candidate.image_key.rsplit(".", 1)[-1]
    return f"{IMAGE_PREFIX}{window_day(until)}/{pick.candidate.inference_id}.{extension}"


def capture_days(since: datetime, until: datetime) -> list[str]:
    """The ``captured/<yyyy>/<mm>/<dd>/`` day folders a window touches (UTC), oldest first."""
    day = since.astimezone(UTC).date()
    last = until.astimezone(UTC).date()
    days: list[str] = []
    while day <= last:
        days.append(day.strftime("%Y/%m/%d"))
        day += timedelta(days=1)
    return days


def in_window(candidate: Candidate, since: datetime, until: datetime) -> bool:
    """Whether the candidate was captured in ``[since, until)``."""
    try:
        at = datetime.fromisoformat(candidate.captured_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return since <= at < until
