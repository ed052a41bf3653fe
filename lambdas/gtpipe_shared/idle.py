"""Idle endpoints: when to park the serving endpoint, and the ledger writes of parking and waking.

Contract (README "Idle endpoints", docs/design.md "Idle endpoints: parking vs scale to zero"):

- **Idle** (:func:`idle_decision`): the ``@serving`` record serves (not parked or waking), its endpoint exists,
  is ``InService`` on the record's endpoint config and has not changed (``LastModifiedTime``) nor been woken
  for ``idle_minutes``, no run holds the endpoint lock, and CloudWatch counts no ``Invocations`` (namespace
  ``AWS/SageMaker``, dimensions ``EndpointName``/``VariantName``, Sum) in the last ``idle_minutes``
  (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
- **Parked**: DeleteEndpoint with the endpoint config and model kept (SageMaker keeps both:
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html). The record is marked
  parked first, in one conditional write (:func:`park_update`) naming the config to wake from, so predict
  never calls a deleted endpoint believing it serves.
- **Waking**: the first predict that finds the record parked wins :func:`wake_claim_update` (conditional: one
  wake for concurrent requests) and calls CreateEndpoint with the kept config; every request meanwhile is
  answered 503 ``{"code": "Waking", "retry_after"}``. Once the endpoint is InService on that config
  :func:`woken_update` marks the record serving again and the parked hours are added to ``@endpoint-usage``.
- **Usage** (``@endpoint-usage``, :func:`usage_update`): atomic counters of endpoint-hours served and parked
  and the cost parking avoided (parked hours x the instances' price, ``gtpipe_shared.pricing``).

Publish writes a whole new ``@serving`` item, so a run deploying while the endpoint is parked (its deploy finds
no endpoint and creates one) clears the parked mark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from gtpipe_shared.ledger import Update
from gtpipe_shared.pricing import endpoint_hourly_usd

USAGE_RUN_ID = "@endpoint-usage"
# The lock item's run id while the parker holds the endpoint lock (endpoint handler: endpoint#<name>).
PARKER_LOCK_RUN_ID = "@idle-parker"
PARKED = "parked"
WAKING = "waking"
SERVING = "serving"
# What the 503 asks clients to wait: SageMaker takes minutes to create an endpoint; a retry every 30 s finds
# it soon after it serves without polling hard.
WAKE_RETRY_AFTER_SECONDS = 30
# A wake whose CreateEndpoint did not take (the endpoint is still missing this long after the claim) may be
# claimed again by the next request.
WAKE_RECLAIM_SECONDS = 120
METRIC_NAMESPACE = "AWS/SageMaker"
METRIC_NAME = "Invocations"
METRIC_PERIOD_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    """Whether to park, and why (logged and returned by the parker)."""

    park: bool
    reason: str


def parse_time(value: Any) -> datetime | None:
    """A datetime (naive ones are UTC) or ISO-8601 string as an aware UTC datetime; None otherwise."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def idle_state(record: Mapping[str, Any] | None) -> str:
    """``serving`` (also for records written before parking existed), ``parked`` or ``waking``."""
    state = (record or {}).get("idle_state")
    return str(state) if state in (PARKED, WAKING) else SERVING


def serving_since(record: Mapping[str, Any]) -> datetime | None:
    """When the record's endpoint last started serving: woken, else published."""
    return parse_time(record.get("woken_at")) or parse_time(record.get("updated_at"))


