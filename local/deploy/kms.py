"""``AWS::KMS::Key`` and ``AWS::KMS::Alias`` in moto (key policy and rotation as the template sets them)."""

from __future__ import annotations

import json
from typing import Any

from ..cfn import ResourceState
from .context import Handler, StackContext


def kms_key(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    kms = ctx.clients("kms")
    kwargs: dict[str, Any] = {
        "Description": props.get("Description", ""),
        "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
    }
    if "KeyPolicy" in props:
        policy = props["KeyPolicy"]
        kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    metadata = kms.create_key(**kwargs)["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return ResourceState(
        "AWS::KMS::Key", metadata["KeyId"], {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]}
    )


def kms_alias(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    ctx.clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return ResourceState("AWS::KMS::Alias", props["AliasName"])


HANDLERS: dict[str, Handler] = {
    "AWS::KMS::Key": kms_key,
    "AWS::KMS::Alias": kms_alias,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
