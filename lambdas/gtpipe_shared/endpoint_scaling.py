"""Application Auto Scaling of SageMaker endpoint variants: one home for the calls the endpoint function
(real-time and asynchronous endpoints) and the idle parker make.

A variant is a scalable target ``endpoint/<endpoint>/variant/<variant>`` on the dimension
``sagemaker:variant:DesiredInstanceCount``
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-register.html); deregistering
a target also removes its scaling policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from gtpipe_shared.aws import client, error_code

NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# A target that is already gone (or an endpoint being deleted) leaves nothing to deregister.
GONE = ("ObjectNotFoundException", "ValidationException")


def variant_resource_id(endpoint_name: str, variant_name: str) -> str:
    """Application Auto Scaling's id of an endpoint variant."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def deregister_target(resource_id: str, *, gone: tuple[str, ...] = GONE) -> None:
    """Deregister the target ``resource_id`` (and so its policies); error codes in ``gone`` mean there is none."""
    try:
        client("application-autoscaling").deregister_scalable_target(
            ServiceNamespace=NAMESPACE, ResourceId=resource_id, ScalableDimension=SCALABLE_DIMENSION
        )
    except ClientError as exc:
        if error_code(exc) not in gone:
            raise


def register_target_tracking(
    resource_id: str,
    *,
    min_capacity: int,
    max_capacity: int,
    policy_name: str,
    tracking: Mapping[str, Any],
) -> None:
    """Register ``resource_id`` between ``min_capacity`` and ``max_capacity`` instances with one
    target-tracking policy (``tracking``: its TargetTrackingScalingPolicyConfiguration)."""
    scaling = client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=min_capacity,
        MaxCapacity=max_capacity,
    )
    scaling.put_scaling_policy(
        PolicyName=policy_name,
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=dict(tracking),
    )
