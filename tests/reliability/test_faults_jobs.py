"""Fault injection in the SageMaker jobs and in event delivery, on one local cloud (slow).

Scenarios (issue 8): a training process killed mid-run, a failed batch transform, throttled
CreateTrainingJob answered by the state machine's Retry, and the same S3 event delivered five times.
Each test drops its own augmented manifest (no labeling job) and follows the run to its end; faults are
one-shot knobs of ``cloud.sagemaker.faults`` consumed by the next matching job, so the runs are sequential.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability.faults_support import (
    Cloud,
    drop_and_follow,
    follow,
    put_manifest,
    record_outcome,
    running_cloud,
    state_events,
    states_entered,
    task_failures,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(
        tmp_path_factory.mktemp("faults-jobs-cloud"), tmp_path_factory.mktemp("faults-jobs-digits")
    ) as started:
        yield started


@pytest.fixture(autouse=True)
def no_pending_faults(env: Cloud) -> Iterator[None]:
    env.faults.clear()
    yield
    env.faults.clear()


def assert_failed_at(env: Cloud, drop: Any, step: str, state: str) -> dict[str, Any]:
    """The run and its execution FAILED, the ledger names ``step`` and a reason, one FAILED notification."""
    run = drop.run
    assert drop.progress.run_status == "FAILED", run
    assert drop.progress.execution_status == "FAILED"
    assert state in states_entered(drop)
    assert "RecordFailure" in states_entered(drop)
    failure = run["failure"]
    assert failure["step"] == step
    assert failure["error"] and failure["cause"]
    everything = [n for n in env.notifications() if n["run_id"] == drop.run_id]
    notices = [n for n in everything if n["status"] == "FAILED"]
    assert [(n["step"], n["reason"]) for n in notices] == [(step, failure["cause"])], everything
    assert f"failed at {step}" in notices[0]["subject"]
    jobs = [n for n in everything if n["status"] != "FAILED"]
    assert [n["status"] for n in jobs] == ["Failed"], everything  # job_status: the job itself failed
    return failure


def test_given_training_process_killed_mid_run_then_run_fails_at_training_with_reason_and_notifies(
    env: Cloud,
) -> None:
    # given: the next training job's process is killed one second after it starts (instance failure)
    env.faults.kill_training_after(1.0)
    # when: a labeled manifest is dropped
    drop = drop_and_follow(env, "incoming/killed-training.jsonl", env.augmented_manifest("killed"))
    record_outcome(drop, "training killed")
    # then: FAILED at training, the job's failure reason in the ledger, one notification, no later steps
    failure = assert_failed_at(env, drop, "training", "Train")
    assert "InternalServerError" in failure["cause"] or "killed" in failure["cause"].lower(), failure
    assert "CreateModel" not in states_entered(drop)
    assert drop.run["steps"]["train"]["status"] == "Failed"


def test_given_transform_job_fails_then_run_fails_at_transform_with_reason_and_notifies(env: Cloud) -> None:
    # given: the next batch transform job fails
    env.faults.fail_next("transform", "ClientError: injected transform failure")
    # when
    drop = drop_and_follow(env, "incoming/failed-transform.jsonl", env.augmented_manifest("transform"))
    record_outcome(drop, "transform failure")
    # then: training completed, the transform failed, nothing was evaluated or deployed
    failure = assert_failed_at(env, drop, "transform", "Transform")
    assert "injected transform failure" in failure["cause"]
    assert drop.run["steps"]["train"]["status"] == "Completed"
    assert "Evaluate" not in states_entered(drop) and "DeployEndpoint" not in states_entered(drop)


def test_given_create_training_job_throttled_twice_then_retry_succeeds_and_history_shows_it(
    env: Cloud,
) -> None:
    # given: the next two CreateTrainingJob calls answer ThrottlingException
    env.faults.throttle_next("CreateTrainingJob", 2)
    # when
    drop = drop_and_follow(env, "incoming/throttled.jsonl", env.augmented_manifest("throttled"))
    record_outcome(drop, "throttled CreateTrainingJob")
    # then: the run SUCCEEDED, and Train shows two failed attempts (the throttles) before its success
    assert drop.progress.run_status == "SUCCEEDED", drop.run
    assert drop.progress.execution_status == "SUCCEEDED"
    failures = task_failures(drop, "Train")
    assert len(failures) == 2, failures
    assert {f["error"] for f in failures} == {"SageMaker.AmazonSageMakerException"}
    assert all("ThrottlingException" in f["cause"] for f in failures)
    submits = [e for e in state_events(drop, "Train") if e["type"] == "TaskSubmitted"]
    assert len(submits) == 1, "exactly one training job was created"
    assert drop.run["steps"]["train"]["status"] == "Completed"
    assert [n["status"] for n in env.run_notifications(drop.run_id)] == ["SUCCEEDED"]


def s3_event_entry(env: Cloud, key: str, version_id: str | None) -> dict[str, Any]:
    """An ``Object Created`` PutEvents entry identical to the one S3 emitted for ``key``."""
    head = env.client("s3").head_object(Bucket=env.bucket, Key=key)
    obj: dict[str, Any] = {"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"')}
    if version_id:
        obj["version-id"] = version_id
    detail = {
        "version": "0",
        "bucket": {"name": env.bucket},
        "object": obj,
        "request-id": "REDELIVERED00001",
        "requester": env.cloud.environment.account_id,
        "source-ip-address": "127.0.0.1",
        "reason": "PutObject",
    }
    return {
        "Source": "aws.s3",
        "DetailType": "Object Created",
        "Resources": [f"arn:aws:s3:::{env.bucket}"],
        "Detail": json.dumps(detail),
    }


def start_run_deliveries(env: Cloud) -> list[Any]:
    name = next(
        s.name
        for s in env.cloud.deployment.functions.values()
        if s.handler == "start_run.handler.lambda_handler"
    )
    return [r for r in env.cloud.invoker.records if r.function_name == name]


def test_given_same_s3_event_delivered_five_times_then_exactly_one_run_starts(env: Cloud) -> None:
    # given: a manifest dropped once (S3 emits its Object Created event: delivery 1)
    before = len(start_run_deliveries(env))
    key = "incoming/delivered-five-times.jsonl"
    started = time.monotonic()
    version_id = put_manifest(env, key, env.augmented_manifest("five-times"))
    # when: EventBridge delivers the same event four more times, all at once (at-least-once delivery)
    entry = s3_event_entry(env, key, version_id)
    answer = env.client("events").put_events(Entries=[entry] * 4)
    assert answer["FailedEntryCount"] == 0
    drop = follow(env, key, version_id, started)
    env.cloud.wait_idle(30)
    record_outcome(drop, "same S3 event x5")
    # then: start_run handled five deliveries, and there is one run: one ledger item, one execution
    deliveries = start_run_deliveries(env)[before:]
    assert len(deliveries) == 5, deliveries
    assert {d.outcome for d in deliveries} == {"succeeded"}, deliveries
    assert drop.progress.run_status == "SUCCEEDED", drop.run
    ledger = env.client("dynamodb").scan(TableName=env.outputs["RunsTableName"], ConsistentRead=True)
    items = [i for i in ledger["Items"] if i.get("input_key", {}).get("S") == key]
    assert len(items) == 1, items
    executions = env.client("stepfunctions").list_executions(stateMachineArn=env.outputs["StateMachineArn"])[
        "executions"
    ]
    assert [e["name"] for e in executions if e["name"] == drop.run_id] == [drop.run_id]
    assert [n["status"] for n in env.run_notifications(drop.run_id)] == ["SUCCEEDED"]
