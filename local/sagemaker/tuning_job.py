"""Hyperparameter tuning jobs of the local SageMaker (a part of ``LocalSageMaker``).

CreateHyperParameterTuningJob validates the request, then a background thread runs the trials as ordinary
local training jobs (CreateTrainingJob with the ``TrainingJobDefinition``, the static hyperparameters, the
trial's tuned values and ``_tuning_objective_metric``, as SageMaker adds it), at most
``MaxParallelTrainingJobs`` at a time, ``MaxNumberOfTrainingJobs`` in all. The trials' hyperparameters come
from :mod:`.tuning_search` (seeded: the same request gives the same trials). The best trial is the completed
one with the best objective in its ``FinalMetricDataList``. Describe and ListTrainingJobsForHyperParameterTuningJob
answer as SageMaker's do (``BestTrainingJob``, ``TrainingJobStatusCounters``, ``ObjectiveStatusCounters``,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeHyperParameterTuningJob.html). The job
is Completed when at least one trial reported the objective, Failed otherwise. Trial names are SageMaker's
pattern ``<tuning job>-<3 digits>-<8 hex>``; each trial's DescribeTrainingJob names its ``TuningJobArn``.

Warm start (``WarmStartConfig``): the parents must be this local SageMaker's tuning jobs; AWS's rules are
enforced and the parents' best trial seeds the first trial (:mod:`.tuning_warm_start`); the parents' trials
are not listed as this job's. Not emulated: the Hyperband and Grid strategies, early stopping
(``TrainingJobEarlyStoppingType`` is accepted; every trial runs to its end), and the tuning job's EventBridge
events.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .algorithms import UnsupportedImage, resolve_image
from .api import Request, Response
from .backend import POLL_SECONDS
from .errors import SageMakerServiceError, not_found, validation_error
from .jobs import TERMINAL, utcnow
from .jobs_api import JobsApi
from .tuning_search import TrialResult, best_trial, objective_value, sample_trials, search_seed, tuned_names
from .tuning_warm_start import ParentJob, WarmStartRefused, best_parent_values, check_warm_start, seed_trials

_TRIAL_KEYS = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)
_LOCAL_STRATEGIES = ("Random", "Bayesian")


@dataclass
class TuningRecord:
    """One tuning job; mutated under the backend's lock."""

    name: str
    arn: str
    request: dict[str, Any]
    created: dt.datetime
    status: str = "InProgress"
    trials: list[str] = field(default_factory=list)
    tuned: dict[str, dict[str, str]] = field(default_factory=dict)
    best: str | None = None
    failure_reason: str | None = None
    ended: dt.datetime | None = None
    last_modified: dt.datetime | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)


