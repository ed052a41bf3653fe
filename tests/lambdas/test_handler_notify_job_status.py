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


def test_a_run_failed_by_its_job_records_the_job_step_failed_before_the_jobs_own_event(
    run: Cloud, context: FakeContext
) -> None:
    # Given the labeling job's start was recorded, and its Failed event has not arrived yet
    call(
        {
            "action": "step",
            "run_id": RUN,
            "step": "label",
            "status": "InProgress",
            "job_name": f"{RUN}-label-0",
            "started_at": "2026-12-01T10:00:00+00:00",
        },
        context,
    )
    # When the state machine ends the run FAILED at labeling (its .sync polling saw the job fail)
    cause = "LabelingJob failed: no data object could be labeled"
    call(
        {"action": "failed", "run_id": RUN, "step": "labeling", "error": "States.TaskFailed", "cause": cause},
        context,
    )
    # Then the ledger shows the job step Failed with the run's reason, its job name and start kept
    step = run.run(RUN)["steps"]["label"]
    assert step["status"] == "Failed" and step["failure_reason"] == cause
    assert step["job_name"] == f"{RUN}-label-0" and step["started_at"] == "2026-12-01T10:00:00+00:00"
    assert "ended_at" in step
    # and a late InProgress event cannot move it back
    late = {"action": "step", "run_id": RUN, "step": "label", "status": "InProgress"}
    assert call(late, context)["outcome"] == "stale"
    assert run.run(RUN)["steps"]["label"]["status"] == "Failed"


def test_a_run_failed_outside_a_job_records_no_job_step(run: Cloud, context: FakeContext) -> None:
    call({"action": "failed", "run_id": RUN, "step": "split", "error": "SplitError", "cause": "c"}, context)
    assert run.run(RUN).get("steps", {}) == {}


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


# --- labeling outcome, report link ----------------------------------------------------------------------

SETTINGS = {
    "workers_per_object": 3,
    "prices": {"per_object_usd": 0.08, "per_answer_usd": {"image-classification": 0.012}},
    "estimated_cost_usd": 116.0,
    "budget_usd": 200.0,
    "initial_active_learning_model_arn": None,
}


def labeled(counters: dict[str, int], job_output: dict[str, str], **settings: Any) -> dict[str, Any]:
    return {
        "action": "labeled",
        "run_id": RUN,
        "task_type": "image-classification",
        "labeling": {
            "job_arn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{RUN}-label-0",
            "output_uri": "s3://b/labeling/x/output.manifest",
            "counters": counters,
            "job_output": job_output,
        },
        "settings": {**SETTINGS, **settings},
    }


def test_labeled_prices_a_builtin_run_by_its_measured_answers_and_seconds(
    run: Cloud, context: FakeContext
) -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    # Given a builtin labeling job: 10 objects, 3 answers each, 12.5 s per answer measured, $15/h labelers
    event = labeled(
        {"TotalLabeled": 10, "HumanLabeled": 10, "MachineLabeled": 0},
        {"OutputDatasetS3Uri": "s3://b/o"},
        backend="builtin",
        labeler_hourly_rate_usd=15.0,
        estimated_cost_usd=1.0,
    )
    event["labeling"]["team"] = {"answers": 30, "mean_seconds_per_task": 12.5, "workers": []}
    # When notify records it
    answer = call(event, context)
    # Then the actual cost is 30 answers' AWS requests plus 375 s at $15/h, not Ground Truth's prices
    model = BuiltinPricing(labeler_hourly_rate_usd=15.0)
    expected = round(30 * model.aws_answer_usd + 375 / 3600 * 15.0, 2)
    item = ledger.from_dynamo(run.run(RUN))
    cost = item["labeling_cost"]
    assert cost["human_usd"] == pytest.approx(expected) and cost["machine_usd"] == 0
    assert (
        cost["actual_usd"] == pytest.approx(expected)
        and answer["labeling_cost"]["actual_usd"] == cost["actual_usd"]
    )
    assert cost["answers"] == 30 and cost["seconds"] == pytest.approx(375.0)
    assert cost["builtin"]["labeler_hourly_rate_usd"] == 15.0
    assert cost["actual_usd"] != pytest.approx(10 * (0.08 + 3 * 0.012))


