"""``AWS::CloudWatch::Alarm``: single-metric, static-threshold alarms are created in moto and evaluated by
:class:`local.alarms.AlarmEvaluator` (the deployment's ``alarms`` list names them); others (metric math,
anomaly detection) are accepted and recorded as not emulated.
"""

from __future__ import annotations

from typing import Any

from ..alarms import is_evaluated
from ..cfn import ResourceState
from .context import Handler, StackContext, aws_arn

_KEYS = (
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)
_INT_KEYS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")
NOT_EVALUATED = (
    "AWS::CloudWatch::Alarm: only single-metric alarms with a static threshold are evaluated locally "
    "(local/alarms.py); this one (metric math or anomaly detection) never changes state"
)


def cloudwatch_alarm(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    # The name the alarm had while alarms were not emulated (AlarmName or the logical id), kept so the
    # fidelity check of its topic's key policy (local/fidelity.py) sees the same ARN.
    name = str(props.get("AlarmName") or logical_id)
    arn = aws_arn(ctx.services.environment, "cloudwatch", f"alarm:{name}")
    if not is_evaluated(props):
        ctx.result.not_emulated[logical_id] = NOT_EVALUATED
        return ResourceState("AWS::CloudWatch::Alarm", name, {"Arn": arn})
    kwargs: dict[str, Any] = {key: props[key] for key in _KEYS if key in props}
    for key in _INT_KEYS:
        if key in kwargs:
            kwargs[key] = int(kwargs[key])
    kwargs["Threshold"] = float(kwargs["Threshold"])
    if "ActionsEnabled" in kwargs:
        kwargs["ActionsEnabled"] = str(kwargs["ActionsEnabled"]).lower() == "true"
    ctx.clients("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
    ctx.deployment.alarms.append(name)
    return ResourceState("AWS::CloudWatch::Alarm", name, {"Arn": arn})


HANDLERS: dict[str, Handler] = {
    "AWS::CloudWatch::Alarm": cloudwatch_alarm,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