class TuningApi(JobsApi):
    """CreateHyperParameterTuningJob, Describe, Stop and ListTrainingJobsForHyperParameterTuningJob."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tuning_jobs: dict[str, TuningRecord] = {}

    def _tuning(self, name: str) -> TuningRecord:
        record = self._tuning_jobs.get(name)
        if record is None:
            raise not_found(f"Amazon SageMaker can't find a tuning job with name {name}")
        return record

    def create_hyper_parameter_tuning_job(self, request: Request) -> Response:
        """CreateHyperParameterTuningJob: checks the request, then runs the trials in a background thread."""
        request = self._begin("CreateHyperParameterTuningJob", request)
        _check_tuning_request(request, self)
        name = request["HyperParameterTuningJobName"]
        with self._lock:
            if request.get("WarmStartConfig"):
                try:
                    check_warm_start(request, self._warm_start_parents(request))
                except WarmStartRefused as refused:
                    raise validation_error(str(refused)) from None
            if name in self._tuning_jobs:
                raise SageMakerServiceError(
                    "ResourceInUse",
                    f"Tuning job names must be unique; a tuning job named {name} already exists",
                )
            now = utcnow()
            record = TuningRecord(
                name, self._arn("hyper-parameter-tuning-job", name), request, now, last_modified=now
            )
            self._tuning_jobs[name] = record
            self._store_tags(record.arn, request.get("Tags"))
        self._start_thread(f"tuning-{name}", lambda: self._run_tuning(record))
        return {"HyperParameterTuningJobArn": record.arn}

    def describe_hyper_parameter_tuning_job(self, request: Request) -> Response:
        """DescribeHyperParameterTuningJob (status, counters, BestTrainingJob once a trial has an objective)."""
        request = self._begin("DescribeHyperParameterTuningJob", request)
        with self._lock:
            record = self._tuning(request["HyperParameterTuningJobName"])
            return self._render_tuning(record)

    def stop_hyper_parameter_tuning_job(self, request: Request) -> Response:
        """StopHyperParameterTuningJob: Stopping, the running trials are stopped, then Stopped."""
        request = self._begin("StopHyperParameterTuningJob", request)
        with self._lock:
            record = self._tuning(request["HyperParameterTuningJobName"])
            if record.status != "InProgress":
                raise validation_error(
                    f"The tuning job {record.name} is {record.status}: it is not in progress."
                )
            record.status = "Stopping"
            record.stop_event.set()
        return {}

    def list_training_jobs_for_hyper_parameter_tuning_job(self, request: Request) -> Response:
        """ListTrainingJobsForHyperParameterTuningJob (StatusEquals, SortBy, SortOrder, MaxResults, NextToken)."""
        request = self._begin("ListTrainingJobsForHyperParameterTuningJob", request)
        with self._lock:
            record = self._tuning(request["HyperParameterTuningJobName"])
            summaries = [self._trial_summary(record, name) for name in record.trials]
        status = request.get("StatusEquals")
        if status:
            summaries = [s for s in summaries if s["TrainingJobStatus"] == status]
        sort_by = request.get("SortBy", "Name")
        if sort_by == "FinalObjectiveMetricValue":
            # Trials without an objective value are left out of this ordering, as SageMaker documents.
            summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        keys = {
            "Name": lambda s: s["TrainingJobName"],
            "CreationTime": lambda s: s["CreationTime"],
            "Status": lambda s: s["TrainingJobStatus"],
            "FinalObjectiveMetricValue": lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
        }
        summaries.sort(key=keys[sort_by], reverse=request.get("SortOrder", "Ascending") == "Descending")
        start = int(request.get("NextToken") or 0)
        size = int(request.get("MaxResults", 10))
        response: Response = {"TrainingJobSummaries": summaries[start : start + size]}
        if start + size < len(summaries):
            response["NextToken"] = str(start + size)
        return response

    # -- the run ----------------------------------------------------------------------------------

    def _run_tuning(self, record: TuningRecord) -> None:
        config = record.request["HyperParameterTuningJobConfig"]
        limits = config["ResourceLimits"]
        count = int(limits.get("MaxNumberOfTrainingJobs", 1))
        parallel = max(1, int(limits["MaxParallelTrainingJobs"]))
        objective = config["HyperParameterTuningJobObjective"]
        trials = sample_trials(
            config.get("ParameterRanges", {}), count, search_seed(record.name, config.get("RandomSeed"))
        )
        if record.request.get("WarmStartConfig"):
            with self._lock:
                parents = [p for p in self._warm_start_parents(record.request).values() if p is not None]
            best = best_parent_values(parents, config.get("ParameterRanges", {}), objective["Type"])
            trials = seed_trials(trials, best)
        pending = list(enumerate(trials, start=1))
        running: list[str] = []
        while pending or running:
            if record.stop_event.is_set() or self._closing.is_set():
                self._stop_trials(running)
                break
            while pending and len(running) < parallel:
                number, tuned = pending.pop(0)
                running.append(self._start_trial(record, number, tuned, objective["MetricName"]))
            running = [name for name in running if not self._trial_ended(name)]
            record.stop_event.wait(POLL_SECONDS)
        self._finish_tuning(record, objective)

    def _start_trial(self, record: TuningRecord, number: int, tuned: dict[str, str], metric: str) -> str:
        definition = record.request["TrainingJobDefinition"]
        suffix = hashlib.sha256(f"{record.name}/{number}".encode()).hexdigest()[:8]
        name = f"{record.name}-{number:03d}-{suffix}"
        trial: dict[str, Any] = {
            key: copy.deepcopy(definition[key]) for key in _TRIAL_KEYS if key in definition
        }
        trial["TrainingJobName"] = name
        trial["HyperParameters"] = {
            **definition.get("StaticHyperParameters", {}),
            **tuned,
            "_tuning_objective_metric": metric,
        }
        if record.request.get("Tags"):
            trial["Tags"] = copy.deepcopy(record.request["Tags"])
        with self._lock:
            record.trials.append(name)
            record.tuned[name] = dict(tuned)
            record.last_modified = utcnow()
        try:
            self.create_training_job(trial)
        except SageMakerServiceError as error:
            # A trial SageMaker could not create counts as a failed trial (NonRetryableError).
            record.tuned[name]["__error__"] = f"{error.code}: {error.message}"
            return name
        with self._lock:
            self._job("training", name).outputs["TuningJobArn"] = record.arn
        return name

    def _warm_start_parents(self, request: Request) -> dict[str, ParentJob | None]:
        """What this SageMaker knows of each parent a ``WarmStartConfig`` names (None: no such job); under the
        lock."""
        parents: dict[str, ParentJob | None] = {}
        for entry in request["WarmStartConfig"].get("ParentHyperParameterTuningJobs", []):
            name = str(entry["HyperParameterTuningJobName"])
            record = self._tuning_jobs.get(name)
            if record is None:
                parents[name] = None
                continue
            metric = record.request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
            trials = [
                (record.tuned.get(trial, {}), *self._trial_outcome(trial, metric["MetricName"]))
                for trial in record.trials
            ]
            parents[name] = ParentJob(name, record.status, record.request, trials)
        return parents

    def _trial_ended(self, name: str) -> bool:
        with self._lock:
            job = self._jobs.get(("training", name))
            if job is None:
                return True
            self._poll_job(job)  # a scripted runner advances on polls; the local one reports by itself
            return job.status in TERMINAL

    def _stop_trials(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(SageMakerServiceError):  # already ended
                self.stop_training_job({"TrainingJobName": name})
        deadline = time.monotonic() + self.stop_grace_seconds + 30
        while any(not self._trial_ended(name) for name in names) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)

    def _finish_tuning(self, record: TuningRecord, objective: dict[str, Any]) -> None:
        with self._lock:
            results = [
                TrialResult(name, status, value)
                for name in record.trials
                for status, value in [self._trial_outcome(name, objective["MetricName"])]
            ]
            best = best_trial(results, objective["Type"])
            record.best = best.name if best else None
            if record.status == "Stopping" or self._closing.is_set():
                record.status = "Stopped"
            elif best is None:
                record.status = "Failed"
                record.failure_reason = (
                    f"No training job reported the objective metric {objective['MetricName']}: "
                    f"{sum(r.status == 'Failed' for r in results)} of {len(results)} failed"
                )
            else:
                record.status = "Completed"
            record.ended = record.last_modified = utcnow()

    def _trial_outcome(self, name: str, metric: str) -> tuple[str, float | None]:
        job = self._jobs.get(("training", name))
        if job is None:
            return "Failed", None
        return job.status, objective_value(job.outputs.get("FinalMetricDataList", []), metric)

    # -- rendering --------------------------------------------------------------------------------

    def _trial_summary(self, record: TuningRecord, name: str) -> dict[str, Any]:
        objective = record.request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
        tuned = {k: v for k, v in record.tuned.get(name, {}).items() if not k.startswith("__")}
        job = self._jobs.get(("training", name))
        summary: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": self._arn("training-job", name),
            "TuningJobName": record.name,
            "CreationTime": job.created if job else record.created,
            "TrainingJobStatus": job.status if job else "Failed",
            "TunedHyperParameters": tuned,
        }
        if job is None:
            summary["FailureReason"] = record.tuned.get(name, {}).get("__error__", "not created")
            summary["ObjectiveStatus"] = "Failed"
            return summary
        if job.ended is not None:
            summary["TrainingStartTime"] = job.outputs.get("TrainingStartTime", job.created)
            summary["TrainingEndTime"] = job.ended
        if job.failure_reason and job.status == "Failed":
            summary["FailureReason"] = job.failure_reason
        value = objective_value(job.outputs.get("FinalMetricDataList", []), objective["MetricName"])
        if value is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective["Type"],
                "MetricName": objective["MetricName"],
                "Value": value,
            }
        summary["ObjectiveStatus"] = (
            "Succeeded" if value is not None else "Pending" if job.status not in TERMINAL else "Failed"
        )
        return summary

    def _render_tuning(self, record: TuningRecord) -> Response:
        request = record.request
        summaries = [self._trial_summary(record, name) for name in record.trials]
        statuses = [s["TrainingJobStatus"] for s in summaries]
        objectives = [s["ObjectiveStatus"] for s in summaries]
        response: Response = {
            "HyperParameterTuningJobName": record.name,
            "HyperParameterTuningJobArn": record.arn,
            "HyperParameterTuningJobConfig": copy.deepcopy(request["HyperParameterTuningJobConfig"]),
            "TrainingJobDefinition": copy.deepcopy(request["TrainingJobDefinition"]),
            "HyperParameterTuningJobStatus": record.status,
            "CreationTime": record.created,
            "LastModifiedTime": record.last_modified or record.created,
            "TrainingJobStatusCounters": {
                "Completed": statuses.count("Completed"),
                "InProgress": sum(s not in TERMINAL for s in statuses),
                "RetryableError": 0,
                "NonRetryableError": statuses.count("Failed"),
                "Stopped": statuses.count("Stopped"),
            },
            "ObjectiveStatusCounters": {
                "Succeeded": objectives.count("Succeeded"),
                "Pending": objectives.count("Pending"),
                "Failed": objectives.count("Failed"),
            },
        }
        if record.ended is not None:
            response["HyperParameterTuningEndTime"] = record.ended
        if record.failure_reason:
            response["FailureReason"] = record.failure_reason
        if record.best is not None:
            response["BestTrainingJob"] = next(s for s in summaries if s["TrainingJobName"] == record.best)
        return response


def _check_tuning_request(request: Request, backend: JobsApi) -> None:
    """What SageMaker refuses beyond botocore's model, and what the local SageMaker cannot run."""
    config = request["HyperParameterTuningJobConfig"]
    definition = request.get("TrainingJobDefinition")
    if not isinstance(definition, dict):
        raise validation_error(
            "TrainingJobDefinition is required (TrainingJobDefinitions is not supported locally)"
        )
    if config["Strategy"] not in _LOCAL_STRATEGIES:
        raise validation_error(f"Strategy {config['Strategy']} is not supported by the local SageMaker")
    if "MaxNumberOfTrainingJobs" not in config["ResourceLimits"]:
        raise validation_error(
            "ResourceLimits.MaxNumberOfTrainingJobs is required for the Random and Bayesian strategies"
        )
    objective = config.get("HyperParameterTuningJobObjective")
    if not objective:
        raise validation_error("HyperParameterTuningJobObjective is required")
    ranges = config.get("ParameterRanges", {})
    names = tuned_names(ranges)
    if not names:
        raise validation_error("ParameterRanges must name at least one hyperparameter to tune")
    if len(names) > 30:
        raise validation_error(f"ParameterRanges has {len(names)} hyperparameters; at most 30 in all")
    static = set(definition.get("StaticHyperParameters", {}))
    both = sorted(static & set(names))
    if both:
        raise validation_error(f"Hyperparameters {', '.join(both)} are both static and tuned")
    spec = definition["AlgorithmSpecification"]
    try:
        algorithm = resolve_image(str(spec.get("TrainingImage", "")), backend.algorithms)
    except UnsupportedImage:
        return  # the trials fail with the image's reason, as training jobs do
    metrics = [d["Name"] for d in spec.get("MetricDefinitions") or algorithm.metric_definitions]
    if objective["MetricName"] not in metrics:
        raise validation_error(
            f"The objective metric {objective['MetricName']} is not a metric of the algorithm "
            f"(its metrics: {', '.join(metrics)})"
        )
