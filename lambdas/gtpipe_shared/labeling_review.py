"""The builtin labeling service's review stage (pure: no I/O; docs/labeling-service.md, "Review").

With ``gtpipe:labeling.review`` on, an object whose answers are complete is **selected for review**
(:func:`selection_reason`) when its answers disagree, when their consolidated confidence (the object's
answers alone, :func:`gtpipe_shared.adaptive_redundancy.consolidated_label`) is below the threshold, or when
it falls in the seeded QA sample (:func:`in_sample`: ``qa_sample_percent`` of the objects, drawn from the
job's name and the object's index, so a rerun draws the same objects). A reviewer (Cognito group
``labeling-reviewers``) then **accepts** the consolidated label, **fixes** it (a new label in the stored
answer form), or **rejects** it (a reason): a reject asks for one more answer from a labeler who has not
answered the object, then the object is reviewed again, at most ``max_rounds`` times; a reject after that is
final and the object goes to ``unlabeled.manifest`` (a label the reviewer calls wrong is never trained on).

The output (:func:`reviewed_line`) records the review in Ground Truth's label verification / adjustment
shape (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-data-verify-manifest.html): ``<attr>-metadata``
gains ``adjustment-status`` (``adjusted`` for a fix, else ``unadjusted``); ``<attr>-verification`` is ``"1"``
(the consolidated label was accepted) or ``"0"`` (fixed or rejected), with ``<attr>-verification-metadata``
``{"class-name": "valid" | "invalid", "confidence", "type": "groundtruth/label-verification", "job-name",
"human-annotated": "yes", "creation-date", "worker-feedback"?: [{"comment": <reviewer's reason>}],
"review": {"decision", "rounds", "selected-because"}}``. Labelers' comments (any object's) go to
``<attr>-metadata.worker-feedback`` (``[{"comment"}]``, only when there are some), where Ground Truth puts
its workers' comments (:mod:`gtpipe_shared.labeling_review_output`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .adaptive_redundancy import agree, consolidated_label
from .tasks import task_spec

ACCEPT, FIX, REJECT = "accept", "fix", "reject"
DECISIONS = (ACCEPT, FIX, REJECT)
# Review item states: waiting for a reviewer, waiting for the answer a reject asked for, decided.
PENDING, REQUEUED, ACCEPTED, FIXED, REJECTED = "pending", "requeued", "accepted", "fixed", "rejected"
FINAL_STATE = {ACCEPT: ACCEPTED, FIX: FIXED, REJECT: REJECTED}
VERIFICATION_TYPE = "groundtruth/label-verification"
MAX_COMMENT_CHARS = 500
DEFAULT_THRESHOLD = 0.8
DEFAULT_SAMPLE_PERCENT = 5.0
DEFAULT_MAX_ROUNDS = 2


@dataclass(frozen=True)
class ReviewSettings:
    """A job's review settings (``review`` on the job item; ``config.labeling.review`` in the run)."""

    confidence_threshold: float = DEFAULT_THRESHOLD
    qa_sample_percent: float = DEFAULT_SAMPLE_PERCENT
    max_rounds: int = DEFAULT_MAX_ROUNDS

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence_threshold <= 1.0:
            raise ValueError("review confidence_threshold must be in (0, 1]")
        if not 0.0 <= self.qa_sample_percent <= 100.0:
            raise ValueError("review qa_sample_percent must be in [0, 100]")
        if not 0 <= self.max_rounds <= 5:
            raise ValueError("review max_rounds must be in [0, 5]")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ReviewSettings:
        """From the job item's / run input's ``review`` map (snake_case keys; missing keys: defaults)."""
        return cls(
            float(raw.get("confidence_threshold", DEFAULT_THRESHOLD)),
            float(raw.get("qa_sample_percent", DEFAULT_SAMPLE_PERCENT)),
            int(raw.get("max_rounds", DEFAULT_MAX_ROUNDS)),
        )

    def as_mapping(self) -> dict[str, Any]:
        """The job item's ``review`` map."""
        return {
            "confidence_threshold": self.confidence_threshold,
            "qa_sample_percent": self.qa_sample_percent,
            "max_rounds": self.max_rounds,
        }


