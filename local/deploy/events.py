"""``AWS::Events::Rule`` in moto. ``rate(...)`` schedules are fired by :mod:`local.schedules` (``cron(...)``
is refused); targets are delivered to Lambda, SQS, CloudWatch Logs and event buses only.
"""

from __future__ import annotations

import json
from typing import Any

from ..cfn import ResourceState, TemplateError
from ..schedules import schedule_minutes
from .context import Handler, StackContext, generated_name


def events_rule(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    schedule = props.get("ScheduleExpression")
    if schedule is not None:
        try:
            schedule_minutes(str(schedule))
        except ValueError as error:
            raise TemplateError(f"{ctx.name}: {logical_id}: {error}") from None
    events = ctx.clients("events")
    name = props.get("Name") or generated_name(ctx.name, logical_id, 64)
    bus = props.get("EventBusName", "default")
    pattern = props.get("EventPattern")
    kwargs: dict[str, Any] = {
        "Name": name,
        "State": props.get("State", "ENABLED"),
        "Description": props.get("Description", ""),
        "EventBusName": bus,
    }
    if pattern is not None:
        kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if schedule is not None:
        kwargs["ScheduleExpression"] = str(schedule)
    arn = events.put_rule(**kwargs)["RuleArn"]
    targets = []
    for target in props.get("Targets", []):
        service = str(target["Arn"]).split(":")[2]
        if schedule is not None and service != "lambda":
            raise TemplateError(
                f"{ctx.name}: {logical_id}: scheduled rules fire Lambda targets only locally, not {service!r}"
            )
        if service not in ("lambda", "sqs", "logs", "events"):
            raise TemplateError(
                f"{ctx.name}: {logical_id}: targets of service {service!r} are not delivered locally "
                "(supported: Lambda, SQS, CloudWatch Logs, event buses)"
            )
        targets.append({key: value for key, value in target.items() if key != "RoleArn" or value})
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return ResourceState("AWS::Events::Rule", name, {"Arn": arn})


HANDLERS: dict[str, Handler] = {
    "AWS::Events::Rule": events_rule,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
