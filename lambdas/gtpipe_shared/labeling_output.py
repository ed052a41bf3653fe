"""Ground Truth's labeling output, written from workers' answers (pure: returns file bodies; callers upload).

One implementation for the builtin labeling service (``lambdas/labeling``: :func:`build_output`) and the local
Ground Truth emulation (``local/sagemaker/labeling_job.py``: the building blocks, iterations, machine labels).

**Paths** under ``<output_path><job_name>/`` (``*_KEY`` here; :mod:`gtpipe_shared.labeling_paths`: ``job_prefix``,
``*_key`` helpers and the time formats):

- ``manifests/output/output.manifest``: every input line, its old ``<attr>``/``<attr>-metadata`` dropped,
  plus ``<attr>`` and ``<attr>-metadata`` (``type``, ``human-annotated``, ``creation-date``,
  ``job-name: labeling-job/<job>``, and ``class-name``/``confidence`` or ``objects``/``class-map``); an
  object without a label keeps only ``<attr>-metadata`` with ``failure-reason`` and ``retry-count``;
- ``annotations/worker-response/iteration-<n>/<index>/<yyyy-mm-dd_HH:MM:SS>.json``:
  ``{"answers": [{"acceptanceTime", "answerContent", "submissionTime", "timeSpentInSeconds", "workerId",
  "workerMetadata": {"identityData": {"identityProviderType", "issuer", "sub"}}}]}``;
- ``annotations/consolidated-annotation/consolidation-response/iteration-<n>/<stamp>.json``:
  ``[{"datasetObjectId": "<index>", "consolidatedAnnotation": {"content": {<attr>, <attr>-metadata}}}]``;
- builtin service only: ``manifests/output/unlabeled.manifest`` (input lines of objects without all their
  answers, when any) and ``team/stats.json`` (:mod:`gtpipe_shared.labeling_stats`).

**Answers** (the labeling API's ``answer`` body, in the stored form
:func:`gtpipe_shared.labeling_answers.validate_answer` returns): ``{"label": <class index>}`` (image
classification) or ``{"boxes": [{"class_id", "left", "top", "width", "height"}], "image_size": {"width",
"height"}}`` (object detection, pixels; boxes are clipped to whole pixels inside the image; a box entirely
outside it is an error). Their ``answerContent`` is Ground Truth's: ``{"crowd-image-classifier": {"label":
<class name>}}`` or ``{"boundingBox": {"boundingBoxes": [{"label": <class name>, "left", "top", "width",
"height"}], "inputImageProperties": {"width", "height"}}}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .consolidation import (
    Box,
    BoxAnswer,
    ClassAnswer,
    GoldScore,
    clip_box,
    consolidate_boxes,
    consolidate_classes,
)
from .labeling_answers import AS_STORED, validate_answer
from .labeling_paths import (
    consolidation_response_key,
    creation_date,
    iso_z,
    job_prefix,
    parse_time,
    worker_response_key,
)
from .labeling_stats import team_statistics
from .tasks import TaskType, task_spec

OUTPUT_MANIFEST_KEY = "manifests/output/output.manifest"
UNLABELED_MANIFEST_KEY = "manifests/output/unlabeled.manifest"
TEAM_STATS_KEY = "team/stats.json"
DEFAULT_DEPTH = 3
Gold = Mapping[str, GoldScore] | None


# -- formats shared with the local Ground Truth emulation -------------------------------------------


def metadata(task_type: str, job_name: str, date: str, human: bool) -> dict[str, Any]:
    """The metadata entries every label has: ``type``, ``human-annotated``, ``creation-date``, ``job-name``."""
    return {
        "type": task_spec(task_type).label_type,
        "human-annotated": "yes" if human else "no",
        "creation-date": date,
        "job-name": f"labeling-job/{job_name}",
    }


def classification_content(
    attribute: str,
    class_names: Sequence[str],
    label: int,
    confidence: float,
    job_name: str,
    date: str,
    *,
    human: bool,
) -> dict[str, Any]:
    """``{<attr>: class index, <attr>-metadata: {"class-name", "confidence", ...}}``."""
    meta = {
        "class-name": class_names[label],
        "confidence": round(confidence, 2),
        **metadata(TaskType.IMAGE_CLASSIFICATION, job_name, date, human),
    }
    return {attribute: label, f"{attribute}-metadata": meta}


def detection_content(
    attribute: str,
    class_names: Sequence[str],
    image_size: tuple[int, int, int],
    boxes: Sequence[tuple[Box, float]],
    job_name: str,
    date: str,
    *,
    human: bool,
) -> dict[str, Any]:
    """``{<attr>: {"image_size": [{width, height, depth}], "annotations": [...]}, <attr>-metadata:
    {"objects": [{"confidence"}], "class-map", ...}}``; ``boxes`` are ``(box in pixels, confidence)``."""
    width, height, depth = image_size
    label = {
        "image_size": [{"width": width, "height": height, "depth": depth}],
        "annotations": [box.as_annotation() for box, _ in boxes],
    }
    present = sorted({box.class_id for box, _ in boxes})
    meta = {
        "objects": [{"confidence": round(confidence, 2)} for _, confidence in boxes],
        "class-map": {str(index): class_names[index] for index in present},
        **metadata(TaskType.OBJECT_DETECTION, job_name, date, human),
    }
    return {attribute: label, f"{attribute}-metadata": meta}


def failure_metadata(task_type: str, reason: str, job_name: str, date: str) -> dict[str, Any]:
    """The ``<attr>-metadata`` of an object that could not be labeled."""
    return {"failure-reason": reason, "retry-count": 1, **metadata(task_type, job_name, date, True)}


def classification_answer_content(class_names: Sequence[str], label: int) -> dict[str, Any]:
    """A classification worker's ``answerContent``."""
    return {"crowd-image-classifier": {"label": class_names[label]}}