def in_sample(job_name: str, index: int, percent: float) -> bool:
    """Whether object ``index`` of the job is in the QA sample: a uniform draw in [0, 100) from a hash of
    the job's name and the index (seeded, so retries and reruns of the same job draw the same objects)."""
    digest = hashlib.sha256(f"{job_name}#review#{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0 < percent


def selection_reason(
    task_type: str,
    answers: Sequence[Mapping[str, Any]],
    num_classes: int,
    settings: ReviewSettings,
    *,
    job_name: str,
    index: int,
) -> tuple[str | None, dict[str, Any], float]:
    """``(reason, consolidated label, confidence)`` for an object whose answers (stored form, submission
    order) are complete; ``reason`` is ``disagreed``, ``low-confidence``, ``qa-sample`` or None (no
    review)."""
    label, confidence = consolidated_label(task_type, answers, num_classes)
    if not all(agree(task_type, answers[0], other) for other in answers[1:]):
        reason: str | None = "disagreed"
    elif confidence < settings.confidence_threshold:
        reason = "low-confidence"
    elif in_sample(job_name, index, settings.qa_sample_percent):
        reason = "qa-sample"
    else:
        reason = None
    return reason, label, confidence


def check_comment(value: Any, what: str = "comment") -> str:
    """A comment's text (stripped; empty when None); ValueError naming the problem otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text; got {type(value).__name__}")
    text = value.strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise ValueError(f"{what} is {len(text)} characters; at most {MAX_COMMENT_CHARS}")
    return text


@dataclass(frozen=True)
class Review:
    """One object's review as the output records it: its final ``decision`` (None while undecided),
    ``rounds`` (rejects that asked for another answer), why it was selected, the reviewer's ``reason``,
    and the ``label`` decided on (stored answer form: the fixed one, or the one accepted)."""

    index: int
    decision: str | None
    rounds: int
    selected_because: str
    reason: str = ""
    label: Mapping[str, Any] | None = None


def _fixed_content(
    attribute: str,
    class_names: Sequence[str],
    task_type: str,
    label: Mapping[str, Any],
    old: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``<attr>`` value and the metadata changes of a fixed label (the reviewer's confidence: 1.0).

    Boxes keep the shape of Ground Truth's bounding-box output (``{"image_size": [{width, height, depth}],
    "annotations": [{class_id, left, top, width, height}]}`` in image pixels, metadata ``objects`` (one
    ``confidence`` per box) and ``class-map`` (the classes present);
    https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/cd-manifest-files-object-detection.html
    shows a Ground Truth bounding-box job's line): an adjustment's output "resembles the worker output of
    the original task, except that it contains the adjusted values and an adjustment-status property"
    (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-data-verify-manifest.html). The image size is the
    consolidated line's: the fix was checked against the size the server recorded for the image."""
    if not task_spec(task_type).boxes:
        index = int(label["label"])
        return {attribute: index, "meta": {"class-name": class_names[index], "confidence": 1.0}}
    boxes = [
        {key: round(float(box[key])) for key in ("class_id", "left", "top", "width", "height")}
        for box in label.get("boxes") or []
    ]
    size = dict(old.get(attribute) or {}).get("image_size") or []
    present = sorted({box["class_id"] for box in boxes})
    return {
        attribute: {"image_size": size, "annotations": boxes},
        "meta": {
            "objects": [{"confidence": 1.0} for _ in boxes],
            "class-map": {str(i): class_names[i] for i in present},
        },
    }


def reviewed_line(
    line: Mapping[str, Any],
    attribute: str,
    review: Review,
    *,
    class_names: Sequence[str],
    task_type: str,
    job_name: str,
    date: str,
) -> dict[str, Any]:
    """An output manifest line (a labeled object's) with its review recorded (module docstring); the label
    decided on (fixed, or accepted as the reviewer saw it) replaces the consolidated one, with confidence
    1.0. Undecided reviews and lines without a label are left as they are."""
    out = dict(line)
    if review.decision is None or attribute not in out:
        return out
    meta = dict(out.get(f"{attribute}-metadata") or {})
    # The label the reviewer decided on: the one they fixed, or the one they saw and accepted (the object's
    # answers consolidated alone, which the job-wide weighted consolidation may have voted otherwise).
    if review.label is not None:
        fixed = _fixed_content(attribute, class_names, task_type, review.label, out)
        out[attribute] = fixed[attribute]
        meta.update(fixed["meta"])
    meta["adjustment-status"] = "adjusted" if review.decision == FIX else "unadjusted"
    out[f"{attribute}-metadata"] = meta
    valid = review.decision == ACCEPT
    verification: dict[str, Any] = {
        "class-name": "valid" if valid else "invalid",
        "confidence": 1.0,
        "type": VERIFICATION_TYPE,
        "job-name": f"labeling-job/{job_name}",
        "human-annotated": "yes",
        "creation-date": date,
        "review": {
            "decision": review.decision,
            "rounds": review.rounds,
            "selected-because": review.selected_because,
        },
    }
    if review.reason:
        verification["worker-feedback"] = [{"comment": review.reason}]
    out[f"{attribute}-verification"] = "1" if valid else "0"
    out[f"{attribute}-verification-metadata"] = verification
    return out


def review_statistics(reviews: Sequence[Review], extra_answers: int) -> dict[str, Any]:
    """The team statistics' ``review``: items selected, decided per decision, pending, rounds (rejects that
    asked for another answer), the extra answers those cost, and the selections per reason."""
    reasons: dict[str, int] = {}
    for review in reviews:
        reasons[review.selected_because] = reasons.get(review.selected_because, 0) + 1
    return {
        "items": len(reviews),
        "accepted": sum(r.decision == ACCEPT for r in reviews),
        "fixed": sum(r.decision == FIX for r in reviews),
        "rejected": sum(r.decision == REJECT for r in reviews),
        "pending": sum(r.decision is None for r in reviews),
        "rounds": sum(r.rounds for r in reviews),
        "extra_answers": extra_answers,
        "selected_because": reasons,
    }
