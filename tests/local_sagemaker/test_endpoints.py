"""Endpoints through boto3 (sagemaker and sagemaker-runtime routed to the backend): create, invoke,
blue/green update with rollback, and the errors callers see."""

from __future__ import annotations

import json
import statistics
import time

import pytest
from botocore.exceptions import ClientError

from local.sagemaker import ENDPOINT_STATE_CHANGE

from .conftest import Cloud, create_model, endpoint_config


def deployed(api: Cloud, model_tar, name: str = "gtpipe-endpoint") -> str:
    """An InService endpoint serving a good model (config ``<name>-good``)."""
    create_model(api, "good-model", model_tar)
    endpoint_config(api, f"{name}-good", "good-model")
    api.client("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-good")
    assert api.backend.wait_for_endpoint(name)["EndpointStatus"] == "InService"
    return name


def invoke(api: Cloud, name: str, body: bytes, content_type: str = "application/x-image") -> list[float]:
    response = api.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, ContentType=content_type, Accept="application/json", Body=body
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    return list(json.loads(response["Body"].read()))


def test_create_endpoint_goes_in_service_and_invoke_returns_probabilities(api: Cloud, model_tar, digits):
    # Given a model and an endpoint config
    create_model(api, "digits-model-0", model_tar)
    endpoint_config(api, "digits-epc-0", "digits-model-0")
    sagemaker = api.client("sagemaker")
    # When the endpoint is created through boto3
    arn = sagemaker.create_endpoint(EndpointName="gtpipe-endpoint", EndpointConfigName="digits-epc-0")[
        "EndpointArn"
    ]
    first = sagemaker.describe_endpoint(EndpointName="gtpipe-endpoint")
    api.backend.wait_for_endpoint("gtpipe-endpoint")
    # Then it goes Creating -> InService serving the config
    assert first["EndpointStatus"] in ("Creating", "InService")
    described = sagemaker.describe_endpoint(EndpointName="gtpipe-endpoint")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "digits-epc-0"
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    # And sagemaker-runtime returns one probability per class
    image = digits[180].path.read_bytes()
    probabilities = invoke(api, "gtpipe-endpoint", image)
    assert len(probabilities) == 10
    assert abs(sum(probabilities) - 1.0) < 1e-3
    # And the endpoint events use AWS's event casing, with the config name
    events = api.events_of(ENDPOINT_STATE_CHANGE)
    assert [e[1]["EndpointStatus"] for e in events] == ["CREATING", "IN_SERVICE"]
    assert events[-1][1]["EndpointConfigName"] == "digits-epc-0"
    assert events[-1][1]["EndpointArn"] == arn
    assert events[-1][2] == [arn]
    # And (measured) the median latency stays low: in-process handlers, no HTTP hop to a container
    runtime = api.client("sagemaker-runtime")
    timings = []
    for _ in range(30):
        start = time.perf_counter()
        runtime.invoke_endpoint(EndpointName="gtpipe-endpoint", ContentType="image/png", Body=image)[
            "Body"
        ].read()
        timings.append(time.perf_counter() - start)
    p50 = statistics.median(timings)
    print(f"invoke p50 through boto3 + moto: {p50 * 1000:.1f} ms")
    assert p50 < 0.5


def test_update_with_a_broken_model_rolls_back_and_keeps_serving(
    api: Cloud, model_tar, broken_model_tar, digits
):
    # Given an InService endpoint, and a new config whose model cannot load
    name = deployed(api, model_tar)
    create_model(api, "broken-model", broken_model_tar)
    endpoint_config(api, "broken-epc", "broken-model")
    image = digits[181].path.read_bytes()
    before = invoke(api, name, image)
    sagemaker = api.client("sagemaker")
    # When a blue/green update with automatic rollback is started, and held while Updating
    api.backend.faults.endpoint_never_in_service(name)
    sagemaker.update_endpoint(
        EndpointName=name,
        EndpointConfigName="broken-epc",
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 0,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "gtpipe-endpoint-5xx"}]},
        },
    )
    # Then while Updating the old model keeps answering
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
    assert invoke(api, name, image) == before
    # When the deployment proceeds
    api.backend.faults.release_endpoint(name)
    described = api.backend.wait_for_endpoint(name)
    # Then it rolled back: InService on the OLD config, with the reason, still serving the old model
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{name}-good"
    assert "did not pass the ping health check" in described["FailureReason"]
    assert invoke(api, name, image) == before
    statuses = [
        (e[1]["EndpointStatus"], e[1]["EndpointConfigName"]) for e in api.events_of(ENDPOINT_STATE_CHANGE)
    ]
    assert statuses[-3:] == [
        ("UPDATING", f"{name}-good"),
        ("ROLLING_BACK", f"{name}-good"),
        ("IN_SERVICE", f"{name}-good"),
    ]


