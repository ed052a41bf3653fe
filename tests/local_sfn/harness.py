"""Helpers for running small ASL definitions in moto with local.sfn installed."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

ROLE_ARN = "arn:aws:iam::123456789012:role/sfn-test"
SM_ROLE_ARN = "arn:aws:iam::123456789012:role/sagemaker-test"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/gtpipe-train:1"


@dataclass
class Execution:
    """A finished execution: describe_execution plus its history."""

    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    events: list[dict[str, Any]]

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] in types]

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    @property
    def entered(self) -> list[str]:
        """Names of the states entered, in order."""
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.events
            if event["type"].endswith("StateEntered")
        ]

    def failures(self) -> list[tuple[str, str]]:
        """(error, cause) of every failed task attempt, in order."""
        found = []
        for event in self.events:
            for key in (
                "taskFailedEventDetails",
                "lambdaFunctionFailedEventDetails",
                "taskTimedOutEventDetails",
            ):
                if key in event:
                    found.append((event[key].get("error", ""), event[key].get("cause", "")))
        return found

    def scheduled_parameters(self) -> list[dict[str, Any]]:
        """The Parameters of every TaskScheduled event, decoded."""
        return [
            json.loads(event["taskScheduledEventDetails"]["parameters"])
            for event in self.of_type("TaskScheduled")
        ]


class Sfn:
    """A thin driver over the boto3 stepfunctions client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def create(self, definition: dict[str, Any]) -> str:
        response = self.client.create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE_ARN
        )
        return str(response["stateMachineArn"])

    def start(self, definition: dict[str, Any], execution_input: Any = None) -> str:
        arn = self.create(definition)
        response = self.client.start_execution(
            stateMachineArn=arn, input=json.dumps(execution_input if execution_input is not None else {})
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 20.0) -> Execution:
        deadline = time.monotonic() + timeout
        while True:
            described = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"execution still RUNNING after {timeout} s")
            time.sleep(0.01)
        events = self.client.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        output = described.get("output")
        return Execution(
            arn=execution_arn,
            status=described["status"],
            output=json.loads(output) if output is not None else None,
            error=described.get("error"),
            cause=described.get("cause"),
            events=events,
        )

    def run(
        self, definition: dict[str, Any], execution_input: Any = None, timeout: float = 20.0
    ) -> Execution:
        return self.wait(self.start(definition, execution_input), timeout)


def task(resource: str, parameters: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A Task state (ends the machine unless Next is given)."""
    state: dict[str, Any] = {"Type": "Task", "Resource": resource}
    if parameters is not None:
        state["Parameters"] = parameters
    state.update(fields)
    if "Next" not in state:
        state["End"] = True
    return state


def machine(*states: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A definition from (name, state) pairs; the first one starts."""
    return {"StartAt": states[0][0], "States": dict(states)}


def pass_end() -> dict[str, Any]:
    return {"Type": "Pass", "End": True}


class TokenCatcher:
    """A Lambda handler that records task tokens, for waitForTaskToken tests."""

    def __init__(self) -> None:
        self._tokens: list[str] = []
        self._ready = threading.Condition()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._ready:
            self._tokens.append(event["token"])
            self._ready.notify_all()
        return {"accepted": True}

    def next_token(self, timeout: float = 10.0) -> str:
        with self._ready:
            if not self._ready.wait_for(lambda: bool(self._tokens), timeout):
                raise AssertionError("no task token arrived")
            return self._tokens.pop(0)


def training_parameters(
    name_expression: str = "States.Format('{}-train-{}', $.run_id, $$.State.RetryCount)",
) -> dict[str, Any]:
    """CreateTrainingJob parameters with the job name built like the pipeline does."""
    return {
        "TrainingJobName.$": name_expression,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": SM_ROLE_ARN,
        "HyperParameters": {"epochs": "2"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "AugmentedManifestFile",
                        "S3Uri": "s3://data/runs/r/splits/train.manifest",
                        "AttributeNames": ["source-ref", "category"],
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://data/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
