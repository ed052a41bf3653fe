"""Gathering the hyperparameter tuning part: the trials of the run's tuning job
(ListTrainingJobsForHyperParameterTuningJob, at most ``MAX_TRIALS``). A run without tuning has no such part."""

from __future__ import annotations

from typing import Any

from report.fields import as_text, dig
from report.gather_base import RunSource
from report.tuning import TuningSummary, trials_from_summaries

MAX_TRIALS = 500
PAGE = 100  # ListTrainingJobsForHyperParameterTuningJob's MaxResults ceiling


class TuningParts(RunSource):
    """The tuning part (see the module docstring)."""

    def _tuning(self) -> None:
        job = as_text(dig(self.state, "tuning_job", "job_name"))
        if job is None:
            return  # the run trained one job (no gtpipe:tuning)
        summaries: list[dict[str, Any]] = []
        params: dict[str, Any] = {"HyperParameterTuningJobName": job, "MaxResults": PAGE}
        while len(summaries) < MAX_TRIALS:
            page = self.clients.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(**params)
            summaries.extend(page.get("TrainingJobSummaries", []))
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        objective = dig(self.state, "config", "tuning") or {}
        self.data.tuning = TuningSummary(
            job_name=job,
            objective_metric=as_text(objective.get("objective_metric")) or "objective",
            objective_type=as_text(objective.get("objective_type")) or "Maximize",
            trials=trials_from_summaries(
                summaries[:MAX_TRIALS], as_text(dig(self.state, "training", "job_name"))
            ),
        )
