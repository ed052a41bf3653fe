"""Simulated reviewers for the builtin labeling service's review stage (docs/labeling-service.md, "Review").

A :class:`SimulatedReviewer` is a simulated labeler (:class:`local.labeling_crowd.SimulatedLabeler`: same
sign-in, same API client) in the group ``labeling-reviewers`` that does what the web app's review view
does: ``GET <api>/api/jobs``; for each open job with ``reviews_open > 0``, ``POST .../review/lease`` until
``{"review": null}``, and decides each item (``POST .../review/<index>/decide``) with
:func:`simulated_decision` against the reference answers:

- the reviewer's own belief is the reference label, except with probability ``error_rate`` (0.02: accurate)
  another class, uniformly;
- with probability ``unsure_rate`` (while the item still allows a re-queue) the reviewer cannot tell and
  **rejects** ("cannot tell from the image"), which asks another answer of a new labeler;
- otherwise it **accepts** a consolidated label that matches its belief and **fixes** one that does not.

Boxes: a consolidated label whose boxes match the reference boxes one-to-one (IoU >= 0.5, same classes:
:func:`gtpipe_shared.adaptive_redundancy.agree`) is accepted, else fixed to the reference boxes.
Decisions are deterministic per (seed, reviewer, job, object, round). The review benchmark
(``python -m bench review``) decides with the same :func:`simulated_decision`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.adaptive_redundancy import agree
from gtpipe_shared.tasks import task_spec

from local.labeling_crowd import ApiError, SimulatedLabeler
from local.sagemaker.box_workforce import reference_boxes
from local.sagemaker.workforce import reference_label

REVIEWERS_GROUP = "labeling-reviewers"


@dataclass(frozen=True)
class ReviewerSettings:
    """How simulated reviewers decide (module docstring)."""

    error_rate: float = 0.02
    unsure_rate: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("error_rate", "unsure_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def simulated_decision(
    review: Mapping[str, Any],
    reference: Mapping[str, Any],
    class_names: list[str],
    task_type: str,
    settings: ReviewerSettings,
    rng: random.Random,
) -> dict[str, Any]:
    """The decide body (``decision`` and ``label`` or ``reason``; no ``lease_id``) a simulated reviewer
    gives the review item ``review`` (the API's ``review``: ``label``, ``rejects_left``)."""
    where = f"reference answer of {review.get('source_ref')}"
    if int(review.get("rejects_left", 0)) > 0 and rng.random() < settings.unsure_rate:
        return {"decision": "reject", "reason": "cannot tell from the image"}
    if task_spec(task_type).boxes:
        _, truth = reference_boxes(reference, len(class_names), where)
        believed = {"boxes": [box.as_annotation() for box in truth.boxes]}
        if agree(task_type, review["label"], believed):
            return {"decision": "accept"}
        return {
            "decision": "fix",
            "label": {**believed, "image_size": {"width": truth.width, "height": truth.height}},
        }
    _, label = reference_label(reference, class_names, where)
    if rng.random() < settings.error_rate:
        label = rng.choice([other for other in range(len(class_names)) if other != label])
    if int(review["label"]["label"]) == label:
        return {"decision": "accept"}
    return {"decision": "fix", "label": {"label": label}}


class SimulatedReviewer(SimulatedLabeler):
    """One simulated reviewer (module docstring); ``review_settings`` decide, ``decisions`` counts them."""

    def __init__(self, *args: Any, review_settings: ReviewerSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"reviewer-{self.number}"
        self.review_settings = review_settings
        self.decisions = 0

    def work_once(self) -> bool:
        """Lease and decide review items of every open job with open reviews; True if any."""
        worked = False
        for job in self._call("GET", "api/jobs").get("jobs", []):
            if job.get("status", "OPEN") != "OPEN" or not job.get("reviews_open"):
                continue
            while not self.stop_event.is_set():
                try:
                    review = self._call("POST", f"api/jobs/{job['job_name']}/review/lease").get("review")
                    if not review or not self._decide(job, review):
                        break
                except ApiError as error:
                    if error.status == 409:
                        break  # the job closed meanwhile, or the lease expired: move on
                    raise
                worked = True
        return worked

    def _decide(self, job: Mapping[str, Any], review: Mapping[str, Any]) -> bool:
        reference = self.references.line(str(review.get("source_ref")))
        if reference is None:
            return False  # no reference answer: leave it to a person (its lease expires)
        name, index = str(job["job_name"]), int(review["index"])
        rng = random.Random(
            f"review:{self.review_settings.seed}:{self.number}:{name}:{index}:{review.get('round', 0)}"
        )
        body = simulated_decision(
            review,
            reference,
            [str(c) for c in job.get("class_names") or []],
            str(job.get("task_type")),
            self.review_settings,
            rng,
        )
        self._call("POST", f"api/jobs/{name}/review/{index}/decide", {"lease_id": review["lease_id"], **body})
        self.decisions += 1
        return True
