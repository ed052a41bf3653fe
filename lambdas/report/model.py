"""What a run report shows, as plain typed data (no AWS, no matplotlib).

``gather`` fills a :class:`RunData` from S3, the runs ledger, SageMaker and CloudWatch Logs; ``figures``
and ``page`` turn it into PNGs and HTML. Every optional part is ``None`` together with a reason in
:attr:`RunData.unavailable`, so the page can say why a figure is missing instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gtpipe_shared.metrics import Box
from gtpipe_shared.tasks import task_spec
from PIL import Image

from report.label_errors import LabelErrorsSummary
from report.tuning import TuningSummary

OUTCOMES = ("succeeded", "rejected", "failed")

# Keys of RunData.unavailable: one per part of the report.
LABELS = "labels"
COST = "cost"
CURVES = "curves"
EVALUATION = "evaluation"
EXAMPLES = "examples"
STEPS = "steps"
TEAM = "team"
MONITORING = "monitoring"
TUNING = "tuning"

# Box: xmin, ymin, xmax, ymax normalized to 0..1 (the object-detection algorithm's output convention).


@dataclass
class ClassLabels:
    """Labels of one class in the labeled manifest, split by who made them.

    Counts are images (classification) or boxes (object detection). Confidence sums and counts are
    kept apart because a label may lack a confidence.
    """

    human: int = 0
    machine: int = 0
    human_confidence_sum: float = 0.0
    human_confidence_count: int = 0
    machine_confidence_sum: float = 0.0
    machine_confidence_count: int = 0

    @property
    def total(self) -> int:
        """Human plus machine labels."""
        return self.human + self.machine

    def mean_confidence(self, human: bool) -> float | None:
        """Mean confidence of the human (or machine) labels; None when there is none."""
        count = self.human_confidence_count if human else self.machine_confidence_count
        total = self.human_confidence_sum if human else self.machine_confidence_sum
        return total / count if count else None

    def add(self, human: bool, confidence: float | None) -> None:
        """Count one label."""
        if human:
            self.human += 1
            if confidence is not None:
                self.human_confidence_sum += confidence
                self.human_confidence_count += 1
        else:
            self.machine += 1
            if confidence is not None:
                self.machine_confidence_sum += confidence
                self.machine_confidence_count += 1


@dataclass
class LabelSummary:
    """The labeled manifest, aggregated per class (``per_class[class_id]``).

    ``unit`` is ``images`` or ``boxes``. ``human_objects`` / ``machine_objects`` count data objects
    (lines), which is what labeling is billed by; ``failed_objects`` are lines without a label.
    ``machine_by_iteration`` attributes machine-labeled objects to labeling iterations (see
    ``machine_iteration_note``).
    """

    manifest_uri: str
    source: str
    unit: str
    per_class: list[ClassLabels]
    lines: int = 0
    human_objects: int = 0
    machine_objects: int = 0
    failed_objects: int = 0
    unknown_class_labels: int = 0
    machine_by_iteration: dict[int, int] = field(default_factory=dict)
    machine_iteration_note: str | None = None


@dataclass
class IterationCost:
    """Labeling cost of one iteration (human batch plus the machine labels attributed to it)."""

    iteration: int
    human_objects: int
    machine_objects: int
    human_usd: float
    machine_usd: float


@dataclass
class CostSummary:
    """Labeling cost: per iteration, estimated before the job and actual after it (US dollars)."""

    iterations: list[IterationCost]
    human_object_usd: float
    machine_object_usd: float
    workers_per_object: int
    estimated_usd: float | None
    estimate_note: str | None
    actual_human_usd: float | None
    actual_machine_usd: float | None
    actual_note: str | None
    attribution_note: str | None = None
    budget_usd: float | None = None

    @property
    def actual_total_usd(self) -> float | None:
        """Actual human plus machine cost, when known."""
        if self.actual_human_usd is None and self.actual_machine_usd is None:
            return None
        return round((self.actual_human_usd or 0.0) + (self.actual_machine_usd or 0.0), 2)


@dataclass
class MetricPoint:
    """One value of a training metric: ``epoch`` when the log line names it, else None."""

    value: float
    epoch: int | None = None


@dataclass
class TrainingCurves:
    """Metric series of the training job keyed by metric name (``validation:accuracy``).

    ``source``: ``log`` (every logged value, parsed with the metric definitions) or ``final`` (only
    ``FinalMetricDataList``: one point per metric).
    """

    job_name: str
    source: str
    series: dict[str, list[MetricPoint]]
    note: str | None = None


@dataclass
class Evaluation:
    """The evaluation of the validation set (``runs/<run_id>/metrics.json`` or recomputed)."""

    metric_name: str
    metric_value: float
    quality_threshold: float | None
    passed: bool | None
    count: int
    missing: int
    per_class: dict[str, dict[str, Any]]
    confusion_labels: list[str] | None = None
    confusion_matrix: list[list[int]] | None = None
    source: str = "metrics.json"


@dataclass
class ClassificationExample:
    """One validation image with its true class and the model's prediction (None: no output)."""

    source_ref: str
    true_class: int
    predicted_class: int | None
    confidence: float | None
    image: Image.Image | None

    @property
    def correct(self) -> bool:
        """The prediction equals the true class."""
        return self.predicted_class == self.true_class


@dataclass
class DetectionExample:
    """One validation image: true boxes, detections (None: no output) and the downscaled image."""

    source_ref: str
    truth: list[tuple[int, Box]]
    detections: list[tuple[int, float, Box]] | None
    image: Image.Image | None


