"""Run one CreateLabelingJob with the simulated workforce, and Ground Truth's automated data labeling.

Inputs: the input manifest (``{"source-ref": ...}`` lines), the label categories
(``{"labels": [{"label": ...}]}``; order = class index) and the workforce's reference answers
(:class:`~local.sagemaker.workforce.WorkforceSettings`). The task type comes from
``PreHumanTaskLambdaArn``: ``PRE-ImageMultiClass`` (image classification) or ``PRE-BoundingBox`` /
``PRE-AdjustmentBoundingBox`` (bounding boxes; :mod:`.labeling_tasks` has both formats). Each object
sent to people is answered by ``NumberOfHumanWorkersPerDataObject`` simulated workers and the answers of
each batch are consolidated.

**Automated data labeling** runs when the request has ``LabelingJobAlgorithmsConfig`` and either an
``InitialActiveLearningModelArn`` or at least ``WorkforceSettings.auto_labeling_min_objects`` objects
(1,000 as on AWS); otherwise people label everything. The loop is :mod:`.auto_labeling`'s; here:

- the model to start from is the local model store's (``DescribeModel`` of the ARN's name), served by the
  algorithm's inference module (:mod:`.algorithms`, the ``model_fn/input_fn/predict_fn/output_fn``
  convention) and asked ``application/json`` for every object;
- a model is trained with the algorithm's training module in a subprocess with SageMaker's script-mode
  environment (:mod:`.training_job`): channels ``train`` and ``validation`` are Ground Truth augmented
  manifests of the human labels, plus channel ``model`` (the initial model's ``model.tar.gz``) to
  fine-tune; hyperparameters are ``AUTO_LABELING_HYPERPARAMETERS`` for the algorithm, then the initial
  model's own, then ``WorkforceSettings.auto_labeling_hyperparameters``, then ``num_classes`` and
  ``num_training_samples``;
- the final model (the last one trained, else the initial one) is copied to
  ``activelearning/final-model/model.tar.gz`` and registered with CreateModel as
  ``<job name>-al-model`` (lower case, shortened to 63 characters with a hash); its ARN is
  ``LabelingJobOutput.FinalActiveLearningModelArn``.

Output under ``<S3OutputPath>/<job>/``:

- ``manifests/output/output.manifest``: every input line plus ``<LabelAttributeName>`` and
  ``<LabelAttributeName>-metadata`` (``human-annotated`` ``yes`` or ``no``); an object that could not be
  labeled keeps only a metadata entry with ``failure-reason``;
- per human batch (iteration ``N``): ``annotations/worker-response/iteration-N/<object index>/<time>.json``
  (``{"answers": [{"workerId", "answerContent", "acceptanceTime", "submissionTime", ...}]}``) and
  ``annotations/consolidated-annotation/consolidation-response/iteration-N/<time>.json``
  (``[{"datasetObjectId", "consolidatedAnnotation": {"content": {<attr>, <attr>-metadata}}}]``);
- per machine-labeling round: ``activelearning/auto-annotation/<N>/output/auto_annotator_output.txt``,
  one ``<datasetObjectId> <JSON of {<attr>, <attr>-metadata}>`` line per object (no worker responses);
- per trained model: ``activelearning/training/iteration-N/model.tar.gz``.

``LabelCounters`` are true counts: ``HumanLabeled`` (consolidated by people), ``MachineLabeled``,
``TotalLabeled`` (their sum), ``FailedNonRetryableError`` (objects sent to people that the workforce has
no reference answer for), ``Unlabeled`` (the rest).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_output as output
from gtpipe_shared.aws_limits import label_category_names
from gtpipe_shared.tasks import TASKS, TaskType
from PIL import Image

from training.artifact import package_model
from training.contracts import DETECTION_DEMO_HYPERPARAMETERS

from .algorithms import Algorithm, UnsupportedImage, resolve_image
from .auto_labeling import ActiveLearningPlan, ActiveLearningResult, run_active_learning
from .box_workforce import BoxNoise
from .errors import SageMakerServiceError
from .faults import Faults
from .hosting import LoadedModel, ModelLoadError, load_model, primary_container
from .jobs import JobHandle, run_to_end, utcnow
from .labeling_tasks import ClassificationTask, DetectionTask, LabelingTask, Prediction
from .s3 import S3Uri, download_file, read_bytes, read_json_lines, write_bytes
from .training_job import AlgorithmProcess, failure_reason, script_mode_environment, write_job_config
from .workforce import WorkforceSettings, worker_ids

LOG = logging.getLogger(__name__)

AUTO_LABELING_HYPERPARAMETERS: Mapping[str, Mapping[str, str]] = {
    # Small and quick on a CPU; WorkforceSettings.auto_labeling_hyperparameters overrides them.
    TASKS[TaskType.IMAGE_CLASSIFICATION].algorithm: {
        "image_shape": "3,32,32",
        # Ground Truth scales the images itself: any size labels (without resize the local training, like the
        # built-in, refuses images smaller than image_shape).
        "resize": "32",
        "num_layers": "18",
        "epochs": "30",
        "mini_batch_size": "16",
        "learning_rate": "0.05",
    },
    TASKS[TaskType.OBJECT_DETECTION].algorithm: {
        k: v for k, v in DETECTION_DEMO_HYPERPARAMETERS.items() if k != "seed"
    },
}
"""Default hyperparameters of the models trained during automated labeling, by algorithm."""

# Ground Truth's built-in algorithm images; the local SageMaker matches them by repository name only.
ALGORITHM_IMAGE_ACCOUNT = "811284229777"
IMAGE_CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def task_type(request: Mapping[str, Any]) -> str:
    """``classification``, ``detection`` or the pre-annotation Lambda's name for other task types."""
    arn = str(request.get("HumanTaskConfig", {}).get("PreHumanTaskLambdaArn", ""))
    function = arn.rsplit(":", 1)[-1]
    if function.startswith(ClassificationTask.pre_human_task_lambda) and "MultiLabel" not in function:
        return ClassificationTask.kind
    adjustment = DetectionTask.pre_human_task_lambda.replace("PRE-", "PRE-Adjustment")
    if function.startswith((DetectionTask.pre_human_task_lambda, adjustment)):
        return DetectionTask.kind
    return function or "unknown"


