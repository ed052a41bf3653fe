"""Scheduled EventBridge rules on the local cloud: ``rate(...)`` rules fire their Lambda targets on a timer.

moto stores a rule's ``ScheduleExpression`` but nothing fires it. :class:`ScheduledRules` does, from a
background thread: every rule in moto's default and custom buses with a ``rate(N unit)`` schedule fires
every ``N`` minutes of *local time*, where one local minute lasts ``seconds_per_minute`` seconds
(``CloudSettings.schedule_seconds_per_minute``, default 1.0: ``rate(5 minutes)`` fires every 5 s), so a
sweep that runs every five minutes on AWS runs often enough locally to be seen within a test. The first
firing is one period after the rule is first seen, as on AWS. ``seconds_per_minute = 0`` stops the timer:
rules then fire only through :meth:`ScheduledRules.fire_now` (tests).

Each firing reads the rule and its targets from moto at that moment (so ``DisableRule``/``PutTargets``
apply) and, for an ``ENABLED`` rule, hands the ``Scheduled Event`` EventBridge would send (``source:
aws.events``, ``detail-type: Scheduled Event``, ``resources: [rule ARN]``, ``detail: {}``; a target's
``Input``/``InputPath``/``InputTransformer`` applied) to each Lambda target through Lambda's asynchronous
invocation (:class:`local.eventbridge.AsyncLambdaInvoker`: retries, dead letters). A firing that finds the
previous firing of the same rule still running is skipped, as nothing is gained from queuing sweeps.

``cron(...)`` expressions are refused when deploying (:func:`schedule_minutes` raises), rather than fired
at a guessed time.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .eventbridge import AsyncLambdaInvoker, _target_input, is_lambda_arn

LOG = logging.getLogger(__name__)

_RATE: Final = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_MINUTES: Final = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


def schedule_minutes(expression: str) -> int:
    """The period of a ``rate(N unit)`` expression in minutes; ValueError naming the problem otherwise
    (``cron(...)`` is not fired locally; AWS wants ``1 minute`` but ``5 minutes``)."""
    text = expression.strip()
    if text.startswith("cron("):
        raise ValueError(f"schedule {expression!r}: cron expressions are not fired locally (use rate(...))")
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"schedule {expression!r} is not rate(<number> minute(s)|hour(s)|day(s))")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise ValueError(f"schedule {expression!r}: the rate must be a positive number")
    if (value == 1) != (not unit.endswith("s")):
        raise ValueError(
            f"schedule {expression!r}: write rate(1 {unit.rstrip('s')}) or rate(N {unit.rstrip('s')}s)"
        )
    return value * _UNIT_MINUTES[unit]


def scheduled_event(rule_arn: str, account_id: str, region: str, now: float | None = None) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's targets."""
    moment = dt.datetime.fromtimestamp(time.time() if now is None else now, tz=dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class _Schedule:
    name: str
    bus: str
    arn: str
    minutes: int
    next_due: float
    in_flight: int = 0


class ScheduledRules:
    """Fires the ``rate(...)`` rules stored in moto (see module docstring).

    ``events()`` returns an EventBridge client for the local endpoint.
    """

    def __init__(
        self,
        events: Callable[[], Any],
        invoker: AsyncLambdaInvoker,
        *,
        account_id: str,
        region: str,
        seconds_per_minute: float = 1.0,
        tick_seconds: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds_per_minute < 0:
            raise ValueError(f"seconds_per_minute must not be negative, got {seconds_per_minute}")
        self.events = events
        self.invoker = invoker
        self.account_id = account_id
        self.region = region
        self.seconds_per_minute = seconds_per_minute
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.firings: list[tuple[str, str]] = []
        """``(rule name, outcome)`` of every firing: ``delivered`` / ``disabled`` / ``skipped-busy`` /
        ``failed``."""
        self._schedules: dict[tuple[str, str], _Schedule] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- discovery -----------------------------------------------------------------------------------

    def refresh(self) -> list[str]:
        """Pick up the scheduled rules stored in moto (call after a deployment); returns their names."""
        client = self.events()
        buses = [bus["Name"] for bus in client.list_event_buses().get("EventBuses", [])] or ["default"]
        now = self.clock()
        found: dict[tuple[str, str], _Schedule] = {}
        for bus in buses:
            paginator = client.get_paginator("list_rules")
            for page in paginator.paginate(EventBusName=bus):
                for rule in page.get("Rules", []):
                    expression = rule.get("ScheduleExpression")
                    if not expression:
                        continue
                    minutes = schedule_minutes(expression)
                    key = (bus, rule["Name"])
                    with self._lock:
                        known = self._schedules.get(key)
                    if known is not None and known.minutes == minutes:
                        found[key] = known
                    else:
                        found[key] = _Schedule(
                            rule["Name"], bus, rule["Arn"], minutes, now + minutes * self.seconds_per_minute
                        )
        with self._lock:
            self._schedules = found
        return sorted(name for _, name in found)

    # -- timer ---------------------------------------------------------------------------------------

    def start(self) -> ScheduledRules:
        """Fire due rules from a background thread (nothing fires when ``seconds_per_minute`` is 0)."""
        if self.seconds_per_minute > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="eventbridge-schedules", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the timer (firings already handed to Lambda finish in the background)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            now = self.clock()
            with self._lock:
                due = [s for s in self._schedules.values() if s.next_due <= now]
                for schedule in due:
                    period = schedule.minutes * self.seconds_per_minute
                    # A late tick does not fire twice: the next firing is one period after this one.
                    schedule.next_due = max(schedule.next_due + period, now + period * 0.5)
            for schedule in due:
                self._fire(schedule)

    def fire_now(self, rule_name: str | None = None, *, at: float | None = None) -> int:
        """Fire one rule (by name) or every scheduled rule now; returns how many rules were fired. ``at``
        (epoch seconds) is the event's ``time`` instead of the clock's: a test stands in for waiting until
        then (a window that must not overlap the previous one) without sleeping."""
        with self._lock:
            chosen = [s for s in self._schedules.values() if rule_name in (None, s.name)]
        if rule_name is not None and not chosen:
            raise KeyError(f"no scheduled rule named {rule_name!r} (known: {self.names})")
        for schedule in chosen:
            self._fire(schedule, at)
        return len(chosen)

    @property
    def names(self) -> list[str]:
        """The scheduled rules being fired."""
        with self._lock:
            return sorted(s.name for s in self._schedules.values())

    def _fire(self, schedule: _Schedule, at: float | None = None) -> None:
        try:
            outcome = self._deliver(schedule, at)
        except Exception:
            LOG.exception("firing the scheduled rule %s failed", schedule.name)
            outcome = "failed"
        with self._lock:
            self.firings.append((schedule.name, outcome))

    def _deliver(self, schedule: _Schedule, at: float | None = None) -> str:
        client = self.events()
        rule = client.describe_rule(Name=schedule.name, EventBusName=schedule.bus)
        if rule.get("State") != "ENABLED":
            return "disabled"
        with self._lock:
            if schedule.in_flight:
                return "skipped-busy"
        targets = client.list_targets_by_rule(Rule=schedule.name, EventBusName=schedule.bus).get(
            "Targets", []
        )
        event = scheduled_event(schedule.arn, self.account_id, self.region, at)
        for target in targets:
            if not is_lambda_arn(str(target.get("Arn", ""))):
                LOG.warning(
                    "scheduled rule %s: target %s is not a Lambda function", schedule.name, target["Arn"]
                )
                continue
            with self._lock:
                schedule.in_flight += 1
            try:
                self.invoker.invoke_async(
                    target["Arn"],
                    _target_input(target, event),
                    rule_arn=schedule.arn,
                    on_done=self._done(schedule),
                )
            except Exception:
                self._done(schedule)()
                raise
        return "delivered"

    def _done(self, schedule: _Schedule) -> Callable[[], None]:
        def done() -> None:
            with self._lock:
                schedule.in_flight = max(0, schedule.in_flight - 1)

        return done
