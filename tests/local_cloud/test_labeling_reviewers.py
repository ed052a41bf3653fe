"""The simulated reviewers' decisions (local/labeling_reviewers.py): fast, no cloud."""

from __future__ import annotations

import random

from local.labeling_reviewers import ReviewerSettings, simulated_decision

DIGITS = [str(n) for n in range(10)]
SEVEN = {"source-ref": "s3://b/7.png", "label": 7}


def decide(label: int, rejects_left: int = 0, seed: int = 0, **settings: float) -> dict[str, object]:
    review = {"source_ref": "s3://b/7.png", "label": {"label": label}, "rejects_left": rejects_left}
    chosen = ReviewerSettings(**{"error_rate": 0.0, "unsure_rate": 0.0, **settings})  # type: ignore[arg-type]
    return simulated_decision(review, SEVEN, DIGITS, "image-classification", chosen, random.Random(seed))


def test_an_exact_reviewer_accepts_the_right_label_and_fixes_a_wrong_one() -> None:
    # Given a reviewer who never errs; when shown the reference class and another; then accept / fix
    assert decide(7) == {"decision": "accept"}
    assert decide(3) == {"decision": "fix", "label": {"label": 7}}


def test_an_unsure_reviewer_rejects_only_while_a_requeue_is_left() -> None:
    # Given a reviewer who is always unsure
    # Then it rejects with a reason while a re-queue is left, and decides otherwise
    assert decide(3, rejects_left=1, unsure_rate=1.0) == {
        "decision": "reject",
        "reason": "cannot tell from the image",
    }
    assert decide(3, rejects_left=0, unsure_rate=1.0)["decision"] == "fix"


def test_the_reviewers_errors_are_near_their_rate_and_seeded() -> None:
    # Given a reviewer erring 2% of the time, shown the right label 2,000 times
    decisions = [decide(7, seed=seed, error_rate=0.02)["decision"] for seed in range(2000)]
    # Then it "fixes" a right label about 2% of the time, the same way for the same seeds
    assert 10 <= decisions.count("fix") <= 70
    assert decisions == [decide(7, seed=seed, error_rate=0.02)["decision"] for seed in range(2000)]
