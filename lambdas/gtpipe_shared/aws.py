"""Small boto3 helpers shared by the handlers (clients, SNS, error codes).

Clients are created once per execution environment (Lambda reuses it between invocations) and lazily,
so importing a handler never needs credentials. Tests call ``reset_clients()`` between cases.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="gtpipe")
SUBJECT_MAX = 100


@cache
def client(service: str) -> Any:
    """Cached boto3 client for ``service`` with standard retries."""
    return boto3.client(service, config=_CONFIG)


@cache
def table(name: str) -> Any:
    """Cached DynamoDB ``Table`` resource."""
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def reset_clients() -> None:
    """Forget cached clients (tests switch between mocks and stubs)."""
    client.cache_clear()
    table.cache_clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (empty string for other exceptions)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def subject_line(text: str) -> str:
    """An SNS subject: ASCII, one line, at most 100 characters (SNS rejects anything else)."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    one_line = re.sub(r"[\x00-\x1f\x7f]+", " ", ascii_text).strip() or "gtpipe notification"
    return one_line if len(one_line) <= SUBJECT_MAX else one_line[: SUBJECT_MAX - 3] + "..."


def publish(topic_arn: str, subject: str, message: dict[str, Any]) -> str:
    """Publish a JSON message; return the SNS message id."""
    response = client("sns").publish(
        TopicArn=topic_arn,
        Subject=subject_line(subject),
        Message=json.dumps(message, default=str, indent=2),
        MessageAttributes={
            "run_id": {"DataType": "String", "StringValue": str(message.get("run_id") or "-")},
            "status": {"DataType": "String", "StringValue": str(message.get("status") or "-")},
        },
    )
    return str(response.get("MessageId", ""))


def describe_endpoint(name: str) -> dict[str, Any] | None:
    """SageMaker DescribeEndpoint of ``name``, or None when the endpoint does not exist (SageMaker answers a
    ValidationException "Could not find endpoint ...")."""
    try:
        return dict(client("sagemaker").describe_endpoint(EndpointName=name))
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if error_code(exc) in ("ValidationException", "ValidationError") and "Could not find" in message:
            return None
        raise
