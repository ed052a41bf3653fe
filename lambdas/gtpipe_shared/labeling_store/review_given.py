"""Review-only jobs of the builtin labeling service: objects that already carry a label wait for a reviewer
only (label-error finding's review of the flagged training objects; README "Label-error finding").

The job is a labeling job with its review stage (:mod:`.review`), opened differently and written out
differently:

* **open** (:func:`open_review_job`): every input line must carry its given label under the job's label
  attribute (image classification: a class index). No answers are asked for: each object item is done at
  once (``slots_open`` 0) and has a pending review item of its given label (``selected_because``
  ``label-error``); the job item counts every object done and every review open (``reviews_open``) and is
  marked ``review_given``, so it completes when the last review is decided
  (:func:`gtpipe_shared.labeling_store.jobs.complete_if_done`). A line's model suggestion
  (``gtpipe-suggestion``, :mod:`gtpipe_shared.labeling_suggestions`) stays on the object, and the review
  task shows it: the reviewer sees the given label and the model's class.
* **decide**: a reviewer accepts the given label or fixes it; a reject is refused (nobody would label the
  object anew), so the job's review settings have ``max_rounds`` 0.
* **output** (:func:`job_output`): each decided object's input line with its review recorded
  (:func:`gtpipe_shared.labeling_review.reviewed_line`: a fixed label replaces the given one, the line's
  other metadata is kept); an object left undecided when the lifetime ended gets the failure metadata
  (its ``label-error`` entry kept, so the line still names its place in the training manifest) and its input
  line goes to ``unlabeled.manifest``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gtpipe_shared import labeling_output, labeling_paths, ledger
from gtpipe_shared import labeling_review as rules
from gtpipe_shared.label_errors_manifest import LABEL_ERROR_KEY
from gtpipe_shared.labeling_errors import InvalidManifest
from gtpipe_shared.labeling_store.dynamo import batch_put, conditional, query_prefix
from gtpipe_shared.labeling_store.jobs import job_item, set_task_token, split_suggestions
from gtpipe_shared.labeling_store.keys import JOB_SK, job_pk, object_sk
from gtpipe_shared.labeling_store.models import JobSpec, LabelingObject, OpenOutcome
from gtpipe_shared.labeling_store.review import as_review, review_sk, reviews
from gtpipe_shared.tasks import task_spec

REVIEW_GIVEN = "review_given"  # the job item's flag
SELECTED_BECAUSE = "label-error"
UNDECIDED = "the review was not decided before the job's lifetime ended"


def given_label(spec: JobSpec, obj: LabelingObject) -> dict[str, Any]:
    """The object's given label in the stored answer form (``{"label": <class index>}``); InvalidManifest
    names the line when it has none (review-only jobs are image classification's)."""
    if task_spec(spec.task_type).boxes:
        raise InvalidManifest("a review-only job reviews class labels (image classification) only")
    label = json.loads(obj.line).get(spec.label_attribute)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(spec.class_names):
        raise InvalidManifest(
            f"line {obj.index + 1}: a review-only job needs the given label under {spec.label_attribute!r} "
            f"(a class index below {len(spec.class_names)}); got {label!r}"
        )
    return {"label": label}


def open_review_job(table: Any, spec: JobSpec, objects: Sequence[LabelingObject], now: float) -> OpenOutcome:
    """Create the review-only job (module docstring); on a retried open only replace the token. Objects
    and review items are written before the job item, as :func:`~.jobs.open_job` does."""
    if not objects:
        raise ValueError("a review-only job needs at least one object")
    existing = table.get_item(Key={"pk": job_pk(spec.job_name), "sk": JOB_SK}, ConsistentRead=True).get(
        "Item"
    )
    if existing:
        return OpenOutcome(created=False, job=set_task_token(table, spec.job_name, spec.task_token))
    settings = rules.ReviewSettings.from_mapping({**(spec.review or {}), "max_rounds": 0})
    items: list[dict[str, Any]] = []
    for obj in split_suggestions(spec, objects):
        label = given_label(spec, obj)
        key = {"pk": job_pk(spec.job_name), "index": obj.index}
        items.append(
            {
                **key,
                "sk": object_sk(obj.index),
                "source_ref": obj.source_ref,
                "line": obj.line,
                **({"suggestion": obj.suggestion} if obj.suggestion else {}),
                "slots_open": 0,
                "answer_count": 0,
                "workers": {},
            }
        )
        items.append(
            {
                **key,
                "sk": review_sk(obj.index),
                "state": rules.PENDING,
                "round": 0,
                "selected_because": SELECTED_BECAUSE,
                "label": json.dumps(label),
                "confidence": 0,
                "decisions": [],
            }
        )
    batch_put(table, items)
    count = len(objects)
    item = job_item(replace(spec, review=settings.as_mapping()), count, now)
    item.update(objects_done=count, reviews_open=count, **{REVIEW_GIVEN: True})
    created = conditional(
        table.put_item, Item=ledger.to_dynamo(item), ConditionExpression="attribute_not_exists(pk)"
    )
    if created is None:  # a concurrent open of the same job won
        return OpenOutcome(created=False, job=set_task_token(table, spec.job_name, spec.task_token))
    return OpenOutcome(created=True, job=item)


def is_review_only(job: Mapping[str, Any]) -> bool:
    """Whether the job is a review-only job."""
    return bool(job.get(REVIEW_GIVEN))


def job_output(table: Any, job: Mapping[str, Any], now: float) -> labeling_output.LabelingOutput:
    """The review-only job's output (module docstring): the output manifest (every object, in index order),
    ``unlabeled.manifest`` when some review is undecided, and ``team/stats.json`` with the review figures."""
    job_name, attribute = str(job["job_name"]), str(job["label_attribute"])
    task_type, class_names = str(job["task_type"]), tuple(job.get("class_names") or ())
    bucket, prefix = labeling_paths.job_prefix(str(job["output_path"]), job_name)
    date = labeling_paths.creation_date(datetime.fromtimestamp(now, tz=UTC))
    decided = {int(item["index"]): as_review(item) for item in reviews(table, job_name)}
    lines: list[dict[str, Any]] = []
    unlabeled_lines: list[dict[str, Any]] = []
    labeled: list[int] = []
    unlabeled: list[int] = []
    for obj in query_prefix(table, job_name, "OBJ#"):
        index, line = int(obj["index"]), json.loads(obj["line"])
        review = decided.get(index)
        if review is not None and review.decision in (rules.ACCEPT, rules.FIX):
            lines.append(
                rules.reviewed_line(
                    line,
                    attribute,
                    review,
                    class_names=class_names,
                    task_type=task_type,
                    job_name=job_name,
                    date=date,
                )
            )
            labeled.append(index)
            continue
        failure = labeling_output.failure_metadata(task_type, UNDECIDED, job_name, date)
        found = (line.get(f"{attribute}-metadata") or {}).get(LABEL_ERROR_KEY)
        lines.append(
            labeling_output.output_line(
                line, attribute, None, {**failure, **({LABEL_ERROR_KEY: found} if found else {})}
            )
        )
        unlabeled_lines.append(line)
        unlabeled.append(index)
    team = {"review": rules.review_statistics(list(decided.values()), 0)}
    files = {
        prefix + labeling_output.OUTPUT_MANIFEST_KEY: labeling_output.manifest_bytes(lines),
        prefix + labeling_output.TEAM_STATS_KEY: labeling_output.json_bytes(team),
    }
    if unlabeled_lines:
        files[prefix + labeling_output.UNLABELED_MANIFEST_KEY] = labeling_output.manifest_bytes(
            unlabeled_lines
        )
    counters = labeling_output.human_label_counters(len(labeled), len(unlabeled))
    uri = f"s3://{bucket}/{prefix}{labeling_output.OUTPUT_MANIFEST_KEY}"
    return labeling_output.LabelingOutput(files, uri, counters, labeled, unlabeled, team)
