"""S3 buckets in moto, and CDK's ``Custom::S3BucketNotifications`` applied directly.

Bucket notifications: EventBridge only (queue, topic and Lambda notifications fail the deployment).
"""

from __future__ import annotations

from typing import Any

from ..cfn import ResourceState, TemplateError
from .context import Handler, StackContext, generated_name


def s3_bucket(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    s3 = ctx.clients("s3")
    name = props.get("BucketName") or generated_name(ctx.name, logical_id, 63, lowercase=True)
    kwargs: dict[str, Any] = {"Bucket": name}
    if ctx.environment.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.environment.region}
    s3.create_bucket(**kwargs)
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    encryption = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        rules = [
            {
                **{k: v for k, v in rule.items() if k != "ServerSideEncryptionByDefault"},
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
            }
            if "ServerSideEncryptionByDefault" in rule
            else rule
            for rule in encryption
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    notifications = props.get("NotificationConfiguration")
    if notifications:
        config: dict[str, Any] = {}
        eventbridge = notifications.get("EventBridgeConfiguration")
        if isinstance(eventbridge, dict) and eventbridge.get("EventBridgeEnabled", True):
            config["EventBridgeConfiguration"] = {}
        for key in ("QueueConfigurations", "TopicConfigurations", "LambdaConfigurations"):
            if notifications.get(key):
                raise TemplateError(f"{ctx.name}: {logical_id}: S3 {key} are not supported locally")
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    if props.get("Tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})
    env = ctx.environment
    return ResourceState(
        "AWS::S3::Bucket",
        name,
        {
            "Arn": f"arn:{env.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.{env.url_suffix}",
            "RegionalDomainName": f"{name}.s3.{env.region}.{env.url_suffix}",
            "DualStackDomainName": f"{name}.s3.dualstack.{env.region}.{env.url_suffix}",
            "WebsiteURL": f"http://{name}.s3-website-{env.region}.{env.url_suffix}",
        },
    )


def s3_bucket_notifications(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    config = dict(props.get("NotificationConfiguration") or {})
    unsupported = [
        key
        for key in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations")
        if config.get(key)
    ]
    if unsupported:
        raise TemplateError(
            f"{ctx.name}: {logical_id}: bucket notifications {unsupported} are not supported locally "
            "(EventBridge notifications are)"
        )
    ctx.clients("s3").put_bucket_notification_configuration(
        Bucket=props["BucketName"],
        NotificationConfiguration={k: v for k, v in config.items() if k == "EventBridgeConfiguration"},
    )
    return ResourceState("Custom::S3BucketNotifications", f"{props['BucketName']}-notifications")


HANDLERS: dict[str, Handler] = {
    "AWS::S3::Bucket": s3_bucket,
    "Custom::S3BucketNotifications": s3_bucket_notifications,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
