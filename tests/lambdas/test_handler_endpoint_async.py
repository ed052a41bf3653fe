"""endpoint: the asynchronous endpoint follows the real-time one (endpoint/async_mirror.py). The stubbed clients
validate every request against botocore's models, so the CreateEndpointConfig with AsyncInferenceConfig that
the function sends is checked as boto3 checks it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from endpoint import handler
from gtpipe_shared.async_inference import AsyncInferenceSettings, async_config_name
from gtpipe_shared.aws import client

from tests.lambdas.conftest import ACCOUNT, DATA_BUCKET, REGION, Cloud, FakeContext, load_event

ENDPOINT = "gtpipe-endpoint"
ASYNC = "gtpipe-endpoint-async"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
SUCCESS = f"arn:aws:sns:{REGION}:{ACCOUNT}:async-success"
ERROR = f"arn:aws:sns:{REGION}:{ACCOUNT}:async-error"
MODEL = "demo-0123456789abcdef-model"


@pytest.fixture
def async_enabled(monkeypatch: pytest.MonkeyPatch) -> AsyncInferenceSettings:
    settings = AsyncInferenceSettings(enabled=True, min_instances=0, max_instances=3)
    for name, value in {
        "ASYNC_CONFIG": settings.model_dump_json(),
        "ASYNC_ENDPOINT_NAME": ASYNC,
        "ASYNC_SUCCESS_TOPIC": SUCCESS,
        "ASYNC_ERROR_TOPIC": ERROR,
        "DATA_KEY_ARN": KEY,
    }.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def stubs(cloud: Cloud) -> Iterator[tuple[Stubber, Stubber]]:
    sagemaker, scaling = Stubber(client("sagemaker")), Stubber(client("application-autoscaling"))
    with sagemaker, scaling:
        yield sagemaker, scaling
        sagemaker.assert_no_pending_responses()
        scaling.assert_no_pending_responses()


def described(name: str, config: str, status: str = "InService") -> dict[str, Any]:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    return {
        "EndpointName": name,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }


def realtime_serves(sagemaker: Stubber, model: str = MODEL) -> None:
    sagemaker.add_response("describe_endpoint", described(ENDPOINT, "demo-epc-0"), {"EndpointName": ENDPOINT})
    sagemaker.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "demo-epc-0",
            "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/demo-epc-0",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model}],
            "CreationTime": datetime(2026, 11, 23, tzinfo=UTC),
        },
        {"EndpointConfigName": "demo-epc-0"},
    )


def event_for(name: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("sagemaker_endpoint_in_service.json"))
    event["detail"]["EndpointName"] = name
    event["detail"]["EndpointArn"] = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
    return event


def test_realtime_in_service_creates_the_async_endpoint_on_the_same_model(
    cloud: Cloud,
    stubs: tuple[Stubber, Stubber],
    async_enabled: AsyncInferenceSettings,
    context: FakeContext,
) -> None:
    sagemaker, _ = stubs
    config_name = async_config_name(ASYNC, MODEL)
    # Given the real-time endpoint serving MODEL and no async endpoint yet
    realtime_serves(sagemaker)
    sagemaker.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ASYNC}".',
        expected_params={"EndpointName": ASYNC},
    )
    # Then the async config names the same model, writes under async/ of the data bucket with the data key,
    # notifies both topics (Stubber validates it against botocore's CreateEndpointConfig model)
    sagemaker.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{config_name}"},
        {
            "EndpointConfigName": config_name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": MODEL,
                    "InstanceType": "ml.m5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
            "KmsKeyId": KEY,
            "AsyncInferenceConfig": {
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
                "OutputConfig": {
                    "KmsKeyId": KEY,
                    "S3OutputPath": f"s3://{DATA_BUCKET}/async/output/",
                    "S3FailurePath": f"s3://{DATA_BUCKET}/async/failure/",
                    "NotificationConfig": {"SuccessTopic": SUCCESS, "ErrorTopic": ERROR},
                },
            },
        },
    )
    sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ASYNC}"},
        {"EndpointName": ASYNC, "EndpointConfigName": config_name},
    )
    # When the real-time endpoint's InService event arrives
    answer = handler.lambda_handler(event_for(ENDPOINT), context)
    # Then the async endpoint was created (the event itself had no deployment token to answer)
    assert answer["async"]["action"] == "create" and answer["async"]["model"] == MODEL


def test_an_async_endpoint_on_the_same_model_is_left_alone(
    cloud: Cloud,
    stubs: tuple[Stubber, Stubber],
    async_enabled: AsyncInferenceSettings,
    context: FakeContext,
) -> None:
    sagemaker, _ = stubs
    realtime_serves(sagemaker)
    sagemaker.add_response(
        "describe_endpoint", described(ASYNC, async_config_name(ASYNC, MODEL)), {"EndpointName": ASYNC}
    )
    answer = handler.lambda_handler(event_for(ENDPOINT), context)
    assert answer["async"]["action"] == "none"


def test_a_busy_async_endpoint_makes_the_event_retry(
    cloud: Cloud,
    stubs: tuple[Stubber, Stubber],
    async_enabled: AsyncInferenceSettings,
    context: FakeContext,
) -> None:
    sagemaker, _ = stubs
    realtime_serves(sagemaker, "newer-model")
    sagemaker.add_response(
        "describe_endpoint", described(ASYNC, "older", status="Updating"), {"EndpointName": ASYNC}
    )
    with pytest.raises(Exception, match="retrying"):
        handler.lambda_handler(event_for(ENDPOINT), context)


def test_async_in_service_scales_it_between_zero_and_max_on_its_backlog(
    cloud: Cloud,
    stubs: tuple[Stubber, Stubber],
    async_enabled: AsyncInferenceSettings,
    context: FakeContext,
) -> None:
    _, scaling = stubs
    resource = f"endpoint/{ASYNC}/variant/AllTraffic"
    scaling.add_response(
        "register_scalable_target",
        {},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource,
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 0,
            "MaxCapacity": 3,
        },
    )
    scaling.add_response(
        "put_scaling_policy",
        {"PolicyARN": "arn:aws:autoscaling:policy", "Alarms": []},
        {
            "PolicyName": f"{ASYNC}-backlog",
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource,
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 4.0,
                "CustomizedMetricSpecification": {
                    "MetricName": "ApproximateBacklogSizePerInstance",
                    "Namespace": "AWS/SageMaker",
                    "Dimensions": [{"Name": "EndpointName", "Value": ASYNC}],
                    "Statistic": "Average",
                },
                "ScaleInCooldown": 600,
                "ScaleOutCooldown": 300,
            },
        },
    )
    answer = handler.lambda_handler(event_for(ASYNC), context)
    assert answer["async"] == {
        "async_endpoint": ASYNC,
        "action": "scaling",
        "min_instances": 0,
        "max_instances": 3,
    }


def test_without_async_inference_the_event_only_answers_the_token(
    cloud: Cloud, stubs: tuple[Stubber, Stubber], context: FakeContext
) -> None:
    # Given no ASYNC_CONFIG (the default stack) / When the InService event arrives / Then no SageMaker call
    answer = handler.lambda_handler(event_for(ENDPOINT), context)
    assert "async" not in answer
