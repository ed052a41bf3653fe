"""Read everything a run report needs into a :class:`RunData`: S3, the runs ledger, SageMaker, logs.

Each part of the report is gathered on its own; a part that cannot be read (the run ended before it,
an object is missing, access is denied) is recorded in ``RunData.unavailable`` with the reason and, when
unexpected, as a warning. Gathering never raises for missing data.

Reads are bounded so a large run cannot exhaust the function: manifests are streamed (aggregates
only), at most ``MAX_VALIDATION_LINES`` validation lines and ``MAX_OUTPUTS`` transform outputs are
read, images are fetched only for the examples shown and downscaled on arrival, and at most
``MAX_LOG_EVENTS`` log events are parsed.

Layout: :mod:`report.gather_base` (clients, the run's sources, bounded S3 reads), one module per group
of parts (:mod:`report.gather_labels`, :mod:`report.gather_examples`, :mod:`report.gather_curves`,
:mod:`report.gather_tuning`) and
this module, which combines them and reads the ledger, task type, class names, headline and steps.
Pure interpretation lives in :mod:`report.fields`, :mod:`report.labels`, :mod:`report.examples` and
:mod:`report.curves`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gtpipe_shared import idle
from gtpipe_shared.ledger import SERVING_RUN_ID, from_dynamo
from gtpipe_shared.s3uri import s3_uri
from gtpipe_shared.tasks import TASK_TYPES

from report.fields import as_float, as_int, as_map, as_text, dig
from report.gather_base import FALLBACK_TASK_TYPE, Clients, Settings
from report.gather_curves import CurveParts
from report.gather_examples import ExampleParts
from report.gather_labels import LabelParts
from report.gather_tuning import TuningParts
from report.label_errors import label_errors_summary
from report.labels import parse_time
from report.model import (
    COST,
    CURVES,
    EVALUATION,
    EXAMPLES,
    LABELS,
    MONITORING,
    STEPS,
    TEAM,
    TUNING,
    Headline,
    RunData,
    StepTiming,
)
from report.monitoring import latest_windows
from report.training_data import training_data


class Gatherer(LabelParts, ExampleParts, CurveParts, TuningParts):
    """Builds the :class:`RunData` of one run (see the module docstring)."""

    # -- driver -----------------------------------------------------------------------------------

    def gather(self) -> RunData:
        """Every part, each guarded so one failure only removes its own part."""
        self._guard(STEPS, "the runs ledger", self._read_ledger)
        self._task_type()
        self._class_names()
        self._headline()
        self._guard(LABELS, "the labels", self._labels)
        self._guard(COST, "the labeling cost", self._cost)
        self._guard(TEAM, "the labeling team's statistics", self._team)
        self._guard(EVALUATION, "the evaluation", self._evaluation)
        self._guard(EXAMPLES, "the validation examples", self._examples)
        self._guard(CURVES, "the training curves", self._curves)
        self._guard(TUNING, "the tuning job's trials", self._tuning)
        self.data.training_data = training_data(self.state, self.ledger)
        self.data.label_errors = label_errors_summary(self.state)
        self._guard(STEPS, "the step timeline", self._steps)
        self._guard(STEPS, "the endpoint's idle parking", self._endpoint_usage)
        if self.settings.monitoring:
            self._guard(MONITORING, "the drift-monitoring windows", self._monitoring)
        self._fill_headline_from_parts()
        return self.data

    def _monitoring(self) -> None:
        self.data.monitoring = latest_windows(self.clients.s3, self.settings.data_bucket, datetime.now(UTC))

    # -- ledger, classes, headline ----------------------------------------------------------------

    def _read_ledger(self) -> None:
        if self.clients.runs_table is None:
            self.data.warn("RUNS_TABLE is not set: the report has no ledger data (steps, costs)")
            return
        item = self.clients.runs_table.get_item(Key={"run_id": self.data.run_id}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            self.data.warn(f"run {self.data.run_id} has no item in the runs ledger")
            return
        self.ledger = from_dynamo(item)

    def _endpoint_usage(self) -> None:
        """Endpoint-hours served and parked and the cost avoided (``@endpoint-usage``, ``gtpipe_shared.idle``)."""
        if self.clients.runs_table is None:
            return
        usage, serving = (
            self.clients.runs_table.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item")
            for run_id in (idle.USAGE_RUN_ID, SERVING_RUN_ID)
        )
        self.data.endpoint_usage = idle.usage_summary(
            from_dynamo(usage) if usage else None,
            from_dynamo(serving) if serving else None,
            datetime.now(UTC),
        )

    def _task_type(self) -> None:
        """The execution state's ``config.task_type``, else the ledger's; else :data:`FALLBACK_TASK_TYPE`,
        with a warning saying so."""
        named = as_text(dig(self.state, "config", "task_type")) or as_text(self.ledger.get("task_type"))
        if named in TASK_TYPES:
            self.data.task_type = named
            return
        shown = f"the unknown task type {named!r}" if named else "no task type"
        self.data.warn(
            f"the execution state and the ledger name {shown}; the report shows {FALLBACK_TASK_TYPE}"
        )

    def _class_names(self) -> None:
        for candidate in (
            dig(self.state, "split", "class_names"),
            dig(self.state, "config", "label_categories"),
        ):
            if isinstance(candidate, list) and candidate:
                self.data.class_names = [str(name) for name in candidate]
                return

    def _headline(self) -> None:
        head: Headline = self.data.headline
        ledger = self.ledger
        head.status = as_text(ledger.get("status"))
        head.created_at = parse_time(ledger.get("created_at"))
        head.ended_at = parse_time(ledger.get("ended_at")) or (
            parse_time(ledger.get("updated_at")) if head.status not in (None, "RUNNING") else None
        )
        head.manifest_kind = as_text(dig(self.state, "manifest", "kind")) or as_text(
            ledger.get("manifest_kind")
        )
        head.input_uri = as_text(dig(self.state, "input", "manifest_uri"))
        if head.input_uri is None and ledger.get("input_bucket") and ledger.get("input_key"):
            head.input_uri = s3_uri(str(ledger["input_bucket"]), str(ledger["input_key"]))
        head.metric_name = as_text(dig(self.state, "evaluation", "metric_name"))
        head.metric_value = as_float(dig(self.state, "evaluation", "metric_value"))
        passed = dig(self.state, "evaluation", "passed")
        head.passed = passed if isinstance(passed, bool) else None
        head.quality_threshold = as_float(dig(self.state, "config", "quality_threshold"))
        champion = dig(self.state, "evaluation", "champion")
        head.champion = dict(champion) if isinstance(champion, dict) else None
        head.train_count = as_int(dig(self.state, "split", "counts", "train"))
        head.validation_count = as_int(dig(self.state, "split", "counts", "validation"))
        counts = self._label_counts()
        head.human_labeled, head.machine_labeled = counts["human"], counts["machine"]
        head.total_labeled, head.failed_labels = counts["total"], counts["failed"]
        old_shape = as_map(ledger.get("labeling"))
        head.final_active_learning_model_arn = (
            as_text(ledger.get("final_active_learning_model_arn"))
            or as_text(old_shape.get("final_active_learning_model_arn"))
            or as_text(dig(self.state, "labeling", "job_output", "FinalActiveLearningModelArn"))
        )
        head.reused_model_arn = (
            as_text(ledger.get("reused_model_arn"))
            or as_text(old_shape.get("reused_model_arn"))
            or as_text(dig(self.state, "config", "labeling", "initial_active_learning_model_arn"))
        )
        failure = dig(self.state, "failure") or ledger.get("failure")
        if isinstance(failure, Mapping):
            self.data.failure = {
                key: str(failure[key]) for key in ("step", "error", "cause") if failure.get(key) is not None
            }
        elif self.data.outcome == "failed" and isinstance(dig(self.state, "error"), Mapping):
            error = dig(self.state, "error")
            self.data.failure = {"error": str(error.get("Error", "")), "cause": str(error.get("Cause", ""))}

    def _label_counts(self) -> dict[str, int | None]:
        """Human/machine/total/failed label counts: the ledger's ``label_counters`` (notify ``labeled``),
        the labeling record in the state, an older ledger ``labeling`` map, or the job's LabelCounters."""
        sources: list[tuple[Mapping[str, Any], dict[str, str]]] = [
            (as_map(self.ledger.get("label_counters")), {}),
            (as_map(dig(self.state, "labeling_record", "label_counters")), {}),
            (
                as_map(self.ledger.get("labeling")),
                {
                    "human": "human_labeled",
                    "machine": "machine_labeled",
                    "total": "total",
                    "failed": "failed",
                },
            ),
            (
                as_map(dig(self.state, "labeling", "counters")),
                {
                    "human": "HumanLabeled",
                    "machine": "MachineLabeled",
                    "total": "TotalLabeled",
                    "failed": "FailedNonRetryableError",
                },
            ),
        ]
        counts: dict[str, int | None] = {"human": None, "machine": None, "total": None, "failed": None}
        for source, names in sources:
            for key in counts:
                if counts[key] is None:
                    counts[key] = as_int(source.get(names.get(key, key)))
        return counts

    def _fill_headline_from_parts(self) -> None:
        head, labels, evaluation = self.data.headline, self.data.labels, self.data.evaluation
        if labels is not None and labels.source == "labeling job output":
            if head.human_labeled is None:
                head.human_labeled = labels.human_objects
            if head.machine_labeled is None:
                head.machine_labeled = labels.machine_objects
            if head.total_labeled is None:
                head.total_labeled = labels.human_objects + labels.machine_objects
        if evaluation is not None:
            if head.metric_value is None:
                head.metric_name, head.metric_value = evaluation.metric_name, evaluation.metric_value
            if head.quality_threshold is None:
                head.quality_threshold = evaluation.quality_threshold
            if head.passed is None:
                head.passed = evaluation.passed

    # -- steps ------------------------------------------------------------------------------------

    def _steps(self) -> None:
        steps = self.ledger.get("steps")
        if not isinstance(steps, Mapping) or not steps:
            self.data.missing(STEPS, "the runs ledger has no step records for this run")
            return
        timings = [
            StepTiming(
                name=str(name),
                status=str(record.get("status", "?")),
                started_at=parse_time(record.get("started_at")),
                ended_at=parse_time(record.get("ended_at")),
                job_name=as_text(record.get("job_name")),
                failure_reason=as_text(record.get("failure_reason")),
            )
            for name, record in steps.items()
            if isinstance(record, Mapping)
        ]
        far = parse_time("9999-12-31T00:00:00Z")
        timings.sort(key=lambda s: (s.started_at or s.ended_at or far, s.name))
        self.data.steps = timings


def gather_run(
    run_id: str, outcome: str, state: Mapping[str, Any], settings: Settings, clients: Clients
) -> RunData:
    """Everything the report of ``run_id`` shows (see the module docstring)."""
    return Gatherer(run_id, outcome, state, settings, clients).gather()
