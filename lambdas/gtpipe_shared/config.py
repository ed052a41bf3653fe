"""The one configuration schema of a gtpipe deployment: synth validates ``cdk.json`` context into these models
(``infra/config.py``) and the functions read their serialized form, the ``PIPELINE_CONFIG`` environment
variable (JSON).

Its shape is the execution input's ``config`` block (docs/design.md) plus settings only ``start_run``
uses: ``label_categories`` (class names, in class-id order; deployed stacks bundle them with start_run's code
instead, see :func:`load_pipeline_config`), ``allowed_source_buckets``,
``max_manifest_bytes``, ``max_manifest_lines`` and ``max_line_bytes``. Unknown keys are kept and passed
through to the execution input, so the infrastructure can add settings without a Lambda change.

Defaults are the values synth writes (what a deployment gets); they only matter to the functions when a key
is absent. Optional pass-through settings (``labeling.backend``, the builtin backend's ``instructions``,
``min_labeled_share`` and ``lease_seconds``, the endpoint's scaling and deployment limits) are left out of
the serialized form when unset (the state machine tests ``labeling.backend``'s presence) and, as before,
only type-checked here: synth's context reader checks their bounds.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gtpipe_shared.aws_limits import class_list_problem
from gtpipe_shared.label_errors import DEFAULT_MAX_SHARE
from gtpipe_shared.pricing import BuiltinPricing, LabelingPrices
from gtpipe_shared.tasks import TaskType, task_spec

LabelingBackend = Literal["ground-truth", "builtin"]

# The class list travels in start_run's code, not its environment (issue 14, finding 4); 1000 at most.
MAX_LABEL_CATEGORIES = 1000
# Keys only start_run needs; they are not part of the execution input's config block.
START_RUN_ONLY_KEYS = ("allowed_source_buckets", "max_manifest_bytes", "max_manifest_lines", "max_line_bytes")
# The builtin labeling backend's settings: synth leaves them out of a Ground Truth stack's PIPELINE_CONFIG.
BUILTIN_ONLY_LABELING_KEYS = ("instructions", "min_labeled_share", "lease_seconds")
# The smallest GPU instance the built-in algorithms train on (README "First deploy": its quota).
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.g4dn.xlarge"
DEFAULT_MAX_MANIFEST_BYTES = 512 * 1024 * 1024


# A class's hotkey in the labeling app: one letter or digit (lower case).
HOTKEY = re.compile(r"[0-9a-z]")


def _omitted_when_unset(value: Any) -> bool:
    return value is None


class ConfigError(ValueError):
    """``PIPELINE_CONFIG`` is missing or invalid; the message names the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class LabelingReviewConfig(_Section):
    """The builtin backend's review stage (``config.labeling.review``; context ``gtpipe:labeling.review``,
    read by ``infra/config_review.py``; rules in :mod:`gtpipe_shared.labeling_review`)."""

    confidence_threshold: float = Field(default=0.8, gt=0, le=1)
    qa_sample_percent: float = Field(default=5.0, ge=0, le=100)
    max_rounds: int = Field(default=2, ge=0, le=5)