def test_labeled_prices_builtin_automated_labeling_with_its_labeling_models(
    run: Cloud, context: FakeContext
) -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    # Given the builtin loop's result: 40 human (40 answers), 60 machine labels, two model rounds at $0.57
    final = "arn:aws:sagemaker:us-east-1:123456789012:model/pets-alm2-0"
    event = labeled(
        {"TotalLabeled": 100, "HumanLabeled": 40, "MachineLabeled": 60},
        {"OutputDatasetS3Uri": "s3://b/o", "FinalActiveLearningModelArn": final},
        backend="builtin",
        workers_per_object=1,
        estimated_cost_usd=1.0,
    )
    event["labeling"]["team"] = {"answers": 40, "mean_seconds_per_task": 5.0, "workers": []}
    event["labeling"]["auto_labeling"] = {"model_usd": 0.5712, "rounds": [{"round": 1}, {"round": 3}]}
    # When notify records it
    call(event, context)
    # Then the machine labels cost the labeling models, next to the answers' cost, and the model is reusable
    item = ledger.from_dynamo(run.run(RUN))
    cost = item["labeling_cost"]
    human = round(40 * BuiltinPricing().aws_answer_usd, 2)
    assert cost["machine_usd"] == 0.57 and cost["model_usd"] == pytest.approx(0.5712)
    assert cost["actual_usd"] == pytest.approx(round(human + 0.57, 2)) and cost["model_rounds"] == 2
    assert item["label_counters"] == {"human": 40, "machine": 60, "total": 100, "failed": 0, "unlabeled": 0}
    assert item["final_active_learning_model_arn"] == final


def test_labeled_records_counters_cost_and_the_final_model(run: Cloud, context: FakeContext) -> None:
    # Given a labeling job where automated labeling labeled 400 of 1,000 objects and left a model
    counters = {
        "TotalLabeled": 1000,
        "HumanLabeled": 600,
        "MachineLabeled": 400,
        "FailedNonRetryableError": 2,
    }
    output = {"OutputDatasetS3Uri": "s3://b/o", "FinalActiveLearningModelArn": "arn:aws:sagemaker:::model/m"}
    # When notify records it
    answer = call(
        labeled(
            counters,
            output,
            initial_active_learning_model_arn="arn:earlier",
            initial_model_source_run_id="r0",
        ),
        context,
    )
    # Then the ledger has the counters, the estimate next to the actual cost, and the reusable model
    assert answer["status"] == "RECORDED"
    item = ledger.from_dynamo(run.run(RUN))
    assert item["label_counters"] == {
        "human": 600,
        "machine": 400,
        "total": 1000,
        "failed": 2,
        "unlabeled": 0,
    }
    assert item["labeling_cost"]["estimated_usd"] == 116.0 and item["labeling_cost"]["budget_usd"] == 200.0
    # 600 x $0.116 + 400 x $0.08 (the machine price defaults to the seeds' $0.08)
    assert item["labeling_cost"]["human_usd"] == 69.6 and item["labeling_cost"]["machine_usd"] == 32.0
    assert item["labeling_cost"]["actual_usd"] == 101.6
    assert answer["labeling_cost"]["actual_usd"] == 101.6
    assert item["final_active_learning_model_arn"] == "arn:aws:sagemaker:::model/m"
    assert item["labeling_model_at"] and item["labeling_job_arn"].endswith(f"{RUN}-label-0")
    assert item["reused_model_arn"] == "arn:earlier" and item["reused_model_source_run_id"] == "r0"
    # a retry keeps the time the model became reusable (the index order)
    call(labeled(counters, output), context)
    assert ledger.from_dynamo(run.run(RUN))["labeling_model_at"] == item["labeling_model_at"]


def test_labeled_keeps_the_tuning_part_of_the_estimate(run: Cloud, context: FakeContext) -> None:
    # Given a run whose cost guard counted 6 tuning trials ($4.42) next to its $116 labeling estimate
    tuning = {"estimated_usd": 4.42, "trials": 6, "instance_type": "ml.g4dn.xlarge", "instance_count": 1}
    counters = {"TotalLabeled": 10, "HumanLabeled": 10, "MachineLabeled": 0}
    # When notify records the labeling job's outcome (which rewrites labeling_cost)
    call(labeled(counters, {"OutputDatasetS3Uri": "s3://b/o"}, tuning_estimate=tuning), context)
    # Then the ledger still holds the tuning part and the total the budget was checked against
    cost = ledger.from_dynamo(run.run(RUN))["labeling_cost"]
    assert cost["tuning"] == tuning and cost["total_usd"] == 120.42 and cost["estimated_usd"] == 116.0
    # And a run without tuning gets neither
    call(labeled(counters, {"OutputDatasetS3Uri": "s3://b/o"}), context)
    cost = ledger.from_dynamo(run.run(RUN))["labeling_cost"]
    assert "tuning" not in cost and "total_usd" not in cost


def test_labeled_without_a_final_model_is_not_reusable(run: Cloud, context: FakeContext) -> None:
    call(labeled({"TotalLabeled": 5, "HumanLabeled": 5}, {"OutputDatasetS3Uri": "s3://b/o"}), context)
    item = run.run(RUN)
    assert "labeling_model_at" not in item and "final_active_learning_model_arn" not in item
    assert "reused_model_arn" not in item


