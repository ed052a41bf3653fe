"""The AWS requests idle parking sends, recorded as the parker and predict send them, validated against
botocore's service models: SageMaker's with the limits botocore itself does not check (the local SageMaker's
``validate_request``: name patterns and lengths), CloudWatch's GetMetricData with botocore's validator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from gtpipe_shared import ledger
from gtpipe_shared.aws import client
from idle import handler
from predict import waking

from local.sagemaker.validation import validate_request
from tests.lambdas.conftest import REGION, Cloud
from tests.lambdas.test_idle_parking import CONFIG, ENDPOINT, NOW, PUBLISHED, described, record


@pytest.fixture
def sent(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Every (service, operation, params) the handlers' SageMaker and CloudWatch clients send."""
    monkeypatch.setenv("IDLE_MINUTES", "30")
    calls: list[tuple[str, str, dict[str, Any]]] = []
    registered = []
    for service in ("sagemaker", "cloudwatch"):
        events = client(service).meta.events

        def record_call(params: dict[str, Any], model: Any, service: str = service, **_: Any) -> None:
            calls.append((service, model.name, dict(params)))

        events.register("provide-client-params", record_call)
        registered.append((events, record_call))
    yield calls
    for events, handler_ in registered:
        events.unregister("provide-client-params", handler_)


def test_parking_and_waking_send_requests_sagemaker_and_cloudwatch_accept(
    cloud: Cloud, sent: list[tuple[str, str, dict[str, Any]]]
) -> None:
    # Given an idle endpoint (no invocations) and the parker's SageMaker answers
    cloud.runs().put_item(Item=ledger.to_dynamo(record()))
    stub = Stubber(client("sagemaker"))
    for _ in range(2):
        stub.add_response("describe_endpoint", described(), {"EndpointName": ENDPOINT})
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG,
            "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint-config/{CONFIG}",
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
            ],
            "CreationTime": PUBLISHED,
        },
    )
    stub.add_response("delete_endpoint", {})
    stub.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message="Could not find endpoint",
    )
    stub.add_response("create_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:1:endpoint/{ENDPOINT}"})
    # When the parker parks it and a prediction wakes it
    with stub:
        assert handler.check(NOW, 30)["parked"] is True
        parked = ledger.from_dynamo(cloud.run(ledger.SERVING_RUN_ID))
        answer = waking.waking_response(parked, now=NOW + timedelta(minutes=1))
    assert answer is not None and answer["statusCode"] == 503
    # Then every request was sent, and each passes SageMaker's and CloudWatch's request rules
    operations = [(service, name) for service, name, _ in sent]
    assert operations == [
        ("sagemaker", "DescribeEndpoint"),
        ("cloudwatch", "GetMetricData"),
        ("sagemaker", "DescribeEndpoint"),
        ("sagemaker", "DescribeEndpointConfig"),
        ("sagemaker", "DeleteEndpoint"),
        ("sagemaker", "DescribeEndpoint"),
        ("sagemaker", "CreateEndpoint"),
    ]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION).meta.service_model
    for service, name, params in sent:
        if service == "sagemaker":
            validate_request(name, params)
        else:
            validate_parameters(params, cloudwatch.operation_model(name).input_shape)
    create = next(params for _, name, params in sent if name == "CreateEndpoint")
    assert create == {"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG}


def test_a_name_sagemaker_refuses_is_refused_locally_too() -> None:
    # Given a CreateEndpoint whose config name breaks SageMaker's 63-character pattern / Then it is refused
    from local.sagemaker import SageMakerServiceError

    with pytest.raises(SageMakerServiceError, match="63"):
        validate_request("CreateEndpoint", {"EndpointName": ENDPOINT, "EndpointConfigName": "a" * 64})
