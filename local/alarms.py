"""CloudWatch metric alarms on the local cloud: evaluated over moto's stored metrics, notifying SNS.

moto stores alarms (PutMetricAlarm) and metric data (PutMetricData) but never evaluates an alarm. The
deployer creates the template's single-metric, static-threshold alarms in moto
(:mod:`local.deploy.cloudwatch`); :class:`AlarmEvaluator` evaluates those, from a background thread every
``tick_seconds`` or on :meth:`AlarmEvaluator.evaluate_now`, as CloudWatch documents
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):

- the evaluation range is the last ``EvaluationPeriods`` periods of ``Period`` seconds ending now; each
  period's ``Statistic`` (GetMetricStatistics over the alarm's namespace, metric and dimensions) is one
  datapoint;
- a datapoint breaches when it compares with ``Threshold`` by ``ComparisonOperator``; a missing one is
  treated by ``TreatMissingData`` (``notBreaching``: good, ``breaching``: bad, ``ignore``: the state is
  kept, ``missing`` (the default): INSUFFICIENT_DATA when every datapoint of the range is missing);
- ALARM when at least ``DatapointsToAlarm`` (default ``EvaluationPeriods``) datapoints breach, OK otherwise;
- every alarm starts in INSUFFICIENT_DATA, as on AWS (moto starts them OK; the evaluator sets the state);
- a state change is written with SetAlarmState and, with ``ActionsEnabled``, published to the new state's
  actions (``AlarmActions``, ``OKActions``, ``InsufficientDataActions``) that are SNS topics, in CloudWatch's
  JSON notification shape with the subject ``ALARM: "<name>" in <region>``.

Not emulated: periods aligned to the clock and CloudWatch's evaluation delay (the range ends now),
percentile and extended statistics, math-expression and composite alarms (those stay not emulated at deploy),
anomaly detection, and ``EvaluateLowSampleCountPercentile``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

LOG = logging.getLogger(__name__)

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
INITIAL_STATE = "INSUFFICIENT_DATA"
# The region's name as CloudWatch writes it in notifications (only the local cloud's regions).
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "Europe (Ireland)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def is_evaluated(props: Mapping[str, Any]) -> bool:
    """Whether the evaluator can evaluate an alarm of these template properties: one metric (namespace,
    name, a simple statistic) against a static threshold with one of the four comparisons."""
    return (
        bool(props.get("Namespace"))
        and bool(props.get("MetricName"))
        and props.get("Statistic") in ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
        and props.get("ComparisonOperator") in _COMPARE
        and "Threshold" in props
        and not props.get("Metrics")
    )


def next_state(alarm: Mapping[str, Any], datapoints: list[float | None], current: str) -> tuple[str, str]:
    """``(state, reason)`` of an alarm (DescribeAlarms' shape) given its range's datapoints, newest first
    (None = missing), and its current state."""
    threshold = float(alarm["Threshold"])
    compare = _COMPARE[alarm["ComparisonOperator"]]
    treat = alarm.get("TreatMissingData") or "missing"
    needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
    present = [value for value in datapoints if value is not None]
    if not present:
        if treat == "ignore":
            return current, "no datapoints; missing data ignored, state kept"
        if treat == "missing":
            return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints in the evaluation range"
    breaching = sum(1 for value in present if compare(value, threshold))
    if treat == "breaching":
        breaching += len(datapoints) - len(present)
    shown = ", ".join(f"{value:g}" for value in present[:5]) or "none"
    relation = alarm["ComparisonOperator"].replace("Threshold", "").replace("OrEqualTo", " or equal to")
    if breaching >= needed:
        return "ALARM", (
            f"Threshold Crossed: {breaching} out of the last {len(datapoints)} datapoints [{shown}] were "
            f"{relation.lower()} the threshold ({threshold:g}) (minimum {needed} datapoints for OK -> ALARM "
            "transition)."
        )
    return "OK", (
        f"Threshold Crossed: {breaching} out of the last {len(datapoints)} datapoints [{shown}] breached the "
        f"threshold ({threshold:g}) (minimum {needed} datapoints for ALARM)."
    )


def notification(
    alarm: Mapping[str, Any], old: str, new: str, reason: str, at: datetime, account_id: str, region: str
) -> tuple[str, str]:
    """``(subject, message)`` CloudWatch publishes to SNS for a state change."""
    region_name = REGION_NAMES.get(region, region)
    message = {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": account_id,
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "Region": region_name,
        "AlarmArn": alarm.get("AlarmArn"),
        "OldStateValue": old,
        "OKActions": list(alarm.get("OKActions") or []),
        "AlarmActions": list(alarm.get("AlarmActions") or []),
        "InsufficientDataActions": list(alarm.get("InsufficientDataActions") or []),
        "Trigger": {
            "MetricName": alarm["MetricName"],
            "Namespace": alarm["Namespace"],
            "StatisticType": "Statistic",
            "Statistic": str(alarm["Statistic"]).upper(),
            "Unit": alarm.get("Unit"),
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions") or []],
            "Period": alarm["Period"],
            "EvaluationPeriods": alarm["EvaluationPeriods"],
            "ComparisonOperator": alarm["ComparisonOperator"],
            "Threshold": alarm["Threshold"],
            "TreatMissingData": alarm.get("TreatMissingData") or "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    # SNS subjects are at most 100 characters.
    subject = f'{new}: "{alarm["AlarmName"]}" in {region_name}'[:100]
    return subject, json.dumps(message)


class AlarmEvaluator:
    """Evaluates the alarms :mod:`local.deploy.cloudwatch` registered (see the module docstring).

    ``cloudwatch()`` and ``sns()`` return clients of the local endpoint signed by the administrator;
    ``clock()`` is the wall clock (metric timestamps are wall-clock times).
    """

    def __init__(
        self,
        cloudwatch: Callable[[], Any],
        sns: Callable[[], Any],
        *,
        account_id: str,
        region: str,
        tick_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.sns = sns
        self.account_id = account_id
        self.region = region
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.states: dict[str, str] = {}
        self.transitions: list[tuple[str, str, str]] = []
        """``(alarm name, old state, new state)`` of every state change, in order."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, alarm_name: str) -> None:
        """Evaluate this alarm from now on, starting in INSUFFICIENT_DATA (as AWS creates alarms)."""
        self.cloudwatch().set_alarm_state(
            AlarmName=alarm_name, StateValue=INITIAL_STATE, StateReason="Unchecked: Initial alarm creation"
        )
        with self._lock:
            self.states[alarm_name] = INITIAL_STATE

    def start(self) -> AlarmEvaluator:
        """Evaluate from a background thread every ``tick_seconds`` (0: only :meth:`evaluate_now`)."""
        if self.tick_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="cloudwatch-alarms", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.evaluate_now()
            except Exception:
                LOG.exception("evaluating the CloudWatch alarms failed")

    def evaluate_now(self, at: float | None = None) -> dict[str, str]:
        """Evaluate every registered alarm at the clock's time (or at ``at``, epoch seconds: a test that
        fired a schedule for a later window evaluates at that window's end); their states afterwards."""
        with self._lock:
            names = sorted(self.states)
            if not names:
                return {}
            client = self.cloudwatch()
            now = datetime.fromtimestamp(self.clock() if at is None else at, tz=UTC)
            for alarm in client.describe_alarms(AlarmNames=names).get("MetricAlarms", []):
                self._evaluate(client, alarm, now)
            return dict(self.states)

    def _datapoints(self, client: Any, alarm: Mapping[str, Any], now: datetime) -> list[float | None]:
        period = int(alarm["Period"])
        statistic = str(alarm["Statistic"])
        found: list[float | None] = []
        for index in range(int(alarm["EvaluationPeriods"])):
            # (end - period, end] in whole seconds (CloudWatch's and moto's resolution): a datapoint stamped
            # at the evaluation's instant belongs to the newest period.
            end = now.replace(microsecond=0) - timedelta(seconds=period * index) + timedelta(seconds=1)
            response = client.get_metric_statistics(
                Namespace=alarm["Namespace"],
                MetricName=alarm["MetricName"],
                Dimensions=alarm.get("Dimensions") or [],
                StartTime=end - timedelta(seconds=period),
                EndTime=end,
                Period=period,
                Statistics=[statistic],
            )
            values = [float(point[statistic]) for point in response.get("Datapoints", [])]
            if not values:
                found.append(None)
            elif statistic == "Sum" or statistic == "SampleCount":
                found.append(sum(values))
            elif statistic == "Minimum":
                found.append(min(values))
            elif statistic == "Maximum":
                found.append(max(values))
            else:
                found.append(sum(values) / len(values))
        return found

    def _evaluate(self, client: Any, alarm: Mapping[str, Any], now: datetime) -> None:
        name = str(alarm["AlarmName"])
        current = self.states.get(name, INITIAL_STATE)
        state, reason = next_state(alarm, self._datapoints(client, alarm, now), current)
        if state == current:
            return
        client.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason[:1023])
        self.states[name] = state
        self.transitions.append((name, current, state))
        if alarm.get("ActionsEnabled", True) is False:
            return
        actions = {
            "ALARM": alarm.get("AlarmActions"),
            "OK": alarm.get("OKActions"),
            "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions"),
        }[state]
        subject, message = notification(alarm, current, state, reason, now, self.account_id, self.region)
        for action in actions or []:
            if ":sns:" not in str(action):
                LOG.warning("alarm %s: action %s is not an SNS topic; not emulated", name, action)
                continue
            self.sns().publish(TopicArn=str(action), Subject=subject, Message=message)