TEAM = {
    "workers": [
        {
            "worker_id": "sub-1",
            "username": "alice@example.com",
            "answers": 4,
            "mean_seconds": 5.25,
            "agreement": 1.0,
        },
        {
            "worker_id": "sub-2",
            "username": "bob@example.com",
            "answers": 3,
            "mean_seconds": 3.0,
            "agreement": None,
        },
    ],
    "classes": [{"class_name": "cat", "objects": 2, "agreement": 0.667}],
    "answers": 7,
    "objects": 2,
    "started_at": "2026-05-01T10:00:00Z",
    "finished_at": "2026-05-01T10:30:00Z",
    "active_seconds": 1800.0,
    "answers_per_hour": 14.0,
    "objects_per_hour": 4.0,
    "mean_seconds_per_task": 4.29,
}


def test_labeled_by_the_builtin_service_records_the_team_statistics(run: Cloud, context: FakeContext) -> None:
    # Given the builtin labeling service's result, with the team's statistics
    payload = labeled({"TotalLabeled": 2, "HumanLabeled": 2}, {"OutputDatasetS3Uri": "s3://b/o"})
    payload["labeling"] = {**payload["labeling"], "backend": "builtin", "team": TEAM}
    # When notify records it
    answer = call(payload, context)
    # Then the run item has the statistics as labeling_team (numbers intact; absent values dropped)
    assert answer["status"] == "RECORDED"
    item = ledger.from_dynamo(run.run(RUN))
    team = item["labeling_team"]
    assert team["workers"][0] == TEAM["workers"][0]
    assert "agreement" not in team["workers"][1] and team["workers"][1]["answers"] == 3
    assert team["classes"] == TEAM["classes"]
    assert (team["answers_per_hour"], team["mean_seconds_per_task"], team["active_seconds"]) == (
        14,
        4.29,
        1800,
    )
    # And everything else is recorded as for Ground Truth
    assert item["label_counters"]["human"] == 2 and "labeling_cost" in item


def test_labeled_by_ground_truth_has_no_team_statistics(run: Cloud, context: FakeContext) -> None:
    # Given a Ground Truth result (no team), when notify records it, then no labeling_team is stored
    call(labeled({"TotalLabeled": 5, "HumanLabeled": 5}, {"OutputDatasetS3Uri": "s3://b/o"}), context)
    assert "labeling_team" not in run.run(RUN)


def test_labeled_payload_problems_are_named(run: Cloud, context: FakeContext) -> None:
    payload = labeled({}, {})
    payload["labeling"] = {**payload["labeling"], "team": ["not", "statistics"]}
    with pytest.raises(notify.InvalidRequest, match=r"labeling\.team must be an object"):
        call(payload, context)
    with pytest.raises(notify.InvalidRequest, match=r"LabelCounters\.HumanLabeled"):
        call(labeled({"HumanLabeled": -1}, {}), context)
    with pytest.raises(notify.InvalidRequest, match="workers_per_object"):
        call(labeled({}, {}, workers_per_object=0), context)
    with pytest.raises(notify.InvalidRequest, match="semantic-segmentation"):
        call({**labeled({}, {}), "task_type": "semantic-segmentation"}, context)
    with pytest.raises(notify.InvalidRequest, match="'labeling' and 'settings'"):
        call({"action": "labeled", "run_id": RUN, "task_type": "image-classification"}, context)


def test_outcome_links_the_report(run: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    report = {"report_uri": f"s3://gtpipe-data/reports/{RUN}/index.html", "figures": ["a.png"]}
    call({"action": "succeeded", "run_id": RUN, "metrics": {}, "report": report}, context)
    assert run.run(RUN)["report_uri"] == report["report_uri"]
    (note,) = run.notifications()
    assert note["message"]["report_uri"] == report["report_uri"]
    assert note["message"]["report_console_url"] == (
        "https://s3.console.aws.amazon.com/s3/object/gtpipe-data?region=eu-west-1&bucketType=general"
        f"&prefix=reports/{RUN}/index.html"
    )
    assert "X-Amz-Signature" not in json.dumps(note)


def test_a_report_error_is_recorded_and_the_outcome_kept(run: Cloud, context: FakeContext) -> None:
    cause = json.dumps({"errorMessage": "no validation images", "errorType": "ReportError"})
    report = {"Error": "ReportError", "Cause": cause}
    answer = call(
        {"action": "failed", "run_id": RUN, "step": "training", "error": "E", "cause": "c", "report": report},
        context,
    )
    assert answer["status"] == "FAILED"
    item = run.run(RUN)
    assert item["report_error"] == {"error": "ReportError", "cause": "no validation images"}
    assert item["failure"]["step"] == "training" and "report_uri" not in item
    (note,) = run.notifications()
    assert note["message"]["report_error"] == "ReportError: no validation images"


def test_a_skipped_report_adds_nothing(run: Cloud, context: FakeContext) -> None:
    report = {"skipped": "labeling produced no output"}
    call({"action": "failed", "run_id": RUN, "step": "labeling", "error": "E", "report": report}, context)
    item = run.run(RUN)
    assert "report_uri" not in item and "report_error" not in item
