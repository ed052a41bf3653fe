"""The configuration the checks read: ``cdk.json``'s context, as synth types it, and the SageMaker
instance types it uses (also when synth would refuse it)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from gtpipe_cli.doctor.results import CheckResult
from gtpipe_cli.errors import CliError, Exit

if TYPE_CHECKING:
    from infra.config import StackConfig


CONFIG_DOCS: Final = "README.md, Configuration reference"


@dataclass(frozen=True)
class InstanceUse:
    """One configured SageMaker instance type, where it is configured, and the quota usage it needs."""

    role: Literal["training", "endpoint", "transform"]
    context_key: str
    instance_type: str
    count: int
    max_count: int

    @property
    def quota_name(self) -> str:
        """The Service Quotas name of its quota, e.g. ``ml.g4dn.xlarge for training job usage``."""
        usage = {"training": "training job", "endpoint": "endpoint", "transform": "transform job"}[self.role]
        return f"{self.instance_type} for {usage} usage"


def read_context(cdk_json: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``cdk.json``'s context with ``-c KEY=VALUE`` overrides, as the CDK CLI hands them to the app.

    Values stay strings as ``cdk -c`` passes them; the configuration reader parses JSON lists and objects.
    """
    try:
        context = dict(json.loads(cdk_json.read_text()).get("context", {}))
    except FileNotFoundError:
        raise CliError(
            f"{cdk_json} not found: run gtpipe doctor in the gtpipe checkout or pass --cdk-json",
            Exit.INPUT_MISSING,
        ) from None
    except (OSError, ValueError, AttributeError) as error:
        raise CliError(f"cannot read the context of {cdk_json}: {error}", Exit.INPUT_MISSING) from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"-c {item!r}: expected KEY=VALUE, e.g. -c gtpipe:apiAuth=iam", Exit.USAGE)
        context[key] = value
    return context


def load_config(context: Mapping[str, Any]) -> tuple[StackConfig | None, CheckResult]:
    """The typed configuration as synth builds it, and the ``configuration`` result (FAIL: what synth says)."""
    from infra.config import ConfigError, StackConfig

    try:
        config = StackConfig.from_context(context.get)
    except ConfigError as error:
        return None, CheckResult(
            "FAIL",
            "configuration",
            f"cdk synth would stop: {error}",
            "correct the value in cdk.json or the -c option",
            CONFIG_DOCS,
        )
    return config, CheckResult(
        "OK",
        "configuration",
        f"{config.task_type}, labeling backend {config.labeling_backend}, stacks {config.stack_prefix}Data/"
        f"{config.stack_prefix}Pipeline",
    )


def instance_uses(config: StackConfig) -> list[InstanceUse]:
    """The instance types the configuration runs SageMaker jobs and the endpoint on."""
    return [
        InstanceUse(
            "training",
            "gtpipe:training.instanceType",
            config.training.instance_type,
            config.training.instance_count,
            config.training.instance_count,
        ),
        InstanceUse(
            "endpoint",
            "gtpipe:endpoint.instanceType",
            config.endpoint.instance_type,
            config.endpoint.instance_count,
            config.endpoint.max_instance_count or config.endpoint.instance_count,
        ),
        InstanceUse("transform", "gtpipe:transformInstanceType", config.transform_instance_type, 1, 1),
    ]


def raw_instance_uses(context: Mapping[str, Any]) -> list[InstanceUse]:
    """The instance types named by the context, for a configuration synth refuses (the storage and quota
    checks still apply to them); defaults are the typed configuration's."""
    from gtpipe_shared.config import EndpointConfig, TrainingConfig, TransformConfig

    def section(key: str) -> Mapping[str, Any]:
        value = context.get(f"gtpipe:{key}")
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                return {}
        return value if isinstance(value, Mapping) else {}

    def number(value: Any, default: int) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            return default

    training, endpoint = section("training"), section("endpoint")
    transform = context.get("gtpipe:transformInstanceType")
    train_count = number(training.get("instanceCount", TrainingConfig().instance_count), 1)
    endpoint_count = number(endpoint.get("instanceCount", EndpointConfig().instance_count), 1)
    return [
        InstanceUse(
            "training",
            "gtpipe:training.instanceType",
            str(training.get("instanceType") or TrainingConfig().instance_type),
            train_count,
            train_count,
        ),
        InstanceUse(
            "endpoint",
            "gtpipe:endpoint.instanceType",
            str(endpoint.get("instanceType") or EndpointConfig().instance_type),
            endpoint_count,
            number(endpoint.get("maxInstanceCount", max(2, endpoint_count)), endpoint_count),
        ),
        InstanceUse(
            "transform",
            "gtpipe:transformInstanceType",
            str(transform or TransformConfig().instance_type),
            1,
            1,
        ),
    ]


def raw_layer_version(context: Mapping[str, Any]) -> int:
    """The context's Powertools layer version, or the typed default when it is unset or not a number."""
    from infra.config import StackConfig

    try:
        return int(context.get("gtpipe:powertoolsLayerVersion") or StackConfig.powertools_layer_version)
    except (TypeError, ValueError):
        return StackConfig.powertools_layer_version
