"""Typed, validated configuration built from `cdk.json` context.

`StackConfig.from_context` is the only place that reads context; constructs take the typed objects. The
sections the functions also read (labeling, training, transform, endpoint, split) are the one schema of
`gtpipe_shared.config`: the reader validates context into those models, and start_run's ``PIPELINE_CONFIG``
is their serialized form (`infra/constructs/execution_config.py`). Settings only synth uses (stack prefix,
workforce, team, API) are this module's; `infra/config_workforce.py` reads who labels and
`infra/config_reader.py` the single context values.
Every validation failure raises `ConfigError` naming the context key and the allowed values, so a bad
value fails `cdk synth` with a clear message instead of a broken deployment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# Labeling prices are validated by the very module the Lambda functions price with, so synth and run
# time cannot disagree.
from gtpipe_shared.async_inference import AsyncInferenceSettings
from gtpipe_shared.aws_limits import class_list_problem, image_classification_defaults
from gtpipe_shared.config import (
    DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_TRAINING_INSTANCE_TYPE,
    MAX_APPROVAL_TIMEOUT_SECONDS,
    MAX_LABEL_CATEGORIES,
    CaptureConfig,
    ChampionConfig,
    EndpointConfig,
    HarvestConfig,
    LabelErrorsConfig,
    LabelingBackend,
    LabelingConfig,
    MonitoringConfig,
    RegistryConfig,
    SplitConfig,
    TrainingConfig,
    TransformConfig,
    TuningConfig,
)
from gtpipe_shared.model_registry import APPROVAL_STATUS, group_prefix
from gtpipe_shared.pricing import LabelingPrices
from gtpipe_shared.tasks import TASK_TYPES, TaskType, task_spec

from infra.config_async import read_async_inference
from infra.config_autolabel import auto_labeling_settings
from infra.config_champion import read_champion
from infra.config_gold import gold_settings
from infra.config_harvest import check_warm_start, read_harvest
from infra.config_idle import idle_minutes_setting
from infra.config_label_errors import read_label_errors
from infra.config_labeling_builtin import (
    adaptive_redundancy_settings,
    builtin_cost_settings,
    hotkeys_setting,
)
from infra.config_limits import service_limit_problems
from infra.config_monitoring import read_monitoring
from infra.config_reader import (
    EMAIL,
    PREFIX,
    ConfigError,
    ContextReader,
    bool_setting,
    build_section,
    instance_type_setting,
    int_setting,
    parse_number,
    share_setting,
    str_setting,
)
from infra.config_review import review_settings
from infra.config_training_algorithm import TrainingAlgorithmConfig, read_training_algorithm
from infra.config_tuning import read_tuning, training_for_tuning
from infra.config_workforce import LabelingTeamConfig, WorkforceConfig, read_labeling_team, read_workforce

ApiAuthMode = Literal["iam", "api-key"]
ApiGatewayAccountRole = Literal["create", "existing"]

LABELING_BACKENDS: tuple[LabelingBackend, ...] = ("ground-truth", "builtin")
API_AUTH_MODES: tuple[ApiAuthMode, ...] = ("iam", "api-key")
APPROVAL_MODES: tuple[str, ...] = tuple(APPROVAL_STATUS)
API_GATEWAY_ACCOUNT_ROLES: tuple[ApiGatewayAccountRole, ...] = ("create", "existing")

_LABEL_ATTRIBUTE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_STACK_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,30}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

# Hyperparameters our local implementation and the built-in algorithms both accept. Unknown names are
# refused at synth so a typo does not surface as a failed GPU training job hours later.
CLASSIFICATION_HYPERPARAMETERS = frozenset(
    {
        "epochs",
        "learning_rate",
        "mini_batch_size",
        "image_shape",
        "num_layers",
        "use_pretrained_model",
        "resize",
        "lr_scheduler_step",
        "lr_scheduler_factor",
        "optimizer",
        "momentum",
        "weight_decay",
        "beta_1",
        "beta_2",
        "eps",
        "gamma",
        "augmentation_type",
        "early_stopping",
        "early_stopping_min_epochs",
        "early_stopping_patience",
        "early_stopping_tolerance",
        "top_k",
        "precision_dtype",
        "multi_label",
        "checkpoint_frequency",
        "kv_store",
        "use_weighted_loss",
        "seed",
        "skip_bad_records",
    }
)
DETECTION_HYPERPARAMETERS = frozenset(
    {
        "base_network",
        "use_pretrained_model",
        "mini_batch_size",
        "epochs",
        "learning_rate",
        "lr_scheduler_step",
        "lr_scheduler_factor",
        "optimizer",
        "momentum",
        "weight_decay",
        "overlap_threshold",
        "nms_threshold",
        "image_shape",
        "label_width",
        "early_stopping",
        "early_stopping_min_epochs",
        "early_stopping_patience",
        "early_stopping_tolerance",
        "freeze_layer_pattern",
        "kv_store",
        "num_training_samples",
        "seed",
        "skip_bad_records",
    }
)
ALLOWED_HYPERPARAMETERS: dict[TaskType, frozenset[str]] = {
    TaskType.IMAGE_CLASSIFICATION: CLASSIFICATION_HYPERPARAMETERS,
    TaskType.OBJECT_DETECTION: DETECTION_HYPERPARAMETERS,
}
COMPUTED_HYPERPARAMETERS = frozenset({"num_classes", "num_training_samples"})


MAX_INSTRUCTIONS_CHARS = 2000
DEFAULT_INSTRUCTIONS: dict[str, str] = {
    TaskType.IMAGE_CLASSIFICATION.value: (
        "Look at each image and choose the one category that fits it best: click its button or press its "
        "number key. If you are unsure, choose the closest category; other workers label the same image too."
    ),
    TaskType.OBJECT_DETECTION.value: (
        "Draw a tight box around every object of the listed categories and pick each box's category. Drag on "
        "the image to draw; drag a box or its corners to move or resize it; Delete removes the selected box. "
        "Submit when every object has exactly one box; submit no box when there is none."
    ),
}


@dataclass(frozen=True)
class StackConfig:
    """Everything a gtpipe deployment is configured with (see README "Configuration reference"); synth's
    configuration, apart from the functions' schema `gtpipe_shared.config.PipelineConfig` it fills."""

    stack_prefix: str = "Gtpipe"
    # A registered task type (gtpipe_shared.tasks), as its plain string: it is handed to jsii as is.
    task_type: str = TaskType.IMAGE_CLASSIFICATION.value
    label_categories: tuple[str, ...] = ("cat", "dog")
    workforce: WorkforceConfig = field(default_factory=lambda: WorkforceConfig(type="create-private"))
    # The functions' sections (gtpipe_shared.config): label attribute, backend, prices and budget live in
    # `labeling`, the hyperparameters in `training`.
    labeling: LabelingConfig = field(default_factory=LabelingConfig)
    labeling_team: LabelingTeamConfig = field(default_factory=LabelingTeamConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    # gtpipe:approval / gtpipe:approvalTimeoutSeconds (README "Model registry").
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    # gtpipe:championChallenger (README "Quality gate: champion/challenger").
    champion: ChampionConfig = field(default_factory=ChampionConfig)
    tuning: TuningConfig | None = None  # gtpipe:tuning (infra/config_tuning.py); None: no tuning
    label_errors: LabelErrorsConfig | None = None  # gtpipe:labelErrors (infra/config_label_errors.py)
    quality_threshold: float = 0.8
    api_auth: ApiAuthMode = "iam"
    # "create": this stack sets the region's API Gateway CloudWatch Logs role (AWS::ApiGateway::Account);
    # "existing": the account already has one (README "Deploy to AWS").
    api_gateway_account_role: ApiGatewayAccountRole = "create"
    api_rate_limit: int = 50
    api_burst_limit: int = 100
    allowed_source_buckets: tuple[str, ...] = ()
    notification_emails: tuple[str, ...] = ()
    max_manifest_lines: int = 1_000_000
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    powertools_layer_version: int = 18
    # Feedback capture of POST /predict (gtpipe:capture; README "Feedback capture").
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    harvest: HarvestConfig = field(default_factory=HarvestConfig)  # gtpipe:harvest (infra/config_harvest.py)
    async_inference: AsyncInferenceSettings = field(default_factory=AsyncInferenceSettings)
    # gtpipe:trainingAlgorithm (README "Training and serving code").
    training_algorithm: TrainingAlgorithmConfig = field(default_factory=TrainingAlgorithmConfig)
    # Drift monitoring of the serving endpoint (gtpipe:monitoring; README "Monitoring").
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    @property
    def endpoint_name(self) -> str:
        """The one stable endpoint name of this stack; updates are blue/green on it."""
        return f"{self.stack_prefix.lower()}-endpoint"

    @property
    def model_package_group_prefix(self) -> str:
        """The prefix of this stack's model package groups (one per label set; IAM and the events rule)."""
        return group_prefix(self.stack_prefix)

    @property
    def labeling_backend(self) -> LabelingBackend:
        """Who labels: Ground Truth or the stack's builtin labeling service (``labeling.backend``)."""
        return self.labeling.backend or "ground-truth"

    @property
    def label_attribute_name(self) -> str:
        """The labels' attribute name in the output manifest (``labeling.label_attribute``)."""
        return self.labeling.label_attribute

    @property
    def labeling_prices(self) -> LabelingPrices:
        """The labeling prices (``labeling.prices``) as the pricing module's type."""
        return self.labeling.labeling_prices()

    @property
    def labeling_budget_usd(self) -> float | None:
        """The labeling budget of one run (``labeling.budget_usd``); None: no limit."""
        return self.labeling.budget_usd

    @property
    def hyperparameters(self) -> Mapping[str, str]:
        """The training hyperparameters (``training.hyperparameters``), defaults filled in."""
        return self.training.hyperparameters

    @property
    def transform_instance_type(self) -> str:
        """The batch transform's instance type (``transform.instance_type``)."""
        return self.transform.instance_type

    @property
    def validation_split_ratio(self) -> float:
        """The validation share of the split (``split.validation_ratio``)."""
        return self.split.validation_ratio

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackConfig:
        """Build and validate the configuration; `get(key)` returns a context value or None."""
        reader = ContextReader(get)
        task_type: str = reader.choice("taskType", TASK_TYPES, TaskType.IMAGE_CLASSIFICATION.value)
        categories = reader.string_list("labelCategories", default=["cat", "dog"])
        _validate_categories(categories)
        backend = reader.choice("labelingBackend", LABELING_BACKENDS, "ground-truth")
        # The builtin backend has no Ground Truth workteam: gtpipe:workforce is ignored, not validated.
        workforce = (
            read_workforce(reader) if backend == "ground-truth" else WorkforceConfig(type="create-private")
        )
        labeling = _labeling(reader, task_type, backend)
        tuning = read_tuning(reader.mapping("tuning"), task_type, ALLOWED_HYPERPARAMETERS)
        config = cls(
            stack_prefix=reader.pattern("stackPrefix", _STACK_PREFIX, "Gtpipe", "letters and digits"),
            task_type=task_type,
            label_categories=tuple(categories),
            workforce=workforce,
            labeling=labeling,
            labeling_team=read_labeling_team(reader.mapping("labelingTeam")),
            training=training_for_tuning(_training(reader, task_type), tuning, reader.mapping("tuning")),
            tuning=tuning,
            transform=_transform(get),
            endpoint=_endpoint(reader.mapping("endpoint")),
            split=build_section(
                SplitConfig,
                "validationSplitRatio",
                validation_ratio=reader.number("validationSplitRatio", 0.2, 0.01, 0.9),
            ),
            registry=build_section(
                RegistryConfig,
                "approval",
                approval=reader.choice("approval", APPROVAL_MODES, "auto"),
                timeout_seconds=int(
                    reader.number("approvalTimeoutSeconds", 604_800, 60, MAX_APPROVAL_TIMEOUT_SECONDS)
                ),
            ),
            champion=read_champion(reader.mapping("championChallenger")),
            quality_threshold=reader.number("qualityThreshold", 0.8, 0.0, 1.0),
            api_auth=reader.choice("apiAuth", API_AUTH_MODES, "iam"),
            api_gateway_account_role=_api_gateway_account_role(reader.mapping("apiGateway")),
            api_rate_limit=int(reader.number("apiRateLimit", 50, 1, 10000)),
            api_burst_limit=int(reader.number("apiBurstLimit", 100, 1, 5000)),
            allowed_source_buckets=tuple(reader.string_list("allowedSourceBuckets", default=[])),
            notification_emails=tuple(reader.string_list("notificationEmails", default=[])),
            max_manifest_lines=int(reader.number("maxManifestLines", 1_000_000, 1, 10_000_000)),
            max_manifest_bytes=int(
                reader.number("maxManifestBytes", DEFAULT_MAX_MANIFEST_BYTES, 1, 5 * 1024**3)
            ),
            powertools_layer_version=int(reader.number("powertoolsLayerVersion", 18, 1, 1000)),
            capture=_capture(reader.mapping("capture")),
            monitoring=read_monitoring(reader.mapping("monitoring")),
            harvest=read_harvest(reader.mapping("harvest")),
            label_errors=read_label_errors(
                reader.mapping("labelErrors"), task_type=task_type, labeling=labeling, tuning=tuning
            ),
        )
        config = replace(
            config, async_inference=read_async_inference(reader.mapping("asyncInference"), config)
        )
        algorithm = read_training_algorithm(
            reader,
            training_instance_type=config.training.instance_type,
            endpoint_instance_type=config.endpoint.instance_type,
            transform_instance_type=config.transform_instance_type,
        )
        config = replace(config, training_algorithm=algorithm)
        check_warm_start(config.harvest, pytorch=algorithm.is_pytorch, tuning=config.tuning is not None)
        _check_config(config)
        return config


def _labeling(reader: ContextReader, task_type: str, backend: LabelingBackend) -> LabelingConfig:
    """``gtpipe:labeling`` with the label attribute, prices and budget: the functions' labeling section.
    Model reuse needs automated labeling (both backends; the builtin loop's settings: config_autolabel)."""
    labeling_raw = reader.mapping("labeling")
    reuse_model = bool_setting(labeling_raw, "labeling.reuseModel", False)
    auto_labeling = bool_setting(labeling_raw, "labeling.autoLabeling", reuse_model)
    if reuse_model and not auto_labeling:
        raise ConfigError(
            f"{PREFIX}labeling.reuseModel needs automated labeling: a reused model can only seed "
            f"automated labeling (LabelingJobAlgorithmsConfig); remove {PREFIX}labeling.autoLabeling "
            "false or set reuseModel false"
        )
    prices = _labeling_prices(reader.mapping("labelingPrices"), task_type)
    return build_section(
        LabelingConfig,
        "labeling",
        backend=backend,
        label_attribute=reader.pattern(
            "labelAttributeName", _LABEL_ATTRIBUTE, "category", "letters, digits and dashes"
        ),
        **_labeling_settings(labeling_raw, task_type, backend),
        **auto_labeling_settings(
            labeling_raw,
            backend,
            auto_labeling,
            lambda raw, setting: hyperparameter_overrides(raw, task_type, setting),
        ),
        auto_labeling=auto_labeling,
        reuse_model=reuse_model,
        prices=prices.as_dict(),
        budget_usd=reader.optional_number("labelingBudgetUsd", 0.0, 1e9),
    )


def _transform(get: Callable[[str], Any]) -> TransformConfig:
    """``gtpipe:transformInstanceType``: the batch transform runs on one instance."""
    return build_section(
        TransformConfig,
        "transformInstanceType",
        instance_type=instance_type_setting(
            {"transformInstanceType": get(PREFIX + "transformInstanceType")},
            "transformInstanceType",
            "ml.m5.xlarge",
        ),
        instance_count=1,
    )


def _check_config(config: StackConfig) -> None:
    """The checks across settings: source bucket names, notification addresses, AWS service limits."""
    for bucket in config.allowed_source_buckets:
        if not _BUCKET_NAME.match(bucket):
            raise ConfigError(f"{PREFIX}allowedSourceBuckets: {bucket!r} is not a valid S3 bucket name")
    for email in config.notification_emails:
        if not EMAIL.match(email):
            raise ConfigError(f"{PREFIX}notificationEmails: {email!r} is not an e-mail address")
    problems = service_limit_problems(config)
    if problems:
        raise ConfigError("; ".join(problems))


def _labeling_settings(raw: Mapping[str, Any], task_type: str, backend: LabelingBackend) -> dict[str, Any]:
    """The job settings of ``gtpipe:labeling`` (both backends; ``lease_seconds`` only for the builtin one,
    whose tasks are leased for the task time limit)."""
    task_time = int_setting(raw, "labeling.taskTimeLimitSeconds", 300, 30, 28800)
    defaults = LabelingConfig()
    return {
        "workers_per_object": int_setting(raw, "labeling.workersPerObject", 3, 1, 9),
        "task_time_limit_seconds": task_time,
        "task_availability_lifetime_seconds": int_setting(
            raw, "labeling.taskAvailabilityLifetimeSeconds", 864000, 60, 2592000
        ),
        "max_concurrent_task_count": int_setting(raw, "labeling.maxConcurrentTaskCount", 1000, 1, 5000),
        "task_title": str_setting(raw, "labeling.taskTitle", defaults.task_title),
        "task_description": str_setting(raw, "labeling.taskDescription", defaults.task_description),
        "task_keywords": ["images", "labeling"],
        "instructions": _instructions(raw, task_type),
        "min_labeled_share": share_setting(raw, "labeling.minLabeledShare", 0.9),
        **({"lease_seconds": task_time} if backend == "builtin" else {}),
        **({"hotkeys": hotkeys_setting(raw, backend)} if raw.get("hotkeys") is not None else {}),
        **builtin_cost_settings(raw, backend),
        **adaptive_redundancy_settings(raw, backend),
        **gold_settings(raw, backend),
        **review_settings(raw, backend),
    }


# The built-in image-classification and object-detection algorithms train on GPU instances only
# (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html#IC-instances). ml.g4dn.xlarge
# (one T4, DEFAULT_TRAINING_INSTANCE_TYPE) is the smallest and cheapest of them; a new account's training
# quota for it may still be 0: README "First deploy" says how to request it (Service Quotas).
def _training(reader: ContextReader, task_type: str) -> TrainingConfig:
    """``gtpipe:training`` and ``gtpipe:hyperparameters``."""
    raw = reader.mapping("training")
    return build_section(
        TrainingConfig,
        "training",
        instance_type=instance_type_setting(raw, "training.instanceType", DEFAULT_TRAINING_INSTANCE_TYPE),
        instance_count=int_setting(raw, "training.instanceCount", 1, 1, 20),
        volume_size_gb=int_setting(raw, "training.volumeSizeGb", 50, 1, 16384),
        max_runtime_seconds=int_setting(raw, "training.maxRuntimeSeconds", 86400, 60, 2419200),
        hyperparameters=_hyperparameters(reader.mapping("hyperparameters"), task_type),
    )


def _endpoint(raw: Mapping[str, Any]) -> EndpointConfig:
    """``gtpipe:endpoint`` (the name is the stack's, set by the pipeline construct)."""
    instance_count = int_setting(raw, "endpoint.instanceCount", 1, 1, 100)
    heartbeat = int_setting(raw, "endpoint.heartbeatSeconds", 1800, 10, 86400)
    return build_section(
        EndpointConfig,
        "endpoint",
        instance_type=instance_type_setting(raw, "endpoint.instanceType", "ml.m5.xlarge"),
        instance_count=instance_count,
        max_instance_count=int_setting(
            raw, "endpoint.maxInstanceCount", max(2, instance_count), instance_count, 100
        ),
        target_invocations_per_instance=int_setting(
            raw, "endpoint.targetInvocationsPerInstance", 1000, 1, 100000
        ),
        heartbeat_seconds=heartbeat,
        # The deployment's overall limit must leave room for at least one heartbeat interval.
        timeout_seconds=int_setting(raw, "endpoint.timeoutSeconds", max(7200, heartbeat), heartbeat, 604800),
        idle_minutes=idle_minutes_setting(raw),
    )


def _instructions(raw: Mapping[str, Any], task_type: str) -> str:
    """``labeling.instructions``: plain text shown by the builtin backend's web app."""
    value = raw.get("instructions")
    if value is None:
        return DEFAULT_INSTRUCTIONS[task_type]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{PREFIX}labeling.instructions must be a non-empty string; got {value!r}")
    if len(value) > MAX_INSTRUCTIONS_CHARS:
        raise ConfigError(
            f"{PREFIX}labeling.instructions must be at most {MAX_INSTRUCTIONS_CHARS} characters; "
            f"got {len(value)}"
        )
    return value.strip()


def _validate_categories(categories: list[str]) -> None:
    if not 1 <= len(categories) <= MAX_LABEL_CATEGORIES:
        raise ConfigError(
            f"{PREFIX}labelCategories must hold 1 to {MAX_LABEL_CATEGORIES} names; got {len(categories)}"
        )
    duplicates = sorted({name for name in categories if categories.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{PREFIX}labelCategories has duplicates: {', '.join(duplicates)}")
    too_long = [name for name in categories if len(name) > 256]
    if too_long:
        raise ConfigError(
            f"{PREFIX}labelCategories names must be at most 256 characters: {too_long[0][:40]}..."
        )
    too_big = class_list_problem(categories)
    if too_big:
        raise ConfigError(f"{PREFIX}labelCategories: {too_big}")


LABELING_PRICE_KEYS = frozenset({"perObjectUsd", "perAnswerUsd", "perMachineLabelUsd"})


def _labeling_prices(raw: Mapping[str, Any], task_type: str) -> LabelingPrices:
    """``gtpipe:labelingPrices`` with the pricing module's rules, plus: no unknown keys (a misspelled
    price would silently keep the default) and a per-answer price for the configured task type."""
    unknown = sorted(set(raw) - LABELING_PRICE_KEYS)
    if unknown:
        raise ConfigError(
            f"{PREFIX}labelingPrices has unknown keys {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(LABELING_PRICE_KEYS))}"
        )
    for name in ("perObjectUsd", "perMachineLabelUsd"):
        if name in raw and (isinstance(raw[name], bool) or not isinstance(raw[name], int | float)):
            raise ConfigError(f"{PREFIX}labelingPrices.{name} must be a number; got {raw[name]!r}")
    try:
        prices = LabelingPrices.from_mapping(raw)
        prices.answer_price(task_type)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}labelingPrices: {exc}") from None
    return prices


def _capture(raw: Mapping[str, Any]) -> CaptureConfig:
    """``gtpipe:capture``: ``enabled``, ``confidenceThreshold`` (0..1), ``samplePercent`` (0..100) and
    ``retentionDays`` (whole days, 1..3650); unknown keys are refused (a misspelling would silently keep
    the default)."""
    allowed = ("enabled", "confidenceThreshold", "samplePercent", "retentionDays")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{PREFIX}capture has unknown keys {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )
    defaults = CaptureConfig()
    return build_section(
        CaptureConfig,
        "capture",
        enabled=bool_setting(raw, "capture.enabled", defaults.enabled),
        confidence_threshold=share_setting(raw, "capture.confidenceThreshold", defaults.confidence_threshold),
        sample_percent=parse_number(raw["samplePercent"], f"{PREFIX}capture.samplePercent", 0.0, 100.0)
        if raw.get("samplePercent") is not None
        else defaults.sample_percent,
        retention_days=int_setting(raw, "capture.retentionDays", defaults.retention_days, 1, 3650),
    )


def _api_gateway_account_role(raw: Mapping[str, Any]) -> ApiGatewayAccountRole:
    unknown = sorted(set(raw) - {"accountRole"})
    if unknown:
        raise ConfigError(f"{PREFIX}apiGateway has unknown keys {', '.join(unknown)}; allowed: accountRole")
    role = raw.get("accountRole", "create")
    if role not in API_GATEWAY_ACCOUNT_ROLES:
        raise ConfigError(
            f"{PREFIX}apiGateway.accountRole must be one of {', '.join(API_GATEWAY_ACCOUNT_ROLES)}; got {role!r}"
        )
    return "create" if role == "create" else "existing"


def hyperparameter_overrides(raw: Mapping[str, Any], task_type: str, setting: str) -> dict[str, str]:
    """``raw`` (the ``setting`` key's mapping) as hyperparameters of the task type's algorithm, as strings;
    ConfigError naming a computed or unknown name, or a value that is not a string or number."""
    allowed = ALLOWED_HYPERPARAMETERS[task_spec(task_type).task_type]
    result: dict[str, str] = {}
    for name, value in raw.items():
        if name in COMPUTED_HYPERPARAMETERS:
            raise ConfigError(
                f"{PREFIX}{setting}.{name} is computed from the labeled data by the split step; remove it"
            )
        if name not in allowed:
            raise ConfigError(
                f"{PREFIX}{setting}.{name} is not a {task_type} hyperparameter; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        if isinstance(value, bool | dict | list) or value is None:
            raise ConfigError(f"{PREFIX}{setting}.{name} must be a string or number; got {value!r}")
        result[name] = str(value)
    return result


def _hyperparameters(raw: Mapping[str, Any], task_type: str) -> dict[str, str]:
    result = hyperparameter_overrides(raw, task_type, "hyperparameters")
    if task_type == TaskType.IMAGE_CLASSIFICATION:
        # A smaller, pretrained network and `resize` unless set (issue 14, finding 8; gtpipe_shared.aws_limits).
        result = image_classification_defaults(result)
    return result
