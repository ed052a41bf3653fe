"""The state of a local labeling job and the simulated workforce that labels it (see :mod:`.labeling_job`).

:class:`LabelingBase` reads the job's inputs (input manifest, label categories, the workforce's reference
answers), keeps its progress (``LabelCounters``) and lets the simulated workforce label objects, writing
Ground Truth's worker and consolidation responses.
:class:`~local.sagemaker.labeling_automated.AutomatedLabeling` adds automated data labeling and
:class:`~local.sagemaker.labeling_job.LabelingRun` the job itself.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_output as output
from gtpipe_shared import labeling_paths
from gtpipe_shared.aws_limits import label_category_names

from .algorithms import Algorithm
from .faults import Faults
from .hosting import LoadedModel
from .jobs import JobHandle, utcnow
from .labeling_tasks import LabelingTask
from .s3 import S3Uri, read_bytes, read_json_lines, write_bytes
from .workforce import WorkforceSettings

LOG = logging.getLogger(__name__)


class ModelRegistry(Protocol):
    """What automated labeling needs from the local SageMaker (``LocalSageMaker`` is one): its model
    store, its image table, the Python that runs training modules, a folder to work in, and how long a
    stopped training process may take to exit."""

    @property
    def algorithms(self) -> Mapping[str, Algorithm]:
        """The image table."""

    @property
    def python(self) -> str:
        """The interpreter that runs training modules."""

    @property
    def work_dir(self) -> Path:
        """Where jobs lay out their files."""

    @property
    def stop_grace_seconds(self) -> float:
        """SIGTERM-to-SIGKILL delay when a job stops."""

    @property
    def algorithm_threads(self) -> int | None:
        """CPU threads of the training process (None: every core)."""

    def describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        """DescribeModel."""

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateModel."""


@dataclass
class TrainedModel:
    """A model the job predicts with: loaded handlers and the S3 URI of its ``model.tar.gz``."""

    loaded: LoadedModel
    artifact: str


