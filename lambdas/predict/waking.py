"""predict's side of idle parking (``gtpipe_shared.idle``): wake a parked endpoint, answer 503 Waking meanwhile.

:func:`waking_response` is called with the ``@serving`` record before the endpoint is invoked. It answers None
when the endpoint serves (predictions flow), else the 503 ``{"error", "code": "Waking", "retry_after"}`` with a
``Retry-After`` header, after starting the wake when this request wins the claim:

- parked, endpoint missing: claim the wake (one conditional write: concurrent requests start one wake) and
  CreateEndpoint from the kept config; a CreateEndpoint refused because the endpoint exists (another wake, or a
  run deploying) is a wake in progress;
- endpoint Creating / Deleting / Updating, or InService on another config (a run is deploying; its publish
  writes a new record): 503;
- endpoint InService on the kept config: the record is marked serving (and the parked hours recorded), None;
- endpoint Failed: 502 ``WakeFailed`` (SageMaker could not start it; the next run's deployment replaces it).

Predict caches ``@serving`` for a few seconds, so a request may still believe a just-parked endpoint serves:
:func:`endpoint_gone` recognizes InvokeEndpoint's answer for a missing endpoint, and predict then re-reads the
record (the parker marks it parked before deleting the endpoint).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from gtpipe_shared import idle, ledger
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.aws import describe_endpoint as describe
from gtpipe_shared.config import require_env
from gtpipe_shared.http import error_response, json_response

logger = Logger(child=True)

THROTTLING_ERRORS = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})


def waking(message: str) -> dict[str, Any]:
    """The documented 503: ``{"error", "code": "Waking", "retry_after"}`` and ``Retry-After``."""
    seconds = idle.WAKE_RETRY_AFTER_SECONDS
    return json_response(
        503,
        {"error": message, "code": "Waking", "retry_after": seconds},
        headers={"Retry-After": str(seconds)},
    )


def endpoint_gone(exc: ClientError) -> bool:
    """InvokeEndpoint's answer for an endpoint that does not exist (or has nothing serving yet)."""
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) in ("ValidationError", "ValidationException") and (
        "not found" in message or "Could not find" in message or "no model serving" in message
    )


def _conditional(run_id: str, update: Any) -> bool:
    """One conditional UpdateItem on the runs table; False when its condition failed."""
    try:
        table(require_env("RUNS_TABLE")).update_item(**idle.update_kwargs(update, run_id))
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _start_wake(record: dict[str, Any], now: datetime) -> None:
    """Claim the wake and CreateEndpoint from the kept config (the claim's loser does nothing)."""
    if not _conditional(ledger.SERVING_RUN_ID, idle.wake_claim_update(record, now=now)):
        return
    name, config = str(record["endpoint_name"]), str(record["parked_endpoint_config_name"])
    try:
        client("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=config)
    except ClientError as exc:
        if error_code(exc) in ("ValidationException", "ValidationError") and "already exist" in str(exc):
            return  # created meanwhile (a run deploying): waking all the same
        raise
    logger.info("waking the parked endpoint", extra={"endpoint": name, "endpoint_config": config})


def _woken(record: dict[str, Any], now: datetime) -> None:
    """Mark the record serving and add the parked time (and its avoided cost) to ``@endpoint-usage``."""
    stamp = ledger.now_iso(now)
    if not _conditional(ledger.SERVING_RUN_ID, idle.woken_update(record, now=stamp)):
        return  # another request recorded the wake
    parked_at = idle.parse_time(record.get("parked_at"))
    seconds = max((now - parked_at).total_seconds(), 0.0) if parked_at else 0.0
    usage = idle.usage_update(
        "wake", parked_seconds=seconds, avoided_usd=idle.parked_cost(record, seconds), now=stamp
    )
    _conditional(idle.USAGE_RUN_ID, usage)
    logger.info("the parked endpoint serves again", extra={"endpoint": record.get("endpoint_name")})


def waking_response(record: dict[str, Any], now: datetime | None = None) -> dict[str, Any] | None:
    """None when ``record``'s endpoint serves; otherwise the response to answer (module docstring)."""
    if idle.idle_state(record) == idle.SERVING:
        return None
    try:
        return _wake(record, now or datetime.now(UTC))
    except ClientError as exc:
        if error_code(exc) not in THROTTLING_ERRORS:
            raise
        # Many callers polling a waking endpoint may exceed SageMaker's request rate: still only a 503.
        return waking(f"the endpoint {record['endpoint_name']} is waking up; retry shortly")


def _wake(record: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    name = str(record["endpoint_name"])
    endpoint = describe(name)
    if endpoint is None:
        _start_wake(record, now)
        return waking(f"the endpoint {name} was parked after idling and is waking up; retry shortly")
    status = str(endpoint.get("EndpointStatus"))
    if status in ("Failed", "UpdateRollbackFailed"):
        return error_response(502, "WakeFailed", f"the parked endpoint {name} failed to start ({status})")
    if status != "InService" or endpoint.get("EndpointConfigName") != record.get(
        "parked_endpoint_config_name"
    ):
        return waking(f"the endpoint {name} is waking up ({status}); retry shortly")
    _woken(record, now)
    return None
