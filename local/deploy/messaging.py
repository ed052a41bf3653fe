"""SNS topics and subscriptions, SQS queues in moto."""

from __future__ import annotations

import json
from typing import Any

from ..cfn import ResourceState, property_text
from .context import Handler, StackContext, aws_arn, generated_name


def sns_topic(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    sns = ctx.clients("sns")
    name = props.get("TopicName") or generated_name(ctx.name, logical_id, 256)
    attributes = {
        key: str(props[key])
        for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
        if key in props
    }
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.get("Subscription", []):
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return ResourceState("AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


def sns_subscription(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    response = ctx.clients("sns").subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props.get("Endpoint", "")
    )
    return ResourceState("AWS::SNS::Subscription", response["SubscriptionArn"])


def sqs_queue(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    sqs = ctx.clients("sqs")
    fifo = bool(props.get("FifoQueue"))
    name = props.get("QueueName") or generated_name(ctx.name, logical_id, 75 if fifo else 80) + (
        ".fifo" if fifo else ""
    )
    attribute_names = (
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "FifoQueue",
        "ContentBasedDeduplication",
        "SqsManagedSseEnabled",
    )
    attributes = {key: property_text(props[key]) for key in attribute_names if key in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = aws_arn(ctx.environment, "sqs", name)
    return ResourceState("AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


HANDLERS: dict[str, Handler] = {
    "AWS::SNS::Topic": sns_topic,
    "AWS::SNS::Subscription": sns_subscription,
    "AWS::SQS::Queue": sqs_queue,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
