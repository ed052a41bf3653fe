"""Run one CreateLabelingJob with the simulated workforce of :mod:`local.sagemaker.workforce`.

Reads the input manifest (``{"source-ref": ...}`` lines), the label categories
(``{"labels": [{"label": ...}]}``; order = class index) and the workforce's reference labels; each object
is answered by ``NumberOfHumanWorkersPerDataObject`` workers; answers are consolidated; then Ground
Truth's output is written under ``<S3OutputPath>/<job>/``:

- ``manifests/output/output.manifest``: every input line plus ``<LabelAttributeName>`` (class index) and
  ``<LabelAttributeName>-metadata`` (``class-name``, ``confidence``, ``human-annotated: "yes"``,
  ``creation-date``, ``job-name: "labeling-job/<job>"``, ``type: "groundtruth/image-classification"``);
  objects that could not be labeled keep only a metadata entry with ``failure-reason``;
- ``annotations/worker-response/iteration-1/<object index>/<timestamp>.json``:
  ``{"answers": [{"workerId", "answerContent": {"crowd-image-classifier": {"label": name}}, ...}]}``;
- ``annotations/consolidated-annotation/consolidation-response/iteration-1/<timestamp>.json``:
  ``[{"datasetObjectId": "<index>", "consolidatedAnnotation": {"content": {<attr>: ..., <attr>-metadata: ...}}}]``.

Task type: the built-in image classification (``PRE-ImageMultiClass``) is simulated; bounding boxes
(``PRE-BoundingBox``) fail with "object-detection labeling is not simulated yet"; other task types fail
too. Automated data labeling is not simulated (``MachineLabeled`` stays 0).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .faults import Faults
from .jobs import JobHandle, run_to_end, utcnow
from .s3 import S3Uri, read_bytes, read_json_lines, write_bytes
from .workforce import (
    Answer,
    WorkforceSettings,
    consolidate,
    reference_label,
    simulate_answers,
    worker_ids,
)

LOG = logging.getLogger(__name__)

CLASSIFICATION_TYPE = "groundtruth/image-classification"
NOT_SIMULATED_DETECTION = "object-detection labeling is not simulated yet"


def _creation_date(moment: dt.datetime) -> str:
    # Ground Truth's form: naive UTC with microseconds, e.g. 2019-05-04T20:26:41.638095
    return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _file_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d_%H:%M:%S")


def _iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def task_type(request: Mapping[str, Any]) -> str:
    """``classification``, ``detection`` or the pre-annotation Lambda's name for other task types."""
    arn = str(request.get("HumanTaskConfig", {}).get("PreHumanTaskLambdaArn", ""))
    function = arn.rsplit(":", 1)[-1]
    if function.startswith("PRE-ImageMultiClass") and "MultiLabel" not in function:
        return "classification"
    if function.startswith("PRE-BoundingBox") or function.startswith("PRE-AdjustmentBoundingBox"):
        return "detection"
    return function or "unknown"


