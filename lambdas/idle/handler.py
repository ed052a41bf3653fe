"""idle: park the serving endpoint after ``gtpipe:endpoint.idleMinutes`` without invocations.

Fired by an EventBridge schedule (infra/constructs/idle.py). Each firing decides with
``gtpipe_shared.idle.idle_decision`` from the ``@serving`` record, DescribeEndpoint, the endpoint lock
(task-token table, ``endpoint#<name>``, the endpoint function's) and CloudWatch's ``Invocations`` Sum over the
last ``IDLE_MINUTES`` (GetMetricData). "Now" is the scheduled event's ``time`` (when EventBridge fired it), or
the clock when later: a test drives the parker's clock by the event it sends, nothing sleeps.

Parking holds the endpoint lock, so no run's deployment starts meanwhile (its deploy answers EndpointBusy and
retries) and no parking starts while a run holds it: take the lock (only when free), check the endpoint is still
InService on the record's config, mark ``@serving`` parked (one conditional write naming the config to wake
from), DeleteEndpoint (config and model kept), add the served hours to ``@endpoint-usage``, release the lock.
The endpoint's auto scaling is saved in the record, deregistered before DeleteEndpoint and registered again by
the first check that finds the woken endpoint serving (:mod:`idle.scaling`). A DeleteEndpoint that fails after
the mark leaves a parked record over a live endpoint: the next predict finds
it InService on the kept config and marks it serving again. Answers ``{"parked": bool, "reason", ...}``.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared import idle, ledger
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.aws import describe_endpoint as describe
from gtpipe_shared.config import ConfigError, require_env
from gtpipe_shared.ledger_store import get_run

from idle import scaling

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# The parker's hold on the endpoint lock expires (DynamoDB TTL) long after any parking ends.
LOCK_TTL_SECONDS = 3600


def idle_minutes() -> int:
    """``IDLE_MINUTES`` (synth writes it from ``gtpipe:endpoint.idleMinutes``)."""
    raw = require_env("IDLE_MINUTES")
    try:
        minutes = int(raw)
    except ValueError:
        raise ConfigError(f"IDLE_MINUTES must be a whole number of minutes; got {raw!r}") from None
    if minutes < 1:
        raise ConfigError(f"IDLE_MINUTES must be positive; got {minutes}")
    return minutes


def event_now(event: Any, clock: datetime | None = None) -> datetime:
    """The scheduled event's ``time``, or the clock when that is later (or the event has none)."""
    wall = clock or datetime.now(UTC)
    fired = idle.parse_time(event.get("time")) if isinstance(event, dict) else None
    return max(fired, wall) if fired else wall


def lock_holder(endpoint_name: str) -> str | None:
    """The run holding the endpoint lock, or None."""
    item = (
        table(require_env("TASK_TOKEN_TABLE"))
        .get_item(Key={"id": f"endpoint#{endpoint_name}"}, ConsistentRead=True)
        .get("Item")
    )
    return str(item.get("run_id") or "?") if item else None


def invocations(endpoint: dict[str, Any], now: datetime, minutes: int) -> float:
    """The Sum of the endpoint's Invocations (every variant) from ``now - minutes`` to ``now``."""
    variants = [
        str(v["VariantName"]) for v in endpoint.get("ProductionVariants") or [] if v.get("VariantName")
    ]
    if not variants:
        variants = ["AllTraffic"]
    request: dict[str, Any] = {
        "MetricDataQueries": idle.invocation_queries(str(endpoint["EndpointName"]), variants),
        "StartTime": now - timedelta(minutes=minutes),
        "EndTime": now,
    }
    total = 0.0
    while True:
        response = client("cloudwatch").get_metric_data(**request)
        total += sum(sum(result.get("Values") or []) for result in response.get("MetricDataResults") or [])
        if not response.get("NextToken"):
            return total
        request["NextToken"] = response["NextToken"]


