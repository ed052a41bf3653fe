"""The ``PIPELINE_CONFIG`` environment variable (JSON) as a typed, validated model.

Its shape is the execution input's ``config`` block (docs/design.md) plus settings only ``start_run``
uses: ``label_categories`` (class names, in class-id order; deployed stacks bundle them with start_run's code
instead, see :func:`load_pipeline_config`), ``allowed_source_buckets``,
``max_manifest_bytes``, ``max_manifest_lines`` and ``max_line_bytes``. Unknown keys are kept and passed
through to the execution input, so the infrastructure can add settings without a Lambda change.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gtpipe_shared.aws_limits import class_list_problem
from gtpipe_shared.manifest import TASK_TYPES
from gtpipe_shared.pricing import LabelingPrices

# Keys only start_run needs; they are not part of the execution input's config block.
START_RUN_ONLY_KEYS = ("allowed_source_buckets", "max_manifest_bytes", "max_manifest_lines", "max_line_bytes")


class ConfigError(ValueError):
    """``PIPELINE_CONFIG`` is missing or invalid; the message names the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class LabelingConfig(_Section):
    """Ground Truth labeling job settings (``config.labeling``)."""

    label_attribute: str = Field(default="category", min_length=1, max_length=127)
    label_categories_uri: str | None = None
    ui_template_uri: str | None = None
    output_path: str | None = None
    workteam_arn: str | None = None
    pre_human_task_lambda_arn: str | None = None
    annotation_consolidation_lambda_arn: str | None = None
    workers_per_object: int = Field(default=1, ge=1, le=9)
    task_time_limit_seconds: int = Field(default=300, ge=30, le=28800)
    task_availability_lifetime_seconds: int = Field(default=864000, ge=60, le=3_456_000)
    max_concurrent_task_count: int = Field(default=100, ge=1, le=5000)
    task_title: str = "Label the image"
    task_description: str = "Choose the label that best describes the image"
    task_keywords: list[str] = Field(default_factory=lambda: ["images"])
    auto_labeling: bool = False
    algorithm_specification_arn: str | None = None
    # Model reuse: start_run fills the two fields below from the runs ledger when reuse_model is on.
    reuse_model: bool = False
    initial_active_learning_model_arn: str | None = None
    initial_model_source_run_id: str | None = None
    # Cost guard: prices ({per_object_usd, per_answer_usd: {task: usd}, per_machine_label_usd}) and the
    # budget (None: no limit) come from the stack; start_run records its estimate in estimated_cost_usd.
    prices: dict[str, Any] = Field(default_factory=lambda: LabelingPrices().as_dict())
    budget_usd: float | None = Field(default=None, ge=0)
    estimated_cost_usd: float | None = None
    fingerprint: str | None = None

    @field_validator("label_attribute")
    @classmethod
    def _attribute_name(cls, value: str) -> str:
        # Ground Truth rejects names ending in "-metadata"; "source"/"source-ref" clash with the image key.
        if value.endswith("-metadata") or value in ("source", "source-ref"):
            raise ValueError("must not be 'source', 'source-ref' or end with '-metadata'")
        return value

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


class TrainingConfig(_Section):
    """Training job settings (``config.training``); hyperparameter values become strings."""

    image: str | None = None
    instance_type: str = "ml.p3.2xlarge"
    instance_count: int = Field(default=1, ge=1)
    volume_size_gb: int = Field(default=50, ge=1)
    max_runtime_seconds: int = Field(default=86400, ge=1)
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
    """Real-time endpoint settings (``config.endpoint``)."""

    name: str = Field(default="gtpipe-endpoint", pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(default=1, ge=1)
    variant_name: str = "AllTraffic"


class SplitConfig(_Section):
    """Train/validation split settings (``config.split``); seed None derives it from the run id."""

    validation_ratio: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class PipelineConfig(_Section):
    """The whole ``PIPELINE_CONFIG``."""

    task_type: Literal["image-classification", "object-detection"] = "image-classification"
    data_bucket: str | None = None
    label_categories: list[str] = Field(min_length=1, max_length=1000)
    labeling: LabelingConfig = Field(default_factory=LabelingConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    transform: TransformConfig = Field(default_factory=TransformConfig)
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    quality_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    allowed_source_buckets: list[str] = Field(default_factory=list)
    max_manifest_bytes: int = Field(default=2 * 1024**3, ge=1)
    max_manifest_lines: int = Field(default=1_000_000, ge=1)
    max_line_bytes: int = Field(default=100_000, ge=64)

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
        if self.task_type == "image-classification" and len(self.label_categories) < 2:
            raise ValueError("image-classification needs at least 2 label_categories")
        return self

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
    if config.task_type not in TASK_TYPES:  # pragma: no cover - Literal already guarantees it
        raise ConfigError(f"PIPELINE_CONFIG invalid: unknown task_type {config.task_type}")
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
