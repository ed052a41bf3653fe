"""What moto 5.2.5's ASL interpreter supports, checked feature by feature.

The pipeline definition relies on every feature marked "used by the pipeline". Tests named
``test_limit_*`` pin down known gaps of moto's interpreter: if one fails after a moto upgrade, the gap
is gone (or moved) and docs/report should be updated.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from local.sfn import LambdaContext, LambdaRegistry

from .harness import Sfn, TokenCatcher, machine, pass_end, task

INVOKE = "arn:aws:states:::lambda:invoke"

INPUT = {
    "run_id": "demo-0123456789abcdef",
    "model_arn": "arn:aws:sagemaker:us-east-1:123456789012:model/demo-model-0",
    "label_attribute": "category",
    "items": [{"n": "a", "s": 0.2}, {"n": "b", "s": 0.7}, {"n": "c", "s": 0.95}],
    "nested": {"x": {"name": "deep"}, "y": {"name": "deeper"}},
    "num": 3,
    "obj": {"k": 1},
    "text": '{"a": 1}',
}


def pass_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    return machine(("P", {"Type": "Pass", "Parameters": parameters, "End": True}))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # used by the pipeline
        ("States.Format('{}-label-{}', $.run_id, $.num)", "demo-0123456789abcdef-label-3"),
        ("States.Array('source-ref', $.label_attribute)", ["source-ref", "category"]),
        ("States.ArrayGetItem(States.StringSplit($.model_arn, '/'), 1)", "demo-model-0"),
        # other intrinsics
        ("States.JsonToString($.obj)", '{"k":1}'),
        ("States.StringToJson($.text)", {"a": 1}),
        ("States.MathAdd($.num, -1)", 2),
        ("States.Hash('abc', 'SHA-1')", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("States.Base64Encode('demo')", "ZGVtbw=="),
        ("States.Base64Decode('ZGVtbw==')", "demo"),
        ("States.ArrayLength($.items)", 3),
        ("States.ArrayContains(States.Array(1, 2, 3), $.num)", True),
        ("States.ArrayRange(1, 9, 4)", [1, 5, 9]),
        ("States.ArrayPartition(States.Array(1, 2, 3, 4, 5), 2)", [[1, 2], [3, 4], [5]]),
        ("States.ArrayUnique(States.Array(1, 1, 2))", [1, 2]),
        ("States.JsonMerge($.obj, States.StringToJson('{\"z\": 2}'), false)", {"k": 1, "z": 2}),
    ],
)
def test_intrinsic_functions(sfn: Sfn, expression: str, expected: Any) -> None:
    # given a Pass state evaluating one intrinsic
    # when it runs
    execution = sfn.run(pass_parameters({"v.$": expression}), INPUT)

    # then the intrinsic gives AWS's result
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == {"v": expected}


def test_uuid_and_math_random_intrinsics(sfn: Sfn) -> None:
    execution = sfn.run(pass_parameters({"u.$": "States.UUID()", "r.$": "States.MathRandom(1, 10)"}), INPUT)
    assert len(execution.output["u"]) == 36
    assert 1 <= execution.output["r"] <= 10


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.items[?(@.s > 0.5)].n", ["b", "c"]),
        ("$.items[?(@.s > 0.9)].n", ["c"]),
        ("$.items[*].n", ["a", "b", "c"]),
        ("$.items[0:2].n", ["a", "b"]),
        ("$.items[-1:].n", ["c"]),
        ("$.items[1]", {"n": "b", "s": 0.7}),
        ("$['nested']['x']['name']", "deep"),
        ("$..name", ["deep", "deeper"]),
    ],
)
def test_jsonpath_reference_paths(sfn: Sfn, path: str, expected: Any) -> None:
    execution = sfn.run(pass_parameters({"v.$": path}), INPUT)
    assert execution.output == {"v": expected}


def test_limit_recursive_descent_with_one_match_is_not_a_list(sfn: Sfn) -> None:
    # AWS returns ["deep"]; moto unwraps a single recursive-descent match.
    execution = sfn.run(pass_parameters({"v.$": "$.nested.x..name"}), INPUT)
    assert execution.output == {"v": "deep"}


def test_root_array_index_in_output_path(sfn: Sfn) -> None:
    definition = machine(("P", {"Type": "Pass", "InputPath": "$.items", "OutputPath": "$[0]", "End": True}))
    execution = sfn.run(definition, INPUT)
    assert execution.output == {"n": "a", "s": 0.2}


def test_limit_field_after_an_array_index_is_a_list(sfn: Sfn) -> None:
    # AWS gives "b" for $.items[1].n (a definite path); moto wraps it in a list (also in Choice
    # Variables and OutputPath). Select the element first ($.items[1]), then the field, to be portable.
    execution = sfn.run(pass_parameters({"v.$": "$.items[1].n"}), INPUT)
    assert execution.output == {"v": ["b"]}


def test_limit_escaped_braces_in_states_format(sfn: Sfn) -> None:
    # AWS renders "a{b} 3"; moto fails on escaped braces.
    execution = sfn.run(pass_parameters({"v.$": "States.Format('a\\{b\\} {}', $.num)"}), INPUT)
    assert execution.status == "FAILED"


def test_limit_jsonata_is_not_available(sfn: Sfn) -> None:
    # moto ships no JSONata evaluator; use JSONPath definitions.
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% $states.input.num + 1 %}", "End": True}},
    }
    execution = sfn.run(definition, INPUT)
    assert execution.status == "FAILED"


def test_context_object_fields(sfn: Sfn) -> None:
    # given a named execution (start_run always names it after the run_id)
    state_machine = sfn.create(
        pass_parameters(
            {
                "name.$": "$$.Execution.Name",
                "id.$": "$$.Execution.Id",
                "input.$": "$$.Execution.Input.run_id",
                "state.$": "$$.State.Name",
                "entered.$": "$$.State.EnteredTime",
            }
        )
    )

    # when it runs
    arn = sfn.client.start_execution(
        stateMachineArn=state_machine, name="demo-0123456789abcdef", input=json.dumps(INPUT)
    )["executionArn"]
    execution = sfn.wait(arn)

    # then the context object carries the execution's facts
    assert execution.output["name"] == "demo-0123456789abcdef"
    assert execution.output["id"] == arn
    assert execution.output["input"] == "demo-0123456789abcdef"
    assert execution.output["state"] == "P"
    assert execution.output["entered"].startswith("20")


def test_limit_unnamed_execution_has_no_name(sfn: Sfn) -> None:
    # AWS generates a UUID name when start_execution gets none; moto leaves it null.
    execution = sfn.run(pass_parameters({"name.$": "$$.Execution.Name"}), INPUT)
    assert execution.output == {"name": None}


def test_limit_retry_count_is_only_defined_in_task_like_states(sfn: Sfn) -> None:
    # $$.State.RetryCount exists in Task/Map/Parallel states (that can Retry), not in a Pass state.
    execution = sfn.run(pass_parameters({"v.$": "$$.State.RetryCount"}), INPUT)
    assert execution.error == "States.Runtime"


def test_retry_count_result_selector_result_path_and_output_path(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a function failing twice, retried, whose payload carries $$.State.RetryCount
    attempts: list[int] = []

    class EndpointBusy(Exception):
        pass

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        attempts.append(event["retry"])
        if len(attempts) < 3:
            raise EndpointBusy("busy")
        return {"status": "ok", "retry": event["retry"], "noise": "dropped"}

    lambdas.register("fn", handler)
    definition = machine(
        (
            "T",
            task(
                INVOKE,
                {
                    "FunctionName": "fn",
                    "Payload": {
                        "retry.$": "$$.State.RetryCount",
                        "name.$": "States.Format('{}-x-{}', $.run_id, $$.State.RetryCount)",
                    },
                },
                Retry=[
                    {
                        "ErrorEquals": ["EndpointBusy"],
                        "IntervalSeconds": 60,
                        "MaxAttempts": 30,
                        "BackoffRate": 1.2,
                        "MaxDelaySeconds": 300,
                        "JitterStrategy": "FULL",
                    }
                ],
                ResultSelector={"status.$": "$.Payload.status", "retry.$": "$.Payload.retry"},
                ResultPath="$.outcome",
                OutputPath="$.outcome",
            ),
        )
    )

    # when it runs (retry intervals are scaled down by the fixture)
    execution = sfn.run(definition, INPUT)

    # then each attempt saw its retry count, and the output was selected, placed and filtered
    assert attempts == [0, 1, 2]
    assert [params["Payload"]["name"] for params in execution.scheduled_parameters()] == [
        "demo-0123456789abcdef-x-0",
        "demo-0123456789abcdef-x-1",
        "demo-0123456789abcdef-x-2",
    ]
    assert execution.output == {"status": "ok", "retry": 2}


def test_result_path_null_keeps_the_input_and_input_path_selects(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    lambdas.register("fn", lambda event, context: {"seen": event})
    definition = machine(
        ("T", task(INVOKE, {"FunctionName": "fn", "Payload.$": "$"}, InputPath="$.obj", ResultPath=None))
    )
    execution = sfn.run(definition, INPUT)
    assert execution.output == INPUT
    assert lambdas.invocations_of("fn")[0].event == {"k": 1}


def test_heartbeat_and_timeout_seconds_paths(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a callback task whose heartbeat comes from the input (as DeployEndpoint does)
    lambdas.register("endpoint", TokenCatcher())
    definition = machine(
        (
            "Deploy",
            task(
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                {"FunctionName": "endpoint", "Payload": {"token.$": "$$.Task.Token"}},
                HeartbeatSecondsPath="$.heartbeat_seconds",
                TimeoutSecondsPath="$.timeout_seconds",
                Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}],
            ),
        ),
        ("TimedOut", pass_end()),
    )

    # when no heartbeat arrives
    execution = sfn.run(definition, {"heartbeat_seconds": 1, "timeout_seconds": 60})

    # then the heartbeat from the path applied
    assert execution.entered == ["Deploy", "TimedOut"]
    scheduled = execution.of_type("TaskScheduled")[0]["taskScheduledEventDetails"]
    assert (scheduled["heartbeatInSeconds"], scheduled["timeoutInSeconds"]) == (1, 60)


def test_choice_map_parallel_wait_and_fail(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a definition using Map (with ItemSelector), Parallel, Wait, Choice and Fail
    lambdas.register("identity", lambda event, context: event)
    definition = machine(
        (
            "Map",
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"name.$": "$$.Map.Item.Value.n", "index.$": "$$.Map.Item.Index"},
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "L",
                    "States": {
                        "L": task(
                            INVOKE, {"FunctionName": "identity", "Payload.$": "$"}, OutputPath="$.Payload"
                        )
                    },
                },
                "ResultPath": "$.mapped",
                "Next": "Parallel",
            },
        ),
        (
            "Parallel",
            {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "Result": 1, "End": True}}},
                    {"StartAt": "B2", "States": {"B2": {"Type": "Wait", "Seconds": 1, "End": True}}},
                ],
                "ResultSelector": {"first.$": "$[0]"},
                "ResultPath": "$.parallel",
                "Next": "Gate",
            },
        ),
        (
            "Gate",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.passed", "IsPresent": True},
                            {"Variable": "$.passed", "BooleanEquals": True},
                        ],
                        "Next": "Done",
                    },
                    {"Variable": "$.num", "NumericGreaterThanEquals": 10, "Next": "Done"},
                ],
                "Default": "Rejected",
            },
        ),
        ("Done", pass_end()),
        ("Rejected", {"Type": "Fail", "Error": "PipelineFailed", "Cause": "quality gate"}),
    )

    # when it runs with and without the gate passing
    passed = sfn.run(definition, {**INPUT, "passed": True})
    rejected = sfn.run(definition, INPUT)

    # then every construct behaved as on AWS
    assert passed.status == "SUCCEEDED"
    assert passed.output["mapped"] == [
        {"name": "a", "index": 0},
        {"name": "b", "index": 1},
        {"name": "c", "index": 2},
    ]
    assert passed.output["parallel"] == {"first": 1}
    assert (rejected.status, rejected.error, rejected.cause) == ("FAILED", "PipelineFailed", "quality gate")


def test_fail_state_error_and_cause_paths(sfn: Sfn) -> None:
    definition = machine(
        (
            "F",
            {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "States.Format('step {} failed', $.step)"},
        )
    )
    execution = sfn.run(definition, {"error": "TrainingFailed", "step": "train"})
    assert (execution.error, execution.cause) == ("TrainingFailed", "step train failed")


def test_execution_timeout_seconds(sfn: Sfn) -> None:
    definition = {
        "StartAt": "W",
        "TimeoutSeconds": 1,
        "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}},
    }
    started = time.monotonic()
    execution = sfn.run(definition)
    assert execution.status == "TIMED_OUT"
    assert time.monotonic() - started < 10


def test_stop_execution_ends_a_waiting_callback(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given an execution waiting for a task token
    catcher = TokenCatcher()
    lambdas.register("endpoint", catcher)
    definition = machine(
        (
            "Deploy",
            task(
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                {"FunctionName": "endpoint", "Payload": {"token.$": "$$.Task.Token"}},
            ),
        )
    )
    arn = sfn.start(definition)
    catcher.next_token()

    # when it is stopped
    stopper = threading.Timer(0.05, lambda: sfn.client.stop_execution(executionArn=arn, error="Aborted"))
    stopper.start()
    execution = sfn.wait(arn)
    stopper.join()

    # then it is ABORTED (moto alone keeps waiting for the token until TimeoutSeconds)
    assert execution.status == "ABORTED"
    assert execution.types[-2:] == ["TaskSubmitted", "ExecutionAborted"]