def final_model_name(job_name: str) -> str:
    """The SageMaker model name of a labeling job's final active-learning model (lower case, so that the
    name in its ARN is the name itself; at most 63 characters)."""
    name = f"{job_name.lower()}-al-model"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(job_name.encode("utf-8")).hexdigest()[:8]
    return f"{job_name.lower()[:43].rstrip('-')}-{digest}-al-model"


def algorithm_image(algorithm: str, region: str) -> str:
    """The ECR image URI of a built-in algorithm (``image-classification``, ``object-detection``)."""
    return f"{ALGORITHM_IMAGE_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{algorithm}:1"


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
class _Model:
    """A model the job predicts with: loaded handlers and the S3 URI of its ``model.tar.gz``."""

    loaded: LoadedModel
    artifact: str


class LabelingRun:
    """One labeling job's worker (runs in its own thread).

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
        self.initial: _Model | None = None
        self.initial_hyperparameters: dict[str, str] = {}
        self.current: _Model | None = None

    def run(self) -> None:
        """Run the job to a terminal state (never raises)."""
        try:
            run_to_end(self.handle, "labeling", self._run)
        finally:
            for model in (self.current, self.initial):
                if model is not None:
                    model.loaded.unload()
            if self.work is not None:
                shutil.rmtree(self.work, ignore_errors=True)

    # -- inputs -----------------------------------------------------------------------------------

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

    # -- progress ---------------------------------------------------------------------------------

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

    # -- the job ----------------------------------------------------------------------------------

    def _run(self) -> None:
        injected = self.faults.take_failure("labeling")
        if injected is not None:
            raise self.handle.fail(injected)
        request = self.handle.request
        output_path = request["OutputConfig"]["S3OutputPath"]
        try:
            self.root = S3Uri.parse(output_path).join(self.handle.name)
        except ValueError as error:
            raise self.handle.fail(f"ClientError: OutputConfig.S3OutputPath: {error}") from None
        kind = task_type(request)
        attribute = request["LabelAttributeName"]
        task: LabelingTask
        if kind == ClassificationTask.kind:
            task = ClassificationTask(
                self._class_names(ClassificationTask.min_classes),
                attribute,
                self.settings.error_rate,
                self.settings.seed,
            )
        elif kind == DetectionTask.kind:
            noise = BoxNoise(
                self.settings.box_jitter, self.settings.box_miss_rate, self.settings.box_wrong_class_rate
            )
            task = DetectionTask(self._class_names(DetectionTask.min_classes), attribute, noise)
        else:
            raise self.handle.fail(
                f"ClientError: labeling task type {kind} is not simulated "
                f"({ClassificationTask.pre_human_task_lambda} and {DetectionTask.pre_human_task_lambda} are)"
            )
        self.task = task
        self.objects = self._input_lines()
        self.reference = self._reference(task)
        self.handle.update(status="InProgress", LabelCounters=self._counters())
        human = request["HumanTaskConfig"]
        per_object = int(human.get("NumberOfHumanWorkersPerDataObject", 1))
        self.pool = worker_ids(max(self.settings.workforce_size, per_object), self.region, self.settings.seed)

        output: dict[str, Any] = {}
        algorithms_config = request.get("LabelingJobAlgorithmsConfig")
        if algorithms_config and (
            algorithms_config.get("InitialActiveLearningModelArn")
            or len(self.objects) >= self.settings.auto_labeling_min_objects
        ):
            output.update(self._run_automated(algorithms_config))
        else:
            if algorithms_config:
                LOG.info(
                    "labeling job %s: %d objects, fewer than the %d automated labeling needs: people label all",
                    self.handle.name,
                    len(self.objects),
                    self.settings.auto_labeling_min_objects,
                )
            self._label_by_people(list(range(len(self.objects))), 1)

        if self.human + self.machine == 0:
            reason = next(iter(self.failures.values()), "no data objects")
            raise self.handle.fail(
                f"ClientError: no data object could be labeled ({len(self.failures)} failed; first: {reason})",
                LabelCounters=self._counters(),
            )
        manifest = self._write_manifest()
        self.handle.update(
            status="Completed",
            LabelCounters=self._counters(),
            LabelingJobOutput={"OutputDatasetS3Uri": str(manifest), **output},
        )

    # -- people -----------------------------------------------------------------------------------

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
        date = output.creation_date(now)
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
                self.root.join(output.worker_response_key(iteration, index, submitted)),
                output.worker_response(entries, issuer),
            )
        self._write_json(
            self.root.join(output.consolidation_response_key(iteration, now)),
            output.consolidation_response([(index, self.content[index]) for index in labeled]),
        )
        self.human += len(results)
        self.handle.update(LabelCounters=self._counters())
        LOG.info(
            "labeling job %s: iteration %d, %d labeled by people", self.handle.name, iteration, len(results)
        )
        return results

    # -- automated data labeling ------------------------------------------------------------------

    def _run_automated(self, config: Mapping[str, Any]) -> dict[str, Any]:
        task = self.task
        assert task is not None
        if self.models is None:
            raise self.handle.fail(
                "InternalServerError: automated data labeling needs the local SageMaker's model store "
                "(LabelingRun(models=...)), which this backend did not provide"
            )
        spec = str(config.get("LabelingJobAlgorithmSpecificationArn", ""))
        algorithm_name = spec.rsplit("/", 1)[-1]
        if algorithm_name != task.algorithm:
            raise self.handle.fail(
                f"ClientError: LabelingJobAlgorithmSpecificationArn {spec} does not fit this task type; "
                f"use .../labeling-job-algorithm-specification/{task.algorithm}"
            )
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.handle.name}-", dir=self._work_parent()))
        initial_arn = config.get("InitialActiveLearningModelArn")
        self.image_uri = algorithm_image(task.algorithm, self.region)
        if initial_arn:
            self.initial = self._load_initial_model(str(initial_arn))
        try:
            self.algorithm = resolve_image(self.image_uri, self.models.algorithms)
        except UnsupportedImage as error:
            raise self.handle.fail(f"{error} (automated data labeling)") from None
        if self.algorithm.name != task.algorithm:
            raise self.handle.fail(
                f"ClientError: InitialActiveLearningModelArn {initial_arn} is a {self.algorithm.name} model; "
                f"this job needs {task.algorithm}"
            )
        candidates = self._download_images()
        human = self.handle.request["HumanTaskConfig"]
        batch = self.settings.auto_labeling_batch_size or max(
            1, int(human.get("MaxConcurrentTaskCount", 1000))
        )
        plan = ActiveLearningPlan(
            batch_size=batch,
            validation_size=self.settings.auto_labeling_validation_size or batch,
            max_rounds=self.settings.auto_labeling_max_rounds,
            accuracy=self.settings.auto_labeling_accuracy,
            seed=self.settings.seed,
        )
        self.current = self.initial
        result = run_active_learning(candidates, plan, _Operations(self), initial_model=self.initial)
        LOG.info(
            "labeling job %s: automated labeling, %d iterations, %d human, %d machine, thresholds %s",
            self.handle.name,
            result.iterations,
            len(result.human),
            len(result.machine),
            result.thresholds,
        )
        return self._register_final_model(result)

    def _work_parent(self) -> Path:
        assert self.models is not None
        parent = Path(self.models.work_dir) / "labeling"
        parent.mkdir(parents=True, exist_ok=True)
        return parent

    def _describe_initial(self, arn: str) -> dict[str, Any]:
        assert self.models is not None
        name = arn.rsplit("/", 1)[-1]
        try:
            return self.models.describe_model({"ModelName": name})
        except SageMakerServiceError as error:
            raise self.handle.fail(
                f"ClientError: InitialActiveLearningModelArn {arn}: no such model in the local SageMaker "
                f"({error.message})"
            ) from None

    def _load_initial_model(self, arn: str) -> _Model:
        assert self.models is not None and self.work is not None
        model = self._describe_initial(arn)
        self.image_uri = str(primary_container(model).get("Image", ""))
        try:
            loaded = load_model(model, self.s3, self.work / "models", self.models.algorithms)
        except ModelLoadError as error:
            raise self.handle.fail(f"ClientError: InitialActiveLearningModelArn {arn}: {error}") from None
        hyperparameters = loaded.model_dir / "model" / "hyperparameters.json"
        if hyperparameters.is_file():
            with contextlib.suppress(ValueError, OSError):
                saved = json.loads(hyperparameters.read_text(encoding="utf-8"))
                if isinstance(saved, dict):
                    self.initial_hyperparameters = {str(k): str(v) for k, v in saved.items()}
        return _Model(loaded, str(primary_container(model).get("ModelDataUrl")))

    def _download_images(self) -> list[int]:
        """Download every object's image (the model reads them); objects without a readable image are
        left to people. Returns the indices to label."""
        assert self.work is not None
        indices = []
        for index, obj in enumerate(self.objects):
            source = obj.get("source-ref")
            if index % 50 == 0:
                self._check_stop()
            if not isinstance(source, str):
                indices.append(index)
                continue
            try:
                uri = S3Uri.parse(source)
                path = download_file(self.s3, uri, self.work / "images" / uri.bucket / uri.key)
                with Image.open(path) as image:
                    depth = len(image.getbands())
                    self.sizes[index] = (image.width, image.height, 3 if depth >= 3 else depth)
                self.images[index] = path
            except (ValueError, OSError, ClientError, BotoCoreError) as error:
                LOG.warning("labeling job %s: cannot read image %s: %s", self.handle.name, source, error)
            indices.append(index)
        return indices

    def _hyperparameters(self, training_count: int) -> dict[str, str]:
        task = self.task
        assert task is not None
        values = {"seed": str(self.settings.seed)}
        values.update(AUTO_LABELING_HYPERPARAMETERS.get(task.algorithm, {}))
        values.update(self.initial_hyperparameters)
        values.update({str(k): str(v) for k, v in self.settings.auto_labeling_hyperparameters.items()})
        values["num_classes"] = str(len(task.class_names))
        values["num_training_samples"] = str(training_count)
        return values

    def _write_channel(self, folder: Path, indices: Sequence[int]) -> None:
        # The local cloud's AugmentedManifestFile layout: the manifest plus <channel>/<bucket>/<key>.
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for index in indices:
            source = str(self.objects[index]["source-ref"])
            uri = S3Uri.parse(source)
            target = folder / uri.bucket / uri.key
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.hardlink_to(self.images[index])
            except OSError:
                shutil.copyfile(self.images[index], target)
            lines.append(json.dumps({"source-ref": source, **self.content[index]}))
        (folder / f"{folder.name}.manifest").write_text(
            "".join(line + "\n" for line in lines), encoding="utf-8"
        )

    def train(self, training: Sequence[int], validation: Sequence[int], iteration: int) -> _Model:
        """Train the algorithm on the human labels (see the module docstring); upload and load it."""
        assert self.models is not None and self.work is not None and self.algorithm is not None
        self._check_stop()
        if self.algorithm.training_module is None:
            raise self.handle.fail(
                f"ClientError: image {self.algorithm.name} has no local training implementation"
            )
        usable = [i for i in training if i in self.images]
        checking = [i for i in validation if i in self.images]
        job_dir = self.work / "training" / f"iteration-{iteration}"
        channels = {
            "train": job_dir / "input" / "data" / "train",
            "validation": job_dir / "input" / "data" / "validation",
        }
        self._write_channel(channels["train"], usable)
        self._write_channel(channels["validation"], checking)
        if self.initial is not None:
            channels["model"] = job_dir / "input" / "data" / "model"
            download_file(self.s3, S3Uri.parse(self.initial.artifact), channels["model"] / "model.tar.gz")
        hyperparameters = self._hyperparameters(len(usable))
        input_config = {
            name: {
                "ContentType": "application/x-recordio",
                "TrainingInputMode": "File",
                "RecordWrapperType": "RecordIO",
            }
            for name in channels
        }
        write_job_config(job_dir / "input", hyperparameters, input_config)
        (job_dir / "model").mkdir(parents=True, exist_ok=True)
        (job_dir / "output" / "data").mkdir(parents=True, exist_ok=True)
        training_name = f"{self.handle.name[:40]}-al-{iteration}"
        env = script_mode_environment(
            job_name=training_name,
            job_arn=f"{self.handle.arn}/training/{iteration}",
            job_dir=job_dir,
            hyperparameters=hyperparameters,
            channels=channels,
            threads=self.models.algorithm_threads,
        )
        log_path = job_dir / "logs" / "algo-1.log"
        started = time.monotonic()
        process = AlgorithmProcess(self.models.python, self.algorithm.training_module, job_dir, env, log_path)
        end, exit_code = process.wait(
            self.handle.stop_event,
            started + self.settings.auto_labeling_max_training_seconds,
            stop_grace_seconds=self.models.stop_grace_seconds,
        )
        if end == "stopped":
            raise self.handle.stopped(LabelCounters=self._counters())
        log_text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
        if end != "exited" or exit_code != 0:
            reason = (
                f"it ran past {self.settings.auto_labeling_max_training_seconds:g} s"
                if end != "exited"
                else failure_reason(job_dir / "output", log_text, exit_code or 0)
            )
            raise self.handle.fail(
                f"ClientError: automated data labeling could not train its model (iteration {iteration}): {reason}"[
                    :1024
                ],
                LabelCounters=self._counters(),
            )
        LOG.info(
            "labeling job %s: iteration %d model trained on %d objects in %.1f s",
            self.handle.name,
            iteration,
            len(usable),
            time.monotonic() - started,
        )
        artifact = self.root.join("activelearning", "training", f"iteration-{iteration}", "model.tar.gz")
        try:
            tar = package_model(job_dir / "model", job_dir / "upload" / "model.tar.gz")
            self.s3.upload_file(str(tar), artifact.bucket, artifact.key)
        except (ValueError, OSError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: could not upload the active-learning model to {artifact}: {error}"
            ) from None
        shutil.rmtree(job_dir / "input" / "data", ignore_errors=True)
        model = self._load(str(artifact), f"{training_name}-model")
        if self.current is not None and self.current is not self.initial:
            self.current.loaded.unload()
        self.current = model
        return model

    def _load(self, artifact: str, name: str) -> _Model:
        assert self.models is not None and self.work is not None
        description = {
            "ModelName": name,
            "PrimaryContainer": {"Image": self.image_uri, "ModelDataUrl": artifact},
        }
        try:
            loaded = load_model(description, self.s3, self.work / "models", self.models.algorithms)
        except ModelLoadError as error:
            raise self.handle.fail(
                f"InternalServerError: the active-learning model does not load: {error}"
            ) from None
        return _Model(loaded, artifact)

    def predict(self, model: _Model, indices: Sequence[int]) -> dict[int, Prediction]:
        """The model's labels for ``indices`` (objects without a readable image get confidence 0)."""
        task = self.task
        assert task is not None
        predictions: dict[int, Prediction] = {}
        for count, index in enumerate(indices):
            if count % 100 == 0:
                self._check_stop()
            path = self.images.get(index)
            if path is None:
                predictions[index] = Prediction(None, 0.0)
                continue
            content_type = IMAGE_CONTENT_TYPES.get(path.suffix.lower(), "application/x-image")
            try:
                body, _ = model.loaded.predict(path.read_bytes(), content_type, "application/json")
                predictions[index] = task.prediction(json.loads(body), self.sizes[index])
            except Exception as error:  # the model's handlers: any failure is the model's
                raise self.handle.fail(
                    f"ClientError: the active-learning model could not label {self.objects[index].get('source-ref')}: "
                    f"{error}"[:1024],
                    LabelCounters=self._counters(),
                ) from None
        return predictions

    def label_by_machine(
        self, predictions: Mapping[int, Prediction], iteration: int, threshold: float
    ) -> None:
        """Record machine labels and write the round's ``auto_annotator_output.txt``."""
        task = self.task
        assert task is not None
        date = output.creation_date(utcnow())
        lines = []
        for index in sorted(predictions):
            self.content[index] = task.machine_content(
                predictions[index], self.sizes[index], self.handle.name, date
            )
            lines.append(f"{index} {json.dumps(self.content[index], separators=(',', ':'))}")
        uri = self.root.join(
            "activelearning", "auto-annotation", str(iteration), "output", "auto_annotator_output.txt"
        )
        try:
            write_bytes(self.s3, uri, ("\n".join(lines) + "\n").encode("utf-8"), "text/plain")
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(f"ClientError: could not write the output to {uri}: {error}") from None
        self.machine += len(predictions)
        self.handle.update(LabelCounters=self._counters())
        LOG.info(
            "labeling job %s: iteration %d, %d labeled by the model (confidence >= %.3f)",
            self.handle.name,
            iteration,
            len(predictions),
            threshold,
        )

    def _register_final_model(self, result: ActiveLearningResult) -> dict[str, Any]:
        assert self.models is not None
        model = result.model
        if model is None:
            return {}
        final = self.root.join("activelearning", "final-model", "model.tar.gz")
        source = S3Uri.parse(model.artifact)
        try:
            self.s3.copy_object(
                Bucket=final.bucket, Key=final.key, CopySource={"Bucket": source.bucket, "Key": source.key}
            )
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: could not write the final model to {final}: {error}"
            ) from None
        request = {
            "ModelName": final_model_name(self.handle.name),
            "PrimaryContainer": {"Image": self.image_uri, "ModelDataUrl": str(final)},
            "ExecutionRoleArn": self.handle.request["RoleArn"],
            "Tags": [{"Key": "sagemaker:labeling-job", "Value": self.handle.name}],
        }
        try:
            arn = self.models.create_model(request)["ModelArn"]
        except SageMakerServiceError as error:  # e.g. a model of that name exists already
            raise self.handle.fail(
                f"InternalServerError: could not register the final active-learning model: {error.message}"
            ) from None
        return {"FinalActiveLearningModelArn": arn}

    # -- outputs ----------------------------------------------------------------------------------

    def _write_manifest(self) -> S3Uri:
        task = self.task
        assert task is not None
        attribute = self.handle.request["LabelAttributeName"]
        date = output.creation_date(utcnow())
        lines = [
            output.output_line(
                obj,
                attribute,
                self.content.get(index),
                task.failure_metadata(self.failures.get(index, "not labeled"), self.handle.name, date),
            )
            for index, obj in enumerate(self.objects)
        ]
        manifest = self.root.join(output.OUTPUT_MANIFEST_KEY)
        try:
            write_bytes(self.s3, manifest, output.manifest_bytes(lines), "application/jsonlines")
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: could not write the output to {manifest}: {error}"
            ) from None
        LOG.info(
            "labeling job %s: %d labeled by people, %d by the model, %d failed",
            self.handle.name,
            self.human,
            self.machine,
            len(self.failures),
        )
        return manifest


