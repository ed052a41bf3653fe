"""Step Functions' 256 KiB payload quota, as AWS enforces it (issue 14).

"Maximum input or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded string"
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions).
States.DataLimitExceeded "can't be caught by the States.ALL error type", nor can States.Runtime
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). moto 5.2.5 lets
States.ALL catch both, and accepts StartExecution/SendTaskSuccess payloads over the quota; local.sfn's
payload_limits makes it refuse them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.sagemaker import LocalSageMaker, ScriptedJobRunner
from local.sfn import LambdaRegistry, install
from local.sfn.payload_limits import max_payload_bytes
from tests.local_sfn.harness import Sfn, task

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:answer"
QUOTA = 256 * 1024
OVER_QUOTA_MESSAGE = "Member must have length less than or equal to 262144"


def answer_of_size(size: int) -> dict[str, str]:
    """A JSON object whose compact encoding is exactly ``size`` bytes."""
    return {"blob": "x" * (size - len('{"blob":""}'))}


class Answers:
    """What the Lambda answers (``size`` bytes) and the task tokens it was given."""

    def __init__(self) -> None:
        self.size = 10
        self.tokens: list[str] = []
        self.token_seen = threading.Event()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, str]:
        if "token" in event:
            self.tokens.append(event["token"])
            self.token_seen.set()
        return answer_of_size(self.size)


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def sfn(answers: Answers) -> Iterator[Sfn]:
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        install(
            LambdaRegistry({"answer": answers}),
            LocalSageMaker(runner=ScriptedJobRunner()),
            poll_interval=0.02,
        ),
    ):
        yield Sfn(boto3.client("stepfunctions", region_name="us-east-1"))


def caught_by(errors: list[str]) -> dict[str, Any]:
    """A machine whose Lambda task (function ARN form) is caught by ``errors`` into the Pass state Caught."""
    return {
        "StartAt": "Answer",
        "States": {
            "Answer": task(FUNCTION, Catch=[{"ErrorEquals": errors, "Next": "Caught"}]),
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def test_the_quota_is_256_kib_from_the_api_model() -> None:
    # given botocore's Step Functions model / when the quota is read / then it is the documented 256 KiB
    assert max_payload_bytes() == QUOTA


def test_a_lambda_result_over_the_quota_fails_the_execution_past_a_states_all_catch(
    sfn: Sfn, answers: Answers
) -> None:
    # given a Lambda that returns one byte more than 256 KiB, behind a States.ALL Catch
    answers.size = QUOTA + 1
    # when the execution runs
    execution = sfn.run(caught_by(["States.ALL"]))
    # then it fails with States.DataLimitExceeded: the catcher does not catch it
    assert (execution.status, execution.error) == ("FAILED", "States.DataLimitExceeded")
    assert "Caught" not in execution.entered


def test_a_lambda_result_of_exactly_the_quota_is_accepted(sfn: Sfn, answers: Answers) -> None:
    # given a Lambda that returns exactly 256 KiB (the quota is a maximum)
    answers.size = QUOTA
    # when the execution runs / then it succeeds with that output
    execution = sfn.run(caught_by(["States.ALL"]))
    assert execution.status == "SUCCEEDED" and execution.entered == ["Answer"]
    assert len(json.dumps(execution.output, separators=(",", ":"))) == QUOTA


def test_naming_data_limit_exceeded_catches_it(sfn: Sfn, answers: Answers) -> None:
    # given the over-quota Lambda behind a Catch that names States.DataLimitExceeded
    answers.size = QUOTA + 1
    # when the execution runs / then that catcher catches it (only the wildcard is excluded)
    execution = sfn.run(caught_by(["States.DataLimitExceeded"]))
    assert execution.status == "SUCCEEDED" and execution.entered == ["Answer", "Caught"]


def test_an_input_over_the_quota_after_parameters_fails_the_execution(sfn: Sfn) -> None:
    # given a task whose Parameters repeat a 200 KiB input field twice
    big = "y" * (200 * 1024)
    definition = caught_by(["States.ALL"])
    definition["States"]["Answer"]["Parameters"] = {"a.$": "$.big", "b.$": "$.big"}
    # when the execution runs / then the state's effective input is over the quota: DataLimitExceeded
    execution = sfn.run(definition, {"big": big})
    assert (execution.status, execution.error) == ("FAILED", "States.DataLimitExceeded")


def test_a_runtime_error_is_not_caught_by_states_all(sfn: Sfn) -> None:
    # given a lambda:invoke task (the pipeline's form) whose Parameters read a path the input lacks, behind a
    # States.ALL Catch
    definition = caught_by(["States.ALL"])
    definition["States"]["Answer"]["Resource"] = "arn:aws:states:::lambda:invoke"
    definition["States"]["Answer"]["Parameters"] = {"FunctionName": FUNCTION, "Payload": {"a.$": "$.missing"}}
    # when the execution runs / then States.Runtime fails it past the catcher
    execution = sfn.run(definition)
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_start_execution_refuses_an_input_over_the_quota(sfn: Sfn) -> None:
    # given a state machine
    arn = sfn.create({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    # when an execution is started with 256 KiB + 1 byte of input
    with pytest.raises(ClientError) as refused:
        sfn.client.start_execution(stateMachineArn=arn, input=json.dumps(answer_of_size(QUOTA + 1)))
    # then StartExecution answers AWS's validation error, and no execution exists
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert (
        error["Message"]
        == f"1 validation error detected: Value at 'input' failed to satisfy constraint: {OVER_QUOTA_MESSAGE}"
    )
    assert sfn.client.list_executions(stateMachineArn=arn)["executions"] == []
    # and exactly 256 KiB is accepted
    started = sfn.client.start_execution(
        stateMachineArn=arn, input=json.dumps(answer_of_size(QUOTA), separators=(",", ":"))
    )
    assert sfn.wait(started["executionArn"]).status == "SUCCEEDED"


def test_send_task_success_refuses_an_output_over_the_quota(sfn: Sfn, answers: Answers) -> None:
    # given an execution waiting for its task token
    waiting = {
        "StartAt": "Wait",
        "States": {
            "Wait": task(
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                {"FunctionName": FUNCTION, "Payload": {"token.$": "$$.Task.Token"}},
            )
        },
    }
    execution_arn = sfn.start(waiting)
    assert answers.token_seen.wait(20)
    # when the token is answered with 256 KiB + 1 byte of output
    with pytest.raises(ClientError) as refused:
        sfn.client.send_task_success(
            taskToken=answers.tokens[0], output=json.dumps(answer_of_size(QUOTA + 1))
        )
    # then SendTaskSuccess answers the validation error and the task still waits; a small output ends it
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert OVER_QUOTA_MESSAGE in refused.value.response["Error"]["Message"]
    assert "'output'" in refused.value.response["Error"]["Message"]
    sfn.client.send_task_success(taskToken=answers.tokens[0], output='{"ok":true}')
    assert sfn.wait(execution_arn).output == {"ok": True}
