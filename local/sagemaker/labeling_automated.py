"""Automated data labeling of a local labeling job (Ground Truth's active learning, see :mod:`.labeling_job`).

:class:`AutomatedLabeling` trains the built-in algorithm on the people's labels, predicts the rest, lets
the model label what it is confident about (:func:`~local.sagemaker.auto_labeling.run_active_learning`
decides the rounds and thresholds) and registers the final model with CreateModel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_paths
from gtpipe_shared.auto_labeling import (
    ActiveLearningPlan,
    ActiveLearningResult,
    Prediction,
    run_active_learning,
)
from gtpipe_shared.tasks import TASKS, TaskType
from PIL import Image

from training.artifact import package_model
from training.contracts import DETECTION_DEMO_HYPERPARAMETERS

from .algorithm_process import AlgorithmProcess, failure_reason, script_mode_environment, write_job_config
from .algorithms import UnsupportedImage, resolve_image
from .errors import SageMakerServiceError
from .hosting import ModelLoadError, load_model, primary_container
from .jobs import utcnow
from .labeling_base import LabelingBase, TrainedModel
from .s3 import S3Uri, download_file, write_bytes

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


class AutomatedLabeling(LabelingBase):
    """A labeling job that can label with a model as well as with people."""

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

    def _load_initial_model(self, arn: str) -> TrainedModel:
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
        return TrainedModel(loaded, str(primary_container(model).get("ModelDataUrl")))

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

    def _training_inputs(
        self, job_dir: Path, training: Sequence[int], validation: Sequence[int]
    ) -> tuple[list[int], dict[str, Path], dict[str, str]]:
        """Lay out a training job's input under ``job_dir`` (channels, hyperparameters, config); returns
        the training objects that have an image, the channel folders and the hyperparameters."""
        usable = [i for i in training if i in self.images]
        checking = [i for i in validation if i in self.images]
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
        return usable, channels, hyperparameters

    def train(self, training: Sequence[int], validation: Sequence[int], iteration: int) -> TrainedModel:
        """Train the algorithm on the human labels (see the module docstring); upload and load it."""
        assert self.models is not None and self.work is not None and self.algorithm is not None
        self._check_stop()
        if self.algorithm.training_module is None:
            raise self.handle.fail(
                f"ClientError: image {self.algorithm.name} has no local training implementation"
            )
        job_dir = self.work / "training" / f"iteration-{iteration}"
        usable, channels, hyperparameters = self._training_inputs(job_dir, training, validation)
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

    def _load(self, artifact: str, name: str) -> TrainedModel:
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
        return TrainedModel(loaded, artifact)

    def predict(self, model: TrainedModel, indices: Sequence[int]) -> dict[int, Prediction]:
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
        date = labeling_paths.creation_date(utcnow())
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


class _Operations:
    """:class:`~local.sagemaker.auto_labeling.LabelingOperations` over an :class:`AutomatedLabeling` job."""

    def __init__(self, run: AutomatedLabeling) -> None:
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