class _Operations:
    """:class:`~local.sagemaker.auto_labeling.LabelingOperations` over a :class:`LabelingRun`."""

    def __init__(self, run: LabelingRun) -> None:
        self.run = run

    def label_by_people(self, objects: Sequence[int], iteration: int) -> Mapping[int, Any]:
        return self.run._label_by_people(objects, iteration)

    def train(self, training: Sequence[int], validation: Sequence[int], iteration: int) -> Any:
        return self.run.train(training, validation, iteration)

    def predict(self, model: Any, objects: Sequence[int]) -> Mapping[int, Prediction]:
        return self.run.predict(model, objects)

    def agrees(self, prediction: Prediction, human: Any) -> bool:
        task = self.run.task
        assert task is not None
        return prediction.value is not None and task.agrees(prediction, human)

    def label_by_machine(
        self, predictions: Mapping[int, Prediction], iteration: int, threshold: float
    ) -> None:
        self.run.label_by_machine(predictions, iteration, threshold)


def expected_duration(settings: WorkforceSettings, objects: int, concurrency: int) -> float:
    """Wall-clock seconds a job of ``objects`` objects takes with these settings (for callers' timeouts;
    people only: automated labeling adds its training time)."""
    return settings.seconds_per_task * math.ceil(objects / max(1, concurrency))
