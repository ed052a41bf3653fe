"""InvokeEndpointAsync through boto3 on the local SageMaker: an endpoint config with AsyncInferenceConfig (the
project's own request, gtpipe_shared.async_inference), queued inference, output object, SNS notifications,
the failure path, and what AWS refuses."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from gtpipe_shared.async_inference import AsyncInferenceSettings, async_endpoint_config_request

from .conftest import ACCOUNT, BUCKET, REGION, Cloud, create_model, endpoint_config

ASYNC = "gtpipe-endpoint-async"


def topics_with_queue(api: Cloud) -> tuple[str, str, Any, str]:
    """A success and an error topic, both delivering to one SQS queue."""
    sns, sqs = api.client("sns"), api.client("sqs")
    success = sns.create_topic(Name="async-success")["TopicArn"]
    error = sns.create_topic(Name="async-error")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="async-results")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for topic in (success, error):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return success, error, sqs, queue_url


def async_endpoint(api: Cloud, model_tar: Any, success: str, error: str) -> None:
    create_model(api, "digits-model", model_tar)
    request = async_endpoint_config_request(
        config_name="async-epc",
        model_name="digits-model",
        bucket=BUCKET,
        kms_key_id=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        success_topic=success,
        error_topic=error,
        settings=AsyncInferenceSettings(enabled=True, max_concurrent_invocations_per_instance=2),
    )
    api.client("sagemaker").create_endpoint_config(**request)
    api.client("sagemaker").create_endpoint(EndpointName=ASYNC, EndpointConfigName="async-epc")
    assert api.backend.wait_for_endpoint(ASYNC)["EndpointStatus"] == "InService"


def wait_for_message(sqs: Any, queue_url: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1).get("Messages", [])
        if messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
            envelope = json.loads(messages[0]["Body"])
            return {"topic": envelope["TopicArn"], "message": json.loads(envelope["Message"])}
        time.sleep(0.1)
    raise AssertionError("no notification arrived")


def test_a_queued_request_writes_its_answer_and_notifies_success(api: Cloud, model_tar, digits) -> None:
    # Given an asynchronous endpoint and an image in S3
    success, error, sqs, queue_url = topics_with_queue(api)
    async_endpoint(api, model_tar, success, error)
    image_uri = api.put("uploads/digit.png", digits[180].path.read_bytes())
    # When it is invoked asynchronously with an inference id
    answer = api.client("sagemaker-runtime").invoke_endpoint_async(
        EndpointName=ASYNC,
        InputLocation=image_uri,
        ContentType="application/x-image",
        Accept="application/json",
        InferenceId="my-id-1",
    )
    # Then the call answers at once with where the result will be, under the config's output path
    assert answer["InferenceId"] == "my-id-1"
    assert answer["OutputLocation"].startswith(f"s3://{BUCKET}/async/output/")
    assert answer["FailureLocation"].startswith(f"s3://{BUCKET}/async/failure/")
    # And the success topic is notified once the model answered, and the answer is at OutputLocation
    note = wait_for_message(sqs, queue_url)
    assert note["topic"] == success
    assert note["message"]["invocationStatus"] == "Completed" and note["message"]["inferenceId"] == "my-id-1"
    assert note["message"]["responseParameters"]["outputLocation"] == answer["OutputLocation"]
    probabilities = json.loads(api.read(answer["OutputLocation"]))
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1.0) < 1e-3
    # And the output is encrypted with the output config's key
    bucket, _, key = answer["OutputLocation"][len("s3://") :].partition("/")
    assert api.s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "aws:kms"


def test_a_missing_input_fails_to_the_failure_path_and_error_topic(api: Cloud, model_tar) -> None:
    # Given an asynchronous endpoint
    success, error, sqs, queue_url = topics_with_queue(api)
    async_endpoint(api, model_tar, success, error)
    # When the input object does not exist
    answer = api.client("sagemaker-runtime").invoke_endpoint_async(
        EndpointName=ASYNC,
        InputLocation=f"s3://{BUCKET}/uploads/never-uploaded",
        ContentType="application/x-image",
    )
    # Then the error topic is notified and the failure is written, no output
    note = wait_for_message(sqs, queue_url)
    assert note["topic"] == error and note["message"]["invocationStatus"] == "Failed"
    assert b"could not read" in api.read(answer["FailureLocation"])
    with pytest.raises(ClientError):
        api.read(answer["OutputLocation"])


def test_what_aws_refuses_is_refused(api: Cloud, model_tar) -> None:
    runtime = api.client("sagemaker-runtime")
    # Given a real-time endpoint (no AsyncInferenceConfig)
    create_model(api, "rt-model", model_tar)
    endpoint_config(api, "rt-epc", "rt-model")
    api.client("sagemaker").create_endpoint(EndpointName="realtime", EndpointConfigName="rt-epc")
    api.backend.wait_for_endpoint("realtime")
    # When it is invoked asynchronously / Then the runtime refuses it
    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint_async(EndpointName="realtime", InputLocation=f"s3://{BUCKET}/x")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "AsyncInferenceConfig" in refused.value.response["Error"]["Message"]
    # And an unknown endpoint, or a request without InputLocation or Body, is refused too
    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint_async(EndpointName="nope", InputLocation=f"s3://{BUCKET}/x")
    assert unknown.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as empty:
        runtime.invoke_endpoint_async(EndpointName="realtime")
    assert "InputLocation" in empty.value.response["Error"]["Message"]


def test_an_async_config_breaking_the_api_limits_is_refused(api: Cloud, model_tar) -> None:
    # Given the project's request with 1001 concurrent invocations per instance (the API allows 1..1000)
    create_model(api, "m", model_tar)
    request = async_endpoint_config_request(
        config_name="too-many",
        model_name="m",
        bucket=BUCKET,
        kms_key_id="alias/x",
        success_topic=f"arn:aws:sns:{REGION}:{ACCOUNT}:s",
        error_topic=f"arn:aws:sns:{REGION}:{ACCOUNT}:e",
        settings=AsyncInferenceSettings(enabled=True),
    )
    request["AsyncInferenceConfig"]["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] = 1001
    # When it is sent / Then SageMaker (the local one) refuses it with the API's message
    with pytest.raises(ClientError) as refused:
        api.client("sagemaker").create_endpoint_config(**request)
    assert "less than or equal to 1000" in refused.value.response["Error"]["Message"]
    # And a topic that is not an SNS ARN is refused too
    request["AsyncInferenceConfig"]["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] = 4
    request["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"]["SuccessTopic"] = "my-topic"
    with pytest.raises(ClientError):
        api.client("sagemaker").create_endpoint_config(**request)
    # And the output config is required by botocore's model before anything is sent
    del request["AsyncInferenceConfig"]["OutputConfig"]
    with pytest.raises(ParamValidationError):
        api.client("sagemaker").create_endpoint_config(**request)