@tracer.capture_method
def check(now: datetime, minutes: int) -> dict[str, Any]:
    """Decide, and park when idle (module docstring)."""
    runs = table(require_env("RUNS_TABLE"))
    record = get_run(runs, ledger.SERVING_RUN_ID)
    name = str((record or {}).get("endpoint_name") or "")
    endpoint = describe(name) if name else None
    holder = lock_holder(name) if endpoint else None
    if record and endpoint and holder is None:
        restore_scaling(record, endpoint)
    count = invocations(endpoint, now, minutes) if endpoint and holder is None else 0.0
    decision = idle.idle_decision(
        now=now, idle_minutes=minutes, record=record, endpoint=endpoint, lock_holder=holder, invocations=count
    )
    logger.info("idle check", extra={"endpoint": name, "park": decision.park, "reason": decision.reason})
    if not decision.park or record is None or endpoint is None:
        return {"parked": False, "reason": decision.reason, "endpoint_name": name}
    return park(record, now)


def restore_scaling(record: dict[str, Any], endpoint: dict[str, Any]) -> None:
    """Give a woken endpoint back the auto scaling it had when parked (lambdas/idle/scaling.py)."""
    saved = scaling.restore_request(endpoint, record)
    if saved is None:
        return
    restored = scaling.restore(saved)
    with contextlib.suppress(ClientError):  # a publish in between wrote a new record: nothing to drop
        table(require_env("RUNS_TABLE")).update_item(
            **idle.update_kwargs(idle.scaling_restored_update(saved), ledger.SERVING_RUN_ID)
        )
    logger.info("restored the woken endpoint's auto scaling", extra={"targets": restored})


def _take_lock(name: str, now: datetime) -> bool:
    stamp = int(time.time())
    try:
        table(require_env("TASK_TOKEN_TABLE")).put_item(
            Item={
                "id": f"endpoint#{name}",
                "run_id": idle.PARKER_LOCK_RUN_ID,
                "created_at": stamp,
                "expiration": stamp + LOCK_TTL_SECONDS,
                "parking_at": ledger.now_iso(now),
            },
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _release_lock(name: str) -> None:
    with contextlib.suppress(ClientError):
        table(require_env("TASK_TOKEN_TABLE")).delete_item(
            Key={"id": f"endpoint#{name}"},
            ConditionExpression="run_id = :parker",
            ExpressionAttributeValues={":parker": idle.PARKER_LOCK_RUN_ID},
        )


@tracer.capture_method
def park(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Park the record's endpoint under the endpoint lock; ``{"parked": False}`` when something changed."""
    name, config_name = str(record["endpoint_name"]), str(record["endpoint_config_name"])
    if not _take_lock(name, now):
        return {"parked": False, "reason": "a run took the endpoint lock", "endpoint_name": name}
    try:
        endpoint = describe(name)
        if (
            not endpoint
            or endpoint.get("EndpointStatus") != "InService"
            or (endpoint.get("EndpointConfigName") != config_name)
        ):
            return {"parked": False, "reason": "the endpoint changed meanwhile", "endpoint_name": name}
        sagemaker = client("sagemaker")
        instance_type, count = idle.fleet(
            endpoint, sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        )
        variants = [str(v["VariantName"]) for v in endpoint.get("ProductionVariants") or []]
        saved = scaling.saved_scaling(name, variants or ["AllTraffic"])
        stamp = ledger.now_iso(now)
        runs = table(require_env("RUNS_TABLE"))
        mark = idle.park_update(
            record, now=stamp, instance_type=instance_type, instance_count=count, scaling=saved
        )
        try:
            runs.update_item(**idle.update_kwargs(mark, ledger.SERVING_RUN_ID))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return {"parked": False, "reason": "@serving changed meanwhile", "endpoint_name": name}
        # Deleting an endpoint with scalable targets needs DeregisterScalableTarget: done first, explicitly.
        scaling.deregister(saved)
        sagemaker.delete_endpoint(EndpointName=name)
        since = idle.serving_since(record)
        served = (now - since).total_seconds() if since else 0.0
        runs.update_item(
            **idle.update_kwargs(
                idle.usage_update("park", served_seconds=served, now=stamp), idle.USAGE_RUN_ID
            )
        )
    finally:
        _release_lock(name)
    metrics.add_metric(name="EndpointsParked", unit=MetricUnit.Count, value=1)
    logger.info("parked the idle endpoint", extra={"endpoint": name, "endpoint_config": config_name})
    return {
        "parked": True,
        "reason": "idle",
        "endpoint_name": name,
        "endpoint_config_name": config_name,
        "instance_type": instance_type,
        "instance_count": count,
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A scheduled event -> ``{"parked", "reason", "endpoint_name", ...}``."""
    del context
    return check(event_now(event), idle_minutes())
