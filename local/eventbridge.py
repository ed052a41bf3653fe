"""EventBridge -> Lambda for the local cloud: the one target type moto cannot deliver to without Docker.

moto 5.2.5 matches events against rules (``Rule.send_to_targets`` in ``moto/events/models.py``) and
delivers to log groups, SQS, archives and other buses; a Lambda target raises ``NotImplementedError``.
Events reach rules from ``PutEvents`` and from S3: with EventBridge notifications enabled on a bucket,
moto's ``moto/s3/notifications.py`` (``_send_event_bridge_message``) already emits ``Object Created``
for PutObject, CopyObject and CompleteMultipartUpload, so the local cloud uses that instead of emitting
its own.

**Patch point** (the only one, installed by :meth:`EventBridgeLambdaTargets.install`):
``moto.events.models.Rule.send_to_targets``. The replacement takes the rule's Lambda targets out,
matches the event with the rule's own pattern, and hands each matched Lambda target to a delivery thread;
the remaining targets go to moto's original method unchanged. :func:`check_compatibility` checks the
method's signature and the rule attributes used, so a moto upgrade fails loudly.

Delivery follows AWS's two layers of retries:

1. EventBridge -> Lambda (``Invoke`` with ``InvocationType=Event``): if the Lambda *service* refuses the
   event (function missing, throttled), EventBridge retries with backoff within the target's
   ``RetryPolicy`` (``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``) and then sends the event to the
   target's ``DeadLetterConfig`` queue with the attributes AWS sets (``RULE_ARN``, ``TARGET_ARN``,
   ``ERROR_CODE``, ``ERROR_MESSAGE``, ``RETRY_ATTEMPTS``, ``EXHAUSTED_RETRY_CONDITION``).
2. Lambda's asynchronous invocation (:class:`AsyncLambdaInvoker`): once accepted, a failing function is
   retried ``MaximumRetryAttempts`` times (``AWS::Lambda::EventInvokeConfig``; Lambda's default 2), then the
   event goes to the function's ``DeadLetterConfig`` queue with ``RequestID``/``ErrorCode``/``ErrorMessage``
   attributes. AWS waits about 1 and 2 minutes between those retries; the local delays are
   ``retry_delays`` (seconds, default 1 and 2) so failures surface quickly.

Events are handed to functions in the shape AWS delivers (:func:`aws_event_shape`): ISO-8601 ``time``, no
``ingestion-time``; moto's S3 events additionally get ``detail.object.etag`` (moto writes ``eTag``), a
unique ``id`` and ``sequencer``, and no ``version-id`` for unversioned buckets.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from moto.events import models as events_models
from moto.events.models import EventTemplateParser, Rule
from moto.s3 import notifications as s3_notifications

from local.moto_compat import MotoInternalsChanged
from local.sfn import LambdaRegistry, LambdaServiceError

from .lambda_runtime import AsyncInvokeConfig

LOG = logging.getLogger(__name__)

MOTO_BASE_EVENT_ID: Final = "17793124-05d4-b198-2fde-7ededc63b103"
"""The constant ``id`` moto puts on every S3 EventBridge event."""

SendMessage = Callable[[str, str, dict[str, str]], None]
"""``send(queue_arn, body, string_attributes)``: how dead letters reach SQS."""


def check_compatibility() -> None:
    """Raise :class:`local.moto_compat.MotoInternalsChanged` if the moto internals used here moved."""
    problems: list[str] = []
    signature = tuple(inspect.signature(Rule.send_to_targets).parameters)
    if signature != ("self", "original_event", "transform_input"):
        problems.append(f"Rule.send_to_targets{signature} != (self, original_event, transform_input)")
    init_source = inspect.getsource(Rule.__init__)
    for attribute in ("self.targets", "self.event_pattern", "self.state", "self.account_id"):
        if attribute not in init_source:
            problems.append(f"Rule.__init__ no longer sets {attribute}")
    if not hasattr(events_models.EventPattern, "matches_event"):
        problems.append("EventPattern.matches_event is missing")
    if not hasattr(s3_notifications, "_send_event_bridge_message"):
        problems.append("moto.s3.notifications._send_event_bridge_message is missing (S3 -> EventBridge)")
    if problems:
        raise MotoInternalsChanged("local.eventbridge: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------------
# Event shape
# --------------------------------------------------------------------------------------------------

_SEQUENCER = itertools.count(int(time.time() * 1000) << 16)


def _iso(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def aws_event_shape(event: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """A copy of a moto event in the shape EventBridge delivers to targets (see module docstring)."""
    shaped = copy.deepcopy(dict(event))
    shaped.pop("ingestion-time", None)
    shaped["time"] = _iso(shaped.get("time") or time.time())
    if shaped.get("source") == "aws.s3" and isinstance(shaped.get("detail"), dict):
        detail = shaped["detail"]
        obj = detail.get("object")
        if isinstance(obj, dict):
            if "eTag" in obj:
                obj["etag"] = obj.pop("eTag")
            if obj.get("version-id") is None:
                obj.pop("version-id", None)
            if obj.get("sequencer") == "617f08299329d189":
                obj["sequencer"] = f"{next(_SEQUENCER):016X}"
        if detail.get("requester") == "123456789012":
            detail["requester"] = account_id
        if detail.get("source-ip-address") == "1.2.3.4":
            detail["source-ip-address"] = "127.0.0.1"
        if detail.get("request-id") == "N4N7GDK58NMKJ12R":
            detail["request-id"] = uuid.uuid4().hex[:16].upper()
    return shaped


def _target_input(target: Mapping[str, Any], event: dict[str, Any]) -> Any:
    # moto's S3 path skips input transformation (transform_input=False) because of its float "time";
    # the Lambda event is already in AWS shape, so the target's Input settings always apply, as on AWS.
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        value: Any = event
        for part in [p for p in str(target["InputPath"]).lstrip("$").split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        text = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,  # type: ignore[arg-type]
        )
        try:
            return json.loads(text) if isinstance(text, str) else text
        except ValueError:
            return text
    return event


def is_lambda_arn(arn: str) -> bool:
    """``arn:<partition>:lambda:<region>:<account>:function:<name>[:qualifier]``."""
    parts = arn.split(":")
    return len(parts) >= 7 and parts[0] == "arn" and parts[2] == "lambda" and parts[5] == "function"


# --------------------------------------------------------------------------------------------------
# Lambda asynchronous invocation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRecord:
    """What became of one event for one Lambda target (kept for tests and diagnostics)."""

    rule_arn: str | None
    function_name: str
    event_id: str
    detail_type: str
    outcome: str  # "succeeded" | "function-error-dead-lettered" | "function-error-dropped" | ...
    attempts: int
    error: str | None = None
    dead_letter_error: str | None = None
    """Why the dead letter could not be sent (the DLQ's policies refused it; Lambda's ``DeadLetterErrors``)."""


@dataclass
class _Stats:
    in_flight: int = 0
    records: list[DeliveryRecord] = field(default_factory=list)


class AsyncLambdaInvoker:
    """Lambda's event (asynchronous) invocation: accept now, run in the background, retry, dead-letter.

    ``configs(function_name)`` returns the function's :class:`AsyncInvokeConfig` (retries, DLQ).
    """

    def __init__(
        self,
        registry: LambdaRegistry,
        configs: Callable[[str], AsyncInvokeConfig | None],
        send_message: SendMessage,
        *,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        max_workers: int = 16,
        may_dead_letter: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.registry = registry
        # may_dead_letter(function name, DLQ ARN): why the function's role may not send there (local/iam_resource.py).
        self.may_dead_letter = may_dead_letter
        self.configs = configs
        self.send_message = send_message
        self.retry_delays = retry_delays
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda-async")
        self._stats = _Stats()
        self._lock = threading.Condition()

    @property
    def records(self) -> list[DeliveryRecord]:
        """Every finished asynchronous invocation, oldest first."""
        with self._lock:
            return list(self._stats.records)

    def _track(self, future: Future[Any]) -> None:
        with self._lock:
            self._stats.in_flight += 1

        def done(_: Future[Any]) -> None:
            with self._lock:
                self._stats.in_flight -= 1
                self._lock.notify_all()

        future.add_done_callback(done)

    def _record(self, record: DeliveryRecord) -> None:
        with self._lock:
            self._stats.records.append(record)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no invocation is queued or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._stats.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def invoke_async(
        self,
        function: str,
        event: Any,
        *,
        rule_arn: str | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> str:
        """Accept an event for ``function`` (``Invoke`` with ``InvocationType=Event``): returns the request
        id; raises :class:`LambdaServiceError` (``ResourceNotFoundException``) for an unknown function.
        ``on_done`` is called once the invocation (with its retries) is over."""
        from local.sfn import function_name_of

        name = function_name_of(function)
        if name not in self.registry.names:
            raise LambdaServiceError("ResourceNotFoundException", f"Function not found: {function}")
        request_id = str(uuid.uuid4())
        future = self._executor.submit(self._run, name, event, request_id, rule_arn)
        self._track(future)
        if on_done is not None:
            future.add_done_callback(lambda _: on_done())
        return request_id

    def _run(self, name: str, event: Any, request_id: str, rule_arn: str | None) -> None:
        config = self.configs(name) or AsyncInvokeConfig()
        received = time.monotonic()
        attempts = 0
        error: str | None = None
        event_id = str(event.get("id", "")) if isinstance(event, dict) else ""
        detail_type = str(event.get("detail-type", "")) if isinstance(event, dict) else ""
        while True:
            attempts += 1
            try:
                response = self.registry.invoke(name, json.dumps(event))
            except LambdaServiceError as service_error:
                response = {
                    "FunctionError": service_error.code,
                    "Payload": {"errorMessage": service_error.message},
                }
            if "FunctionError" not in response:
                self._record(DeliveryRecord(rule_arn, name, event_id, detail_type, "succeeded", attempts))
                return
            payload = response.get("Payload") or {}
            error = (
                f"{payload.get('errorType', response['FunctionError'])}: {payload.get('errorMessage', '')}"
            )
            LOG.warning("async invocation of %s failed (attempt %d): %s", name, attempts, error[:300])
            retries_left = attempts <= config.maximum_retry_attempts
            too_old = time.monotonic() - received > config.maximum_event_age_seconds
            if not retries_left or too_old:
                break
            time.sleep(
                self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)] if self.retry_delays else 0
            )
        target = config.dead_letter_arn or config.on_failure_arn
        outcome = "function-error-dropped"
        refused = self.may_dead_letter(name, target) if target and self.may_dead_letter else None
        if refused:
            # Lambda sends with the function's execution role; refused, the event is lost (DeadLetterErrors).
            LOG.warning("could not dead-letter the event of %s to %s: %s", name, target, refused)
            self._record(
                DeliveryRecord(
                    rule_arn, name, event_id, detail_type, "dead-letter-failed", attempts, error, refused
                )
            )
            return
        if target:
            try:
                self.send_message(
                    target,
                    json.dumps(event),
                    {"RequestID": request_id, "ErrorCode": "200", "ErrorMessage": (error or "")[:1000]},
                )
                outcome = "function-error-dead-lettered"
            except Exception:
                LOG.exception("could not dead-letter the event of %s to %s", name, target)
        self._record(DeliveryRecord(rule_arn, name, event_id, detail_type, outcome, attempts, error))

    def shutdown(self) -> None:
        """Stop accepting work (running invocations finish in the background)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------------