def test_update_with_a_good_model_swaps_config(api: Cloud, model_tar, digits):
    # Given an InService endpoint and a second config of a good model
    name = deployed(api, model_tar)
    create_model(api, "good-model-2", model_tar, key="models/second/model.tar.gz")
    endpoint_config(api, "second-epc", "good-model-2")
    # When it is updated (no DeploymentConfig)
    api.client("sagemaker").update_endpoint(EndpointName=name, EndpointConfigName="second-epc")
    described = api.backend.wait_for_endpoint(name)
    # Then the new config serves, without a failure reason
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "second-epc"
    assert "FailureReason" not in described
    assert len(invoke(api, name, digits[182].path.read_bytes())) == 10
    assert [e[1]["EndpointStatus"] for e in api.events_of(ENDPOINT_STATE_CHANGE)][-2:] == [
        "UPDATING",
        "IN_SERVICE",
    ]


def test_update_endpoint_while_updating_is_a_validation_exception(api: Cloud, model_tar):
    # Given an endpoint held in Updating
    name = deployed(api, model_tar)
    api.backend.faults.endpoint_never_in_service(name)
    sagemaker = api.client("sagemaker")
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-good")
    # When another update arrives
    with pytest.raises(ClientError) as raised:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-good")
    # Then SageMaker's answer: ValidationException "Cannot update in-progress endpoint"
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot update in-progress endpoint" in raised.value.response["Error"]["Message"]
    api.backend.faults.release_endpoint(name)
    assert api.backend.wait_for_endpoint(name)["EndpointStatus"] == "InService"


def test_create_with_a_broken_model_fails(api: Cloud, broken_model_tar):
    # Given a config whose model cannot load
    create_model(api, "broken-model", broken_model_tar)
    endpoint_config(api, "broken-epc", "broken-model")
    # When the endpoint is created
    api.client("sagemaker").create_endpoint(EndpointName="broken-endpoint", EndpointConfigName="broken-epc")
    described = api.backend.wait_for_endpoint("broken-endpoint")
    # Then it is Failed with the reason, and a FAILED event was emitted
    assert described["EndpointStatus"] == "Failed"
    assert "model_fn failed" in described["FailureReason"]
    last = api.events_of(ENDPOINT_STATE_CHANGE)[-1][1]
    assert (last["EndpointStatus"], last["FailureReason"]) == ("FAILED", described["FailureReason"])


def test_runtime_errors_are_model_error_and_validation_error(api: Cloud, model_tar):
    # Given an InService endpoint
    name = deployed(api, model_tar)
    runtime = api.client("sagemaker-runtime")
    # When the model rejects the content type / Then ModelError (HTTP 424) with the model's own status
    with pytest.raises(ClientError) as model_error:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/plain", Body=b"hello")
    assert model_error.value.response["Error"]["Code"] == "ModelError"
    assert model_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert model_error.value.response["OriginalStatusCode"] == 415
    # When the body is not an image / Then ModelError with original status 400
    with pytest.raises(ClientError) as bad_body:
        runtime.invoke_endpoint(EndpointName=name, ContentType="image/png", Body=b"\x89PNG not really")
    assert bad_body.value.response["OriginalStatusCode"] == 400
    # When the endpoint does not exist / Then the runtime API's ValidationError
    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint(EndpointName="nope", ContentType="image/png", Body=b"x")
    assert unknown.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint nope of account" in unknown.value.response["Error"]["Message"]
