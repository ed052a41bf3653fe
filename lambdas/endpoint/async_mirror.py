"""The asynchronous endpoint follows the real-time one (``gtpipe_shared.async_inference``; README "Asynchronous
predictions").

Why here and not in the state machine: an endpoint is real-time or asynchronous by its endpoint config, so
the async endpoint is a second endpoint; it must serve whatever model the real-time endpoint serves, including
after a blue/green rollback the run never deploys. The real-time endpoint's InService event (EventBridge,
the endpoint rule this function already receives) says exactly that: :func:`mirror` reads the served
config's model and, when the async endpoint serves another one, creates its async config (one per model:
:func:`gtpipe_shared.async_inference.async_config_name`) and creates or updates the async endpoint. A failure
here never fails a run; the call raises, and Lambda retries the event (asynchronous invocation: twice).

The async endpoint's own InService event registers its variant with Application Auto Scaling between
``min_instances`` (0 allowed) and ``max_instances``, target tracking on ``ApproximateBacklogSizePerInstance``
as AWS documents for asynchronous endpoints
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html): from zero the endpoint
scales out once the backlog exceeds the target (``max_concurrent_invocations_per_instance``, what one instance
works on at once).
"""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared.async_inference import (
    ASYNC_VARIANT,
    AsyncInferenceSettings,
    async_config_name,
    async_endpoint_config_request,
)
from gtpipe_shared.aws import client
from gtpipe_shared.aws import describe_endpoint as _describe
from gtpipe_shared.config import require_env
from gtpipe_shared.endpoint_scaling import deregister_target, register_target_tracking, variant_resource_id
from gtpipe_shared.events import SageMakerStateChange

BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# After a scale-out, wait before judging the backlog again; scale in slowly (AWS's example values).
SCALE_OUT_COOLDOWN, SCALE_IN_COOLDOWN = 300, 600


class AsyncEndpointBusy(Exception):
    """The async endpoint is changing; the event is retried (Lambda's asynchronous retries)."""


def settings() -> AsyncInferenceSettings | None:
    """The ``ASYNC_CONFIG`` settings when the stack has the async endpoint, else None."""
    raw = os.environ.get("ASYNC_CONFIG", "").strip()
    if not raw:
        return None
    parsed = AsyncInferenceSettings.model_validate_json(raw)
    return parsed if parsed.enabled else None


def on_event(change: SageMakerStateChange) -> dict[str, Any] | None:
    """Mirror or scale on an InService event of either endpoint; None when there is nothing to do."""
    config = settings()
    if config is None or change.kind != "endpoint" or change.status != "InService":
        return None
    async_name = require_env("ASYNC_ENDPOINT_NAME")
    if change.name == async_name:
        return register_scaling(async_name, config)
    if change.name == require_env("ENDPOINT_NAME"):
        return mirror(change.name, async_name, config)
    return None


def served_model(endpoint_name: str) -> str | None:
    """The model the real-time endpoint serves now (its served config's first variant), None when not InService."""
    endpoint = _describe(endpoint_name)
    if endpoint is None or endpoint.get("EndpointStatus") != "InService":
        return None
    config = client("sagemaker").describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variants = config.get("ProductionVariants") or []
    return str(variants[0]["ModelName"]) if variants else None


def mirror(realtime: str, async_name: str, config: AsyncInferenceSettings) -> dict[str, Any]:
    """Make the async endpoint serve the real-time endpoint's model (module docstring)."""
    model = served_model(realtime)
    if model is None:
        return {"async_endpoint": async_name, "action": "none", "reason": f"{realtime} is not InService"}
    config_name = async_config_name(async_name, model)
    current = _describe(async_name)
    if current is not None and current.get("EndpointConfigName") == config_name:
        return {"async_endpoint": async_name, "action": "none", "reason": f"already serves {model}"}
    if current is not None and current.get("EndpointStatus") in BUSY:
        raise AsyncEndpointBusy(f"{async_name} is {current.get('EndpointStatus')}; retrying")
    sagemaker = client("sagemaker")
    request = async_endpoint_config_request(
        config_name=config_name,
        model_name=model,
        bucket=require_env("DATA_BUCKET"),
        kms_key_id=require_env("DATA_KEY_ARN"),
        success_topic=require_env("ASYNC_SUCCESS_TOPIC"),
        error_topic=require_env("ASYNC_ERROR_TOPIC"),
        settings=config,
    )
    try:
        sagemaker.create_endpoint_config(**request)
    except ClientError as exc:
        # A retried event: the config of this model exists already (configs are immutable, one per model).
        if "already existing" not in str(exc.response.get("Error", {}).get("Message", "")):
            raise
    if current is None:
        sagemaker.create_endpoint(EndpointName=async_name, EndpointConfigName=config_name)
        action = "create"
    else:
        _deregister(async_name)
        sagemaker.update_endpoint(EndpointName=async_name, EndpointConfigName=config_name)
        action = "update"
    return {
        "async_endpoint": async_name,
        "action": action,
        "endpoint_config_name": config_name,
        "model": model,
    }


def _deregister(async_name: str) -> None:
    # As for the real-time endpoint: an update must not race the scaling target; InService registers it again.
    deregister_target(variant_resource_id(async_name, ASYNC_VARIANT))


def register_scaling(async_name: str, config: AsyncInferenceSettings) -> dict[str, Any]:
    """Scale the async variant between min and max instances on its backlog per instance."""
    register_target_tracking(
        variant_resource_id(async_name, ASYNC_VARIANT),
        min_capacity=config.min_instances,
        max_capacity=config.max_instances,
        policy_name=f"{async_name}-backlog",
        tracking={
            "TargetValue": float(config.max_concurrent_invocations_per_instance),
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": async_name}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": SCALE_IN_COOLDOWN,
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN,
        },
    )
    return {
        "async_endpoint": async_name,
        "action": "scaling",
        "min_instances": config.min_instances,
        "max_instances": config.max_instances,
    }
