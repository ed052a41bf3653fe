"""The hyperparameter tuning part of the report (gtpipe:tuning): the trials of the run's tuning job, their
hyperparameters, status and objective, the best one marked (pure: no I/O; gathered by
:mod:`report.gather_tuning`, shown in the Training section by :mod:`report.page`)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TuningTrial:
    """One training job of the tuning job."""

    name: str
    status: str
    hyperparameters: dict[str, str]
    objective: float | None
    best: bool = False


@dataclass
class TuningSummary:
    """The tuning job: its objective and its trials, in creation order."""

    job_name: str
    objective_metric: str
    objective_type: str
    trials: list[TuningTrial] = field(default_factory=list)

    @property
    def best(self) -> TuningTrial | None:
        """The trial that continued down the pipeline, if one is marked."""
        return next((trial for trial in self.trials if trial.best), None)


def trials_from_summaries(summaries: Iterable[Mapping[str, Any]], best_job: str | None) -> list[TuningTrial]:
    """ListTrainingJobsForHyperParameterTuningJob's ``TrainingJobSummaries`` as trials, oldest first;
    ``best_job`` (the training job the run continued with) is marked best."""
    ordered = sorted(summaries, key=lambda s: (str(s.get("CreationTime", "")), str(s.get("TrainingJobName"))))
    trials = []
    for summary in ordered:
        metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        value = metric.get("Value")
        trials.append(
            TuningTrial(
                name=str(summary.get("TrainingJobName", "")),
                status=str(summary.get("TrainingJobStatus", "")),
                hyperparameters={
                    str(k): str(v) for k, v in (summary.get("TunedHyperParameters") or {}).items()
                },
                objective=float(value) if isinstance(value, int | float) else None,
                best=summary.get("TrainingJobName") == best_job,
            )
        )
    return trials


def tuning_html(tuning: TuningSummary | None) -> str:
    """The trials table: one row per trial, the tuned hyperparameters as columns; empty without tuning."""
    if tuning is None:
        return ""
    names = sorted({name for trial in tuning.trials for name in trial.hyperparameters})
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["trial", "status", *names, tuning.objective_metric])
    rows = []
    for trial in tuning.trials:
        cells = [
            html.escape(trial.name) + (" <strong>(best)</strong>" if trial.best else ""),
            html.escape(trial.status),
            *(html.escape(trial.hyperparameters.get(name, "-")) for name in names),
            f"{trial.objective:.4f}" if trial.objective is not None else "-",
        ]
        style = ' class="best"' if trial.best else ""
        rows.append(f"<tr{style}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    direction = "highest" if tuning.objective_type == "Maximize" else "lowest"
    return (
        f'<div id="tuning"><h3>Hyperparameter tuning: {len(tuning.trials)} trials</h3>'
        f'<p class="muted">Tuning job <code>{html.escape(tuning.job_name)}</code>; the trial with the {direction} '
        f"{html.escape(tuning.objective_metric)} continued down the pipeline (its curves are above).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
