"""Lambda tasks answered by the LambdaRegistry."""

from __future__ import annotations

import json
from typing import Any

from local.sfn import LambdaContext, LambdaRegistry, LambdaServiceError

from .harness import Sfn, machine, pass_end, task

INVOKE = "arn:aws:states:::lambda:invoke"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


class SplitError(Exception):
    """A domain error raised by a handler."""


def test_invoke_returns_the_lambda_response_with_the_handler_result(
    sfn: Sfn, lambdas: LambdaRegistry
) -> None:
    # given a registered function that echoes its event and context
    def echo(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return {"event": event, "function": context.function_name, "arn": context.invoked_function_arn}

    lambdas.register("gtpipe-split", echo)
    definition = machine(
        (
            "Split",
            task(
                INVOKE,
                {"FunctionName": FUNCTION_ARN.format("gtpipe-split"), "Payload": {"run_id.$": "$.run_id"}},
                ResultSelector={"echo.$": "$.Payload", "status.$": "$.StatusCode"},
            ),
        )
    )

    # when the state machine runs
    execution = sfn.run(definition, {"run_id": "r-1"})

    # then the task output is the Invoke response, Payload being the handler's return value
    assert execution.status == "SUCCEEDED"
    assert execution.output == {
        "echo": {
            "event": {"run_id": "r-1"},
            "function": "gtpipe-split",
            "arn": FUNCTION_ARN.format("gtpipe-split"),
        },
        "status": 200,
    }
    assert [call.event for call in lambdas.invocations_of("gtpipe-split")] == [{"run_id": "r-1"}]
    assert execution.types[2:5] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]


def test_handler_exception_surfaces_with_its_class_name_and_is_caught(
    sfn: Sfn, lambdas: LambdaRegistry
) -> None:
    # given a handler raising a domain error and a Catch on that error name
    def split(event: dict[str, Any], context: LambdaContext) -> None:
        raise SplitError("no labelled lines")

    lambdas.register("split", split)
    definition = machine(
        (
            "Split",
            task(
                INVOKE,
                {"FunctionName": "split", "Payload": {}},
                Catch=[{"ErrorEquals": ["SplitError"], "ResultPath": "$.error", "Next": "FailedSplit"}],
                Next="Done",
            ),
        ),
        ("Done", pass_end()),
        ("FailedSplit", pass_end()),
    )

    # when it runs
    execution = sfn.run(definition)

    # then the error name is the exception class and the cause is the runtime's error payload
    assert execution.entered == ["Split", "FailedSplit"]
    error = execution.output["error"]
    assert error["Error"] == "SplitError"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "SplitError"
    assert cause["errorMessage"] == "no labelled lines"
    assert any("raise SplitError" in line for line in cause["stackTrace"])


def test_states_task_failed_catches_any_handler_error(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a handler failing with a built-in exception and a Catch on States.TaskFailed
    def evaluate(event: dict[str, Any], context: LambdaContext) -> Any:
        return event["missing"]

    lambdas.register("evaluate", evaluate)
    definition = machine(
        (
            "Evaluate",
            task(
                INVOKE,
                {"FunctionName": "evaluate", "Payload": {}},
                Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"}],
            ),
        ),
        ("Failed", pass_end()),
    )

    # when it runs
    execution = sfn.run(definition)

    # then the KeyError is caught as a task failure
    assert execution.entered == ["Evaluate", "Failed"]
    assert execution.output["Error"] == "KeyError"


def test_throttled_invocations_are_retried_on_lambda_service_error_names(
    sfn: Sfn, lambdas: LambdaRegistry
) -> None:
    # given a function throttled twice, then succeeding
    attempts: list[int] = []

    def flaky(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
        attempts.append(1)
        if len(attempts) <= 2:
            raise LambdaServiceError("TooManyRequestsException", "Rate Exceeded.")
        return {"attempt": len(attempts)}

    lambdas.register("notify", flaky)
    retry = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 3}]
    definition = machine(("Notify", task(INVOKE, {"FunctionName": "notify", "Payload": {}}, Retry=retry)))

    # when it runs
    execution = sfn.run(definition)

    # then two throttled attempts fail with Lambda.TooManyRequestsException and the third succeeds
    assert execution.status == "SUCCEEDED"
    assert execution.output["Payload"] == {"attempt": 3}
    assert [error for error, _ in execution.failures()] == ["Lambda.TooManyRequestsException"] * 2
    assert "Status Code: 429" in execution.failures()[0][1]


def test_service_exception_exhausts_retries_then_is_caught(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a function the Lambda service always fails
    def broken(event: dict[str, Any], context: LambdaContext) -> None:
        raise LambdaServiceError("ServiceException", "internal")

    lambdas.register("publish", broken)
    definition = machine(
        (
            "Publish",
            task(
                INVOKE,
                {"FunctionName": "publish", "Payload": {}},
                Retry=[{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
            ),
        ),
        ("Failed", pass_end()),
    )

    # when it runs
    execution = sfn.run(definition)

    # then 1 + 2 attempts fail and the Catch takes over
    assert [error for error, _ in execution.failures()] == ["Lambda.ServiceException"] * 3
    assert execution.entered == ["Publish", "Failed"]


def test_function_arn_resource_runs_the_handler_and_names_service_errors(
    sfn: Sfn, lambdas: LambdaRegistry
) -> None:
    # given a handler reached through a plain function ARN, first throttled then succeeding
    calls: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        calls.append(event)
        if len(calls) == 1:
            raise LambdaServiceError("TooManyRequestsException", "Rate Exceeded.")
        return {"doubled": event["n"] * 2}

    lambdas.register("double", handler)
    definition = machine(
        (
            "Double",
            task(
                FUNCTION_ARN.format("double"),
                Retry=[{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1}],
            ),
        )
    )

    # when it runs
    execution = sfn.run(definition, {"n": 21})

    # then the output is the bare payload (function-ARN form) after one retried throttle
    assert execution.output == {"doubled": 42}
    assert [error for error, _ in execution.failures()] == ["Lambda.TooManyRequestsException"]
    assert "LambdaFunctionSucceeded" in execution.types


def test_unknown_function_fails_with_resource_not_found(sfn: Sfn) -> None:
    # given no registered function
    definition = machine(("Call", task(INVOKE, {"FunctionName": "nope", "Payload": {}})))

    # when it runs
    execution = sfn.run(definition)

    # then the Lambda service error name is used
    assert execution.status == "FAILED"
    assert execution.error == "Lambda.ResourceNotFoundException"


def test_unserialisable_result_is_a_marshal_error(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a handler returning something json.dumps cannot encode
    lambdas.register("bad", lambda event, context: {"value": object()})
    definition = machine(("Call", task(INVOKE, {"FunctionName": "bad", "Payload": {}})))

    # when it runs
    execution = sfn.run(definition)

    # then it fails like the Python runtime does
    assert execution.error == "Runtime.MarshalError"


def test_task_timeout_on_a_slow_handler(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a handler slower than the task's TimeoutSeconds
    import time

    lambdas.register("slow", lambda event, context: time.sleep(1.5))
    definition = machine(
        (
            "Slow",
            task(
                INVOKE,
                {"FunctionName": "slow", "Payload": {}},
                TimeoutSeconds=1,
                Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
            ),
        ),
        ("TimedOut", pass_end()),
    )

    # when it runs
    execution = sfn.run(definition)

    # then the task times out with States.Timeout
    assert execution.entered == ["Slow", "TimedOut"]
    assert execution.output["Error"] == "States.Timeout"