def idle_decision(
    *,
    now: datetime,
    idle_minutes: int,
    record: Mapping[str, Any] | None,
    endpoint: Mapping[str, Any] | None,
    lock_holder: str | None,
    invocations: float,
) -> Decision:
    """Park or not (module docstring), from the ``@serving`` record, DescribeEndpoint (None: no endpoint),
    the run holding the endpoint lock (None: free) and the Sum of Invocations over the last ``idle_minutes``."""
    if not record or not record.get("endpoint_name"):
        return Decision(False, "no model serves")
    state = idle_state(record)
    if state != SERVING:
        return Decision(False, f"the endpoint is {state}")
    if endpoint is None:
        return Decision(False, "the endpoint does not exist")
    status = str(endpoint.get("EndpointStatus"))
    if status != "InService":
        return Decision(False, f"the endpoint is {status}")
    if endpoint.get("EndpointConfigName") != record.get("endpoint_config_name"):
        return Decision(False, "the endpoint serves another config than @serving names (a deployment)")
    if lock_holder is not None:
        return Decision(False, f"run {lock_holder} holds the endpoint lock")
    window_start = now - timedelta(minutes=idle_minutes)
    for label, moment in (
        ("changed", parse_time(endpoint.get("LastModifiedTime"))),
        ("started serving", serving_since(record)),
    ):
        if moment is not None and moment > window_start:
            minutes = (now - moment).total_seconds() / 60
            return Decision(False, f"the endpoint {label} {minutes:.0f} min ago (< {idle_minutes})")
    if invocations > 0:
        return Decision(False, f"{invocations:g} invocations in the last {idle_minutes} min")
    return Decision(True, f"no invocations in the last {idle_minutes} min")


def invocation_queries(endpoint_name: str, variant_names: list[str]) -> list[dict[str, Any]]:
    """GetMetricData queries: the Sum of Invocations per minute of each variant."""
    return [
        {
            "Id": f"v{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": METRIC_NAMESPACE,
                    "MetricName": METRIC_NAME,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint_name},
                        {"Name": "VariantName", "Value": variant},
                    ],
                },
                "Period": METRIC_PERIOD_SECONDS,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, variant in enumerate(variant_names)
    ]


