"""The review stage in a job's output (pure): :func:`with_review` rewrites the output manifest that
:func:`gtpipe_shared.labeling_output.build_output` wrote, object by object (line ``i`` is object ``i``).

- a reviewed object's line records its review in Ground Truth's verification / adjustment shape
  (:func:`gtpipe_shared.labeling_review.reviewed_line`); the label decided on (fixed or
  accepted) replaces the consolidated one;
- an object whose reject was final leaves the labeled objects: its line keeps only ``<attr>-metadata`` with
  ``failure-reason: "ClientError: rejected in review ..."`` (the shape of any unlabeled object), its input
  line (the output line without the label attributes) joins ``unlabeled.manifest`` and the counters move
  it from ``TotalLabeled``/``HumanLabeled`` to ``Unlabeled``;
- every object with labelers' comments gets them in ``<attr>-metadata.worker-feedback``
  (``[{"comment"}]``, Ground Truth's place for workers' comments:
  https://docs.aws.amazon.com/sagemaker/latest/dg/sms-data-verify-manifest.html);
- the team statistics (and ``team/stats.json``) gain ``review``
  (:func:`gtpipe_shared.labeling_review.review_statistics`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import labeling_review as rules
from .labeling_output import (
    OUTPUT_MANIFEST_KEY,
    TEAM_STATS_KEY,
    UNLABELED_MANIFEST_KEY,
    JobInfo,
    LabelingOutput,
    failure_metadata,
    json_bytes,
    manifest_bytes,
)


def with_review(
    output: LabelingOutput,
    job: JobInfo,
    reviews: Mapping[int, rules.Review],
    extra_answers: int,
    date: str,
    comments: Mapping[int, tuple[str, ...]] | None = None,
    *,
    with_statistics: bool = True,
) -> LabelingOutput:
    """The output with ``reviews`` and ``comments`` (by object number, as in the output manifest) applied
    (module docstring); ``extra_answers``: the answers rejects asked for; ``date``: the output's creation
    date; ``with_statistics``: add the team statistics' ``review`` (jobs with a review stage)."""
    files = dict(output.files)
    manifest_key = next(key for key in files if key.endswith(OUTPUT_MANIFEST_KEY))
    prefix = manifest_key[: -len(OUTPUT_MANIFEST_KEY)]
    lines = [json.loads(raw) for raw in files[manifest_key].splitlines() if raw.strip()]
    attribute = job.label_attribute
    labeled, unlabeled = list(output.labeled), list(output.unlabeled)
    dropped: list[dict[str, Any]] = []
    for number, review in sorted(reviews.items()):
        if not 0 <= number < len(lines):
            continue
        line = lines[number]
        if review.decision == rules.REJECT and attribute in line and number in labeled:
            inputs = {
                key: value for key, value in line.items() if key not in (attribute, f"{attribute}-metadata")
            }
            dropped.append(inputs)
            reason = f"ClientError: rejected in review after {review.rounds} rounds: {review.reason}"[:1000]
            lines[number] = {
                **inputs,
                f"{attribute}-metadata": failure_metadata(job.task_type, reason, job.job_name, date),
            }
            labeled.remove(number)
            unlabeled.append(number)
            continue
        lines[number] = rules.reviewed_line(
            line,
            attribute,
            review,
            class_names=job.class_names,
            task_type=job.task_type,
            job_name=job.job_name,
            date=date,
        )
    for number, texts in (comments or {}).items():
        if texts and 0 <= number < len(lines):
            meta = dict(lines[number].get(f"{attribute}-metadata") or {})
            meta["worker-feedback"] = [{"comment": text} for text in texts]
            lines[number] = {**lines[number], f"{attribute}-metadata": meta}
    files[manifest_key] = manifest_bytes(lines)
    if dropped:
        old = files.get(prefix + UNLABELED_MANIFEST_KEY, b"")
        files[prefix + UNLABELED_MANIFEST_KEY] = old + manifest_bytes(dropped)
    team = dict(output.team)
    if with_statistics:
        team["review"] = rules.review_statistics(list(reviews.values()), extra_answers)
        files[prefix + TEAM_STATS_KEY] = json_bytes(team)
    counters = {
        **output.counters,
        "TotalLabeled": len(labeled),
        "HumanLabeled": len(labeled),
        "Unlabeled": len(unlabeled),
    }
    return replace(
        output, files=files, counters=counters, labeled=labeled, unlabeled=sorted(unlabeled), team=team
    )
