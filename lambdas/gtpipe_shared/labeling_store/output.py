"""Reading a job for its output: objects, image sizes, answers and workers, and the consolidated output.

The consolidation itself is :mod:`gtpipe_shared.labeling_output` (pure); this module reads what it takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gtpipe_shared import labeling_gold, labeling_output, labeling_suggestions
from gtpipe_shared.labeling_store import review, review_given
from gtpipe_shared.labeling_store.dynamo import query_prefix, read_object
from gtpipe_shared.labeling_store.keys import job_pk, object_sk, worker_sk
from gtpipe_shared.labeling_store.models import StoredObject


def objects(table: Any, job_name: str) -> list[StoredObject]:
    """The job's objects in index order."""
    return [_stored(item) for item in query_prefix(table, job_name, "OBJ#")]


def _stored(item: Mapping[str, Any]) -> StoredObject:
    """An object item as a StoredObject (its ``image_size`` only when both sides were recorded)."""
    size: Any = item.get("image_size")
    known = isinstance(size, Mapping) and size.get("width") and size.get("height")
    return StoredObject(
        index=int(item["index"]),
        source_ref=str(item["source_ref"]),
        line=str(item["line"]),
        answer_count=int(item.get("answer_count", 0)),
        image_size=(int(size["width"]), int(size["height"])) if known else None,
        answers_wanted=int(item["answers_wanted"]) if item.get("answers_wanted") is not None else None,
        gold=json.loads(item["gold"]) if item.get("gold") else None,
        data_index=int(item["data_index"]) if item.get("data_index") is not None else None,
        suggestion=json.loads(item["suggestion"]) if item.get("suggestion") else None,
    )


def image_size(table: Any, job_name: str, index: int) -> tuple[StoredObject, tuple[int, int] | None]:
    """The object (UnknownTask when there is none) and the image size recorded on it (None: not yet known)."""
    stored = _stored(read_object(table, job_name, index))
    return stored, stored.image_size


def record_image_size(table: Any, job_name: str, index: int, size: tuple[int, int]) -> None:
    """Record the image's ``(width, height)`` on its object (read once from the image header; the first
    write stays)."""
    table.update_item(
        Key={"pk": job_pk(job_name), "sk": object_sk(index)},
        UpdateExpression="SET image_size = if_not_exists(image_size, :size)",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":size": {"width": size[0], "height": size[1]}},
    )


def took_part(table: Any, job_name: str, worker_id: str) -> bool:
    """True when the worker answered in the job (it has their worker item)."""
    key = {"pk": job_pk(job_name), "sk": worker_sk(worker_id)}
    return "Item" in table.get_item(Key=key, ConsistentRead=True, ProjectionExpression="pk")


def all_answers(table: Any, job_name: str) -> dict[int, list[labeling_output.WorkerAnswer]]:
    """Every stored answer of the job by object index, each object's answers in submission order (the
    answer parsed back from its JSON text), in the form the output writer takes. Answers are the worker's
    (Cognito ``sub``); ``username`` is the worker's latest e-mail (their worker item), else the e-mail the
    answer came with (``email``, or ``username`` on answers stored before ``email`` existed)."""
    emails = {
        str(w["worker_id"]): str(w.get("email") or w.get("username") or "") for w in workers(table, job_name)
    }
    answers: dict[int, list[labeling_output.WorkerAnswer]] = {}
    for item in query_prefix(table, job_name, "ANS#"):
        worker_id = str(item["worker_id"])
        record = labeling_output.WorkerAnswer(
            index=int(item["index"]),
            worker_id=worker_id,
            username=emails.get(worker_id) or str(item.get("email") or item.get("username") or ""),
            answer=json.loads(item["answer"]),
            accepted_at=str(item.get("accepted_at", "")),
            submitted_at=str(item.get("submitted_at", "")),
            seconds=float(item.get("seconds", 0.0)),
        )
        answers.setdefault(record.index, []).append(record)
    for records in answers.values():
        records.sort(key=lambda record: record.submitted_at)
    return answers


def workers(table: Any, job_name: str) -> list[dict[str, Any]]:
    """The job's worker items (``worker_id``, ``username``, ``answers``, ``seconds_total``, ...)."""
    return list(query_prefix(table, job_name, "WRK#"))


def output_inputs(
    table: Any, job_name: str
) -> tuple[list[dict[str, Any]], dict[int, list[labeling_output.WorkerAnswer]]]:
    """``(object lines, answers by object index)`` as ``labeling_output.build_output`` takes them, for a job
    without gold objects (:func:`job_output` leaves gold objects out and renumbers the others)."""
    lines = [json.loads(obj.line) for obj in objects(table, job_name)]
    return lines, all_answers(table, job_name)


