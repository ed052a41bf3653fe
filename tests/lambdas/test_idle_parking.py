"""Idle endpoints (gtpipe_shared.idle): the idle decision, the parker function (moto DynamoDB and CloudWatch,
stubbed SageMaker) and the ledger's conditional writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from gtpipe_shared import idle, ledger
from gtpipe_shared.aws import client
from idle import handler

from tests.lambdas.conftest import ACCOUNT, REGION, Cloud, FakeContext

ENDPOINT = "gtpipe-endpoint"
CONFIG = "demo-0123456789abcdef-epc-0"
# Relative to now, on a whole hour: the invocations are put to CloudWatch at NOW - minutes, and CloudWatch
# refuses data points more than two weeks old, so a fixed date would age out of what AWS accepts.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
PUBLISHED = NOW - timedelta(hours=2)
IDLE_MINUTES = 30


def record(**changes: Any) -> dict[str, Any]:
    item = ledger.serving_item(
        endpoint_name=ENDPOINT,
        endpoint_config_name=CONFIG,
        model_name="demo-model-0",
        class_names=["cat", "dog"],
        source_run_id="demo-0123456789abcdef",
        metrics=None,
        task_type="image-classification",
        now=ledger.now_iso(PUBLISHED),
    )
    return {**item, **changes}


def described(
    status: str = "InService", config: str = CONFIG, modified: datetime = PUBLISHED
) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": PUBLISHED,
        "LastModifiedTime": modified,
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 2}],
    }


def decide(**changes: Any) -> idle.Decision:
    facts: dict[str, Any] = {
        "now": NOW,
        "idle_minutes": IDLE_MINUTES,
        "record": record(),
        "endpoint": described(),
        "lock_holder": None,
        "invocations": 0.0,
    }
    return idle.idle_decision(**{**facts, **changes})


# --- the decision -----------------------------------------------------------------------------------------


def test_an_endpoint_without_invocations_for_the_idle_time_is_parked() -> None:
    # Given an InService endpoint on @serving's config, published 2 h ago, no lock, no invocations
    # When deciding / Then park
    assert decide() == idle.Decision(True, f"no invocations in the last {IDLE_MINUTES} min")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"record": None}, "no model serves"),
        ({"record": record(idle_state="parked")}, "the endpoint is parked"),
        ({"record": record(idle_state="waking")}, "the endpoint is waking"),
        ({"endpoint": None}, "the endpoint does not exist"),
        ({"endpoint": described("Updating")}, "the endpoint is Updating"),
        ({"endpoint": described(config="other-epc-0")}, "another config"),
        ({"lock_holder": "run-b"}, "run run-b holds the endpoint lock"),
        ({"endpoint": described(modified=NOW - timedelta(minutes=10))}, "changed 10 min ago"),
        (
            {"record": record(woken_at=ledger.now_iso(NOW - timedelta(minutes=5)))},
            "started serving 5 min ago",
        ),
        ({"invocations": 3.0}, "3 invocations in the last 30 min"),
    ],
)
def test_an_endpoint_that_is_busy_changing_or_used_is_not_parked(
    changes: dict[str, Any], reason: str
) -> None:
    # Given one thing that keeps the endpoint from being idle / When deciding
    decision = decide(**changes)
    # Then it stays, and the reason names that thing
    assert not decision.park
    assert reason in decision.reason


def test_the_scheduled_events_time_is_the_parkers_clock_unless_the_clock_is_later() -> None:
    # Given a scheduled event fired at 10:00 / When the clock says 09:59 or 10:05 / Then now is the later
    event = {"time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert handler.event_now(event, NOW - timedelta(minutes=1)) == NOW
    assert handler.event_now(event, NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)
    assert handler.event_now({}, NOW) == NOW


# --- the parker ---------------------------------------------------------------------------------------------


@pytest.fixture
def parker(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setenv("IDLE_MINUTES", str(IDLE_MINUTES))
    cloud.runs().put_item(Item=ledger.to_dynamo(record()))
    stubber = Stubber(client("sagemaker"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def invocation_at(moment: datetime) -> None:
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": moment,
                "Value": 1.0,
                "Unit": "None",
            }
        ],
    )


def fire(context: FakeContext) -> dict[str, Any]:
    """The check at NOW (the handler's clock is the later of the event's time and the wall clock, so a fixed
    date goes through check itself: no dependence on today's date)."""
    del context
    return handler.check(NOW, handler.idle_minutes())


def test_an_idle_endpoint_is_deleted_and_the_serving_record_marked_parked(
    cloud: Cloud, parker: Stubber, context: FakeContext
) -> None:
    # Given an endpoint last invoked 45 minutes before the check (idle time 30)
    invocation_at(NOW - timedelta(minutes=45))
    parker.add_response("describe_endpoint", described(), {"EndpointName": ENDPOINT})
    parker.add_response("describe_endpoint", described(), {"EndpointName": ENDPOINT})
    parker.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG,
            "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{CONFIG}",
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.xlarge"}
            ],
            "CreationTime": PUBLISHED,
        },
        {"EndpointConfigName": CONFIG},
    )
    parker.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})

    # When the schedule fires
    result = fire(context)

    # Then the endpoint is deleted (stubbed) and @serving says parked, with the config to wake from
    assert result["parked"] is True, result
    serving = ledger.from_dynamo(cloud.run(ledger.SERVING_RUN_ID))
    assert serving["idle_state"] == "parked"
    assert serving["parked_endpoint_config_name"] == CONFIG
    assert serving["parked_at"] == NOW.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert (serving["parked_instance_type"], serving["parked_instance_count"]) == ("ml.m5.xlarge", 2)
    assert serving["parked_hourly_usd"] == pytest.approx(0.46)
    # and the two hours it served are counted; the endpoint lock is free again
    usage = ledger.from_dynamo(cloud.run(idle.USAGE_RUN_ID))
    assert usage["served_seconds"] == 7200 and usage["parks"] == 1
    assert "Item" not in cloud.tokens().get_item(Key={"id": f"endpoint#{ENDPOINT}"})