class LabelingConfig(_Section):
    """Labeling job settings shared by both backends (``config.labeling``; context ``gtpipe:labeling``)."""

    # Unset: a Ground Truth run (the state machine tests the key's presence).
    backend: LabelingBackend | None = Field(default=None, exclude_if=_omitted_when_unset)
    label_attribute: str = Field(default="category", min_length=1, max_length=127)
    label_categories_uri: str | None = None
    ui_template_uri: str | None = None
    output_path: str | None = None
    workteam_arn: str | None = None
    pre_human_task_lambda_arn: str | None = None
    annotation_consolidation_lambda_arn: str | None = None
    workers_per_object: int = Field(default=3, ge=1, le=9)
    task_time_limit_seconds: int = Field(default=300, ge=30, le=28800)
    task_availability_lifetime_seconds: int = Field(default=864000, ge=60, le=2_592_000)
    max_concurrent_task_count: int = Field(default=1000, ge=1, le=5000)
    task_title: str = "Label the images"
    task_description: str = "Choose the category that fits each image."
    task_keywords: list[str] = Field(default_factory=lambda: ["images"])
    auto_labeling: bool = False
    # Start automated labeling from the newest final model of an earlier run with the same task type and
    # label set; start_run fills the two initial_* fields below from the runs ledger when it is on.
    reuse_model: bool = False
    algorithm_specification_arn: str | None = None
    # Cost guard: prices ({per_object_usd, per_answer_usd: {task: usd}, per_machine_label_usd}) and the
    # budget (None: no limit) come from the stack; start_run records its estimate in estimated_cost_usd.
    prices: dict[str, Any] = Field(default_factory=lambda: LabelingPrices().as_dict())
    budget_usd: float | None = Field(default=None, ge=0)
    # The builtin backend's job: plain-text instructions its web app shows, the share of objects with all
    # their answers the run needs at the lifetime's end, and how long a task is leased to one worker.
    instructions: str | None = Field(default=None, exclude_if=_omitted_when_unset)
    min_labeled_share: float | None = Field(default=None, exclude_if=_omitted_when_unset)
    lease_seconds: int | None = Field(default=None, exclude_if=_omitted_when_unset)
    # The builtin web app's key per class name (one letter or digit each, no key twice); classes it does not
    # name get the app's default keys (docs/labeling-service.md, "Hotkeys"). Unset: the default for all.
    hotkeys: dict[str, str] | None = Field(default=None, exclude_if=_omitted_when_unset)
    # The builtin backend's cost model (gtpipe_shared.pricing.BuiltinPricing): what labelers are paid per
    # hour (unset: not priced) and the seconds per task the estimate assumes (unset: its default).
    labeler_hourly_rate_usd: float | None = Field(default=None, ge=0, exclude_if=_omitted_when_unset)
    seconds_per_task: float | None = Field(default=None, gt=0, exclude_if=_omitted_when_unset)
    # The builtin backend's adaptive redundancy (gtpipe_shared.adaptive_redundancy): the confidence an
    # object's answers must reach before it stops asking for more (workers_per_object is then a maximum).
    # Unset: off, every object gets workers_per_object answers.
    adaptive_confidence_threshold: float | None = Field(
        default=None, gt=0, le=1, exclude_if=_omitted_when_unset
    )
    # The builtin backend's gold objects (gtpipe_shared.labeling_gold): an augmented manifest of known answers
    # (same label attribute and classes) and the share of a job's tasks drawn from it. Unset: no gold.
    gold_manifest_uri: str | None = Field(default=None, exclude_if=_omitted_when_unset)
    gold_share: float | None = Field(default=None, gt=0, le=0.5, exclude_if=_omitted_when_unset)
    # The builtin backend's review stage (gtpipe_shared.labeling_review). Unset: no review.
    review: LabelingReviewConfig | None = Field(default=None, exclude_if=_omitted_when_unset)
    # The builtin backend's automated labeling loop (lambdas/labeling/auto.py): the human batch and validation
    # sample sizes, the bound on model rounds, the labeling model's epochs and its hyperparameters over the
    # run's (validated as the run's are). Unset: the loop's defaults.
    auto_batch_size: int | None = Field(default=None, ge=1, exclude_if=_omitted_when_unset)
    auto_validation_size: int | None = Field(default=None, ge=20, exclude_if=_omitted_when_unset)
    auto_max_rounds: int | None = Field(default=None, ge=1, le=20, exclude_if=_omitted_when_unset)
    auto_epochs: int | None = Field(default=None, ge=1, exclude_if=_omitted_when_unset)
    auto_hyperparameters: dict[str, str] | None = Field(default=None, exclude_if=_omitted_when_unset)
    initial_active_learning_model_arn: str | None = None
    initial_model_source_run_id: str | None = None
    estimated_cost_usd: float | None = None
    # The tuning part of the cost guard's estimate (gtpipe_shared.pricing.TuningEstimate.as_dict), set by
    # start_run when the run tunes, so the labeled step's ledger record keeps it next to the labeling part.
    tuning_estimate: dict[str, Any] | None = Field(default=None, exclude_if=_omitted_when_unset)
    fingerprint: str | None = None

    @field_validator("label_attribute")
    @classmethod
    def _attribute_name(cls, value: str) -> str:
        # Ground Truth rejects names ending in "-metadata"; "source"/"source-ref" clash with the image key.
        if value.endswith("-metadata") or value in ("source", "source-ref"):
            raise ValueError("must not be 'source', 'source-ref' or end with '-metadata'")
        return value

    @field_validator("hotkeys")
    @classmethod
    def _hotkeys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        # The app reads keys as typed, case-insensitively: one letter or digit, stored lower-case.
        if value is None:
            return None
        keys: dict[str, str] = {}
        for name, key in value.items():
            text = key.strip().lower()
            if not name or not HOTKEY.fullmatch(text):
                raise ValueError(f"the key of class {name!r} must be one letter or digit, got {key!r}")
            if text in keys.values():
                raise ValueError(f"key {text!r} is given to more than one class")
            keys[name] = text
        return keys

    @field_validator("prices", mode="before")
    @classmethod
    def _prices(cls, value: Any) -> Any:
        # The same rules as gtpipe:labelingPrices at synth; stored in the snake_case form.
        if value is None:
            return LabelingPrices().as_dict()
        if not isinstance(value, dict):
            raise ValueError("must be an object of labeling prices")
        return LabelingPrices.from_mapping(value).as_dict()

    @model_validator(mode="after")
    def _reuse_needs_automated_labeling(self) -> LabelingConfig:
        # InitialActiveLearningModelArn is part of LabelingJobAlgorithmsConfig: only automated labeling
        # can use a reused model.
        if self.reuse_model and not self.auto_labeling:
            raise ValueError("reuse_model needs auto_labeling (a reused model seeds automated labeling)")
        return self

    def labeling_prices(self) -> LabelingPrices:
        """The prices as the pricing module's type."""
        return LabelingPrices.from_mapping(self.prices)

    def builtin_pricing(self) -> BuiltinPricing | None:
        """The builtin service's cost model when this run labels on it; None for Ground Truth."""
        return BuiltinPricing.from_settings(
            {
                "backend": self.backend,
                "labeler_hourly_rate_usd": self.labeler_hourly_rate_usd,
                "seconds_per_task": self.seconds_per_task,
            }
        )