def detection_answer_content(
    class_names: Sequence[str], boxes: Sequence[Box], width: int, height: int
) -> dict[str, Any]:
    """A bounding-box worker's ``answerContent``: its boxes (class names as labels) and the image size."""
    return {
        "boundingBox": {
            "boundingBoxes": [
                {
                    "label": class_names[box.class_id],
                    "left": round(box.left),
                    "top": round(box.top),
                    "width": round(box.width),
                    "height": round(box.height),
                }
                for box in boxes
            ],
            "inputImageProperties": {"width": width, "height": height},
        }
    }


@dataclass(frozen=True)
class ResponseEntry:
    """One worker's answer in a worker-response file (``answer_content`` in Ground Truth's format)."""

    worker_id: str
    sub: str
    answer_content: Mapping[str, Any]
    accepted_at: dt.datetime
    submitted_at: dt.datetime
    seconds: float


def worker_response(entries: Sequence[ResponseEntry], issuer: str) -> dict[str, Any]:
    """A worker-response file's body; ``issuer`` is the workers' identity provider (a Cognito pool URL)."""
    return {
        "answers": [
            {
                "acceptanceTime": iso_z(entry.accepted_at),
                "answerContent": dict(entry.answer_content),
                "submissionTime": iso_z(entry.submitted_at),
                "timeSpentInSeconds": round(entry.seconds, 3),
                "workerId": entry.worker_id,
                "workerMetadata": {
                    "identityData": {"identityProviderType": "Cognito", "issuer": issuer, "sub": entry.sub}
                },
            }
            for entry in entries
        ]
    }