def test_a_recent_invocation_keeps_the_endpoint(cloud: Cloud, parker: Stubber, context: FakeContext) -> None:
    # Given an invocation 10 minutes before the check (idle time 30)
    invocation_at(NOW - timedelta(minutes=10))
    parker.add_response("describe_endpoint", described(), {"EndpointName": ENDPOINT})
    # When the schedule fires
    result = fire(context)
    # Then nothing is deleted (no delete_endpoint stubbed) and @serving still serves
    assert result == {
        "parked": False,
        "reason": "1 invocations in the last 30 min",
        "endpoint_name": ENDPOINT,
    }
    assert "idle_state" not in cloud.run(ledger.SERVING_RUN_ID)


def test_a_run_holding_the_endpoint_lock_keeps_the_endpoint(
    cloud: Cloud, parker: Stubber, context: FakeContext
) -> None:
    # Given a run deploying (it holds the endpoint lock)
    cloud.tokens().put_item(Item={"id": f"endpoint#{ENDPOINT}", "run_id": "run-b", "created_at": 1})
    parker.add_response("describe_endpoint", described(), {"EndpointName": ENDPOINT})
    # When the schedule fires
    result = fire(context)
    # Then the parker leaves it (and the run's lock) alone
    assert result["parked"] is False and "run-b" in result["reason"]
    assert cloud.tokens().get_item(Key={"id": f"endpoint#{ENDPOINT}"})["Item"]["run_id"] == "run-b"


def test_an_endpoint_being_updated_is_not_parked(cloud: Cloud, parker: Stubber, context: FakeContext) -> None:
    # Given a blue/green update in progress / When the schedule fires / Then nothing changes
    parker.add_response("describe_endpoint", described("Updating"), {"EndpointName": ENDPOINT})
    assert fire(context)["reason"] == "the endpoint is Updating"
    assert "idle_state" not in cloud.run(ledger.SERVING_RUN_ID)


def test_the_lock_taken_by_a_run_after_the_check_stops_the_parking(
    cloud: Cloud, parker: Stubber, context: FakeContext
) -> None:
    # Given a run that took the endpoint lock between the check and the parking
    cloud.tokens().put_item(Item={"id": f"endpoint#{ENDPOINT}", "run_id": "run-c", "created_at": 1})
    # When parking / Then it refuses without touching the endpoint (nothing stubbed) or the record
    result = handler.park(record(), NOW)
    assert result["parked"] is False and "lock" in result["reason"]
    assert "idle_state" not in cloud.run(ledger.SERVING_RUN_ID)


# --- the conditional writes ------------------------------------------------------------------------------


def test_parking_a_record_that_names_another_config_fails(cloud: Cloud) -> None:
    # Given @serving republished with another config after the check read it
    cloud.runs().put_item(Item=ledger.to_dynamo(record(endpoint_config_name="newer-epc-0")))
    # When marking the record read earlier parked / Then the write is refused and nothing changes
    update = idle.park_update(
        record(), now=ledger.now_iso(NOW), instance_type="ml.m5.xlarge", instance_count=1
    )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        cloud.runs().update_item(**idle.update_kwargs(update, ledger.SERVING_RUN_ID))
    assert "idle_state" not in cloud.run(ledger.SERVING_RUN_ID)


