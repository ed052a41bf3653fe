"""The IAM action, resource ARN and context derived from requests to the local endpoint (local/iam_requests.py)."""

from __future__ import annotations

import json

import pytest

from local.iam_policy import Request
from local.iam_requests import HttpRequest, Scope, derive, signing_scope
from local.iam_roles import DeployedIam

SCOPE = Scope("us-east-1", "123456789012")
ARN = "arn:aws:{}:us-east-1:123456789012:{}"


def json_call(target: str, body: dict[str, object]) -> HttpRequest:
    return HttpRequest("POST", "/", "", {"X-Amz-Target": target}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("service", "request_", "expected"),
    [
        (
            "s3",
            HttpRequest("GET", "/b/k%20x.json", "", {}),
            [Request("s3:GetObject", "arn:aws:s3:::b/k x.json")],
        ),
        (
            "s3",
            HttpRequest("HEAD", "/b/k", "versionId=1", {}),
            [Request("s3:GetObjectVersion", "arn:aws:s3:::b/k")],
        ),
        (
            "s3",
            HttpRequest("GET", "/b", "list-type=2&prefix=splits%2F", {}),
            [Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "splits/"})],
        ),
        (
            "s3",
            HttpRequest("PUT", "/b/new", "", {"x-amz-copy-source": "/src/old"}),
            [Request("s3:GetObject", "arn:aws:s3:::src/old"), Request("s3:PutObject", "arn:aws:s3:::b/new")],
        ),
        (
            "s3",
            HttpRequest("DELETE", "/b/k", "uploadId=9", {}),
            [Request("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")],
        ),
        (
            "dynamodb",
            json_call("DynamoDB_20120810.Query", {"TableName": "t", "IndexName": "i"}),
            [Request("dynamodb:Query", ARN.format("dynamodb", "table/t/index/i"))],
        ),
        (
            "dynamodb",
            json_call(
                "DynamoDB_20120810.TransactWriteItems",
                {"TransactItems": [{"Put": {"TableName": "a"}}, {"Update": {"TableName": "b"}}]},
            ),
            [
                Request("dynamodb:PutItem", ARN.format("dynamodb", "table/a")),
                Request("dynamodb:UpdateItem", ARN.format("dynamodb", "table/b")),
            ],
        ),
        (
            "sns",
            HttpRequest(
                "POST", "/", "", {}, b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At"
            ),
            [Request("sns:Publish", ARN.format("sns", "t"))],
        ),
        (
            "sqs",
            json_call("AmazonSQS.SendMessage", {"QueueUrl": "http://127.0.0.1/123456789012/q"}),
            [Request("sqs:SendMessage", ARN.format("sqs", "q"))],
        ),
        (
            "kms",
            json_call("TrentService.Decrypt", {"KeyId": "abc"}),
            [Request("kms:Decrypt", ARN.format("kms", "key/abc"))],
        ),
        (
            "logs",
            json_call("Logs_20140328.GetLogEvents", {"logGroupName": "/g", "logStreamName": "s"}),
            [Request("logs:GetLogEvents", ARN.format("logs", "log-group:/g:log-stream:s"))],
        ),
        (
            "events",
            json_call("AWSEvents.PutEvents", {"Entries": [{"Source": "x"}]}),
            [Request("events:PutEvents", ARN.format("events", "event-bus/default"))],
        ),
        (
            "sagemaker",
            HttpRequest("POST", "/endpoints/My-Endpoint/invocations", "", {}, b"1,2"),
            [Request("sagemaker:InvokeEndpoint", ARN.format("sagemaker", "endpoint/my-endpoint"))],
        ),
        (
            "sagemaker",
            HttpRequest("POST", "/endpoints/My-Endpoint-Async/async-invocations", "", {}, b""),
            [Request("sagemaker:InvokeEndpointAsync", ARN.format("sagemaker", "endpoint/my-endpoint-async"))],
        ),
        (
            "sagemaker",
            json_call("SageMaker.DescribeTrainingJob", {"TrainingJobName": "Run-1"}),
            [Request("sagemaker:DescribeTrainingJob", ARN.format("sagemaker", "training-job/run-1"))],
        ),
        (
            "lambda",
            HttpRequest("POST", "/2015-03-31/functions/fn/invocations", "", {}),
            [Request("lambda:InvokeFunction", ARN.format("lambda", "function:fn"))],
        ),
        (
            "monitoring",
            HttpRequest("POST", "/", "", {}, b"Action=PutMetricData&Namespace=gtpipe"),
            [Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "gtpipe"})],
        ),
    ],
)
def test_each_request_is_derived_into_what_iam_evaluates(
    service: str, request_: HttpRequest, expected: list[Request]
) -> None:
    derived = derive(service, request_, SCOPE)
    assert derived.requests == expected
    assert derived.resource_known


def test_an_operation_without_a_derived_resource_is_evaluated_against_star_and_flagged() -> None:
    # A scoped grant never allows a request whose resource the local cloud cannot name: it fails loudly.
    derived = derive("dynamodb", json_call("DynamoDB_20120810.ListTables", {}), SCOPE)
    assert derived.requests == [Request("dynamodb:ListTables", "*")]
    assert not derived.resource_known


def test_the_signing_scope_comes_from_the_header_or_a_presigned_query() -> None:
    header = "AWS4-HMAC-SHA256 Credential=ASIAX/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
    assert signing_scope(HttpRequest("GET", "/", "", {"Authorization": header})) == (
        "ASIAX",
        "us-east-1",
        "s3",
    )
    query = "X-Amz-Credential=ASIAY%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    assert signing_scope(HttpRequest("GET", "/", query, {})) == ("ASIAY", "us-east-1", "s3")
    assert signing_scope(HttpRequest("GET", "/", "", {})) is None


def test_eventbridge_may_invoke_a_function_only_with_a_permission_for_the_rule() -> None:
    iam = DeployedIam()
    function = ARN.format("lambda", "function:fn")
    rule = ARN.format("events", "rule/status")
    assert not iam.lambda_invoke_allowed(function, "events.amazonaws.com", rule)
    iam.record(
        "AWS::Lambda::Permission",
        "p",
        {},
        {
            "FunctionName": function,
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "SourceArn": rule,
        },
    )
    assert iam.lambda_invoke_allowed(function, "events.amazonaws.com", rule)
    assert not iam.lambda_invoke_allowed(function, "events.amazonaws.com", ARN.format("events", "rule/other"))
    assert not iam.lambda_invoke_allowed(function, "s3.amazonaws.com", rule)
