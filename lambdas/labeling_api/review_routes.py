"""The labeling API's review routes (docs/labeling-service.md, "Review"): reviewers only.

* ``POST /api/jobs/{job}/review/lease``: the next review item for the caller, ``{"review": {...}}`` (the
  consolidated label, the anonymised answers with their comments, a presigned image URL, ``rejects_left``),
  or ``{"review": null, "reason"}``;
* ``POST /api/jobs/{job}/review/{index}/decide``: ``{"lease_id", "decision": "accept" | "fix" | "reject",
  "label"?: <answer, for fix>, "reason"?: <text, required for reject>}`` -> ``{"decided": true,
  "requeued": bool, "job_completed": bool}``; the decision that completes the job starts its finish.

Callers outside the group ``labeling-reviewers`` get 403 ``NotAReviewer``. The functions take the table,
the clock's ``now`` and the request's parts, so the handler (which owns the clients) wires them in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gtpipe_shared.labeling_errors import InvalidAnswer, LabelingError
from gtpipe_shared.labeling_store import review

REVIEWERS = "labeling-reviewers"


class NotAReviewer(LabelingError):
    """The caller is not in the group ``labeling-reviewers`` (403)."""

    status = 403


def require_reviewer(groups: frozenset[str]) -> None:
    """NotAReviewer unless ``groups`` holds ``labeling-reviewers``."""
    if REVIEWERS not in groups:
        raise NotAReviewer(f"reviews are for the group '{REVIEWERS}'; ask an admin to add you to it")


def lease_review(
    table: Any,
    job_name: str,
    reviewer_id: str,
    groups: frozenset[str],
    now: float,
    image_url: Callable[[str], str | None],
) -> dict[str, Any]:
    """``POST /api/jobs/{job}/review/lease``."""
    require_reviewer(groups)
    task = review.lease_review(table, job_name, reviewer_id, now)
    if task is None:
        return {"review": None, "reason": "no label waits for review in this job (all decided or leased)"}
    return {
        "review": {
            **task.as_dict(),
            "lease_seconds_left": max(0, task.lease_expires_at - int(now)),
            "image_url": image_url(task.source_ref),
        }
    }


def decide(
    table: Any,
    job_name: str,
    index: int,
    who: tuple[str, str, frozenset[str]],
    body: Mapping[str, Any],
    now: float,
) -> tuple[dict[str, Any], bool]:
    """``POST /api/jobs/{job}/review/{index}/decide``; ``who`` is ``(reviewer id, e-mail, groups)``.
    Returns the response and whether the job completed (the caller starts its finish)."""
    reviewer_id, email, groups = who
    require_reviewer(groups)
    lease_id = body.get("lease_id")
    if not isinstance(lease_id, str) or not lease_id:
        raise InvalidAnswer("lease_id is required (the review lease's id)")
    outcome = review.decide(
        table,
        review.Decision(
            job_name,
            index,
            reviewer_id,
            lease_id,
            body.get("decision"),
            label=body.get("label"),
            reason=body.get("reason"),
            email=email,
        ),
        now,
    )
    return {"decided": True, "requeued": outcome.requeued}, outcome.job_completed
