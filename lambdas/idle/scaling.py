"""The endpoint's auto scaling across a park and a wake.

A run's VerifyEndpoint registers each variant as an Application Auto Scaling target with a target-tracking
policy (lambdas/endpoint). Deleting an endpoint deregisters its scalable targets, which needs
``application-autoscaling:DeregisterScalableTarget`` from the caller
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-delete-with-scaling.html), and a re-created endpoint
has none. So the parker saves the targets and their policies (:func:`saved_scaling`, kept in ``@serving`` as
``idle_scaling``, JSON), deregisters them before DeleteEndpoint (:func:`deregister`), and once the woken endpoint
serves again registers them anew (:func:`restore`, on its next check).
"""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared.aws import client
from gtpipe_shared.endpoint_scaling import (
    NAMESPACE,
    SCALABLE_DIMENSION,
    deregister_target,
    variant_resource_id,
)

# What a policy needs to be put again (DescribeScalingPolicies answers more: ARNs, alarms, times).
POLICY_KEYS = (
    "PolicyName",
    "PolicyType",
    "TargetTrackingScalingPolicyConfiguration",
    "StepScalingPolicyConfiguration",
)


def saved_scaling(endpoint_name: str, variant_names: list[str]) -> str | None:
    """The variants' scalable targets (min, max) and policies as JSON; None when none is registered."""
    scaling = client("application-autoscaling")
    ids = [variant_resource_id(endpoint_name, variant) for variant in variant_names]
    targets = scaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=ids, ScalableDimension=SCALABLE_DIMENSION
    ).get("ScalableTargets", [])
    saved = []
    for target in targets:
        policies = scaling.describe_scaling_policies(
            ServiceNamespace=NAMESPACE, ResourceId=target["ResourceId"], ScalableDimension=SCALABLE_DIMENSION
        ).get("ScalingPolicies", [])
        saved.append(
            {
                "ResourceId": target["ResourceId"],
                "MinCapacity": target["MinCapacity"],
                "MaxCapacity": target["MaxCapacity"],
                "Policies": [{k: p[k] for k in POLICY_KEYS if k in p} for p in policies],
            }
        )
    return json.dumps(saved, default=str) if saved else None


def deregister(saved: str | None) -> None:
    """Deregister the saved targets (their policies go with them) before the endpoint is deleted."""
    for target in json.loads(saved or "[]"):
        deregister_target(target["ResourceId"], gone=("ObjectNotFoundException",))


def restore(saved: str) -> list[str]:
    """Register the saved targets and put their policies again; the resource ids restored."""
    scaling = client("application-autoscaling")
    restored = []
    for target in json.loads(saved):
        scaling.register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=target["ResourceId"],
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=int(target["MinCapacity"]),
            MaxCapacity=int(target["MaxCapacity"]),
        )
        for policy in target["Policies"]:
            scaling.put_scaling_policy(
                ServiceNamespace=NAMESPACE,
                ResourceId=target["ResourceId"],
                ScalableDimension=SCALABLE_DIMENSION,
                **policy,
            )
        restored.append(str(target["ResourceId"]))
    return restored


def restore_request(endpoint: dict[str, Any], record: dict[str, Any]) -> str | None:
    """The saved scaling to restore now: the record serves again (woken) on the endpoint, which is InService on
    the record's config; None otherwise."""
    saved = record.get("idle_scaling")
    if not isinstance(saved, str) or record.get("idle_state") != "serving":
        return None
    if endpoint.get("EndpointStatus") != "InService":
        return None
    return saved if endpoint.get("EndpointConfigName") == record.get("endpoint_config_name") else None
