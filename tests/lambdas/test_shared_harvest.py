"""gtpipe_shared.harvest: what a harvest picks, in which order, within the budget (pure; no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gtpipe_shared import harvest
from gtpipe_shared.config import HarvestConfig
from gtpipe_shared.harvest import Candidate
from PIL import Image, ImageDraw, ImageEnhance


def candidate(number: int, predicted: str, confidence: float, corrected: str | None = None) -> Candidate:
    return Candidate(
        inference_id=f"id-{number:03d}",
        captured_at=f"2026-01-02T10:{number // 60:02d}:{number % 60:02d}.000Z",
        image_key=f"captured/2026/01/02/id-{number:03d}.png",
        predicted=predicted,
        confidence=confidence,
        corrected=corrected,
    )


def distinct(c: Candidate) -> int:
    # every image different from every other: one bit per candidate, far apart
    return int(c.inference_id[-3:]) * 0x0101010101010101


def test_corrections_come_first_then_the_least_confident_balanced_over_predicted_classes() -> None:
    # given 1 correction, 6 uncertain "cat" answers, 2 uncertain "dog" answers and confident ones
    pool = [candidate(i, "cat", 0.10 + i / 100) for i in range(6)]
    pool += [candidate(10, "dog", 0.40), candidate(11, "dog", 0.45)]
    pool += [candidate(20 + i, "bird", 0.99) for i in range(10)]
    pool.append(candidate(50, "bird", 0.97, corrected="cat"))
    config = HarvestConfig(budget=6, uncertain_share=1.0, sample_share=0.0, near_duplicate_bits=0)
    # when the harvest picks
    picks = harvest.select(pool, config, seed="w", hash_of=distinct)
    # then the correction, then cat/dog/bird taken in turn (least confident first within each class)
    assert [(p.candidate.inference_id, p.reason) for p in picks] == [
        ("id-050", "corrected"),
        ("id-000", "uncertain"),
        ("id-010", "uncertain"),
        ("id-020", "uncertain"),
        ("id-001", "uncertain"),
        ("id-011", "uncertain"),
    ]


def test_the_budget_splits_into_uncertain_and_a_seeded_random_sample() -> None:
    # given 40 candidates and a budget of 10: 70% uncertain, 30% sample
    pool = [candidate(i, "cat", i / 40) for i in range(40)]
    config = HarvestConfig(budget=10, uncertain_share=0.7, sample_share=0.3, near_duplicate_bits=0)
    # when the same window is harvested twice
    first = harvest.select(pool, config, seed="since/until", hash_of=distinct)
    again = harvest.select(pool, config, seed="since/until", hash_of=distinct)
    # then 7 least confident and 3 random others, the same both times, never the same image twice
    reasons = [p.reason for p in first]
    assert reasons == ["uncertain"] * 7 + ["sample"] * 3
    assert [p.candidate.inference_id for p in first[:7]] == [f"id-{i:03d}" for i in range(7)]
    assert all(int(p.candidate.inference_id[-3:]) >= 7 for p in first[7:])
    assert first == again
    assert len({p.candidate.inference_id for p in first}) == 10


def test_near_duplicates_of_a_picked_image_are_skipped() -> None:
    # given three candidates whose images hash alike (1 bit apart) and one different
    pool = [candidate(i, "cat", 0.1 * (i + 1)) for i in range(4)]
    hashes = {"id-000": 0b1111, "id-001": 0b1110, "id-002": 0b1101, "id-003": 0xFFFF_0000_FFFF_0000}
    config = HarvestConfig(budget=4, uncertain_share=1.0, sample_share=0.0, near_duplicate_bits=2)
    # when the harvest picks
    picks = harvest.select(pool, config, seed="w", hash_of=lambda c: hashes[c.inference_id])
    # then one of the alike images and the different one are picked
    assert [p.candidate.inference_id for p in picks] == ["id-000", "id-003"]


def test_the_difference_hash_tells_a_brightened_copy_from_another_image() -> None:
    # given a drawn image, a brightened copy and a different drawing
    first = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(first).ellipse((8, 8, 40, 56), fill=255)
    brighter = ImageEnhance.Brightness(first).enhance(1.2)
    other = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(other).rectangle((30, 4, 60, 30), fill=255)
    # then the copy is within a few bits, the other image is not
    assert harvest.hamming(harvest.difference_hash(first), harvest.difference_hash(brighter)) <= 2
    assert harvest.hamming(harvest.difference_hash(first), harvest.difference_hash(other)) > 8


def test_a_record_without_a_classification_answer_is_no_candidate() -> None:
    boxes = {"inference_id": "x", "prediction": {"detections": []}, "image": {"key": "captured/x.png"}}
    assert harvest.candidate_of(boxes, None) is None
    record = {
        "inference_id": "x",
        "captured_at": "2026-01-02T10:00:00.000Z",
        "confidence": 0.3,
        "prediction": {"label": "cat", "confidence": 0.3},
        "image": {"key": "captured/2026/01/02/x.png"},
    }
    found = harvest.candidate_of(record, {"label": "dog"})
    assert found == Candidate("x", "2026-01-02T10:00:00.000Z", "captured/2026/01/02/x.png", "cat", 0.3, "dog")


@pytest.mark.parametrize(
    ("since", "until", "days"),
    [
        (
            datetime(2026, 1, 2, 23, tzinfo=UTC),
            datetime(2026, 1, 3, 1, tzinfo=UTC),
            ["2026/01/02", "2026/01/03"],
        ),
        (datetime(2026, 1, 3, 1, tzinfo=UTC), datetime(2026, 1, 3, 2, tzinfo=UTC), ["2026/01/03"]),
    ],
)
def test_the_window_lists_every_capture_day_it_touches(
    since: datetime, until: datetime, days: list[str]
) -> None:
    assert harvest.capture_days(since, until) == days


def test_keys_are_named_by_the_day_the_window_ends() -> None:
    until = datetime(2026, 1, 3, 1, tzinfo=UTC)
    pick = harvest.Pick(candidate(1, "cat", 0.2), "uncertain")
    assert harvest.manifest_key(until) == "incoming/feedback-2026-01-03.manifest"
    assert harvest.image_copy_key(pick, until) == "images/feedback/2026-01-03/id-001.png"