def test_only_one_of_concurrent_wake_claims_wins(cloud: Cloud) -> None:
    # Given a parked record
    parked = record(idle_state="parked", parked_endpoint_config_name=CONFIG, parked_at=ledger.now_iso(NOW))
    cloud.runs().put_item(Item=ledger.to_dynamo(parked))
    outcomes = []
    # When two requests claim the wake from the same read
    for _ in range(2):
        try:
            claim = idle.wake_claim_update(parked, now=NOW + timedelta(minutes=1))
            cloud.runs().update_item(**idle.update_kwargs(claim, ledger.SERVING_RUN_ID))
            outcomes.append("won")
        except ClientError:
            outcomes.append("lost")
    # Then one wins; a claim older than WAKE_RECLAIM_SECONDS may be taken again
    assert outcomes == ["won", "lost"]
    later = NOW + timedelta(minutes=1, seconds=idle.WAKE_RECLAIM_SECONDS + 1)
    cloud.runs().update_item(
        **idle.update_kwargs(idle.wake_claim_update(parked, now=later), ledger.SERVING_RUN_ID)
    )
    assert ledger.from_dynamo(cloud.run(ledger.SERVING_RUN_ID))["idle_state"] == "waking"


def test_usage_summary_adds_the_open_interval() -> None:
    # Given 2 h served and 3 h parked so far ($0.69 avoided), and a record parked again an hour ago at $0.23/h
    usage = {
        "served_seconds": 7200,
        "parked_seconds": 10800,
        "cost_avoided_usd": 0.69,
        "parks": 2,
        "wakes": 1,
    }
    parked = record(
        idle_state="parked", parked_at=ledger.now_iso(NOW - timedelta(hours=1)), parked_hourly_usd=0.23
    )
    # When summarizing at NOW / Then the open parked hour counts, and its cost is avoided
    assert idle.usage_summary(usage, parked, NOW) == {
        "served_hours": 2.0,
        "parked_hours": 4.0,
        "cost_avoided_usd": 0.92,
        "parks": 2,
        "wakes": 1,
    }
    # and nothing to summarize before the first park
    assert idle.usage_summary(None, record(), NOW) is None


@pytest.mark.parametrize(("event", "counter"), [("park", "parks"), ("wake", "wakes")])
def test_each_park_and_wake_is_counted_even_when_no_time_passed(event: Any, counter: str) -> None:
    # Given a park or a wake with no seconds to add / When building the usage write / Then it counts one
    update = idle.usage_update(event, now=ledger.now_iso(NOW))
    assert update.names == {"#counter": counter} and update.values[":one"] == 1


def scalable_targets() -> list[dict[str, Any]]:
    return boto3.client("application-autoscaling", region_name=REGION).describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]


def test_auto_scaling_is_deregistered_when_parked_and_restored_once_woken(
    cloud: Cloud, parker: Stubber, context: FakeContext
) -> None:
    # Given the endpoint's variant registered for auto scaling (1 to 4, target tracking), as verify leaves it
    autoscaling = boto3.client("application-autoscaling", region_name=REGION)
    target = f"endpoint/{ENDPOINT}/variant/AllTraffic"
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=target,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    autoscaling.put_scaling_policy(
        PolicyName=f"{ENDPOINT}-AllTraffic-invocations",
        ServiceNamespace="sagemaker",
        ResourceId=target,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 100.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
    for _ in range(2):
        parker.add_response("describe_endpoint", described(), {"EndpointName": ENDPOINT})
    parker.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG,
            "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{CONFIG}",
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
            ],
            "CreationTime": PUBLISHED,
        },
    )
    parker.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})

    # When it is parked
    assert fire(context)["parked"] is True

    # Then its scalable target is gone (deregistered before DeleteEndpoint) and the record keeps it to restore
    assert scalable_targets() == []
    assert target in cloud.run(ledger.SERVING_RUN_ID)["idle_scaling"]

    # When the woken endpoint serves again (marked by predict) and the parker checks
    woken_at = NOW + timedelta(hours=1)
    cloud.runs().update_item(
        Key={"run_id": ledger.SERVING_RUN_ID},
        UpdateExpression="SET idle_state = :serving, woken_at = :at",
        ExpressionAttributeValues={":serving": "serving", ":at": ledger.now_iso(woken_at)},
    )
    parker.add_response("describe_endpoint", described(modified=woken_at), {"EndpointName": ENDPOINT})
    result = handler.check(woken_at + timedelta(minutes=5), IDLE_MINUTES)

    # Then the target and its policy are registered again, once, and the endpoint stays (just woken)
    assert result["parked"] is False
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in scalable_targets()] == [
        (target, 1, 4)
    ]
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=target)
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == [f"{ENDPOINT}-AllTraffic-invocations"]
    assert "idle_scaling" not in cloud.run(ledger.SERVING_RUN_ID)
