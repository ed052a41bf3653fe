"""Read everything a run report needs into a :class:`RunData`: S3, the runs ledger, SageMaker, logs.

Each part of the report is gathered on its own; a part that cannot be read (the run ended before it,
an object is missing, access is denied) is recorded in ``RunData.unavailable`` with the reason and, when
unexpected, as a warning. Gathering never raises for missing data.

Reads are bounded so a large run cannot exhaust the function: manifests are streamed (aggregates
only), at most ``MAX_VALIDATION_LINES`` validation lines and ``MAX_OUTPUTS`` transform outputs are
read, images are fetched only for the examples shown and downscaled on arrival, and at most
``MAX_LOG_EVENTS`` log events are parsed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared.aws import error_code
from gtpipe_shared.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from gtpipe_shared.ledger import from_dynamo
from gtpipe_shared.manifest import is_blank, iter_lines
from gtpipe_shared.metrics import (
    PredictionError,
    argmax,
    classification_metrics,
    detection_metrics,
    ground_truth_boxes,
    output_uri_for,
    parse_detections,
    parse_prediction,
)
from gtpipe_shared.naming import metrics_key
from gtpipe_shared.pricing import LabelingPrices, estimate_labeling_cost, labeling_cost
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri
from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix
from gtpipe_shared.tasks import TASK_TYPES, TaskType
from PIL import Image

from report import curves as curve_parsing
from report.examples import Prediction, choose_classification, choose_detection_rows, choose_detection_samples
from report.labels import (
    AUTO_ANNOTATION_DIR,
    AUTO_ANNOTATION_FILE,
    AUTO_ANNOTATION_NOTE,
    CONSOLIDATION_DIR,
    IterationRecord,
    cost_summary,
    count_auto_annotations,
    count_consolidated,
    iterations_from_files,
    job_root,
    machine_rounds,
    parse_time,
    summarize_labels,
)
from report.model import (
    COST,
    CURVES,
    EVALUATION,
    EXAMPLES,
    LABELS,
    STEPS,
    TEAM,
    Box,
    ClassificationExample,
    DetectionExample,
    Evaluation,
    Headline,
    RunData,
    StepTiming,
    TrainingCurves,
)
from report.team import parse_team

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
MAX_MANIFEST_LINES = 1_000_000
MAX_CONSOLIDATION_FILES = 2000
MAX_VALIDATION_LINES = 200_000
FULL_JOIN_LIMIT = 2000  # up to this many validation images, every output is read (metrics recomputable)
CANDIDATES_PER_CLASS = 24  # beyond it, this many outputs per class are read to pick examples from
MAX_OUTPUTS = 4000
CLASSIFICATION_PER_CLASS = 8
DETECTION_PER_CLASS = 6
DETECTION_SAMPLES = 8
THUMBNAIL_PX = 128
DETECTION_IMAGE_PX = 320
MAX_LOG_EVENTS = 200_000
FETCH_THREADS = 16
DEFAULT_WORKERS_PER_OBJECT = 3

T = TypeVar("T")


@dataclass(frozen=True)
class Clients:
    """AWS access for gathering: an S3 client, a SageMaker client, a CloudWatch Logs client and the
    runs-ledger ``Table`` (None when no table is configured)."""

    s3: Any
    sagemaker: Any
    logs: Any
    runs_table: Any | None


@dataclass(frozen=True)
class Settings:
    """Where the report goes and the labeling prices in force."""

    data_bucket: str
    prices: LabelingPrices


def dig(mapping: Any, *path: str) -> Any:
    """``mapping[path[0]][path[1]]...`` or None when any step is missing or not a mapping."""
    value = mapping
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _problem(exc: BaseException) -> str:
    code = error_code(exc)
    return code or f"{type(exc).__name__}: {exc}"[:300]


FALLBACK_TASK_TYPE = TaskType.IMAGE_CLASSIFICATION.value
"""The task type a report is drawn for when neither the execution state nor the runs ledger names a
registered one. The state machine passes the whole state, whose ``config`` always carries
``task_type`` (start_run writes it), so only a hand-built event gets here; a report is best effort and
never fails, so it warns (``warnings``) and draws the classification layout instead of refusing."""


class Gatherer:
    """Builds the :class:`RunData` of one run (see the module docstring)."""

    def __init__(
        self, run_id: str, outcome: str, state: Mapping[str, Any], settings: Settings, clients: Clients
    ):
        self.state = state
        self.settings = settings
        self.clients = clients
        self.ledger: dict[str, Any] = {}
        self.data = RunData(run_id=run_id, outcome=outcome, task_type=FALLBACK_TASK_TYPE, class_names=[])
        self.iterations: list[IterationRecord] = []
        self.machine_rounds: dict[int, int] = {}

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
        self._guard(STEPS, "the step timeline", self._steps)
        self._fill_headline_from_parts()
        return self.data

    def _guard(self, part: str, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (ClientError, BotoCoreError) as exc:
            self.data.missing(part, f"{what} could not be read ({_problem(exc)})")
            self.data.warn(f"{what} could not be read: {_problem(exc)}")
        except Exception as exc:  # a report shows what it can; the reason goes on the page
            self.data.missing(part, f"{what} could not be prepared ({type(exc).__name__}: {exc})"[:400])
            self.data.warn(f"internal error while reading {what}: {type(exc).__name__}: {exc}"[:400])

    # -- S3 helpers -------------------------------------------------------------------------------

    def _open(self, uri: str) -> Any:
        bucket, key = parse_s3_uri(uri)
        return self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"]

    def _read(self, uri: str, limit: int = 50 * 1024 * 1024) -> bytes:
        bucket, key = parse_s3_uri(uri)
        response = self.clients.s3.get_object(Bucket=bucket, Key=key)
        with response["Body"] as body:
            data = bytes(body.read(limit + 1))
        if len(data) > limit:
            raise ValueError(f"{uri} is larger than {limit} bytes")
        return data

    def _maybe_read(self, uri: str, limit: int = 50 * 1024 * 1024) -> bytes | None:
        """The object, or None when it does not exist (AccessDenied without ListBucket means the same)."""
        try:
            return self._read(uri, limit)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403", "NoSuchBucket"):
                return None
            raise

    def _lines(self, uri: str, limit: int) -> Iterator[bytes | None]:
        body = self._open(uri)
        try:
            count = 0
            for _number, line in iter_lines(body, max_line_bytes=1_000_000):
                if line is not None and is_blank(line):
                    continue
                count += 1
                if count > limit:
                    self.data.warn(f"{uri}: only the first {limit} lines were read")
                    return
                yield line
        finally:
            body.close()

    def _list(self, bucket: str, prefix: str, limit: int) -> list[str]:
        keys: list[str] = []
        paginator = self.clients.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                keys.append(item["Key"])
                if len(keys) >= limit:
                    self.data.warn(
                        f"more than {limit} objects under s3://{bucket}/{prefix}; the rest were not read"
                    )
                    return keys
        return keys

    def _parallel(self, action: Callable[[str], T], items: list[str]) -> list[T]:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(items))) as pool:
            return list(pool.map(action, items))

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

    def _task_type(self) -> None:
        """The execution state's ``config.task_type``, else the ledger's; else :data:`FALLBACK_TASK_TYPE`,
        with a warning saying so."""
        named = _text(dig(self.state, "config", "task_type")) or _text(self.ledger.get("task_type"))
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
        head.status = _text(ledger.get("status"))
        head.created_at = parse_time(ledger.get("created_at"))
        head.ended_at = parse_time(ledger.get("ended_at")) or (
            parse_time(ledger.get("updated_at")) if head.status not in (None, "RUNNING") else None
        )
        head.manifest_kind = _text(dig(self.state, "manifest", "kind")) or _text(ledger.get("manifest_kind"))
        head.input_uri = _text(dig(self.state, "input", "manifest_uri"))
        if head.input_uri is None and ledger.get("input_bucket") and ledger.get("input_key"):
            head.input_uri = s3_uri(str(ledger["input_bucket"]), str(ledger["input_key"]))
        head.metric_name = _text(dig(self.state, "evaluation", "metric_name"))
        head.metric_value = _float(dig(self.state, "evaluation", "metric_value"))
        passed = dig(self.state, "evaluation", "passed")
        head.passed = passed if isinstance(passed, bool) else None
        head.quality_threshold = _float(dig(self.state, "config", "quality_threshold"))
        head.train_count = _int(dig(self.state, "split", "counts", "train"))
        head.validation_count = _int(dig(self.state, "split", "counts", "validation"))
        counts = self._label_counts()
        head.human_labeled, head.machine_labeled = counts["human"], counts["machine"]
        head.total_labeled, head.failed_labels = counts["total"], counts["failed"]
        old_shape = _map(ledger.get("labeling"))
        head.final_active_learning_model_arn = (
            _text(ledger.get("final_active_learning_model_arn"))
            or _text(old_shape.get("final_active_learning_model_arn"))
            or _text(dig(self.state, "labeling", "job_output", "FinalActiveLearningModelArn"))
        )
        head.reused_model_arn = (
            _text(ledger.get("reused_model_arn"))
            or _text(old_shape.get("reused_model_arn"))
            or _text(dig(self.state, "config", "labeling", "initial_active_learning_model_arn"))
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
            (_map(self.ledger.get("label_counters")), {}),
            (_map(dig(self.state, "labeling_record", "label_counters")), {}),
            (
                _map(self.ledger.get("labeling")),
                {
                    "human": "human_labeled",
                    "machine": "machine_labeled",
                    "total": "total",
                    "failed": "failed",
                },
            ),
            (
                _map(dig(self.state, "labeling", "counters")),
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
                    counts[key] = _int(source.get(names.get(key, key)))
        return counts

    def _prices(self) -> LabelingPrices:
        """The prices this run was planned with (execution input, ledger), else the stack's."""
        for where, candidate in (
            ("config.labeling.prices", dig(self.state, "config", "labeling", "prices")),
            ("labeling_cost.prices", dig(self.ledger, "labeling_cost", "prices")),
        ):
            if isinstance(candidate, Mapping):
                try:
                    return LabelingPrices.from_mapping(candidate)
                except (ValueError, TypeError, AttributeError) as exc:
                    self.data.warn(f"{where} is not a valid price table ({exc}); the stack's prices are used")
        return self.settings.prices

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

    # -- labels and cost --------------------------------------------------------------------------

    def _labeling_job_root(self) -> str | None:
        output = _text(dig(self.state, "labeling", "output_uri"))
        if output:
            return job_root(output)
        job_name = _text(dig(self.ledger, "steps", "label", "job_name"))
        output_path = _text(dig(self.state, "config", "labeling", "output_path"))
        if job_name and output_path:
            return output_path.rstrip("/") + "/" + job_name + "/"
        return None

    def _labels_source(self) -> tuple[str, str] | None:
        root = self._labeling_job_root()
        if root is not None:
            return (
                _text(dig(self.state, "labeling", "output_uri")) or root + "manifests/output/output.manifest",
                "labeling job output",
            )
        if self.data.headline.manifest_kind == "augmented":
            uri = _text(dig(self.state, "augmented", "manifest_uri")) or self.data.headline.input_uri
            if uri:
                return uri, "dropped augmented manifest"
        return None

    def _read_iterations(self) -> None:
        root = self._labeling_job_root()
        if root is None:
            return
        bucket, prefix = parse_s3_uri(root + CONSOLIDATION_DIR)
        keys = [key for key in self._list(bucket, prefix, MAX_CONSOLIDATION_FILES) if key.endswith(".json")]

        def count(key: str) -> tuple[str, int]:
            try:
                return key, count_consolidated(self._read(s3_uri(bucket, key)))
            except (ValueError, ClientError) as exc:
                self.data.warn(f"consolidation file s3://{bucket}/{key} is unreadable ({_problem(exc)})")
                return key, 0

        self.iterations = iterations_from_files(self._parallel(count, keys))
        bucket, prefix = parse_s3_uri(root + AUTO_ANNOTATION_DIR)
        auto_keys = [
            k for k in self._list(bucket, prefix, MAX_CONSOLIDATION_FILES) if k.endswith(AUTO_ANNOTATION_FILE)
        ]

        def count_auto(key: str) -> tuple[str, int]:
            return key, count_auto_annotations(self._read(s3_uri(bucket, key)))

        self.machine_rounds = machine_rounds(self._parallel(count_auto, auto_keys))

    def _labels(self) -> None:
        source = self._labels_source()
        if source is None:
            reason = "the run has no labeled manifest"
            if self.data.failure and self.data.failure.get("step") == "labeling":
                reason = "labeling failed before it wrote an output manifest"
            self.data.missing(LABELS, reason)
            return
        uri, what = source
        try:
            self._read_iterations()
        except (ClientError, BotoCoreError, S3UriError) as exc:
            self.data.warn(f"labeling iterations could not be listed ({_problem(exc)})")
        label_attribute = _text(dig(self.state, "manifest", "label_attribute")) or _text(
            dig(self.state, "config", "labeling", "label_attribute")
        )
        num_classes = len(self.data.class_names)
        try:
            summary, names_seen = summarize_labels(
                self._lines(uri, MAX_MANIFEST_LINES),
                manifest_uri=uri,
                source=what,
                task_type=self.data.task_type,
                num_classes=num_classes if num_classes else 1000,
                label_attribute=label_attribute,
                iterations=self.iterations,
            )
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403"):
                self.data.missing(LABELS, f"the labeled manifest {uri} does not exist ({error_code(exc)})")
                return
            raise
        if not num_classes:
            # No class list in the execution state: take the names the labels carry.
            top = max(names_seen, default=-1)
            used = max((i for i, c in enumerate(summary.per_class) if c.total), default=-1)
            count = max(top, used) + 1
            self.data.class_names = [names_seen.get(i, f"class {i}") for i in range(count)]
            summary.per_class = summary.per_class[:count]
            self.data.warn("the execution state has no class names; names were taken from the labels")
        if self.machine_rounds:
            summary.machine_by_iteration = dict(self.machine_rounds)
            summary.machine_iteration_note = AUTO_ANNOTATION_NOTE
        if summary.unknown_class_labels:
            self.data.warn(
                f"{summary.unknown_class_labels} labels name a class id outside the configured classes"
            )
        if summary.lines == 0:
            self.data.missing(LABELS, f"the labeled manifest {uri} is empty")
            return
        if not summary.per_class:
            self.data.missing(LABELS, f"the labeled manifest {uri} has no usable label")
            return
        self.data.labels = summary

    def _labeling_ran(self) -> bool:
        return (
            self._labeling_job_root() is not None
            or isinstance(self.ledger.get("labeling"), Mapping)
            or self.data.headline.manifest_kind == "input"
        )

    def _team(self) -> None:
        """The builtin labeling service's team statistics: the ledger's ``labeling_team`` (notify
        ``labeled``), else the state's ``labeling.team``; otherwise why there are none."""
        for raw, source in (
            (self.ledger.get("labeling_team"), "runs ledger (labeling_team)"),
            (dig(self.state, "labeling", "team"), "state machine's labeling result (labeling.team)"),
        ):
            if raw is not None:
                self.data.team = parse_team(raw, source)
                return
        backend = _text(dig(self.state, "config", "labeling", "backend")) or _text(
            dig(self.state, "labeling", "backend")
        )
        if not self._labeling_ran():
            reason = "no labeling job ran: the dropped manifest already carried labels"
        elif backend == "builtin":
            reason = "the labeling service recorded no team statistics for this run (labeling did not finish)"
        else:
            reason = (
                "the labels come from SageMaker Ground Truth, which does not publish per-worker statistics "
                "(the builtin labeling backend does)"
            )
        self.data.missing(TEAM, reason)

    def _cost(self) -> None:
        if not self._labeling_ran():
            self.data.missing(COST, "no labeling job ran: the dropped manifest already carried labels")
            return
        prices = self._prices()
        task_type = self.data.task_type
        workers = _int(dig(self.state, "config", "labeling", "workers_per_object"))
        if workers is None or workers < 1:
            workers = DEFAULT_WORKERS_PER_OBJECT
            self.data.warn(f"workers per object unknown; the cost assumes {workers}")
        recorded = _map(self.ledger.get("labeling_cost")) or _map(
            dig(self.state, "labeling_record", "labeling_cost")
        )
        estimated = _float(recorded.get("estimated_usd"))
        if estimated is None:
            estimated = _float(dig(self.state, "config", "labeling", "estimated_cost_usd"))
        estimate_note = "the cost guard's estimate before labeling" if estimated is not None else None
        objects = _int(dig(self.state, "manifest", "line_count")) or _int(self.ledger.get("line_count"))
        if estimated is None and objects is not None:
            estimated = estimate_labeling_cost(objects, workers, task_type, prices)
            estimate_note = f"computed by the report: {objects} objects, all labeled by people"
        budget = _float(recorded.get("budget_usd"))
        if budget is None:
            budget = _float(dig(self.state, "config", "labeling", "budget_usd"))
        # labeling_cost holds human_usd/machine_usd next to actual_usd (a total); accept them nested too.
        actual = _map(recorded.get("actual_usd")) or recorded
        actual_human, actual_machine = _float(actual.get("human_usd")), _float(actual.get("machine_usd"))
        actual_note = (
            "recorded in the runs ledger" if actual_human is not None or actual_machine is not None else None
        )
        head = self.data.headline
        if actual_note is None and head.human_labeled is not None:
            computed = labeling_cost(
                head.human_labeled, head.machine_labeled or 0, workers, task_type, prices
            )
            actual_human, actual_machine = computed.human_usd, computed.machine_usd
            actual_note = "computed by the report from the job's label counters"
        if not self.iterations and self.data.labels is None and actual_note is None:
            self.data.missing(COST, "the labeling job left no output to count labels from")
            return
        self.data.cost = cost_summary(
            iterations=self.iterations,
            labels=self.data.labels
            if self.data.labels and self.data.labels.source == "labeling job output"
            else None,
            prices=prices,
            task_type=task_type,
            workers_per_object=workers,
            estimated_usd=estimated,
            estimate_note=estimate_note,
            actual_human_usd=actual_human,
            actual_machine_usd=actual_machine,
            actual_note=actual_note,
            budget_usd=budget,
        )

    # -- evaluation -------------------------------------------------------------------------------

    def _evaluation(self) -> None:
        uri = _text(dig(self.state, "evaluation", "metrics_uri")) or s3_uri(
            self.settings.data_bucket, metrics_key(self.data.run_id)
        )
        body = self._maybe_read(uri)
        if body is None:
            self.data.missing(EVALUATION, self._no_evaluation_reason())
            return
        report = json.loads(body)
        if not isinstance(report, dict) or _float(report.get("metric_value")) is None:
            self.data.missing(EVALUATION, f"{uri} has no metric_value")
            self.data.warn(f"{uri} is not an evaluation report")
            return
        self.data.evaluation = evaluation_from_report(report, source="metrics.json")

    def _no_evaluation_reason(self) -> str:
        failure = self.data.failure or {}
        if failure.get("step"):
            return f"the run failed at {failure['step']} before evaluation"
        return "the run has no evaluation (metrics.json does not exist)"

    # -- validation examples ----------------------------------------------------------------------

    def _validation_prefix(self, refs_common: str | None, count: int) -> str:
        images_uri = _text(dig(self.state, "split", "validation_images_uri"))
        if images_uri:
            try:
                bucket, key = parse_s3_uri(images_uri)
                response = self.clients.s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-65535")
                with response["Body"] as stream:
                    head = bytes(stream.read()).decode("utf-8", "replace").lstrip()
                if head.startswith("["):
                    first, _ = json.JSONDecoder().raw_decode(head[1:].lstrip())
                    prefix = first.get("prefix") if isinstance(first, dict) else None
                    if isinstance(prefix, str) and prefix.startswith("s3://"):
                        return prefix
            except (ClientError, ValueError, S3UriError) as exc:
                self.data.warn(f"validation images manifest unreadable ({_problem(exc)}); prefix recomputed")
        return manifest_prefix(refs_common or "", count)

    def _examples(self) -> None:
        validation_uri = _text(dig(self.state, "split", "validation_uri"))
        output_uri = _text(dig(self.state, "split", "transform_output_uri"))
        if not validation_uri or not output_uri:
            self.data.missing(EXAMPLES, self._no_split_reason())
            return
        if not _text(dig(self.state, "transform", "job_name")) and not self._has_outputs(output_uri):
            failure = self.data.failure or {}
            where = f" (it failed at {failure['step']})" if failure.get("step") else ""
            self.data.missing(
                EXAMPLES, f"no predictions: the run ended before batch transform wrote outputs{where}"
            )
            return
        label_attribute = _text(dig(self.state, "manifest", "label_attribute")) or "category"
        try:
            rows, total, refs_common = self._validation_rows(validation_uri, label_attribute)
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchKey", "404", "AccessDenied", "403"):
                raise
            self.data.missing(
                EXAMPLES, f"the validation manifest {validation_uri} is unreadable ({error_code(exc)})"
            )
            self.data.warn(f"the validation manifest {validation_uri} is unreadable ({error_code(exc)})")
            return
        if not rows:
            self.data.missing(EXAMPLES, f"the validation manifest {validation_uri} has no usable labels")
            return
        try:
            prefix = self._validation_prefix(refs_common, total)
        except SplitError as exc:
            self.data.missing(EXAMPLES, str(exc))
            return
        complete = total == len(rows)
        if not complete:
            self.data.examples_note = (
                f"examples picked from {len(rows)} of {total} validation images (at most "
                f"{CANDIDATES_PER_CLASS} per class were read)"
            )
        refs = [ref for ref, _ in rows]
        try:
            uris = [output_uri_for(ref, prefix, output_uri) for ref in refs]
        except ValueError as exc:
            self.data.missing(EXAMPLES, f"validation image outside the transform input prefix: {exc}")
            return
        bodies = self._parallel(self._maybe_output, uris)
        if all(body is None for body in bodies):
            self.data.missing(EXAMPLES, f"no transform output under {output_uri}")
            return
        if self.data.is_detection:
            self._detection_examples(rows, bodies, complete)
        else:
            self._classification_examples(rows, bodies, complete)

    def _no_split_reason(self) -> str:
        failure = self.data.failure or {}
        if failure.get("step"):
            return f"no validation set: the run failed at {failure['step']}"
        return "no validation set in the execution state"

    def _has_outputs(self, output_uri: str | None) -> bool:
        if not output_uri:
            return False
        try:
            bucket, prefix = parse_s3_uri(output_uri)
            response = self.clients.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except (ClientError, S3UriError):
            return False
        return bool(response.get("Contents"))

    def _maybe_output(self, uri: str) -> bytes | None:
        return self._maybe_read(uri, limit=1024 * 1024)

    def _validation_rows(
        self, uri: str, label_attribute: str
    ) -> tuple[list[tuple[str, Any]], int, str | None]:
        """``(rows to read outputs for, validation line count, common prefix of all refs)``."""
        everything: list[tuple[str, Any]] = []
        per_class: dict[int, list[tuple[str, Any]]] = {}
        total = 0
        common: str | None = None
        num_classes = len(self.data.class_names)
        for line in self._lines(uri, MAX_VALIDATION_LINES):
            try:
                obj = json.loads(line) if line is not None else None
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("source-ref"), str):
                continue
            ref, label = obj["source-ref"], obj.get(label_attribute)
            if self.data.is_detection:
                if not isinstance(label, dict):
                    continue
                try:
                    classes = {c for c, _ in ground_truth_boxes(label)}
                except (ValueError, KeyError, TypeError):
                    continue
            else:
                if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < num_classes:
                    continue
                classes = {label}
            total += 1
            common = common_prefix(common, ref)
            if len(everything) <= FULL_JOIN_LIMIT:
                everything.append((ref, label))
            for class_id in classes or {-1}:
                bucket = per_class.setdefault(class_id, [])
                if len(bucket) < CANDIDATES_PER_CLASS:
                    bucket.append((ref, label))
        if total <= FULL_JOIN_LIMIT:
            return everything, total, common
        seen: set[str] = set()
        rows: list[tuple[str, Any]] = []
        for class_id in sorted(per_class):
            for ref, label in per_class[class_id]:
                if ref not in seen and len(rows) < MAX_OUTPUTS:
                    seen.add(ref)
                    rows.append((ref, label))
        return rows, total, common

    def _classification_examples(
        self, rows: list[tuple[str, Any]], bodies: list[bytes | None], complete: bool
    ) -> None:
        predictions: list[Prediction] = []
        unusable = 0
        for (ref, label), body in zip(rows, bodies, strict=True):
            predicted: int | None = None
            confidence: float | None = None
            if body is not None:
                try:
                    probabilities = parse_prediction(body)
                    predicted = argmax(probabilities)
                    confidence = probabilities[predicted]
                except (PredictionError, ValueError):
                    unusable += 1
            else:
                unusable += 1
            predictions.append(Prediction(ref, int(label), predicted, confidence))
        if unusable:
            self.data.warn(f"{unusable} validation images have no usable transform output")
        if self.data.evaluation is None and complete:
            report = classification_metrics(
                [(p.true_class, p.predicted_class) for p in predictions], self.data.class_names
            )
            report.update({"metric_name": "accuracy", "metric_value": report["accuracy"]})
            self.data.evaluation = evaluation_from_report(report, source="recomputed by the report")
            self.data.unavailable.pop(EVALUATION, None)
            self._evaluation_threshold()
        chosen = choose_classification(predictions, len(self.data.class_names), CLASSIFICATION_PER_CLASS)
        images = self._parallel(
            lambda ref: self._thumbnail(ref, THUMBNAIL_PX), [p.source_ref for p in chosen]
        )
        self.data.classification_examples = [
            ClassificationExample(p.source_ref, p.true_class, p.predicted_class, p.confidence, image)
            for p, image in zip(chosen, images, strict=True)
        ]

    def _evaluation_threshold(self) -> None:
        evaluation = self.data.evaluation
        threshold = _float(dig(self.state, "config", "quality_threshold"))
        if evaluation is not None and threshold is not None:
            evaluation.quality_threshold = threshold
            evaluation.passed = evaluation.metric_value >= threshold

    def _detection_examples(
        self, rows: list[tuple[str, Any]], bodies: list[bytes | None], complete: bool
    ) -> None:
        images: list[tuple[list[tuple[int, Box]], list[tuple[int, float, Box]] | None]] = []
        unusable = 0
        for (_ref, label), body in zip(rows, bodies, strict=True):
            detections: list[tuple[int, float, Box]] | None = None
            if body is not None:
                try:
                    detections = parse_detections(body)
                except (PredictionError, ValueError, TypeError):
                    unusable += 1
            else:
                unusable += 1
            images.append((ground_truth_boxes(label), detections))
        if unusable:
            self.data.warn(f"{unusable} validation images have no usable transform output")
        if self.data.evaluation is None and complete:
            report = detection_metrics(images, self.data.class_names)
            report.update({"metric_name": "map_50", "metric_value": report["map"]})
            self.data.evaluation = evaluation_from_report(report, source="recomputed by the report")
            self.data.unavailable.pop(EVALUATION, None)
            self._evaluation_threshold()
        class_rows = choose_detection_rows(images, len(self.data.class_names), DETECTION_PER_CLASS)
        samples = choose_detection_samples(images, DETECTION_SAMPLES)
        wanted = sorted(set(samples) | {i for indices in class_rows.values() for i in indices})
        position = {index: n for n, index in enumerate(wanted)}
        pictures = self._parallel(
            lambda ref: self._thumbnail(ref, DETECTION_IMAGE_PX), [rows[i][0] for i in wanted]
        )
        self.data.detection_examples = [
            DetectionExample(rows[i][0], images[i][0], images[i][1], picture)
            for i, picture in zip(wanted, pictures, strict=True)
        ]
        self.data.detection_rows = {c: [position[i] for i in indices] for c, indices in class_rows.items()}
        self.data.detection_samples = [position[i] for i in samples]

    def _thumbnail(self, ref: str, size: int) -> Image.Image | None:
        try:
            bucket, key = parse_s3_uri(ref)
            response = self.clients.s3.get_object(Bucket=bucket, Key=key)
            if int(response.get("ContentLength") or 0) > MAX_IMAGE_BYTES:
                response["Body"].close()
                return None
            with response["Body"] as body:
                data = bytes(body.read(MAX_IMAGE_BYTES + 1))
            return thumbnail(data, size)
        except (ClientError, BotoCoreError, S3UriError, OSError, ValueError):
            return None

    # -- training curves --------------------------------------------------------------------------

    def _training_job_name(self) -> str | None:
        return _text(dig(self.state, "training", "job_name")) or _text(
            dig(self.ledger, "steps", "train", "job_name")
        )

    def _curves(self) -> None:
        job = self._training_job_name()
        if job is None:
            failure = self.data.failure or {}
            reason = "no training job ran"
            if failure.get("step"):
                reason += f" (the run failed at {failure['step']})"
            self.data.missing(CURVES, reason)
            return
        describe: dict[str, Any] = {}
        describe_problem: str | None = None
        try:
            describe = self.clients.sagemaker.describe_training_job(TrainingJobName=job)
        except (ClientError, BotoCoreError) as exc:
            describe_problem = f"DescribeTrainingJob {job} failed ({_problem(exc)})"
        definitions = dig(
            describe, "AlgorithmSpecification", "MetricDefinitions"
        ) or curve_parsing.default_definitions(self.data.task_type)
        compiled, problems = curve_parsing.compile_definitions(definitions)
        for problem in problems:
            self.data.warn(problem)
        log_problem: str | None = None
        try:
            messages = self._log_messages(job)
            series = curve_parsing.parse_metric_log(messages, compiled)
            if series:
                self.data.curves = TrainingCurves(job_name=job, source="log", series=series)
                return
            log_problem = "its log has no line matching the metric definitions"
        except (ClientError, BotoCoreError) as exc:
            log_problem = f"its CloudWatch log could not be read ({_problem(exc)})"
        final = curve_parsing.final_metric_series(describe.get("FinalMetricDataList") or [])
        if final:
            self.data.curves = TrainingCurves(
                job_name=job,
                source="final",
                series=final,
                note=f"final values only: {log_problem}",
            )
            return
        if describe_problem:
            self.data.warn(describe_problem)
        self.data.missing(CURVES, f"training job {job} reported no metrics: {log_problem}")

    def _log_messages(self, job: str) -> list[str]:
        """The messages of the job's first host stream (``<job>/algo-1-...``), oldest first.

        Streams are found with DescribeLogStreams; without that permission, FilterLogEvents with the
        stream-name prefix reads the same events (on AWS; moto ignores the prefix, hence the preference).
        """
        logs = self.clients.logs
        try:
            streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/").get(
                "logStreams", []
            )
        except ClientError as exc:
            if error_code(exc) not in ("AccessDeniedException", "AccessDenied"):
                raise
            return self._filtered_log_messages(job)
        names = sorted(stream["logStreamName"] for stream in streams)
        if not names:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": f"no log stream {job}/*"}},
                "DescribeLogStreams",
            )
        if len(names) > 1:
            self.data.warn(f"training job {job} has {len(names)} log streams; curves use {names[0]}")
        messages: list[str] = []
        token: str | None = None
        while len(messages) < MAX_LOG_EVENTS:
            params: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamName": names[0],
                "startFromHead": True,
            }
            if token:
                params["nextToken"] = token
            page = logs.get_log_events(**params)
            messages.extend(str(event.get("message", "")) for event in page.get("events", []))
            next_token = page.get("nextForwardToken")
            if not page.get("events") or next_token == token:
                break
            token = next_token
        return messages[:MAX_LOG_EVENTS]

    def _filtered_log_messages(self, job: str) -> list[str]:
        messages: list[str] = []
        params: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job}/algo-1"}
        while len(messages) < MAX_LOG_EVENTS:
            page = self.clients.logs.filter_log_events(**params)
            messages.extend(str(event.get("message", "")) for event in page.get("events", []))
            token = page.get("nextToken")
            if not token:
                break
            params["nextToken"] = token
        if not messages:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"no log events in {job}/algo-1*",
                    }
                },
                "FilterLogEvents",
            )
        return messages[:MAX_LOG_EVENTS]

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
                job_name=_text(record.get("job_name")),
                failure_reason=_text(record.get("failure_reason")),
            )
            for name, record in steps.items()
            if isinstance(record, Mapping)
        ]
        far = parse_time("9999-12-31T00:00:00Z")
        timings.sort(key=lambda s: (s.started_at or s.ended_at or far, s.name))
        self.data.steps = timings


def evaluation_from_report(report: Mapping[str, Any], *, source: str) -> Evaluation:
    """An :class:`Evaluation` from an evaluate report (``metrics.json``) or recomputed metrics."""
    matrix = dig(report, "confusion_matrix", "matrix")
    labels = dig(report, "confusion_matrix", "labels")
    per_class = _map(report.get("per_class"))
    passed = report.get("passed")
    return Evaluation(
        metric_name=str(report.get("metric_name") or "score"),
        metric_value=float(report["metric_value"]),
        quality_threshold=_float(report.get("quality_threshold")),
        passed=passed if isinstance(passed, bool) else None,
        count=_int(report.get("count")) or 0,
        missing=_int(report.get("missing")) or 0,
        per_class={str(k): dict(v) for k, v in per_class.items() if isinstance(v, Mapping)},
        confusion_labels=[str(x) for x in labels] if isinstance(labels, list) else None,
        confusion_matrix=[[int(c) for c in row] for row in matrix] if isinstance(matrix, list) else None,
        source=source,
    )


def thumbnail(data: bytes, size: int) -> Image.Image:
    """Decode an image and shrink it to fit ``size`` x ``size`` (RGB).

    Images declaring more than ``MAX_IMAGE_PIXELS`` (the predict API's limit) are refused before their
    pixels are decoded: a few bytes of PNG can claim billions of pixels.
    """
    try:
        opened = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image declares too many pixels ({exc})") from exc
    width, height = opened.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"image declares {width}x{height} pixels (limit {MAX_IMAGE_PIXELS})")
    opened.draft("RGB", (size, size))
    image = opened.convert("RGB")
    image.thumbnail((size, size))
    return image


def gather_run(
    run_id: str, outcome: str, state: Mapping[str, Any], settings: Settings, clients: Clients
) -> RunData:
    """Everything the report of ``run_id`` shows (see the module docstring)."""
    return Gatherer(run_id, outcome, state, settings, clients).gather()
