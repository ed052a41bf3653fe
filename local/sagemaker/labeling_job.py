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

import logging
import math
import shutil
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_output as output
from gtpipe_shared import labeling_paths

from .box_workforce import BoxNoise
from .jobs import run_to_end, utcnow
from .labeling_automated import AutomatedLabeling
from .labeling_tasks import ClassificationTask, DetectionTask, LabelingTask
from .s3 import S3Uri, write_bytes
from .workforce import WorkforceSettings, worker_ids

LOG = logging.getLogger(__name__)


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


class LabelingRun(AutomatedLabeling):
    """One labeling job's worker (runs in its own thread): people label it, with automated data labeling
    when the request asks for it (see :class:`~local.sagemaker.labeling_base.LabelingBase` for ``models``)."""

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

    # -- the job ----------------------------------------------------------------------------------------

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

    # -- outputs ----------------------------------------------------------------------------------------

    def _write_manifest(self) -> S3Uri:
        task = self.task
        assert task is not None
        attribute = self.handle.request["LabelAttributeName"]
        date = labeling_paths.creation_date(utcnow())
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


def expected_duration(settings: WorkforceSettings, objects: int, concurrency: int) -> float:
    """Wall-clock seconds a job of ``objects`` objects takes with these settings (for callers' timeouts;
    people only: automated labeling adds its training time)."""
    return settings.seconds_per_task * math.ceil(objects / max(1, concurrency))
