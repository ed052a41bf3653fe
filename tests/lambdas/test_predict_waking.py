"""predict on a parked endpoint (predict/waking.py): 503 Waking with Retry-After, one wake for concurrent
requests, serving again once InService; a request that raced the parking also gets the 503."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from gtpipe_shared import idle, ledger
from gtpipe_shared.aws import client
from predict import handler, waking

from tests.lambdas.conftest import ACCOUNT, REGION, Cloud, FakeContext
from tests.lambdas.test_handler_predict import JPEG, endpoint_returns, request

ENDPOINT = "gtpipe-endpoint"
CONFIG = "r-epc-0"
PARKED_AT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def serving_record(**changes: Any) -> dict[str, Any]:
    item = ledger.serving_item(
        endpoint_name=ENDPOINT,
        endpoint_config_name=CONFIG,
        model_name="r-model-0",
        class_names=["cat", "dog", "bird"],
        source_run_id="demo-0123456789abcdef",
        metrics=None,
        task_type="image-classification",
        now=ledger.now_iso(PARKED_AT - timedelta(hours=2)),
    )
    return {**item, **changes}


def parked_record(**changes: Any) -> dict[str, Any]:
    parked = {
        "idle_state": "parked",
        "parked_at": ledger.now_iso(PARKED_AT),
        "parked_endpoint_config_name": CONFIG,
        "parked_instance_type": "ml.m5.xlarge",
        "parked_instance_count": 1,
        "parked_hourly_usd": 0.23,
    }
    return serving_record(**{**parked, **changes})


@pytest.fixture
def sagemaker(cloud: Cloud) -> Iterator[Stubber]:
    stubber = Stubber(client("sagemaker"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def missing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}".',
        expected_params={"EndpointName": ENDPOINT},
    )


def described(stubber: Stubber, status: str, config: str = CONFIG) -> None:
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
            "EndpointConfigName": config,
            "EndpointStatus": status,
            "CreationTime": PARKED_AT,
            "LastModifiedTime": PARKED_AT,
        },
        {"EndpointName": ENDPOINT},
    )


def body(response: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(response["body"]))


def test_the_first_request_to_a_parked_endpoint_wakes_it_once(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    # Given a parked endpoint (deleted; the record names the kept config)
    cloud.runs().put_item(Item=ledger.to_dynamo(parked_record()))
    missing(sagemaker)
    sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"},
        {"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG},
    )
    missing(sagemaker)  # the second request: the wake is claimed, so no second CreateEndpoint

    # When two requests arrive before it serves
    first = handler.lambda_handler(request(JPEG), context)
    handler.clear_cache()
    second = handler.lambda_handler(request(JPEG), context)

    # Then both are the documented 503 with retry_after and Retry-After, and one CreateEndpoint started
    for response in (first, second):
        assert response["statusCode"] == 503
        assert response["headers"]["Retry-After"] == str(idle.WAKE_RETRY_AFTER_SECONDS)
        assert body(response)["code"] == "Waking"
        assert body(response)["retry_after"] == idle.WAKE_RETRY_AFTER_SECONDS
        assert "parked" in body(response)["error"]
    assert ledger.from_dynamo(cloud.run(ledger.SERVING_RUN_ID))["idle_state"] == "waking"


def test_a_creating_endpoint_answers_waking(cloud: Cloud, sagemaker: Stubber, context: FakeContext) -> None:
    # Given a wake in progress / When a request arrives / Then 503 Waking, naming the status
    cloud.runs().put_item(Item=ledger.to_dynamo(parked_record(idle_state="waking")))
    described(sagemaker, "Creating")
    response = handler.lambda_handler(request(JPEG), context)
    assert response["statusCode"] == 503
    assert body(response)["code"] == "Waking" and "Creating" in body(response)["error"]


def test_a_woken_endpoint_serves_and_the_parked_hours_are_recorded(cloud: Cloud, sagemaker: Stubber) -> None:
    # Given the woken endpoint InService on the kept config, 3 hours after it was parked ($0.23/h)
    record = parked_record(
        idle_state="waking", wake_started_at=ledger.now_iso(PARKED_AT + timedelta(hours=3))
    )
    cloud.runs().put_item(Item=ledger.to_dynamo(record))
    described(sagemaker, "InService")

    # When a request arrives
    answer = waking.waking_response(record, now=PARKED_AT + timedelta(hours=3))

    # Then predictions flow (no response to answer instead) and the record serves again
    assert answer is None
    stored = ledger.from_dynamo(cloud.run(ledger.SERVING_RUN_ID))
    assert stored["idle_state"] == "serving"
    assert stored["woken_at"] == ledger.now_iso(PARKED_AT + timedelta(hours=3))
    assert "parked_endpoint_config_name" not in stored and "wake_started_at" not in stored
    # and the ledger counts 3 parked hours and what they would have cost
    usage = ledger.from_dynamo(cloud.run(idle.USAGE_RUN_ID))
    assert usage["parked_seconds"] == 10800 and usage["wakes"] == 1
    assert usage["cost_avoided_usd"] == pytest.approx(0.69)


def test_a_run_deploying_another_config_while_parked_answers_waking(cloud: Cloud, sagemaker: Stubber) -> None:
    # Given a run that created the endpoint with its own config while parked (its publish writes @serving)
    record = parked_record()
    cloud.runs().put_item(Item=ledger.to_dynamo(record))
    described(sagemaker, "InService", config="newer-epc-0")
    # When a request arrives / Then 503 Waking, and the record is left to the run's publish
    answer = waking.waking_response(record, now=PARKED_AT + timedelta(hours=1))
    assert answer is not None and answer["statusCode"] == 503
    assert ledger.from_dynamo(cloud.run(ledger.SERVING_RUN_ID))["idle_state"] == "parked"


def test_a_failed_wake_is_a_502_naming_it(cloud: Cloud, sagemaker: Stubber) -> None:
    # Given the re-created endpoint failed / When a request arrives / Then 502 WakeFailed
    described(sagemaker, "Failed")
    answer = waking.waking_response(parked_record(idle_state="waking"), now=PARKED_AT)
    assert answer is not None and answer["statusCode"] == 502
    assert body(answer)["code"] == "WakeFailed"


def test_a_request_that_raced_the_parking_gets_waking_not_an_endpoint_error(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    # Given predict cached @serving as serving, then the parker marked it parked and deleted the endpoint
    cloud.runs().put_item(Item=ledger.to_dynamo(serving_record()))
    handler.serving()
    cloud.runs().put_item(Item=ledger.to_dynamo(parked_record(idle_state="waking", wake_started_at="9999")))
    runtime = Stubber(client("sagemaker-runtime"))
    runtime.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationError",
        service_message=f"Endpoint {ENDPOINT} of account {ACCOUNT} not found.",
        http_status_code=400,
    )
    missing(sagemaker)
    # When a request arrives
    with runtime:
        response = handler.lambda_handler(request(JPEG), context)
    # Then the fresh record is read and the answer is 503 Waking, not 502
    assert response["statusCode"] == 503, response
    assert body(response)["code"] == "Waking"


def test_a_serving_record_predicts_as_before(cloud: Cloud, context: FakeContext) -> None:
    # Given a record marked serving again after a wake / When predicting / Then no SageMaker call, 200
    cloud.runs().put_item(Item=ledger.to_dynamo(serving_record(idle_state="serving")))
    runtime = Stubber(client("sagemaker-runtime"))
    endpoint_returns(runtime, [0.1, 0.8, 0.1])
    with runtime:
        response = handler.lambda_handler(request(JPEG), context)
    assert response["statusCode"] == 200 and body(response)["label"] == "dog"


def test_a_deploy_whose_create_meets_a_wake_retries_as_endpoint_busy(
    cloud: Cloud, sagemaker: Stubber, context: FakeContext
) -> None:
    from endpoint import handler as endpoint_handler

    from tests.lambdas.conftest import load_event

    # Given a run deploying while parked: no endpoint, but a prediction's wake creates it first
    missing(sagemaker)
    sagemaker.add_client_error(
        "create_endpoint",
        service_error_code="ValidationException",
        service_message=f'Cannot create already existing endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:'
        f'endpoint/{ENDPOINT}".',
    )
    # When the deploy's CreateEndpoint is refused / Then it is EndpointBusy (the state machine retries it, and
    # the retry updates the woken endpoint blue/green), and the run's token is not left behind
    with pytest.raises(endpoint_handler.EndpointBusy):
        endpoint_handler.lambda_handler(load_event("endpoint_deploy_payload.json"), context)
    assert "Item" not in cloud.tokens().get_item(Key={"id": f"endpoint#{ENDPOINT}"})


def test_a_throttled_describe_while_waking_is_still_the_503(cloud: Cloud, sagemaker: Stubber) -> None:
    # Given many callers polling: SageMaker throttles DescribeEndpoint
    sagemaker.add_client_error(
        "describe_endpoint", service_error_code="ThrottlingException", http_status_code=400
    )
    # When a request arrives / Then the documented 503 Waking, not a 500
    answer = waking.waking_response(parked_record(idle_state="waking"), now=PARKED_AT)
    assert answer is not None and answer["statusCode"] == 503 and body(answer)["code"] == "Waking"
