"""``AWS::DynamoDB::Table`` in moto (indexes, streams, encryption and time to live as the template sets them)."""

from __future__ import annotations

from typing import Any

from ..cfn import ResourceState
from .context import Handler, StackContext, generated_name


def dynamodb_table(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    dynamodb = ctx.clients("dynamodb")
    name = props.get("TableName") or generated_name(ctx.name, logical_id, 255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in (
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "TableClass",
        "DeletionProtectionEnabled",
    ):
        if key in props:
            kwargs[key] = props[key]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    sse = props.get("SSESpecification")
    if sse:
        kwargs["SSESpecification"] = {
            k: v
            for k, v in {
                "Enabled": sse.get("SSEEnabled", False),
                "SSEType": sse.get("SSEType"),
                "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
            }.items()
            if v is not None
        }
    table = dynamodb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    attributes = {"Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attributes["StreamArn"] = table["LatestStreamArn"]
    return ResourceState("AWS::DynamoDB::Table", name, attributes)


HANDLERS: dict[str, Handler] = {
    "AWS::DynamoDB::Table": dynamodb_table,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