@dataclass
class StepTiming:
    """A ledger step record with parsed times."""

    name: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    job_name: str | None = None
    failure_reason: str | None = None

    @property
    def seconds(self) -> float | None:
        """Duration in seconds when both ends are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


@dataclass
class Headline:
    """The numbers at the top of the page."""

    status: str | None = None
    created_at: datetime | None = None
    ended_at: datetime | None = None
    metric_name: str | None = None
    metric_value: float | None = None
    quality_threshold: float | None = None
    passed: bool | None = None
    human_labeled: int | None = None
    machine_labeled: int | None = None
    total_labeled: int | None = None
    failed_labels: int | None = None
    manifest_kind: str | None = None
    input_uri: str | None = None
    train_count: int | None = None
    validation_count: int | None = None
    final_active_learning_model_arn: str | None = None
    reused_model_arn: str | None = None
    # The champion/challenger comparison (the evaluation's ``champion`` block), None when none was made.
    champion: dict[str, Any] | None = None


@dataclass
class TeamWorker:
    """One labeler's numbers (builtin labeling service): answers, mean seconds per answer, and the share of
    answers that agree with the consolidated labels (None: nothing to compare)."""

    worker_id: str
    username: str
    answers: int
    mean_seconds: float | None
    agreement: float | None
    # Jobs with gold objects: the labeler's gold accuracy and gold answers (None / 0 without gold).
    gold_accuracy: float | None = None
    gold_answers: int = 0


@dataclass
class LabelAccuracy:
    """The label accuracy gold objects measure for one class (``class_name`` None: all classes): correct of
    ``items`` gold objects (boxes: known boxes) and the 95% Wilson interval (``gtpipe_shared.labeling_gold``)."""

    class_name: str | None
    items: int
    correct: int
    low: float
    high: float


@dataclass
class TeamClass:
    """One class's consolidated objects and how often the answers on them agreed."""

    class_name: str
    objects: int
    agreement: float | None


@dataclass
class LabelingTeam:
    """The labeling team's statistics (``labeling_team`` in the ledger, or ``labeling.team`` in the state;
    the contract is in ``gtpipe_shared.labeling_stats``). ``source`` says which was read."""

    workers: list[TeamWorker]
    classes: list[TeamClass]
    answers: int
    objects: int
    active_seconds: float | None
    answers_per_hour: float | None
    objects_per_hour: float | None
    mean_seconds_per_task: float | None
    started_at: datetime | None
    finished_at: datetime | None
    source: str
    # Answers per object (mean, and objects by answer count) and the share of the answers after an object's
    # first that agreed with it; None / empty in statistics written before they were recorded.
    answers_per_object: float | None = None
    answer_counts: dict[int, int] = field(default_factory=dict)
    extra_answers: int = 0
    extra_agreement: float | None = None
    # Gold objects (none: empty): the label accuracy they measure, and the answers they took.
    label_accuracy: list[LabelAccuracy] = field(default_factory=list)
    gold_answers: int = 0
    # The review stage (none: empty): items reviewed, accepted, fixed, rejected, pending, rounds (re-queues)
    # and the extra answers they cost (gtpipe_shared.labeling_review.review_statistics).
    review: dict[str, int] = field(default_factory=dict)
    # Pre-annotation (none: empty): objects with a model suggestion, their answers, and the answers that
    # took the suggestion unchanged (gtpipe_shared.labeling_suggestions.with_suggestions).
    suggestions: dict[str, int] = field(default_factory=dict)


@dataclass
class RunData:
    """Everything the report shows; ``unavailable`` maps a part (``LABELS``...) to why it is missing.

    ``classification_examples`` are the validation images chosen for the grid (per true class, wrong
    predictions first). For detection, ``detection_examples`` holds the chosen images once each;
    ``detection_rows`` maps a class id to indices into it (the grid's row of that class) and
    ``detection_samples`` lists the indices shown in the sample-detections figure.
    """

    run_id: str
    outcome: str
    task_type: str
    class_names: list[str]
    headline: Headline = field(default_factory=Headline)
    failure: dict[str, str] | None = None
    labels: LabelSummary | None = None
    cost: CostSummary | None = None
    curves: TrainingCurves | None = None
    evaluation: Evaluation | None = None
    classification_examples: list[ClassificationExample] = field(default_factory=list)
    detection_examples: list[DetectionExample] = field(default_factory=list)
    detection_rows: dict[int, list[int]] = field(default_factory=dict)
    detection_samples: list[int] = field(default_factory=list)
    examples_note: str | None = None
    steps: list[StepTiming] = field(default_factory=list)
    team: LabelingTeam | None = None
    # Idle parking of the serving endpoint so far (gtpipe_shared.idle.usage_summary); None: never parked.
    endpoint_usage: dict[str, Any] | None = None
    # The serving endpoint's latest drift-monitoring windows (report.monitoring); None: monitoring is off.
    monitoring: list[dict[str, Any]] | None = None
    tuning: TuningSummary | None = None  # the trials of the run's tuning job (gtpipe:tuning)
    label_errors: LabelErrorsSummary | None = None  # gtpipe:labelErrors (report.label_errors)
    # The dataset version trained on and the warm start (report.training_data); None: not known
    training_data: dict[str, Any] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_detection(self) -> bool:
        """True for the task types whose labels are boxes (object detection); ``task_type`` must be
        registered (:mod:`gtpipe_shared.tasks`; the gatherer guarantees it)."""
        return task_spec(self.task_type).boxes

    def class_name(self, class_id: int) -> str:
        """The class name of an id (``class <id>`` outside the known classes)."""
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return f"class {class_id}"

    def missing(self, part: str, reason: str) -> None:
        """Record that ``part`` is not available and why (the first reason wins)."""
        self.unavailable.setdefault(part, reason)

    def warn(self, message: str) -> None:
        """Add a warning shown on the page and returned by the handler (duplicates dropped)."""
        if message not in self.warnings:
            self.warnings.append(message)
