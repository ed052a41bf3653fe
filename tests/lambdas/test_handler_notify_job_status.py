"""notify (state-machine bookkeeping) and job_status (SageMaker events) against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared import ledger
from job_status import handler as job_status
from notify import handler as notify

from tests.lambdas.conftest import Cloud, FakeContext, load_event, put_running_run

RUN = "demo-0123456789abcdef"


@pytest.fixture
def run(cloud: Cloud) -> Cloud:
    put_running_run(cloud, RUN)
    return cloud


def call(event: dict[str, Any], context: FakeContext) -> dict[str, Any]:
    return notify.lambda_handler(event, context)


def test_step_record(run: Cloud, context: FakeContext) -> None:
    answer = call(
        {"action": "step", "run_id": RUN, "step": "split", "status": "Completed", "train": 28}, context
    )
    assert answer["outcome"] == "updated"
    step = run.run(RUN)["steps"]["split"]
    assert step["status"] == "Completed" and step["train"] == 28 and "ended_at" in step


def test_publish_writes_serving_item(run: Cloud, context: FakeContext) -> None:
    event = {
        "action": "publish",
        "run_id": RUN,
        "endpoint_name": "gtpipe-endpoint",
        "endpoint_config_name": f"{RUN}-epc-0",
        "model_name": f"{RUN}-model-0",
        "class_names": ["cat", "dog"],
        "metrics": {"metric_name": "accuracy", "metric_value": 0.93, "passed": True},
        "task_type": "image-classification",
    }
    assert call(event, context)["status"] == "PUBLISHED"
    serving = ledger.from_dynamo(run.run("@serving"))
    assert serving["endpoint_name"] == "gtpipe-endpoint" and serving["source_run_id"] == RUN
    assert serving["class_names"] == ["cat", "dog"] and serving["metrics"]["metric_value"] == 0.93
    assert serving["model_name"] == f"{RUN}-model-0" and serving["endpoint_config_name"] == f"{RUN}-epc-0"


def test_succeeded_notifies_once_under_retries(run: Cloud, context: FakeContext) -> None:
    event = {
        "action": "succeeded",
        "run_id": RUN,
        "metrics": {"metric_name": "accuracy", "metric_value": 0.9, "passed": True},
    }
    first = call(event, context)
    second = call(event, context)
    assert first["notified"] is True and second["notified"] is False
    item = ledger.from_dynamo(run.run(RUN))
    assert item["status"] == "SUCCEEDED" and item["metrics"]["metric_value"] == 0.9
    notes = run.notifications()
    assert len(notes) == 1 and notes[0]["message"]["status"] == "SUCCEEDED"


def test_rejected_says_why(run: Cloud, context: FakeContext) -> None:
    call(
        {
            "action": "rejected",
            "run_id": RUN,
            "metrics": {"metric_name": "accuracy", "metric_value": 0.5, "passed": False},
        },
        context,
    )
    assert run.run(RUN)["status"] == "REJECTED"
    message = run.notifications()[0]["message"]
    assert (
        message["status"] == "REJECTED" and "accuracy 0.5 is below the quality threshold" in message["reason"]
    )


def test_failed_extracts_lambda_error_message(run: Cloud, context: FakeContext) -> None:
    cause = json.dumps(
        {"errorMessage": "only 1 class present in the labels", "errorType": "SplitError", "stackTrace": []}
    )
    call({"action": "failed", "run_id": RUN, "step": "split", "error": "SplitError", "cause": cause}, context)
    item = run.run(RUN)
    assert item["status"] == "FAILED"
    assert item["failure"] == {
        "step": "split",
        "error": "SplitError",
        "cause": "only 1 class present in the labels",
    }
    notes = run.notifications()
    assert notes[0]["subject"] == f"gtpipe run {RUN} failed at split"
    assert notes[0]["message"]["reason"] == "only 1 class present in the labels"


def test_terminal_status_is_not_overwritten(run: Cloud, context: FakeContext) -> None:
    call({"action": "succeeded", "run_id": RUN, "metrics": {}}, context)
    answer = call({"action": "failed", "run_id": RUN, "step": "x", "error": "E", "cause": "c"}, context)
    assert answer["outcome"] == "conflict" and run.run(RUN)["status"] == "SUCCEEDED"


def test_notify_bad_payloads(cloud: Cloud, context: FakeContext) -> None:
    with pytest.raises(notify.InvalidRequest, match="unknown notify action"):
        call({"action": "dance", "run_id": RUN}, context)
    with pytest.raises(notify.InvalidRequest, match="'step'"):
        call({"action": "step", "run_id": RUN, "status": "Completed"}, context)
    with pytest.raises(notify.InvalidRequest, match="class_names"):
        call(
            {
                "action": "publish",
                "run_id": RUN,
                "endpoint_name": "e",
                "endpoint_config_name": "c",
                "model_name": "m",
            },
            context,
        )


def test_job_events_in_order_and_out_of_order(run: Cloud, context: FakeContext) -> None:
    in_progress = load_event("sagemaker_training_job_in_progress.json")
    completed = load_event("sagemaker_training_job_completed.json")
    assert job_status.lambda_handler(in_progress, context)["outcome"] == "updated"
    assert job_status.lambda_handler(completed, context)["outcome"] == "updated"
    # a duplicate, late InProgress event arrives after completion
    assert job_status.lambda_handler(in_progress, context)["outcome"] == "stale"
    step = run.run(RUN)["steps"]["train"]
    assert step["status"] == "Completed" and step["job_name"] == f"{RUN}-train-0"
    assert step["started_at"].startswith("2026-11-23T") and step["ended_at"] > step["started_at"]
    assert run.notifications() == []


def test_job_failure_notifies_once(run: Cloud, context: FakeContext) -> None:
    failed = load_event("sagemaker_training_job_failed.json")
    job_status.lambda_handler(failed, context)
    again = job_status.lambda_handler(failed, context)
    assert again["notified"] is False
    step = run.run(RUN)["steps"]["train"]
    assert step["status"] == "Failed" and "num_classes is required" in step["failure_reason"]
    notes = run.notifications()
    assert len(notes) == 1 and notes[0]["message"]["step"] == "train"


def test_labeling_job_named_only_in_resources(run: Cloud, context: FakeContext) -> None:
    job_status.lambda_handler(load_event("sagemaker_labeling_job_completed.json"), context)
    assert run.run(RUN)["steps"]["label"]["status"] == "Completed"


def test_foreign_jobs_are_ignored(cloud: Cloud, context: FakeContext) -> None:
    event = load_event("sagemaker_training_job_failed.json")
    event["detail"]["TrainingJobName"] = "someone-elses-job"
    assert job_status.lambda_handler(event, context)["reason"] == "not a gtpipe job name"
    # a gtpipe-looking name without a ledger item creates nothing
    answer = job_status.lambda_handler(load_event("sagemaker_transform_job_completed.json"), context)
    assert answer["reason"] == "run not in ledger"
    assert cloud.run(RUN) is None
    assert cloud.notifications() == []