def fleet(endpoint: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[str | None, int]:
    """The instance type and count the endpoint runs (what parking stops billing), from DescribeEndpoint and
    DescribeEndpointConfig: the first variant's type, every variant's current count."""
    variants = list(config.get("ProductionVariants") or [])
    instance_type = (
        str(variants[0].get("InstanceType")) if variants and variants[0].get("InstanceType") else None
    )
    count = sum(
        int(v.get("CurrentInstanceCount", v.get("DesiredInstanceCount", 0)) or 0)
        for v in endpoint.get("ProductionVariants") or []
    )
    if not count:
        count = sum(int(v.get("InitialInstanceCount", 1) or 1) for v in variants)
    return instance_type, count


def park_update(
    record: Mapping[str, Any],
    *,
    now: str,
    instance_type: str | None,
    instance_count: int,
    scaling: str | None = None,
) -> Update:
    """Mark ``@serving`` parked with the config to wake from, only while it still names that config and
    serves (another publish or park in between makes it fail: ConditionalCheckFailedException). ``scaling``
    (the endpoint's auto scaling as JSON, lambdas/idle/scaling.py) is kept as ``idle_scaling`` until the
    woken endpoint has it back."""
    hourly = endpoint_hourly_usd(instance_type, instance_count)
    values: dict[str, Any] = {
        ":parked": PARKED,
        ":now": now,
        ":config": str(record["endpoint_config_name"]),
        ":type": instance_type or "",
        ":count": instance_count,
        ":serving": SERVING,
    }
    sets = [
        "idle_state = :parked",
        "parked_at = :now",
        "parked_endpoint_config_name = :config",
        "parked_instance_type = :type",
        "parked_instance_count = :count",
    ]
    if hourly is not None:
        sets.append("parked_hourly_usd = :hourly")
        values[":hourly"] = hourly
    if scaling:
        sets.append("idle_scaling = :scaling")
        values[":scaling"] = scaling
    return Update(
        update_expression="SET " + ", ".join(sets) + " REMOVE wake_started_at",
        condition_expression=(
            "endpoint_config_name = :config AND (attribute_not_exists(idle_state) OR idle_state = :serving)"
        ),
        names={},
        values=values,
    )


def wake_claim_update(record: Mapping[str, Any], *, now: datetime) -> Update:
    """Claim the wake: parked, or waking with a claim older than WAKE_RECLAIM_SECONDS (its CreateEndpoint did
    not take). Exactly one of concurrent requests succeeds."""
    stale = now - timedelta(seconds=WAKE_RECLAIM_SECONDS)
    return Update(
        update_expression="SET idle_state = :waking, wake_started_at = :now",
        condition_expression=(
            "parked_endpoint_config_name = :config AND (idle_state = :parked OR "
            "(idle_state = :waking AND wake_started_at < :stale))"
        ),
        names={},
        values={
            ":waking": WAKING,
            ":parked": PARKED,
            ":now": _iso(now),
            ":stale": _iso(stale),
            ":config": str(record.get("parked_endpoint_config_name", "")),
        },
    )


def woken_update(record: Mapping[str, Any], *, now: str) -> Update:
    """Mark ``@serving`` serving again (the endpoint is InService on the parked config), once."""
    return Update(
        update_expression=(
            "SET idle_state = :serving, woken_at = :now REMOVE wake_started_at, parked_at, "
            "parked_endpoint_config_name, parked_instance_type, parked_instance_count, parked_hourly_usd"
        ),
        condition_expression="idle_state IN (:parked, :waking) AND parked_endpoint_config_name = :config",
        names={},
        values={
            ":serving": SERVING,
            ":now": now,
            ":parked": PARKED,
            ":waking": WAKING,
            ":config": str(record.get("parked_endpoint_config_name", "")),
        },
    )


def usage_update(
    event: Literal["park", "wake"],
    *,
    served_seconds: float = 0.0,
    parked_seconds: float = 0.0,
    avoided_usd: float = 0.0,
    now: str,
) -> Update:
    """Add to ``@endpoint-usage``'s counters (created by the first write): seconds served and parked, the
    cost avoided, and one ``park`` (with the seconds served until it) or ``wake`` (the seconds parked)."""
    counter = {"park": "parks", "wake": "wakes"}[event]
    return Update(
        update_expression=(
            "ADD served_seconds :served, parked_seconds :parked, cost_avoided_usd :avoided, #counter :one "
            "SET updated_at = :now"
        ),
        condition_expression="",
        names={"#counter": counter},
        values={
            ":served": round(max(served_seconds, 0.0), 3),
            ":parked": round(max(parked_seconds, 0.0), 3),
            ":avoided": round(max(avoided_usd, 0.0), 6),
            ":one": 1,
            ":now": now,
        },
    )


def parked_cost(record: Mapping[str, Any], parked_seconds: float) -> float:
    """What the parked instances would have cost for ``parked_seconds`` (0 when their type is not priced)."""
    hourly = record.get("parked_hourly_usd")
    return float(hourly) * parked_seconds / 3600 if isinstance(hourly, int | float) else 0.0


def usage_summary(
    usage: Mapping[str, Any] | None, record: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """Endpoint-hours served and parked and the cost avoided, with the open interval up to ``now`` (serving
    since the last publish or wake, or parked since ``parked_at``); None when nothing was ever parked."""
    if not usage:
        return None
    served = float(usage.get("served_seconds") or 0)
    parked = float(usage.get("parked_seconds") or 0)
    avoided = float(usage.get("cost_avoided_usd") or 0)
    if record:
        if idle_state(record) == SERVING:
            since = serving_since(record)
            served += max((now - since).total_seconds(), 0.0) if since else 0.0
        else:
            since = parse_time(record.get("parked_at"))
            open_parked = max((now - since).total_seconds(), 0.0) if since else 0.0
            parked += open_parked
            avoided += parked_cost(record, open_parked)
    return {
        "served_hours": round(served / 3600, 3),
        "parked_hours": round(parked / 3600, 3),
        "cost_avoided_usd": round(avoided, 2),
        "parks": int(usage.get("parks") or 0),
        "wakes": int(usage.get("wakes") or 0),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def update_kwargs(update: Update, run_id: str, *, return_values: str = "NONE") -> dict[str, Any]:
    """``Table.update_item`` keyword arguments for ``update`` on ``run_id``, leaving out what DynamoDB refuses
    empty (ExpressionAttributeNames, an empty ConditionExpression)."""
    kwargs = update.kwargs(run_id, return_values=return_values)
    if not update.names:
        del kwargs["ExpressionAttributeNames"]
    if not update.condition_expression:
        del kwargs["ConditionExpression"]
    return kwargs


def scaling_restored_update(saved: str) -> Update:
    """Drop ``idle_scaling`` once restored (only that saved value: a publish in between wrote a new record)."""
    return Update(
        update_expression="REMOVE idle_scaling",
        condition_expression="idle_scaling = :saved",
        names={},
        values={":saved": saved},
    )
