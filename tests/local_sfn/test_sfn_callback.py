"""lambda:invoke.waitForTaskToken resumed through the normal stepfunctions API."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from local.sfn import LambdaRegistry

from .harness import Sfn, TokenCatcher, machine, pass_end, task

WAIT = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def deploy_machine(**fields: Any) -> dict[str, Any]:
    """DeployEndpoint waits for a token; any failure goes to Failed with the error in $.error."""
    return machine(
        (
            "DeployEndpoint",
            task(
                WAIT,
                {"FunctionName": "endpoint", "Payload": {"token.$": "$$.Task.Token", "run_id.$": "$.run_id"}},
                ResultPath="$.deploy",
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                Next="Done",
                **fields,
            ),
        ),
        ("Done", pass_end()),
        ("Failed", pass_end()),
    )


def test_send_task_success_resumes_the_execution_with_its_output(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a deploy function that only records the token
    catcher = TokenCatcher()
    lambdas.register("endpoint", catcher)
    execution_arn = sfn.start(deploy_machine(), {"run_id": "r-1"})

    # when another actor reports success with the token
    token = catcher.next_token()
    time.sleep(0.1)
    assert sfn.client.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    sfn.client.send_task_success(taskToken=token, output=json.dumps({"endpoint_status": "InService"}))
    execution = sfn.wait(execution_arn)

    # then the execution continues with the callback output
    assert execution.entered == ["DeployEndpoint", "Done"]
    assert execution.output == {"run_id": "r-1", "deploy": {"endpoint_status": "InService"}}
    assert lambdas.invocations_of("endpoint")[0].event == {"token": token, "run_id": "r-1"}
    assert "TaskSubmitted" in execution.types


def test_send_task_failure_fails_the_task_with_the_given_error(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a waiting deploy task
    catcher = TokenCatcher()
    lambdas.register("endpoint", catcher)
    execution_arn = sfn.start(deploy_machine(), {"run_id": "r-2"})

    # when the callback reports failure
    sfn.client.send_task_failure(
        taskToken=catcher.next_token(), error="EndpointFailed", cause="variant unhealthy"
    )
    execution = sfn.wait(execution_arn)

    # then the Catch receives that error and cause
    assert execution.entered == ["DeployEndpoint", "Failed"]
    assert execution.output["error"] == {"Error": "EndpointFailed", "Cause": "variant unhealthy"}


def test_missing_heartbeats_time_the_task_out(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a task that needs a heartbeat every second and a Catch on States.HeartbeatTimeout
    lambdas.register("endpoint", TokenCatcher())
    definition = machine(
        (
            "DeployEndpoint",
            task(
                WAIT,
                {"FunctionName": "endpoint", "Payload": {"token.$": "$$.Task.Token"}},
                HeartbeatSeconds=1,
                TimeoutSeconds=30,
                Catch=[{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "NoHeartbeat"}],
            ),
        ),
        ("NoHeartbeat", pass_end()),
    )

    # when nobody sends a heartbeat
    started = time.monotonic()
    execution = sfn.run(definition)

    # then the task times out after about HeartbeatSeconds (reported as States.Timeout, like AWS)
    assert time.monotonic() - started < 10
    assert execution.entered == ["DeployEndpoint", "NoHeartbeat"]
    assert execution.output["Error"] == "States.Timeout"
    assert "TaskTimedOut" in execution.types


def test_heartbeats_keep_the_task_alive_past_heartbeat_seconds(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a task with HeartbeatSeconds 1
    catcher = TokenCatcher()
    lambdas.register("endpoint", catcher)
    execution_arn = sfn.start(deploy_machine(HeartbeatSeconds=1, TimeoutSeconds=30), {"run_id": "r-3"})
    token = catcher.next_token()

    # when heartbeats arrive every 0.4 s for 1.6 s, then success
    def beat() -> None:
        for _ in range(4):
            time.sleep(0.4)
            sfn.client.send_task_heartbeat(taskToken=token)
        sfn.client.send_task_success(taskToken=token, output="{}")

    worker = threading.Thread(target=beat)
    worker.start()
    execution = sfn.wait(execution_arn)
    worker.join()

    # then the task succeeded
    assert execution.entered == ["DeployEndpoint", "Done"]


def test_timeout_seconds_bounds_the_wait_for_a_token(sfn: Sfn, lambdas: LambdaRegistry) -> None:
    # given a task with TimeoutSeconds 1 whose token never comes back
    lambdas.register("endpoint", TokenCatcher())

    # when it runs
    execution = sfn.run(deploy_machine(TimeoutSeconds=1), {"run_id": "r-4"})

    # then it fails with States.Timeout
    assert execution.entered == ["DeployEndpoint", "Failed"]
    assert execution.output["error"]["Error"] == "States.Timeout"


def test_token_returned_while_the_function_runs_is_not_lost_with_heartbeats(
    sfn: Sfn, lambdas: LambdaRegistry
) -> None:
    # given a deploy function that reports success before it even returns (an instant local deployment)
    def deploy(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sfn.client.send_task_success(
            taskToken=event["token"], output=json.dumps({"endpoint_status": "InService"})
        )
        return {"accepted": True}

    lambdas.register("endpoint", deploy)

    # when the task also requires heartbeats
    started = time.monotonic()
    execution = sfn.run(deploy_machine(HeartbeatSeconds=5, TimeoutSeconds=30), {"run_id": "r-5"})

    # then the early success is used right away (moto alone would wait and report a heartbeat timeout)
    assert execution.entered == ["DeployEndpoint", "Done"]
    assert execution.output["deploy"] == {"endpoint_status": "InService"}
    assert time.monotonic() - started < 4


def test_a_heartbeat_is_accepted_while_the_function_runs_and_without_heartbeat_seconds(
    sfn: Sfn, lambdas: LambdaRegistry
) -> None:
    # given a function that sends a heartbeat with its token before it returns (AWS accepts it: the token is
    # valid from the task's start; moto refused it until the wait began), and records whether it was taken
    accepted: list[bool] = []

    def deploy(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            sfn.client.send_task_heartbeat(taskToken=event["token"])
            accepted.append(True)
        except sfn.client.exceptions.InvalidToken:
            accepted.append(False)
        return {"accepted": True}

    lambdas.register("endpoint", deploy)
    for fields, run_id in (({"HeartbeatSeconds": 5, "TimeoutSeconds": 30}, "r-6"), ({}, "r-7")):
        execution_arn = sfn.start(deploy_machine(**fields), {"run_id": run_id})
        deadline = time.monotonic() + 10
        while len(accepted) < (1 if run_id == "r-6" else 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        # when the task is waiting: a heartbeat is accepted too, with or without HeartbeatSeconds
        token = lambdas.invocations_of("endpoint")[-1].event["token"]
        time.sleep(0.2)
        sfn.client.send_task_heartbeat(taskToken=token)
        sfn.client.send_task_success(taskToken=token, output="{}")
        execution = sfn.wait(execution_arn)
        # then every heartbeat was accepted and the task succeeded
        assert execution.entered == ["DeployEndpoint", "Done"]
    assert accepted == [True, True]