class TrainingConfig(_Section):
    """Training job settings (``config.training``); hyperparameter values become strings."""

    image: str | None = None
    instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE
    instance_count: int = Field(default=1, ge=1, le=20)
    volume_size_gb: int = Field(default=50, ge=1, le=16384)
    max_runtime_seconds: int = Field(default=86400, ge=60, le=2_419_200)
    hyperparameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # SageMaker only accepts string hyperparameter values; accept numbers/bools from JSON for comfort.
        if isinstance(value, dict):
            return {
                str(k): (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()
                if v is not None
            }
        return value


class TransformConfig(_Section):
    """Batch transform settings (``config.transform``)."""

    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(default=1, ge=1)


class EndpointConfig(_Section):
    """Real-time endpoint settings (``config.endpoint``): resources, autoscaling bounds and how long the
    deployment may take (the optional ones are set by synth and left out when unset)."""

    name: str = Field(default="gtpipe-endpoint", pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(default=1, ge=1, le=100)
    max_instance_count: int | None = Field(default=None, exclude_if=_omitted_when_unset)
    target_invocations_per_instance: int | None = Field(default=None, exclude_if=_omitted_when_unset)
    variant_name: str = "AllTraffic"
    heartbeat_seconds: int | None = Field(default=None, exclude_if=_omitted_when_unset)
    timeout_seconds: int | None = Field(default=None, exclude_if=_omitted_when_unset)
    # Park the endpoint after this many minutes without invocations (gtpipe_shared.idle); unset: never.
    idle_minutes: int | None = Field(default=None, ge=1, exclude_if=_omitted_when_unset)


ApprovalMode = Literal["auto", "manual"]
# The approval wait is WaitForApproval's HeartbeatSeconds, which must stay below its TimeoutSeconds, Step
# Functions' one-year ceiling for a Standard execution
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): a year less a minute at most.
MAX_APPROVAL_TIMEOUT_SECONDS = 31_536_000 - 60


class RegistryConfig(_Section):
    """Model registry settings (``config.registry``; context ``gtpipe:approval`` and
    ``gtpipe:approvalTimeoutSeconds``): every model that passes the quality gate becomes a model package;
    ``auto`` registers it Approved and deploys it, ``manual`` registers it PendingManualApproval and the run
    waits up to ``timeout_seconds`` for someone to approve or reject it (README "Model registry")."""

    approval: ApprovalMode = "auto"
    # Step Functions takes any positive heartbeat; synth asks for at least a minute (infra/config.py).
    timeout_seconds: int = Field(default=604_800, ge=1, le=MAX_APPROVAL_TIMEOUT_SECONDS)


GOLDEN_PREFIX = "golden/"
GOLDEN_MANIFEST_PATTERN = r"^golden/(?!.*\.\.)[A-Za-z0-9!_.*'()/-]+\.(manifest|jsonl)$"


class ChampionConfig(_Section):
    """Champion/challenger gate (``config.champion``; context ``gtpipe:championChallenger``; README "Quality
    gate: champion/challenger"). When a model serves the same label set, the new model (the challenger) and
    the serving one (the champion) are scored on the validation images neither trained on, and the
    challenger is refused when its score is below the champion's by more than ``margin_points`` (points of
    the gate metric, 0..100). Fewer than ``min_images`` such images make no comparison (too few to tell)."""

    enabled: bool = True
    margin_points: float = Field(default=2.0, ge=0.0, le=100.0)
    min_images: int = Field(default=20, ge=1, le=100_000)
    # A key under golden/ of the data bucket: labeled images that never enter training (nothing under
    # golden/ starts a run), on which both models are scored instead of the validation images.
    golden_manifest: str | None = None

    @field_validator("golden_manifest")
    @classmethod
    def _golden(cls, value: str | None) -> str | None:
        if value is not None and not re.match(GOLDEN_MANIFEST_PATTERN, value):
            raise ValueError(
                f"must be a key under {GOLDEN_PREFIX} ending in .manifest or .jsonl, without '..'"
            )
        return value


TuningStrategy = Literal["Random", "Bayesian"]


class TuningConfig(_Section):
    """Hyperparameter tuning (``config.tuning``; context ``gtpipe:tuning``, read by infra/config_tuning.py;
    README "Hyperparameter tuning"). Absent: the run trains one job (``Train``). Present: a SageMaker
    hyperparameter tuning job runs ``max_jobs`` trials, ``max_parallel_jobs`` at a time, over
    ``parameter_ranges`` (SageMaker's ``ParameterRanges`` as sent: ``ContinuousParameterRanges``,
    ``IntegerParameterRanges``, ``CategoricalParameterRanges``) and the best trial by ``objective_metric``
    continues down the pipeline."""

    objective_metric: str = Field(min_length=1, max_length=255)
    objective_type: Literal["Maximize", "Minimize"] = "Maximize"
    parameter_ranges: dict[str, list[dict[str, Any]]]
    max_jobs: int = Field(ge=1)
    max_parallel_jobs: int = Field(ge=1)
    early_stopping: Literal["Off", "Auto"] = "Off"
    strategy: TuningStrategy = "Random"
    random_seed: int = Field(default=0, ge=0)
    # Warm start from the label set's newest earlier tuning job (README "Hyperparameter tuning"): start_run
    # fills parent_tuning_jobs (SageMaker's ParentHyperParameterTuningJobs) when it finds one; then
    # ChooseTraining goes to TuneWarmStart instead of Tune.
    warm_start: bool = False
    parent_tuning_jobs: list[dict[str, str]] | None = Field(
        default=None, max_length=5, exclude_if=_omitted_when_unset
    )

    def tuned_names(self) -> list[str]:
        """The names of the tuned hyperparameters, in the order of ``parameter_ranges``."""
        return [str(item["Name"]) for items in self.parameter_ranges.values() for item in items]


class LabelErrorsConfig(_Section):
    """Label-error finding after training (``config.label_errors``; context ``gtpipe:labelErrors``, read by
    infra/config_label_errors.py; README "Label-error finding"). Present only when enabled (its presence is
    the switch the state machine tests): ``folds`` models each train on the other folds and predict their
    held-out fold, at most ``max_share`` of the training objects are flagged (:mod:`gtpipe_shared.label_errors`), reviewed in the builtin service's review
    stage, and the model retrains on the corrected labels: ``folds`` + 1 extra training jobs."""

    folds: int = Field(default=3, ge=2, le=5)
    max_share: float = Field(default=DEFAULT_MAX_SHARE, ge=0.05, le=0.5)


class SplitConfig(_Section):
    """Train/validation split settings (``config.split``); seed None derives it from the run id."""

    validation_ratio: float = Field(default=0.2, ge=0.01, le=0.9)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class CaptureConfig(BaseModel):
    """Feedback capture of ``POST /predict`` (context ``gtpipe:capture``; predict's ``CAPTURE_CONFIG``):
    every answer below ``confidence_threshold`` and a random ``sample_percent`` of the others are kept under
    ``captured/`` of the data bucket, which expires them after ``retention_days`` (README "Feedback capture").
    Not part of ``PIPELINE_CONFIG``: only the serving functions and the bucket's lifecycle rule use it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    confidence_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    sample_percent: float = Field(default=5.0, ge=0.0, le=100.0)
    retention_days: int = Field(default=90, ge=1, le=3650)


class DriftThresholds(BaseModel):
    """Alarm thresholds of drift monitoring (``gtpipe_shared.drift`` defines the metrics): an alarm fires
    when a window's metric is above its threshold (``live_accuracy``: below it)."""

    model_config = ConfigDict(extra="forbid")

    input_shift: float = Field(default=1.5, gt=0.0, le=1000.0)
    embedding_distance: float = Field(default=1.0, gt=0.0, le=1000.0)
    class_psi: float = Field(default=0.5, gt=0.0, le=100.0)
    confidence_psi: float = Field(default=0.5, gt=0.0, le=100.0)
    live_accuracy: float = Field(default=0.8, ge=0.0, le=1.0)


class MonitoringConfig(BaseModel):
    """Drift monitoring of the serving endpoint (context ``gtpipe:monitoring``; the monitor function's
    ``MONITORING_CONFIG``; README "Monitoring"). Off by default: with it unset the templates are unchanged.
    Every ``window_minutes`` the monitor compares the window's requests with the serving model's baseline;
    a window with fewer than ``min_requests`` requests puts no drift metrics (too few to tell), and live
    accuracy is put once ``min_labeled`` corrected sample captures of the last ``accuracy_hours`` exist."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    window_minutes: int = Field(default=60, ge=1, le=1440)
    min_requests: int = Field(default=20, ge=1, le=100_000)
    min_labeled: int = Field(default=20, ge=1, le=100_000)
    accuracy_hours: int = Field(default=24, ge=1, le=720)
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)


class HarvestConfig(BaseModel):
    """The feedback harvester (context ``gtpipe:harvest``; the harvest function's ``HARVEST_CONFIG``; README
    "Model lifecycle: harvest, relabel, retrain"). Every ``schedule`` it picks at most ``budget`` captured
    images not yet considered: every corrected one first, then ``uncertain_share`` of the rest of the budget
    as the least confident answers (balanced over predicted classes), then ``sample_share`` of it at random
    (the sampled stream, so the new labels do not only cover the hard cases); an image whose 64-bit
    difference hash is within ``near_duplicate_bits`` bits of one already picked is skipped. Off by default:
    each harvest starts a labeling run, which costs money. Not part of ``PIPELINE_CONFIG``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    schedule: str = "rate(1 day)"
    budget: int = Field(default=200, ge=1, le=100_000)
    uncertain_share: float = Field(default=0.8, ge=0.0, le=1.0)
    sample_share: float = Field(default=0.2, ge=0.0, le=1.0)
    near_duplicate_bits: int = Field(default=4, ge=0, le=64)
    # A feedback run trains from the serving model when compatible (gtpipe_shared.incremental). None: the
    # default, on with the builtin algorithm and no tuning (infra/config_harvest.warm_start_on).
    warm_start: bool | None = None


class PipelineConfig(_Section):
    """The whole ``PIPELINE_CONFIG``."""

    task_type: TaskType  # always written by infra (no default: a config without one is refused)
    data_bucket: str | None = None
    label_categories: list[str] = Field(min_length=1, max_length=MAX_LABEL_CATEGORIES)
    allowed_source_buckets: list[str] = Field(default_factory=list)
    max_manifest_lines: int = Field(default=1_000_000, ge=1, le=10_000_000)
    max_manifest_bytes: int = Field(default=DEFAULT_MAX_MANIFEST_BYTES, ge=1, le=5 * 1024**3)
    max_line_bytes: int = Field(default=100_000, ge=64)
    labeling: LabelingConfig = Field(default_factory=LabelingConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    transform: TransformConfig = Field(default_factory=TransformConfig)
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    champion: ChampionConfig = Field(default_factory=ChampionConfig)
    # None (the default): no tuning, and the key stays out of PIPELINE_CONFIG and the execution input.
    tuning: TuningConfig | None = Field(default=None, exclude_if=_omitted_when_unset)
    # None (the default, gtpipe:labelErrors not enabled): no label-error finding, the key stays out.
    label_errors: LabelErrorsConfig | None = Field(default=None, exclude_if=_omitted_when_unset)
    quality_threshold: float = Field(default=0.8, ge=0.0, le=1.0)

    @field_validator("label_categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        cleaned = [name.strip() for name in value]
        if any(not name for name in cleaned):
            raise ValueError("category names must be non-empty")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("category names must be unique")
        too_big = class_list_problem(cleaned)
        if too_big:
            raise ValueError(too_big)
        return cleaned

    @model_validator(mode="after")
    def _classes_for_task(self) -> PipelineConfig:
        if len(self.label_categories) < task_spec(self.task_type).min_classes:
            raise ValueError(
                f"{self.task_type} needs at least {task_spec(self.task_type).min_classes} label_categories"
            )
        return self

    def environment_json(self) -> dict[str, Any]:
        """The serialized form synth writes into ``PIPELINE_CONFIG``: the settings that were set, without
        ``label_categories`` (they travel in start_run's code: Lambda's environment is 4 KB in total)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"label_categories"})

    def execution_config(self) -> dict[str, Any]:
        """The execution input's ``config`` block: everything except the start_run-only keys."""
        data = self.model_dump(mode="json")
        for key in START_RUN_ONLY_KEYS:
            data.pop(key, None)
        return data


def load_pipeline_config(
    raw: str | None,
    *,
    data_bucket: str | None = None,
    label_categories: list[str] | None = None,
) -> PipelineConfig:
    """Parse ``PIPELINE_CONFIG``; raise ConfigError naming the invalid field.

    ``data_bucket`` (the ``DATA_BUCKET`` variable) fills ``config.data_bucket`` when the JSON omits it, and
    ``label_categories`` (start_run's bundled label category file) fills ``config.label_categories``: the
    deployed ``PIPELINE_CONFIG`` leaves the class list out, as it would break Lambda's 4 KB environment limit.
    """
    if not raw:
        raise ConfigError("PIPELINE_CONFIG is not set")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"PIPELINE_CONFIG is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(data, dict):
        raise ConfigError("PIPELINE_CONFIG must be a JSON object")
    if data_bucket and not data.get("data_bucket"):
        data["data_bucket"] = data_bucket
    if label_categories is not None and "label_categories" not in data:
        data["label_categories"] = label_categories
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ConfigError(f"PIPELINE_CONFIG invalid: {problems}") from exc
    if not config.data_bucket:
        raise ConfigError("PIPELINE_CONFIG invalid: data_bucket is not set (nor DATA_BUCKET)")
    return config


def require_env(name: str) -> str:
    """An environment variable's value; ConfigError naming the variable when it is unset or empty."""

    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def json_list_env(name: str) -> list[str]:
    """A JSON list of strings from an optional environment variable (unset: empty list)."""

    raw = os.environ.get(name, "").strip()
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} must be a JSON list of non-empty strings")
    return value