# EventBridge targets
# --------------------------------------------------------------------------------------------------

_ORIGINAL_SEND: dict[str, Any] = {}
_ACTIVE: list[EventBridgeLambdaTargets] = []
_INSTALL_LOCK = threading.Lock()


class EventBridgeLambdaTargets:
    """Delivers events matched by moto's rules to Lambda targets through :class:`AsyncLambdaInvoker`."""

    def __init__(
        self,
        invoker: AsyncLambdaInvoker,
        send_message: SendMessage,
        *,
        retry_backoff: float = 0.5,
        max_workers: int = 8,
        may_invoke: Callable[[str, str], bool] | None = None,
        may_dead_letter: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.invoker = invoker
        # may_dead_letter(rule ARN, DLQ ARN): why EventBridge may not send there (local/iam_resource.py).
        self.may_dead_letter = may_dead_letter
        # may_invoke(rule ARN, function ARN): the function's resource policy lets EventBridge invoke it.
        self.may_invoke = may_invoke
        self.send_message = send_message
        self.retry_backoff = retry_backoff
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="events-delivery")
        self._pending = 0
        self._lock = threading.Condition()
        self.dead_letters: list[dict[str, Any]] = []

    # -- patch ---------------------------------------------------------------------------------------

    def install(self) -> EventBridgeLambdaTargets:
        """Patch ``Rule.send_to_targets`` (process-wide; one installation at a time)."""
        check_compatibility()
        with _INSTALL_LOCK:
            if _ACTIVE:
                raise RuntimeError("local.eventbridge is already installed")
            _ORIGINAL_SEND["send_to_targets"] = Rule.send_to_targets
            Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign,assignment]
            _ACTIVE.append(self)
        return self

    def uninstall(self) -> None:
        """Restore moto's method and stop delivering."""
        with _INSTALL_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
                Rule.send_to_targets = _ORIGINAL_SEND.pop("send_to_targets")  # type: ignore[method-assign]
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- delivery ------------------------------------------------------------------------------------

    def submit(self, rule: Rule, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        """Queue one matched event for one Lambda target."""
        with self._lock:
            self._pending += 1
        future = self._executor.submit(self._deliver, rule.arn, dict(target), event)

        def done(_: Future[Any]) -> None:
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

        future.add_done_callback(done)

    def _deliver(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        policy = target.get("RetryPolicy") or {}
        max_retries = int(policy.get("MaximumRetryAttempts", 185))
        max_age = float(policy.get("MaximumEventAgeInSeconds", 86400))
        started = time.monotonic()
        if self.may_invoke is not None and not self.may_invoke(rule_arn, str(target["Arn"])):
            # Not retried: EventBridge retries throttling and 5xx errors, not a missing permission
            # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
            message = (
                f"events.amazonaws.com is not authorized to perform: lambda:InvokeFunction on resource: "
                f"{target['Arn']} because no resource-based policy allows the lambda:InvokeFunction action"
            )
            self._dead_letter(rule_arn, target, event, "NO_PERMISSIONS", message, 0, "")
            return
        attempts = 0
        while True:
            attempts += 1
            try:
                self.invoker.invoke_async(target["Arn"], event, rule_arn=rule_arn)
                return
            except LambdaServiceError as error:
                code, message = error.code, error.message
            except Exception as error:
                code, message = "InternalException", str(error)
            exhausted = None
            if attempts > max_retries:
                exhausted = "MaximumRetryAttempts"
            elif time.monotonic() - started > max_age:
                exhausted = "MaximumEventAgeInSeconds"
            if exhausted is None:
                # EventBridge backs off exponentially; the local base is short.
                time.sleep(min(self.retry_backoff * 2 ** (attempts - 1), 10.0))
                continue
            self._dead_letter(rule_arn, target, event, code, message, attempts - 1, exhausted)
            return

    def _dead_letter(
        self,
        rule_arn: str,
        target: Mapping[str, Any],
        event: dict[str, Any],
        code: str,
        message: str,
        retries: int,
        exhausted: str,
    ) -> None:
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        record = {"rule_arn": rule_arn, "target_arn": target["Arn"], "error_code": code, "event": event}
        self.dead_letters.append(record)
        LOG.warning(
            "EventBridge could not deliver %s to %s: %s %s", event.get("id"), target["Arn"], code, message
        )
        if not dlq:
            return
        refused = self.may_dead_letter(rule_arn, str(dlq)) if self.may_dead_letter else None
        if refused:
            # The event is lost; EventBridge counts InvocationsFailedToBeSentToDLQ.
            record["dead_letter_error"] = refused
            LOG.warning("EventBridge could not send %s to its DLQ %s: %s", event.get("id"), dlq, refused)
            return
        attributes = {
            "RULE_ARN": rule_arn,
            "TARGET_ARN": str(target["Arn"]),
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message[:1000] or code,
            "RETRY_ATTEMPTS": str(retries),
            "EXHAUSTED_RETRY_CONDITION": exhausted,
        }
        try:
            self.send_message(dlq, json.dumps(event), attributes)
        except Exception:
            LOG.exception("could not send the undeliverable event to %s", dlq)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until queued deliveries and the invocations they started are done; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return self.invoker.wait_idle(max(0.0, deadline - time.monotonic()))


def _send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    original: Callable[..., None] = _ORIGINAL_SEND["send_to_targets"]
    delivery = _ACTIVE[0] if _ACTIVE else None
    lambda_targets = [t for t in self.targets if is_lambda_arn(str(t.get("Arn", "")))]
    if delivery is None or not lambda_targets:
        original(self, original_event, transform_input)
        return
    if original_event.get("source") == "aws.s3" and original_event.get("id") == MOTO_BASE_EVENT_ID:
        # moto hands the same dict to every rule: one id per event, as EventBridge does.
        original_event["id"] = str(uuid.uuid4())
    if getattr(self.event_pattern, "_raw_pattern", None) is None:
        # A rule without an event pattern is a scheduled rule: it fires on its schedule only and matches
        # no event (moto's empty pattern would match every one). A rule has an EventPattern, a
        # ScheduleExpression or both: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html
        return
    event = aws_event_shape(original_event, self.account_id)
    if self.state == "ENABLED" and self.event_pattern.matches_event(event):  # type: ignore[arg-type]
        for target in lambda_targets:
            delivery.submit(self, target, _target_input(target, event))
    others = [t for t in self.targets if not is_lambda_arn(str(t.get("Arn", "")))]
    if others:
        view = copy.copy(self)
        view.targets = others
        original(view, original_event, transform_input)
