"""Training, transform and labeling jobs of the local SageMaker (a part of ``LocalSageMaker``).

Each Create* validates the request, builds a :class:`~local.sagemaker.jobs.JobRecord` whose ``work`` is
the job's run (:class:`~local.sagemaker.training_job.TrainingRun`,
:class:`~local.sagemaker.transform_job.TransformRun`, :class:`~local.sagemaker.labeling_job.LabelingRun`,
reporting every status change through a :class:`~local.sagemaker.jobs.JobHandle`) and hands it to the
backend's :class:`~local.sagemaker.runners.JobRunner`: the local runner runs the work in a background
thread, a scripted runner decides the outcome itself and is polled on every Describe*. Describe* renders
the record as SageMaker's response; Stop* asks the runner to stop the job.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from .algorithms import UnsupportedImage, resolve_image
from .api import Request, Response, service_model
from .backend import POLL_SECONDS, SageMakerBackend, refuse_volume_key_on_instance_storage
from .errors import SageMakerServiceError, validation_error
from .events import (
    LABELING_JOB_STATE_CHANGE,
    TRAINING_JOB_STATE_CHANGE,
    TRANSFORM_JOB_STATE_CHANGE,
    event_detail,
)
from .jobs import JobHandle, JobRecord, JobType, utcnow
from .labeling_job import LabelingRun
from .runners import JobState
from .training_job import STATUS_MESSAGES, TrainingRun
from .transform_job import TransformRun

LOG = logging.getLogger(__name__)

_JOB_EVENTS: Final[dict[str, str]] = {
    "training": TRAINING_JOB_STATE_CHANGE,
    "transform": TRANSFORM_JOB_STATE_CHANGE,
    "labeling": LABELING_JOB_STATE_CHANGE,
}
_JOB_KEYS: Final[dict[str, tuple[str, str, str, str]]] = {
    # kind -> (name key, ARN key, status key, ARN resource type)
    "training": ("TrainingJobName", "TrainingJobArn", "TrainingJobStatus", "training-job"),
    "transform": ("TransformJobName", "TransformJobArn", "TransformJobStatus", "transform-job"),
    "labeling": ("LabelingJobName", "LabelingJobArn", "LabelingJobStatus", "labeling-job"),
}
_DESCRIBE_OPS: Final[dict[str, str]] = {
    "training": "DescribeTrainingJob",
    "transform": "DescribeTransformJob",
    "labeling": "DescribeLabelingJob",
}
# What SageMaker answers for Describe*/Stop* of a job it does not know: a ValidationException, not the
# modeled ResourceNotFound (aws/aws-sdk#165 "DescribeTrainingJob returns ValidationException instead of
# ResourceNotFoundException"; the AWS Controllers for Kubernetes' SageMaker controller maps these jobs'
# 404s to ValidationException with the training and transform messages; the labeling message is ours),
# so callers must not wait for ResourceNotFound.
_UNKNOWN_JOB: Final[dict[str, str]] = {
    "training": "Requested resource not found.",
    "transform": "Could not find requested job with name {name}",
    "labeling": "Requested resource not found: labeling job {name}",
}
_SCRIPTED_SECONDARY: Final[dict[str, str]] = {
    # A scripted training job's SecondaryStatus for the status its runner reports.
    "InProgress": "Training",
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopped": "Stopped",
}


class JobsApi(SageMakerBackend):
    """The job actions (Create/Describe/Stop of training, transform and labeling jobs)."""

    def wait_for_job(self, kind: JobType, name: str, timeout: float = 120.0) -> Response:
        """Poll a job until it is Completed, Failed or Stopped; returns its Describe* response.

        Raises ``TimeoutError`` with the last status if it does not end in time.
        """
        status_key = _JOB_KEYS[kind][2]
        deadline = time.monotonic() + timeout
        while True:
            # Read the state directly: a helper must not consume faults (throttling) meant for API callers.
            with self._lock:
                response = self._render_job(self._job(kind, name))
            if response[status_key] in ("Completed", "Failed", "Stopped"):
                return response
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{kind} job {name} is still {response[status_key]} after {timeout} s")
            time.sleep(POLL_SECONDS)

    def training_log(self, name: str) -> Path:
        """The log file (stdout and stderr) of a training job's process."""
        with self._lock:
            job = self._job("training", name)
            return Path(job.work_dir) / "logs" / "algo-1.log"

    def _start_job(self, job: JobRecord, make_runner: Callable[[JobHandle], Any]) -> None:
        # Caller holds the lock. The runner may reject the job (it is then not recorded); the local
        # runner's thread reports through the handle, which waits for the lock, so after this returns.
        handle = JobHandle(job, self._update_job)

        def run() -> None:
            try:
                runner = make_runner(handle)
            except Exception as error:  # e.g. the S3 client factory failed: the job must still end
                LOG.exception("could not start %s job %s", job.kind, job.name)
                handle.fail(f"InternalServerError: local SageMaker could not start the job: {error}")
                return
            runner.run()

        job.work = run
        self.runner.start(job)
        self._jobs[(job.kind, job.name)] = job
        self._store_tags(job.arn, job.request.get("Tags"))

    def _poll_job(self, job: JobRecord) -> None:
        # Describe* asks the runner for a job's progress (the local runner's work reports its own: None).
        if job.terminal:
            return
        job.polls += 1
        state = self.runner.poll(job)
        if state is not None:
            self._apply_state(job, state)

    def _apply_state(self, job: JobRecord, state: JobState) -> None:
        if job.status == "Stopping" and state.status == "InProgress":
            return
        outputs = dict(state.outputs or {})
        output = service_model().operation_model(_DESCRIBE_OPS[job.kind]).output_shape
        unknown = set(outputs) - set(output.members if output is not None else {})
        if unknown:
            raise ValueError(f"runner outputs for {job.kind} job {job.name} have unknown fields {unknown}")
        self._update_job(
            job,
            status=state.status,
            secondary=_SCRIPTED_SECONDARY.get(state.status) if job.kind == "training" else None,
            failure_reason=state.failure_reason,
            outputs=outputs,
        )

    def _job_dir(self, kind: str, name: str) -> Path:
        parent = self.work_dir / kind
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))

    def _emit_job(self, job: JobRecord) -> None:
        detail = event_detail(self._render_job(job), self._tags.get(job.arn))
        self._enqueue_event(_JOB_EVENTS[job.kind], detail, [job.arn])

    def _update_job(
        self,
        job: JobRecord,
        *,
        status: str | None = None,
        secondary: str | None = None,
        message: str | None = None,
        failure_reason: str | None = None,
        outputs: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock:
            if job.terminal:
                return  # a finished job never changes again (e.g. a late report after a stop)
            now = utcnow()
            changed = False
            if status is not None and status != job.status:
                job.status = status
                changed = True
            if secondary is not None and secondary != job.secondary:
                if job.transitions:
                    job.transitions[-1].setdefault("EndTime", now)
                transition: dict[str, Any] = {"Status": secondary, "StartTime": now}
                if message:
                    transition["StatusMessage"] = message
                job.transitions.append(transition)
                job.secondary = secondary
                changed = True
            if failure_reason is not None:
                job.failure_reason = failure_reason
            if outputs:
                job.outputs.update(copy.deepcopy(dict(outputs)))
            job.last_modified = now
            if job.terminal:
                job.ended = now
                if job.transitions:
                    job.transitions[-1].setdefault("EndTime", now)
            if changed:
                self._emit_job(job)

    def _new_job(
        self,
        kind: JobType,
        operation: str,
        request: Mapping[str, Any],
        status: str,
        check: Callable[[Request], None] | None = None,
    ) -> JobRecord:
        name_key, _, _, arn_type = _JOB_KEYS[kind]
        request = self._begin(operation, request)
        if check is not None:
            check(request)
        name = request[name_key]
        arn = self._arn(arn_type, name)
        if (kind, name) in self._jobs:
            raise SageMakerServiceError(
                "ResourceInUse",
                f"{kind.capitalize()} job names must be unique within an AWS account and region, and a "
                f"{kind} job with this name already exists ({arn})",
            )
        now = utcnow()
        return JobRecord(kind, name, arn, request, now, status, now)

    def _job(self, kind: str, name: str) -> JobRecord:
        job = self._jobs.get((kind, name))
        if job is None:
            raise validation_error(_UNKNOWN_JOB[kind].format(name=name))
        return job

    def _describe_job(self, kind: JobType, request: Mapping[str, Any]) -> Response:
        with self._lock:
            request = self._begin(_DESCRIBE_OPS[kind], request)
            job = self._job(kind, request[_JOB_KEYS[kind][0]])
            self._poll_job(job)
            return self._render_job(job)

    def _stop_job(self, kind: JobType, operation: str, request: Mapping[str, Any]) -> Response:
        with self._lock:
            request = self._begin(operation, request)
            job = self._job(kind, request[_JOB_KEYS[kind][0]])
            if job.terminal or job.status == "Stopping":
                raise validation_error(
                    f"The request was rejected because the {kind} job {job.name} is in status "
                    f"{job.status}: it is not in progress."
                )
            self._update_job(
                job,
                status="Stopping",
                secondary="Stopping" if kind == "training" else None,
                message=STATUS_MESSAGES["Stopping"] if kind == "training" else None,
            )
            self.runner.stop(job)
        return {}

    def _render_job(self, job: JobRecord) -> Response:
        name_key, arn_key, status_key, _ = _JOB_KEYS[job.kind]
        response = self._echo(_DESCRIBE_OPS[job.kind], job.request)
        response.update(
            {name_key: job.name, arn_key: job.arn, status_key: job.status, "CreationTime": job.created}
        )
        if job.failure_reason and job.status in ("Failed", "Stopped"):
            response["FailureReason"] = job.failure_reason
        if job.kind == "training":
            self._render_training(job, response)
        elif job.kind == "transform":
            if job.ended is not None:
                response["TransformEndTime"] = job.ended
        else:
            response["LastModifiedTime"] = job.last_modified
            response["JobReferenceCode"] = uuid.uuid5(uuid.NAMESPACE_URL, job.arn).hex
            response.setdefault(
                "LabelCounters",
                {
                    "TotalLabeled": 0,
                    "HumanLabeled": 0,
                    "MachineLabeled": 0,
                    "FailedNonRetryableError": 0,
                    "Unlabeled": 0,
                },
            )
        response.update(copy.deepcopy(job.outputs))
        if job.status == "Completed":
            self._render_completed_outputs(job, response)
        # Only fields of the Describe* output shape travel (the moto serializer would drop others anyway).
        output = service_model().operation_model(_DESCRIBE_OPS[job.kind]).output_shape
        members = output.members if output is not None else {}
        return {key: value for key, value in response.items() if key in members}

    @staticmethod
    def _render_completed_outputs(job: JobRecord, response: Response) -> None:
        # Where SageMaker puts a completed job's outputs, unless the run reported them (a real run does).
        if job.kind == "training" and "ModelArtifacts" not in response:
            output_path = str(job.request["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
            response["ModelArtifacts"] = {"S3ModelArtifacts": f"{output_path}/{job.name}/output/model.tar.gz"}
        elif job.kind == "labeling" and "LabelingJobOutput" not in response:
            output_path = str(job.request["OutputConfig"]["S3OutputPath"]).rstrip("/")
            response["LabelingJobOutput"] = {
                "OutputDatasetS3Uri": f"{output_path}/{job.name}/manifests/output/output.manifest"
            }

    def _render_training(self, job: JobRecord, response: Response) -> None:
        request = job.request
        response.update(
            {
                "SecondaryStatus": job.secondary or "Starting",
                "SecondaryStatusTransitions": copy.deepcopy(job.transitions),
                "LastModifiedTime": job.last_modified,
                "EnableNetworkIsolation": request.get("EnableNetworkIsolation", False),
                "EnableInterContainerTrafficEncryption": request.get(
                    "EnableInterContainerTrafficEncryption", False
                ),
                "EnableManagedSpotTraining": request.get("EnableManagedSpotTraining", False),
            }
        )
        spec = response.get("AlgorithmSpecification")
        if isinstance(spec, dict) and "MetricDefinitions" not in spec:
            # SageMaker reports the built-in algorithm's metric definitions in DescribeTrainingJob.
            try:
                algorithm = resolve_image(str(spec.get("TrainingImage", "")), self.algorithms)
                if algorithm.metric_definitions:
                    spec["MetricDefinitions"] = [dict(d) for d in algorithm.metric_definitions]
            except UnsupportedImage:
                pass
        if job.ended is not None:
            started = job.outputs.get("TrainingStartTime", job.created)
            seconds = max(1, round((job.ended - started).total_seconds()))
            response.update(
                {
                    "TrainingEndTime": job.ended,
                    "TrainingTimeInSeconds": seconds,
                    "BillableTimeInSeconds": seconds,
                }
            )

    # -- training ---------------------------------------------------------------------------------

    def create_training_job(self, request: Request) -> Response:
        """CreateTrainingJob: runs the algorithm's local training module (see :mod:`.training_job`)."""
        refuse_volume_key_on_instance_storage(request.get("ResourceConfig"), "VolumeKmsKeyId")
        with self._lock:
            job = self._new_job("training", "CreateTrainingJob", request, "InProgress")
            job.work_dir = self._job_dir("training", job.name)
            work_dir = Path(job.work_dir)
            self._start_job(
                job,
                lambda handle: TrainingRun(
                    handle,
                    self._role_s3(job.request.get("RoleArn")),
                    work_dir,
                    self.algorithms,
                    self.faults,
                    python=self.python,
                    stop_grace_seconds=self.stop_grace_seconds,
                    keep_input_data=self.keep_input_data,
                    logs=self._logs_factory() if self._logs_factory else None,
                    threads=self.algorithm_threads,
                ),
            )
            self._update_job(job, secondary="Starting", message=STATUS_MESSAGES["Starting"])
            return {"TrainingJobArn": job.arn}

    def describe_training_job(self, request: Request) -> Response:
        """DescribeTrainingJob (SecondaryStatus, transitions, ModelArtifacts, FinalMetricDataList ...)."""
        return self._describe_job("training", request)

    def stop_training_job(self, request: Request) -> Response:
        """StopTrainingJob: Stopping, then Stopped once the process is gone."""
        return self._stop_job("training", "StopTrainingJob", request)

    # -- transform --------------------------------------------------------------------------------

    def create_transform_job(self, request: Request) -> Response:
        """CreateTransformJob: the model must exist; runs its handlers over every input object."""
        refuse_volume_key_on_instance_storage(request.get("TransformResources"), "VolumeKmsKeyId")
        with self._lock:
            job = self._new_job(
                "transform",
                "CreateTransformJob",
                request,
                "InProgress",
                check=self._check_transform_model,
            )
            model = copy.deepcopy(self._models[job.request["ModelName"]])
            job_dir = self._job_dir("transform", job.name)
            self._start_job(
                job,
                lambda handle: TransformRun(
                    handle,
                    model,
                    self._role_s3(model.get("ExecutionRoleArn")),
                    job_dir,
                    self.algorithms,
                    self.faults,
                ),
            )
            self._emit_job(job)
            return {"TransformJobArn": job.arn}

    def _check_transform_model(self, request: Request) -> None:
        self._require_model(request["ModelName"])

    def describe_transform_job(self, request: Request) -> Response:
        """DescribeTransformJob."""
        return self._describe_job("transform", request)

    def stop_transform_job(self, request: Request) -> Response:
        """StopTransformJob."""
        return self._stop_job("transform", "StopTransformJob", request)

    # -- labeling ---------------------------------------------------------------------------------

    def create_labeling_job(self, request: Request) -> Response:
        """CreateLabelingJob: the simulated workforce labels it (see :mod:`.labeling_job`)."""
        with self._lock:
            job = self._new_job("labeling", "CreateLabelingJob", request, "Initializing")
            workforce = self.workforce
            self._start_job(
                job,
                lambda handle: LabelingRun(
                    handle,
                    self._role_s3(job.request.get("RoleArn")),
                    workforce,
                    self.faults,
                    region=self.region,
                    models=self,
                ),
            )
            self._emit_job(job)
            return {"LabelingJobArn": job.arn}

    def describe_labeling_job(self, request: Request) -> Response:
        """DescribeLabelingJob (LabelCounters, LabelingJobOutput.OutputDatasetS3Uri when Completed)."""
        return self._describe_job("labeling", request)

    def stop_labeling_job(self, request: Request) -> Response:
        """StopLabelingJob."""
        return self._stop_job("labeling", "StopLabelingJob", request)