def consolidation_response(contents: Sequence[tuple[int, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """A consolidation-response file's body from ``(object index, {<attr>, <attr>-metadata})`` pairs."""
    return [
        {"datasetObjectId": str(index), "consolidatedAnnotation": {"content": dict(content)}}
        for index, content in contents
    ]


def output_line(
    line: Mapping[str, Any], attribute: str, content: Mapping[str, Any] | None, failure: Mapping[str, Any]
) -> dict[str, Any]:
    """An output manifest line: the input line without its old label, plus ``content`` (a label) or, when
    None, ``{<attr>-metadata: failure}``."""
    out = dict(line)
    out.pop(attribute, None)
    out.pop(f"{attribute}-metadata", None)
    if content is not None:
        out.update(content)
    else:
        out[f"{attribute}-metadata"] = dict(failure)
    return out


def json_bytes(value: Any) -> bytes:
    """Compact JSON (UTF-8), as Ground Truth writes its files."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def manifest_bytes(lines: Sequence[Mapping[str, Any]]) -> bytes:
    """JSON Lines, one compact object a line, newline-terminated (empty for no lines)."""
    return b"".join(json_bytes(line) + b"\n" for line in lines)


# -- the builtin service's output -------------------------------------------------------------------


@dataclass(frozen=True)
class JobInfo:
    """What :func:`build_output` needs to know about a labeling job.

    ``task_type``: a :class:`~gtpipe_shared.tasks.TaskType` value; ``class_names`` in class-id order;
    ``output_path``: ``s3://bucket/prefix/`` (the job writes under ``<output_path><job_name>/``);
    ``identity_issuer``: the workers' identity provider in worker responses (the Cognito user pool URL).
    """

    job_name: str
    task_type: str
    label_attribute: str
    class_names: tuple[str, ...]
    output_path: str
    identity_issuer: str = ""


@dataclass(frozen=True)
class WorkerAnswer:
    """One stored answer: object ``index``, the worker (Cognito ``sub`` and user name), the API body's
    ``answer``, when the task was leased and answered (ISO 8601) and the seconds the worker reported."""

    index: int
    worker_id: str
    username: str
    answer: Mapping[str, Any]
    accepted_at: str
    submitted_at: str
    seconds: float


def human_label_counters(labeled: int, unlabeled: int) -> dict[str, int]:
    """Ground Truth's ``LabelCounters`` of a job that people alone labeled (nothing machine-labeled or failed)."""
    return {
        "TotalLabeled": labeled,
        "HumanLabeled": labeled,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": unlabeled,
    }


@dataclass(frozen=True)
class LabelingOutput:
    """Result of :func:`build_output`.

    ``files``: S3 key (no bucket) -> body, all under the job's prefix; ``output_uri``: the output
    manifest's ``s3://`` URI; ``counters``: Ground Truth's ``LabelCounters``; ``labeled``/``unlabeled``:
    object indices; ``team``: the team statistics (:func:`gtpipe_shared.labeling_stats.team_statistics`).
    """

    files: dict[str, bytes]
    output_uri: str
    counters: dict[str, int]
    labeled: list[int]
    unlabeled: list[int]
    team: dict[str, Any]


def _validated(job: JobInfo, index: int, answers: Sequence[WorkerAnswer]) -> list[dict[str, Any]]:
    normalized = []
    for answer in answers:
        if answer.index != index:
            raise ValueError(
                f"object {index}: an answer of worker {answer.worker_id} is for object {answer.index}"
            )
        try:
            normalized.append(validate_answer(job.task_type, answer.answer, job.class_names, rules=AS_STORED))
        except ValueError as error:
            raise ValueError(f"object {index}, worker {answer.worker_id}: {error}") from None
    return normalized


def _image_size(normalized: Sequence[Mapping[str, Any]], known: tuple[int, int] | None) -> tuple[int, int]:
    """The object's image size: the server's ``known`` size, else the size most answers report (ties: the
    earliest answer's); never an error, so one answer cannot fail a job."""
    if known is not None:
        return known
    sizes = Counter((item["image_size"]["width"], item["image_size"]["height"]) for item in normalized)
    top = max(sizes.values())
    return next(
        (item["image_size"]["width"], item["image_size"]["height"])
        for item in normalized
        if sizes[(item["image_size"]["width"], item["image_size"]["height"])] == top
    )


def _fit(item: Mapping[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """A normalized box answer on an image of ``size``: boxes clipped to it, boxes outside it dropped."""
    width, height = size
    if (item["image_size"]["width"], item["image_size"]["height"]) == size:
        return dict(item)
    boxes = [Box(**box) for box in item["boxes"]]
    inside = [
        box for box in boxes if box.right > 0 and box.bottom > 0 and box.left < width and box.top < height
    ]
    return {
        "boxes": [clip_box(box, width, height).as_annotation() for box in inside],
        "image_size": {"width": width, "height": height},
    }


@dataclass
class _Objects:
    """Every object's answers, ordered by submission (then worker) and validated (``normalized``, same
    order; box answers are refitted to the image size when consolidated), and which objects are labeled."""

    ordered: dict[int, list[WorkerAnswer]]
    normalized: dict[int, list[dict[str, Any]]]
    labeled: list[int]
    unlabeled: list[int]

    def workers(self, index: int) -> int:
        """How many distinct workers answered object ``index``."""
        return len({answer.worker_id for answer in self.ordered[index]})


@dataclass
class _Consensus:
    """The consolidated objects: their ``{<attr>, <attr>-metadata}`` content, their consolidated label
    (:class:`ConsolidatedClass` or merged boxes, for the statistics) and, for boxes, the image size."""

    contents: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, Any] = field(default_factory=dict)
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)


def _check_inputs(
    job: JobInfo, lines: Sequence[Mapping[str, Any]], answers: Mapping[int, Any], workers_per_object: int
) -> None:
    """ValueError for a job :func:`build_output` cannot write: no workers, no classes, stray answers."""
    if workers_per_object < 1:
        raise ValueError("workers_per_object must be >= 1")
    if not job.class_names:
        raise ValueError("the job has no class names")
    for index in answers:
        if not 0 <= index < len(lines):
            raise ValueError(f"answers for object {index}, but the manifest has {len(lines)} lines")


def _collect(
    job: JobInfo, count: int, answers: Mapping[int, Sequence[WorkerAnswer]], required: Mapping[int, int]
) -> _Objects:
    """Order and validate the answers of objects ``0..count-1``; labeled: ``required[i]`` workers."""
    ordered = {
        index: sorted(answers.get(index, ()), key=lambda a: (a.submitted_at, a.worker_id))
        for index in range(count)
    }
    normalized = {index: _validated(job, index, items) for index, items in ordered.items()}
    objects = _Objects(ordered, normalized, [], [])
    objects.labeled = [i for i in range(count) if objects.workers(i) >= required[i]]
    objects.unlabeled = [i for i in range(count) if i not in set(objects.labeled)]
    return objects


def _consolidate_classes(job: JobInfo, objects: _Objects, date: str, gold: Gold) -> _Consensus:
    """Majority labels of the labeled objects (workers weighted by ``gold`` too), and their content."""
    result = consolidate_classes(
        [
            [
                ClassAnswer(a.worker_id, n["label"])
                for a, n in zip(objects.ordered[i], objects.normalized[i], strict=True)
            ]
            for i in objects.labeled
        ],
        len(job.class_names),
        gold=gold,
    )
    consensus = _Consensus()
    for index, label in zip(objects.labeled, result.labels, strict=True):
        assert label is not None  # every labeled object has answers
        consensus.labels[index] = label
        consensus.contents[index] = classification_content(
            job.label_attribute,
            job.class_names,
            label.label,
            label.confidence,
            job.job_name,
            date,
            human=True,
        )
    return consensus


def _consolidate_boxes(
    job: JobInfo, objects: _Objects, date: str, image_sizes: Mapping[int, tuple[int, int]], gold: Gold
) -> _Consensus:
    """Merged boxes of the labeled objects at each image's size (their answers refitted to it in
    ``objects.normalized``), and their detection content."""
    consensus = _Consensus()
    for index in objects.labeled:
        consensus.sizes[index] = _image_size(objects.normalized[index], image_sizes.get(index))
        objects.normalized[index] = [_fit(item, consensus.sizes[index]) for item in objects.normalized[index]]
    boxes = consolidate_boxes(
        [
            [
                BoxAnswer(a.worker_id, tuple(Box(**box) for box in n["boxes"]))
                for a, n in zip(objects.ordered[i], objects.normalized[i], strict=True)
            ]
            for i in objects.labeled
        ],
        len(job.class_names),
        gold=gold,
    )
    for index, merged in zip(objects.labeled, boxes.images, strict=True):
        consensus.labels[index] = merged
        width, height = consensus.sizes[index]
        consensus.contents[index] = detection_content(
            job.label_attribute,
            job.class_names,
            (width, height, DEFAULT_DEPTH),
            [(item.box, item.confidence) for item in merged],
            job.job_name,
            date,
            human=True,
        )
    return consensus


def _response_entries(
    job: JobInfo, objects: _Objects, consensus: _Consensus, index: int
) -> list[ResponseEntry]:
    """The worker-response entries of labeled object ``index``, answers in Ground Truth's format."""
    boxes = task_spec(job.task_type).boxes
    entries = []
    for answer, item in zip(objects.ordered[index], objects.normalized[index], strict=True):
        if not boxes:
            content = classification_answer_content(job.class_names, item["label"])
        else:
            drawn = [Box(**box) for box in item["boxes"]]
            content = detection_answer_content(job.class_names, drawn, *consensus.sizes[index])
        where = f"object {index}, worker {answer.worker_id}"
        entries.append(
            ResponseEntry(
                answer.worker_id,
                answer.worker_id,
                content,
                parse_time(answer.accepted_at, f"{where}: accepted_at"),
                parse_time(answer.submitted_at, f"{where}: submitted_at"),
                answer.seconds,
            )
        )
    return entries


def _annotation_files(
    job: JobInfo, objects: _Objects, consensus: _Consensus, prefix: str, now: dt.datetime
) -> dict[str, bytes]:
    """Iteration 1's worker-response files (one per labeled object) and consolidation response."""
    files: dict[str, bytes] = {}
    for index in objects.labeled:
        entries = _response_entries(job, objects, consensus, index)
        last = max(entry.submitted_at for entry in entries)
        files[prefix + worker_response_key(1, index, last)] = json_bytes(
            worker_response(entries, job.identity_issuer)
        )
    if objects.labeled:
        files[prefix + consolidation_response_key(1, now)] = json_bytes(
            consolidation_response([(index, consensus.contents[index]) for index in objects.labeled])
        )
    return files


def _output_lines(
    job: JobInfo,
    lines: Sequence[Mapping[str, Any]],
    objects: _Objects,
    consensus: _Consensus,
    required: Mapping[int, int],
    date: str,
) -> list[dict[str, Any]]:
    """The output manifest: each input line with its consolidated label, or failure metadata."""
    output_lines = []
    for index, line in enumerate(lines):
        failure = failure_metadata(
            job.task_type,
            f"ClientError: {objects.workers(index)} of {required[index]} answers "
            "when the labeling job closed",
            job.job_name,
            date,
        )
        output_lines.append(output_line(line, job.label_attribute, consensus.contents.get(index), failure))
    return output_lines


def _team(job: JobInfo, objects: _Objects, consensus: _Consensus) -> dict[str, Any]:
    """The team statistics of every answer, labeled objects or not."""
    # Statistics read the normalized answers (boxes clipped like the consolidated ones).
    checked = [
        replace(answer, answer=item)
        for index in sorted(objects.ordered)
        for answer, item in zip(objects.ordered[index], objects.normalized[index], strict=True)
    ]
    return team_statistics(job.task_type, job.class_names, checked, consensus.labels)


def build_output(
    job: JobInfo,
    lines: Sequence[Mapping[str, Any]],
    answers: Mapping[int, Sequence[WorkerAnswer]],
    *,
    workers_per_object: int,
    now: dt.datetime,
    image_sizes: Mapping[int, tuple[int, int]] | None = None,
    answers_required: Mapping[int, int] | None = None,
    gold: Gold = None,
) -> LabelingOutput:
    """Consolidate the answers of the objects that have ``workers_per_object`` answers from distinct
    workers and write Ground Truth's output for all ``lines`` (the input manifest, object ``i`` = line
    ``i``). Objects with fewer answers are not labeled: failure metadata in the output manifest, their
    input lines in ``unlabeled.manifest``. ValueError names the object and worker of an invalid answer,
    or an answer for an object that is not in ``lines``. Box answers are consolidated at the image's size:
    ``image_sizes`` (object index -> the server's ``(width, height)``), else the size most answers report;
    an answer drawn at another size has its boxes clipped to it. ``answers_required`` (object index ->
    answers; adaptive redundancy) replaces ``workers_per_object`` for the objects it names: each needs the
    answers it asked for, 1..``workers_per_object``. ``gold``: workers' gold records, weighting consolidation.
    """
    spec = task_spec(job.task_type)
    _check_inputs(job, lines, answers, workers_per_object)
    required = {i: (answers_required or {}).get(i, workers_per_object) for i in range(len(lines))}
    if any(not 1 <= value <= workers_per_object for value in required.values()):
        raise ValueError(f"answers_required must be 1..{workers_per_object} (workers_per_object)")
    objects = _collect(job, len(lines), answers, required)
    bucket, prefix = job_prefix(job.output_path, job.job_name)
    date = creation_date(now)
    if spec.boxes:
        consensus = _consolidate_boxes(job, objects, date, image_sizes or {}, gold)
    else:
        consensus = _consolidate_classes(job, objects, date, gold)

    files = _annotation_files(job, objects, consensus, prefix, now)
    files[prefix + OUTPUT_MANIFEST_KEY] = manifest_bytes(
        _output_lines(job, lines, objects, consensus, required, date)
    )
    if objects.unlabeled:
        files[prefix + UNLABELED_MANIFEST_KEY] = manifest_bytes([lines[index] for index in objects.unlabeled])
    team = _team(job, objects, consensus)
    files[prefix + TEAM_STATS_KEY] = json_bytes(team)
    labeled, unlabeled = objects.labeled, objects.unlabeled
    counters = human_label_counters(len(labeled), len(unlabeled))
    return LabelingOutput(
        files, f"s3://{bucket}/{prefix}{OUTPUT_MANIFEST_KEY}", counters, labeled, unlabeled, team
    )
