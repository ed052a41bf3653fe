"""local.sfn inside a ThreadedMotoServer (how the local cloud runs it)."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.sagemaker import LocalSageMaker, ScriptedJobRunner, succeed
from local.sfn import LambdaRegistry, install

from .harness import Sfn, machine, task, training_parameters


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _set_config(url: str, config: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        data=json.dumps(config).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


@pytest.fixture
def server_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    _set_config(url, {"stepfunctions": {"execute_state_machine": True}})
    try:
        yield url
    finally:
        # The config is process-wide: leave it as other tests expect it.
        _set_config(url, {"stepfunctions": {"execute_state_machine": False}})
        server.stop()


def test_pipeline_fragment_runs_in_a_moto_server(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a moto server with local.sfn installed in the same process
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    lambdas = LambdaRegistry(
        {"split": lambda event, context: {"train_uri": f"s3://d/{event['run_id']}/train"}}
    )
    runner = ScriptedJobRunner().script("training", succeed(after_polls=1))
    client = boto3.client("stepfunctions", region_name="us-east-1", endpoint_url=server_url)
    definition = machine(
        (
            "Split",
            task(
                "arn:aws:states:::lambda:invoke",
                {"FunctionName": "split", "Payload": {"run_id.$": "$.run_id"}},
                ResultSelector={"train_uri.$": "$.Payload.train_uri"},
                ResultPath="$.split",
                Next="Train",
            ),
        ),
        (
            "Train",
            task(
                "arn:aws:states:::sagemaker:createTrainingJob.sync",
                training_parameters(),
                ResultSelector={"status.$": "$.TrainingJobStatus"},
                ResultPath="$.training",
            ),
        ),
    )

    # when a client runs a state machine over HTTP
    with install(lambdas, LocalSageMaker(runner=runner), poll_interval=0.02):
        execution = Sfn(client).run(definition, {"run_id": "srv"})

    # then the server's executions used the in-process Lambda and SageMaker
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == {
        "run_id": "srv",
        "split": {"train_uri": "s3://d/srv/train"},
        "training": {"status": "Completed"},
    }