class LabelingBase:
    """One labeling job's state, inputs, progress and people (runs in the job's thread).

    ``models`` gives automated labeling the local SageMaker (model store, images, Python); without it a
    job that needs automated labeling fails saying so.
    """

    def __init__(
        self,
        handle: JobHandle,
        s3: Any,
        settings: WorkforceSettings,
        faults: Faults,
        *,
        region: str,
        models: ModelRegistry | None = None,
    ) -> None:
        self.handle = handle
        self.s3 = s3
        self.settings = settings
        self.faults = faults
        self.region = region
        self.models = models
        self.root = S3Uri("", "")  # <S3OutputPath>/<job>, set when the job starts
        self.rng = random.Random(f"{settings.seed}:{handle.name}")
        # Filled while running.
        self.task: LabelingTask | None = None
        self.objects: list[dict[str, Any]] = []
        self.reference: dict[str, Any] = {}
        self.content: dict[int, dict[str, Any]] = {}
        self.failures: dict[int, str] = {}
        self.human = 0
        self.machine = 0
        self.pool: list[str] = []
        self.work: Path | None = None
        self.images: dict[int, Path] = {}
        self.sizes: dict[int, tuple[int, int, int]] = {}
        self.algorithm: Algorithm | None = None
        self.image_uri = ""
        self.initial: TrainedModel | None = None
        self.initial_hyperparameters: dict[str, str] = {}
        self.current: TrainedModel | None = None

    # -- inputs -----------------------------------------------------------------------------------------

    def _class_names(self, minimum: int) -> list[str]:
        uri = self.handle.request.get("LabelCategoryConfigS3Uri")
        if not uri:
            raise self.handle.fail(
                "ClientError: LabelCategoryConfigS3Uri is required for built-in task types"
            )
        try:
            document = json.loads(read_bytes(self.s3, S3Uri.parse(uri)).decode("utf-8"))
            names = label_category_names(document)
        except (ValueError, KeyError, TypeError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f'ClientError: cannot read the label categories {uri} ({{"labels": [{{"label": ...}}]}}): {error}'
            ) from None
        if len(names) < minimum:
            raise self.handle.fail(
                f"ClientError: {uri} must list at least {minimum} label{'s' if minimum > 1 else ''}, "
                f"found {len(names)}"
            )
        return names

    def _reference(self, task: LabelingTask) -> dict[str, Any]:
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
            answers: dict[str, Any] = {}
            for number, entry in enumerate(entries, start=1):
                if not isinstance(entry, dict):
                    raise ValueError(f"{location} line {number} is not a JSON object")
                parsed = task.parse_reference(entry, f"{location} line {number}")
                if parsed is not None:
                    answers[parsed[0]] = parsed[1]
        except (OSError, ValueError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"InternalServerError: the simulated workforce's reference answers: {error}"
            ) from None
        return answers

    def _input_lines(self) -> list[dict[str, Any]]:
        uri = self.handle.request["InputConfig"]["DataSource"].get("S3DataSource", {}).get("ManifestS3Uri")
        if not uri:
            raise self.handle.fail("ClientError: only S3DataSource.ManifestS3Uri input is supported locally")
        try:
            raw = read_bytes(self.s3, S3Uri.parse(uri))
        except (ValueError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(f"ClientError: cannot read the input manifest {uri}: {error}") from None
        objects: list[dict[str, Any]] = []
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
        if not objects:
            raise self.handle.fail(f"ClientError: the input manifest {uri} has no data objects")
        return objects

    # -- progress ---------------------------------------------------------------------------------------

    def _counters(self) -> dict[str, int]:
        labeled = self.human + self.machine
        return {
            "TotalLabeled": labeled,
            "HumanLabeled": self.human,
            "MachineLabeled": self.machine,
            "FailedNonRetryableError": len(self.failures),
            "Unlabeled": len(self.objects) - labeled - len(self.failures),
        }

    def _check_stop(self) -> None:
        if self.handle.stop_event.is_set():
            raise self.handle.stopped(LabelCounters=self._counters())

    def _write_json(self, uri: S3Uri, document: Any, content_type: str = "application/json") -> None:
        try:
            write_bytes(self.s3, uri, json.dumps(document).encode("utf-8"), content_type)
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(f"ClientError: could not write the output to {uri}: {error}") from None

    # -- people -----------------------------------------------------------------------------------------

    def _label_by_people(self, indices: Sequence[int], iteration: int) -> dict[int, Any]:
        """The simulated workforce labels ``indices`` (iteration ``iteration``); returns the consolidated
        labels of those it could label and writes the iteration's worker and consolidation responses."""
        task = self.task
        assert task is not None
        human = self.handle.request["HumanTaskConfig"]
        per_object = int(human.get("NumberOfHumanWorkersPerDataObject", 1))
        concurrency = max(1, int(human.get("MaxConcurrentTaskCount", 1000)))
        answers: dict[int, list[Any]] = {}
        started: dict[int, dt.datetime] = {}
        for first in range(0, len(indices), concurrency):
            batch = indices[first : first + concurrency]
            batch_start = utcnow()
            if self.settings.seconds_per_task and self.handle.stop_event.wait(self.settings.seconds_per_task):
                raise self.handle.stopped(LabelCounters=self._counters())
            self._check_stop()
            for index in batch:
                source = self.objects[index].get("source-ref")
                if not isinstance(source, str) or source not in self.reference:
                    self.failures[index] = (
                        "ClientError: the simulated workforce has no reference answer for "
                        f"{source if isinstance(source, str) else 'this data object'}"
                    )
                    continue
                workers = self.rng.sample(self.pool, per_object)
                answers[index] = task.simulate(self.reference[source], workers, self.rng)
                started[index] = batch_start
            self.handle.update(LabelCounters=self._counters())
        if not answers:
            self.handle.update(LabelCounters=self._counters())
            return {}
        labeled = sorted(answers)
        references = [self.reference[self.objects[i]["source-ref"]] for i in labeled]
        consolidated = task.consolidate([answers[i] for i in labeled], references)
        now = utcnow()
        date = labeling_paths.creation_date(now)
        seconds = max(self.settings.seconds_per_task, 1.0)
        issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{self.region}_local"
        results: dict[int, Any] = {}
        for index, reference, label in zip(labeled, references, consolidated, strict=True):
            results[index] = label
            self.content[index] = task.human_content(label, self.handle.name, date)
            accepted = started[index]
            submitted = accepted + dt.timedelta(seconds=seconds)
            entries = [
                output.ResponseEntry(
                    answer.worker_id,
                    str(uuid.uuid5(uuid.NAMESPACE_URL, answer.worker_id)),
                    task.answer_content(answer, reference),
                    accepted,
                    submitted,
                    seconds,
                )
                for answer in answers[index]
            ]
            self._write_json(
                self.root.join(labeling_paths.worker_response_key(iteration, index, submitted)),
                output.worker_response(entries, issuer),
            )
        self._write_json(
            self.root.join(labeling_paths.consolidation_response_key(iteration, now)),
            output.consolidation_response([(index, self.content[index]) for index in labeled]),
        )
        self.human += len(results)
        self.handle.update(LabelCounters=self._counters())
        LOG.info(
            "labeling job %s: iteration %d, %d labeled by people", self.handle.name, iteration, len(results)
        )
        return results
