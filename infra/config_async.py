"""``gtpipe:asyncInference``: the asynchronous endpoint beside the real-time one (README "Asynchronous
predictions"; schema ``gtpipe_shared.async_inference.AsyncInferenceSettings``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gtpipe_shared.async_inference import (
    MAX_INVOCATION_TIMEOUT_SECONDS,
    AsyncInferenceSettings,
    async_endpoint_name,
)

from infra.config_reader import (
    PREFIX,
    ConfigError,
    bool_setting,
    build_section,
    instance_type_setting,
    int_setting,
)

if TYPE_CHECKING:  # infra.config imports this module
    from infra.config import StackConfig

ALLOWED_KEYS = (
    "enabled",
    "instanceType",
    "minInstances",
    "maxInstances",
    "maxConcurrentInvocationsPerInstance",
    "invocationTimeoutSeconds",
)


def read_async_inference(raw: Mapping[str, Any], stack: StackConfig) -> AsyncInferenceSettings:
    """``enabled`` (default false), ``instanceType`` (default the real-time endpoint's), ``minInstances``
    (0..100, default 0: scale to zero), ``maxInstances`` (1..100, at least ``minInstances``, default 1),
    ``maxConcurrentInvocationsPerInstance`` (1..1000, the API's bounds, default 4) and
    ``invocationTimeoutSeconds`` (1..3600, default 900: SageMaker's per-request limit and default,
    https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-invoke-endpoint.html); unknown keys are
    refused (a misspelling would silently keep the default)."""
    unknown = sorted(set(raw) - set(ALLOWED_KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}asyncInference has unknown keys {', '.join(unknown)}; allowed: {', '.join(ALLOWED_KEYS)}"
        )
    enabled = bool_setting(raw, "asyncInference.enabled", False)
    if enabled:
        try:
            async_endpoint_name(stack.endpoint_name)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}asyncInference: {exc}; use a shorter {PREFIX}stackPrefix") from exc
    min_instances = int_setting(raw, "asyncInference.minInstances", 0, 0, 100)
    return build_section(
        AsyncInferenceSettings,
        "asyncInference",
        enabled=enabled,
        instance_type=instance_type_setting(raw, "asyncInference.instanceType", stack.endpoint.instance_type),
        min_instances=min_instances,
        max_instances=int_setting(
            raw, "asyncInference.maxInstances", max(1, min_instances), max(1, min_instances), 100
        ),
        max_concurrent_invocations_per_instance=int_setting(
            raw, "asyncInference.maxConcurrentInvocationsPerInstance", 4, 1, 1000
        ),
        invocation_timeout_seconds=int_setting(
            raw, "asyncInference.invocationTimeoutSeconds", 900, 1, MAX_INVOCATION_TIMEOUT_SECONDS
        ),
    )