class LabelingRun:
    """One labeling job's worker (runs in its own thread)."""

    def __init__(
        self,
        handle: JobHandle,
        s3: Any,
        settings: WorkforceSettings,
        faults: Faults,
        *,
        region: str,
    ) -> None:
        self.handle = handle
        self.s3 = s3
        self.settings = settings
        self.faults = faults
        self.region = region

    def run(self) -> None:
        """Run the job to a terminal state (never raises)."""
        run_to_end(self.handle, "labeling", self._run)

    # -- inputs -----------------------------------------------------------------------------------

    def _class_names(self) -> list[str]:
        uri = self.handle.request.get("LabelCategoryConfigS3Uri")
        if not uri:
            raise self.handle.fail(
                "ClientError: LabelCategoryConfigS3Uri is required for image classification"
            )
        try:
            document = json.loads(read_bytes(self.s3, S3Uri.parse(uri)).decode("utf-8"))
            names = [str(entry["label"]) for entry in document["labels"]]
        except (ValueError, KeyError, TypeError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f'ClientError: cannot read the label categories {uri} ({{"labels": [{{"label": ...}}]}}): {error}'
            ) from None
        if len(names) < 2:
            raise self.handle.fail(f"ClientError: {uri} must list at least 2 labels, found {len(names)}")
        return names

    def _reference(self, class_names: list[str]) -> dict[str, int]:
        location = self.settings.reference_labels
        if location is None:
            return {}
        try:
            if str(location).startswith("s3://"):
                entries = read_json_lines(self.s3, S3Uri.parse(str(location)))
            else:
                entries = [
                    json.loads(line)
                    for line in Path(location).read_text(encoding="utf-8").splitlines()
                    if line.strip()
                ]
            labels = {}
            for number, entry in enumerate(entries, start=1):
                source, label = reference_label(entry, class_names, f"{location} line {number}")
                labels[source] = label
        except (OSError, ValueError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"InternalServerError: the simulated workforce's reference labels: {error}"
            ) from None
        return labels

    def _input_lines(self) -> tuple[list[dict[str, Any]], list[bytes]]:
        uri = self.handle.request["InputConfig"]["DataSource"].get("S3DataSource", {}).get("ManifestS3Uri")
        if not uri:
            raise self.handle.fail("ClientError: only S3DataSource.ManifestS3Uri input is supported locally")
        try:
            raw = read_bytes(self.s3, S3Uri.parse(uri))
        except (ValueError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(f"ClientError: cannot read the input manifest {uri}: {error}") from None
        objects: list[dict[str, Any]] = []
        lines: list[bytes] = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise self.handle.fail(
                    f"ClientError: {uri} line {number} is not valid JSON ({error.msg})"
                ) from None
            if not isinstance(value, dict):
                raise self.handle.fail(f"ClientError: {uri} line {number} is not a JSON object")
            objects.append(value)
            lines.append(line)
        if not objects:
            raise self.handle.fail(f"ClientError: the input manifest {uri} has no data objects")
        return objects, lines

    # -- the job ----------------------------------------------------------------------------------

    def _counters(self, labeled: int, failed: int, total: int) -> dict[str, int]:
        return {
            "TotalLabeled": labeled,
            "HumanLabeled": labeled,
            "MachineLabeled": 0,
            "FailedNonRetryableError": failed,
            "Unlabeled": total - labeled - failed,
        }

    def _run(self) -> None:
        injected = self.faults.take_failure("labeling")
        if injected is not None:
            raise self.handle.fail(injected)
        request = self.handle.request
        kind = task_type(request)
        if kind == "detection":
            raise self.handle.fail(f"ClientError: {NOT_SIMULATED_DETECTION}")
        if kind != "classification":
            raise self.handle.fail(
                f"ClientError: labeling task type {kind} is not simulated (only PRE-ImageMultiClass is)"
            )
        class_names = self._class_names()
        objects, _ = self._input_lines()
        reference = self._reference(class_names)
        total = len(objects)
        self.handle.update(status="InProgress", LabelCounters=self._counters(0, 0, total))

        human = request["HumanTaskConfig"]
        per_object = int(human.get("NumberOfHumanWorkersPerDataObject", 1))
        pool = worker_ids(max(self.settings.workforce_size, per_object), self.region, self.settings.seed)
        rng = random.Random(f"{self.settings.seed}:{self.handle.name}")
        concurrency = max(1, int(human.get("MaxConcurrentTaskCount", 1000)))
        answers: dict[int, list[Answer]] = {}
        failures: dict[int, str] = {}
        started: dict[int, dt.datetime] = {}
        for first in range(0, total, concurrency):
            batch = range(first, min(first + concurrency, total))
            batch_start = utcnow()
            if self.settings.seconds_per_task and self.handle.stop_event.wait(self.settings.seconds_per_task):
                raise self.handle.stopped(LabelCounters=self._counters(len(answers), len(failures), total))
            if self.handle.stop_event.is_set():
                raise self.handle.stopped(LabelCounters=self._counters(len(answers), len(failures), total))
            for index in batch:
                source = objects[index].get("source-ref")
                if not isinstance(source, str) or source not in reference:
                    failures[index] = (
                        "ClientError: the simulated workforce has no reference label for "
                        f"{source if isinstance(source, str) else 'this data object'}"
                    )
                    continue
                workers = rng.sample(pool, per_object)
                answers[index] = simulate_answers(
                    reference[source], len(class_names), workers, self.settings.error_rate, rng
                )
                started[index] = batch_start
            self.handle.update(LabelCounters=self._counters(len(answers), len(failures), total))

        counters = self._counters(len(answers), len(failures), total)
        if not answers:
            reason = next(iter(failures.values()), "no data objects")
            raise self.handle.fail(
                f"ClientError: no data object could be labeled ({len(failures)} failed; first: {reason})",
                LabelCounters=counters,
            )
        output_uri = self._write_outputs(objects, class_names, answers, failures, started)
        self.handle.update(
            status="Completed",
            LabelCounters=counters,
            LabelingJobOutput={"OutputDatasetS3Uri": str(output_uri)},
        )

    # -- outputs ----------------------------------------------------------------------------------

    def _write_outputs(
        self,
        objects: list[dict[str, Any]],
        class_names: list[str],
        answers: dict[int, list[Answer]],
        failures: dict[int, str],
        started: dict[int, dt.datetime],
    ) -> S3Uri:
        request = self.handle.request
        attribute = request["LabelAttributeName"]
        root = S3Uri.parse(request["OutputConfig"]["S3OutputPath"]).join(self.handle.name)
        indices = sorted(answers)
        result = consolidate([answers[i] for i in indices], len(class_names), seed=self.settings.seed)
        now = utcnow()
        job_name = f"labeling-job/{self.handle.name}"
        seconds = max(self.settings.seconds_per_task, 1.0)
        content: dict[int, dict[str, Any]] = {}
        try:
            for index, consolidated in zip(indices, result.labels, strict=True):
                content[index] = {
                    attribute: consolidated.label,
                    f"{attribute}-metadata": {
                        "class-name": class_names[consolidated.label],
                        "confidence": consolidated.confidence,
                        "human-annotated": "yes",
                        "creation-date": _creation_date(now),
                        "job-name": job_name,
                        "type": CLASSIFICATION_TYPE,
                    },
                }
                accepted = started[index]
                submitted = accepted + dt.timedelta(seconds=seconds)
                response = {
                    "answers": [
                        {
                            "acceptanceTime": _iso_z(accepted),
                            "answerContent": {"crowd-image-classifier": {"label": class_names[label]}},
                            "submissionTime": _iso_z(submitted),
                            "timeSpentInSeconds": round(seconds, 3),
                            "workerId": worker,
                            "workerMetadata": {
                                "identityData": {
                                    "identityProviderType": "Cognito",
                                    "issuer": f"https://cognito-idp.{self.region}.amazonaws.com/{self.region}_local",
                                    "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, worker)),
                                }
                            },
                        }
                        for worker, label in answers[index]
                    ]
                }
                write_bytes(
                    self.s3,
                    root.join(
                        "annotations",
                        "worker-response",
                        "iteration-1",
                        str(index),
                        f"{_file_stamp(submitted)}.json",
                    ),
                    json.dumps(response).encode("utf-8"),
                    "application/json",
                )
            consolidation = [
                {"datasetObjectId": str(index), "consolidatedAnnotation": {"content": content[index]}}
                for index in indices
            ]
            write_bytes(
                self.s3,
                root.join(
                    "annotations",
                    "consolidated-annotation",
                    "consolidation-response",
                    "iteration-1",
                    f"{_file_stamp(now)}.json",
                ),
                json.dumps(consolidation).encode("utf-8"),
                "application/json",
            )
            lines = []
            for index, obj in enumerate(objects):
                line = dict(obj)
                line.pop(attribute, None)
                if index in content:
                    line.update(content[index])
                else:
                    line[f"{attribute}-metadata"] = {
                        "failure-reason": failures.get(index, "not labeled"),
                        "retry-count": 1,
                        "human-annotated": "yes",
                        "creation-date": _creation_date(now),
                        "job-name": job_name,
                        "type": CLASSIFICATION_TYPE,
                    }
                lines.append(json.dumps(line, separators=(",", ":")))
            manifest = root.join("manifests", "output", "output.manifest")
            write_bytes(self.s3, manifest, ("\n".join(lines) + "\n").encode("utf-8"), "application/jsonlines")
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(f"ClientError: could not write the output to {root}: {error}") from None
        LOG.info(
            "labeling job %s: %d labeled, %d failed, %d consolidation iterations",
            self.handle.name,
            len(indices),
            len(failures),
            result.iterations,
        )
        return manifest


def expected_duration(settings: WorkforceSettings, objects: int, concurrency: int) -> float:
    """Wall-clock seconds a job of ``objects`` objects takes with these settings (for callers' timeouts)."""
    return settings.seconds_per_task * math.ceil(objects / max(1, concurrency))