def job_output(
    table: Any, job: Mapping[str, Any], now: float, identity_issuer: str = ""
) -> labeling_output.LabelingOutput:
    """Consolidate the job's answers into Ground Truth's output (nothing written): box answers at the image
    sizes the server recorded on the objects; with adaptive redundancy each object needs the answers it
    asked for (its ``answers_wanted``), not ``workers_per_object``. With gold objects, only the data
    objects are written, numbered by their manifest line (``data_index``); the gold answers weight the
    consolidation (each worker's :class:`GoldScore`) and add the gold figures to the team statistics
    (:func:`gtpipe_shared.labeling_gold.gold_statistics`: ``workers[].gold_accuracy``/``gold_answers`` and
    ``gold``). A review-only job's output is its reviews' (:func:`.review_given.job_output`)."""
    if review_given.is_review_only(job):
        return review_given.job_output(table, job, now)
    job_name = str(job["job_name"])
    stored = objects(table, job_name)
    answers = all_answers(table, job_name)
    data = [obj for obj in stored if obj.gold is None]
    number = {obj.index: (obj.index if obj.data_index is None else obj.data_index) for obj in data}
    truths = {obj.index: obj.gold for obj in stored if obj.gold is not None}
    gold_answers = {index: answers.get(index, []) for index in truths}
    scores = labeling_gold.worker_scores(str(job["task_type"]), truths, gold_answers) if truths else None
    output = labeling_output.build_output(
        job_info(job, identity_issuer),
        [json.loads(obj.line) for obj in sorted(data, key=lambda obj: number[obj.index])],
        {
            number[index]: [replace(record, index=number[index]) for record in records]
            for index, records in answers.items()
            if index in number
        },
        workers_per_object=int(job.get("workers_per_object", 1)),
        now=datetime.fromtimestamp(now, tz=UTC),
        image_sizes={number[obj.index]: obj.image_size for obj in data if obj.image_size},
        # Adaptive redundancy: an object is labeled with the answers it asked for (fewer than the maximum).
        answers_required={
            number[obj.index]: obj.answers_wanted for obj in data if obj.answers_wanted is not None
        },
        gold=scores,
    )
    output = _with_suggestions(table, job, output, data, number)
    if truths:
        stats = labeling_gold.gold_statistics(
            str(job["task_type"]), tuple(job.get("class_names") or ()), truths, gold_answers
        )
        output = with_gold(output, stats)
    # The review stage's decisions and the labelers' comments (gtpipe_shared.labeling_review_output).
    return review.apply_to_output(table, job, output, number, now)


def _with_suggestions(
    table: Any,
    job: Mapping[str, Any],
    output: labeling_output.LabelingOutput,
    data: list[StoredObject],
    number: Mapping[int, int],
) -> labeling_output.LabelingOutput:
    """Pre-annotation: the output with how many answers took each object's model suggestion unchanged
    (:func:`gtpipe_shared.labeling_suggestions.with_suggestions`); unchanged for a job without any."""
    suggested = {obj.index: obj.suggestion for obj in data if obj.suggestion is not None}
    if not suggested:
        return output
    taken: dict[int, list[tuple[str, bool]]] = {}
    for item in query_prefix(table, str(job["job_name"]), "ANS#"):
        if int(item["index"]) in suggested:
            flag = bool(item.get("suggestion_accepted", False))
            taken.setdefault(int(item["index"]), []).append((str(item.get("submitted_at", "")), flag))
    return labeling_suggestions.with_suggestions(
        output,
        str(job["label_attribute"]),
        [
            labeling_suggestions.Suggested(
                number[index], suggestion, tuple(flag for _, flag in sorted(taken.get(index, [])))
            )
            for index, suggestion in sorted(suggested.items())
        ],
    )


def with_gold(
    output: labeling_output.LabelingOutput, stats: Mapping[str, Any]
) -> labeling_output.LabelingOutput:
    """The output with the gold figures in its team statistics (and their ``team/stats.json``)."""
    per_worker = stats["workers"]
    team = dict(output.team)
    team["workers"] = [{**row, **per_worker.get(row["worker_id"], {})} for row in team.get("workers", [])]
    team["gold"] = {key: stats[key] for key in ("objects", "answers", "label_accuracy")}
    files = dict(output.files)
    for key in files:
        if key.endswith(labeling_output.TEAM_STATS_KEY):
            files[key] = labeling_output.json_bytes(team)
    return replace(output, team=team, files=files)


def job_info(job: Mapping[str, Any], identity_issuer: str = "") -> labeling_output.JobInfo:
    """What the output writer needs of a job item; ``identity_issuer`` names the workers' identity
    provider in worker responses (the Cognito user pool URL)."""
    return labeling_output.JobInfo(
        job_name=str(job["job_name"]),
        task_type=str(job["task_type"]),
        label_attribute=str(job["label_attribute"]),
        class_names=tuple(job.get("class_names") or ()),
        output_path=str(job["output_path"]),
        identity_issuer=identity_issuer,
    )
