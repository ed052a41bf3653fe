"""Execute state_machines/pipeline.asl.json itself in moto's Step Functions interpreter.

The run starts the way it does on AWS: a manifest lands in the bucket and the real start_run handler
validates it and starts the execution. The ledger is written by the real notify handler. SageMaker jobs and
the split/evaluate/endpoint/report Lambdas are test doubles (tests/pipeline/harness.py).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from local.sagemaker import fail, reject, succeed
from tests.pipeline.harness import (
    ACCOUNT,
    HAPPY_PATH,
    LABEL_COUNTERS,
    REGION,
    SAMPLE_BUCKET,
    Pipeline,
    augmented_manifest,
    input_manifest,
)
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture


def test_input_manifest_runs_labeling_training_and_deploys(pipeline: Pipeline) -> None:
    # Given an unlabeled manifest and SageMaker jobs that complete
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    # When it is dropped under incoming/
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run takes the labeling path to a deployed, published model
    assert described["status"] == "SUCCEEDED"
    assert entered == HAPPY_PATH
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "SUCCEEDED"
    serving = pipeline.ledger("@serving")
    assert serving["source_run_id"] == started["run_id"]
    assert serving["endpoint_name"] == "gtpipe-endpoint"
    assert serving["model_name"].startswith(f"{started['run_id']}-model-")
    # the split saw the labeling job's output manifest, the training job the split's hyperparameters
    split_call = next(event for name, event in pipeline.doubles.calls if name == "split")
    labeling_job = pipeline.sagemaker.jobs("labeling")[0]
    assert split_call["manifest_uri"].endswith(f"{labeling_job.name}/manifests/output/output.manifest")
    training_job = pipeline.sagemaker.jobs("training")[0]
    assert training_job.request["HyperParameters"]["num_classes"] == "10"
    assert [n["status"] for n in pipeline.notifications()] == ["SUCCEEDED"]
    assert json.loads(described["output"])["evaluation"]["metric_value"] == pytest.approx(0.93)


def test_labeling_counters_and_cost_are_recorded_and_the_notification_links_the_report(
    pipeline: Pipeline,
) -> None:
    # Given 12 objects, 3 workers each at the seed prices, labeled by people
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, _ = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    run = pipeline.ledger(started["run_id"])
    # Then the ledger has the counters, the estimate next to the actual cost and the report
    assert run["label_counters"] == {"human": 12, "machine": 0, "total": 12, "failed": 0, "unlabeled": 0}
    # 12 x ($0.08 + 3 x $0.012), in cents
    assert float(run["labeling_cost"]["estimated_usd"]) == pytest.approx(1.39)
    assert float(run["labeling_cost"]["actual_usd"]) == pytest.approx(1.39)
    assert run["labeling_job_arn"].endswith(f"labeling-job/{started['run_id']}-label-0")
    report_uri = f"s3://{SAMPLE_BUCKET}/reports/{started['run_id']}/index.html"
    assert run["report_uri"] == report_uri
    # the report saw the whole state of a successful run
    (report_call,) = pipeline.doubles.called("report")
    assert report_call["outcome"] == "succeeded" and report_call["run_id"] == started["run_id"]
    assert {"config", "input", "labeling", "split", "training", "evaluation"} <= set(report_call["state"])
    (notification,) = pipeline.notifications()
    assert notification["report_uri"] == report_uri
    assert notification["report_console_url"] == (
        f"https://s3.console.aws.amazon.com/s3/object/{SAMPLE_BUCKET}?region={REGION}&bucketType=general"
        f"&prefix=reports/{started['run_id']}/index.html"
    )
    assert float(notification["labeling_cost"]["actual_usd"]) == pytest.approx(1.39, abs=0.01)


def test_a_failed_report_never_changes_the_outcome(pipeline: Pipeline) -> None:
    # Given a report function that fails
    pipeline.doubles.report_error = "matplotlib exploded"
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run still succeeds, deployed, and the ledger and the notification say why there is no report
    assert described["status"] == "SUCCEEDED"
    assert entered[-3:] == ["ReportOnSuccess", "RecordSuccess", "Deployed"]
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "SUCCEEDED" and "report_uri" not in run
    assert run["report_error"]["error"] == "RuntimeError"
    assert "matplotlib exploded" in run["report_error"]["cause"]
    (notification,) = pipeline.notifications()
    assert notification["status"] == "SUCCEEDED"
    assert "matplotlib exploded" in notification["report_error"]
    assert pipeline.ledger("@serving")["source_run_id"] == started["run_id"]


def test_a_failed_report_of_a_failed_run_keeps_the_failure(pipeline: Pipeline) -> None:
    pipeline.doubles.report_error = "no figures today"
    pipeline.runner.script("training", fail("AlgorithmError: out of memory"))
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    assert entered[-4:] == ["FailedTraining", "ReportOnFailure", "RecordFailure", "PipelineFailed"]
    run = pipeline.ledger(started["run_id"])
    assert run["failure"]["step"] == "training" and "out of memory" in run["failure"]["cause"]
    assert "no figures today" in run["report_error"]["cause"]


def test_augmented_manifest_skips_labeling(pipeline: Pipeline) -> None:
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    assert "Label" not in entered and "UseDroppedManifest" in entered
    assert pipeline.sagemaker.jobs("labeling") == []
    split_call = next(event for name, event in pipeline.doubles.calls if name == "split")
    assert split_call["manifest_uri"] == f"s3://{SAMPLE_BUCKET}/incoming/labeled.manifest"


def test_labeling_failure_is_recorded_with_step_and_reason(pipeline: Pipeline) -> None:
    pipeline.runner.script("labeling", fail("ClientError: workteam has no members"))
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    assert entered[-4:] == ["FailedLabeling", "SkipReport", "RecordFailure", "PipelineFailed"]
    # labeling left nothing to report on
    assert pipeline.doubles.called("report") == []
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "FAILED"
    assert "report_uri" not in run and "report_error" not in run
    assert run["failure"]["step"] == "labeling"
    assert "workteam has no members" in run["failure"]["cause"]
    notification = pipeline.notifications()[-1]
    assert notification["status"] == "FAILED" and notification["step"] == "labeling"


def test_training_throttled_beyond_retries_fails_the_run(pipeline: Pipeline) -> None:
    # Given SageMaker refuses CreateTrainingJob more often than the Retry policy allows (1 + 5 attempts)
    pipeline.runner.script("training", *[reject("ThrottlingException", "Rate exceeded")] * 6)
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    assert entered.count("Train") == 1 and "FailedTraining" in entered
    attempts = [call for call in pipeline.runner.calls if call.kind == "training"]
    assert len(attempts) == 6
    run = pipeline.ledger(started["run_id"])
    assert run["failure"]["step"] == "training"
    assert run["failure"]["error"] == "SageMaker.AmazonSageMakerException"


def test_training_job_failure_is_not_retried_and_names_the_reason(pipeline: Pipeline) -> None:
    pipeline.runner.script(
        "training", reject("ThrottlingException"), fail("AlgorithmError: num_classes is 1")
    )
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, _ = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    names = [job.name for job in pipeline.sagemaker.jobs("training")]
    # the throttled attempt created nothing; the retry got a fresh, unique name
    assert names == [f"{started['run_id']}-train-1"]
    run = pipeline.ledger(started["run_id"])
    assert run["failure"] == {
        "step": "training",
        "error": "States.TaskFailed",
        "cause": run["failure"]["cause"],
    }
    assert "num_classes is 1" in run["failure"]["cause"]
    # a failure after labeling is reported, with the failure in the state the report reads
    (report_call,) = pipeline.doubles.called("report")
    assert report_call["outcome"] == "failed"
    assert report_call["state"]["failure"]["step"] == "training"
    assert run["report_uri"].endswith(f"reports/{started['run_id']}/index.html")


def test_quality_gate_rejects_and_does_not_deploy(pipeline: Pipeline) -> None:
    pipeline.doubles.accuracy = 0.42
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    assert entered[-4:] == ["QualityGate", "ReportOnRejection", "RecordRejected", "Rejected"]
    assert "CreateEndpointConfig" not in entered
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "REJECTED"
    assert run["report_uri"].endswith(f"reports/{started['run_id']}/index.html")
    assert [call["outcome"] for call in pipeline.doubles.called("report")] == ["rejected"]
    assert pipeline.ledger("@serving") == {}
    notifications = pipeline.notifications()
    assert [n["status"] for n in notifications] == ["REJECTED"]
    assert notifications[0]["report_uri"] == run["report_uri"]


def test_failed_endpoint_update_keeps_previous_model_serving(pipeline: Pipeline) -> None:
    # Given a first run that deployed
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())
    assert pipeline.wait(first["run_id"])[0]["status"] == "SUCCEEDED"
    serving_before = pipeline.ledger("@serving")
    # When the second run's blue/green update fails on the endpoint
    pipeline.doubles.endpoint_outcome = ("EndpointFailed", "Update rolled back: invocation errors alarm")
    second = pipeline.drop("incoming/second.manifest", augmented_manifest(15))
    described, entered = pipeline.wait(second["run_id"])
    # Then the run fails at deployment and the published model is still the first one
    assert described["status"] == "FAILED"
    assert entered[-6:] == [
        "DeployEndpoint",
        "FailedDeployment",
        "CleanUpEndpoint",
        "ReportOnFailure",
        "RecordFailure",
        "PipelineFailed",
    ]
    run = pipeline.ledger(second["run_id"])
    assert run["failure"]["step"] == "deployment" and run["failure"]["error"] == "EndpointFailed"
    assert pipeline.ledger("@serving") == serving_before


def test_invalid_manifest_starts_no_execution(pipeline: Pipeline) -> None:
    lines = [{"source-ref": f"s3://{SAMPLE_BUCKET}/images/a.png"}, {"source": "inline text"}]
    answer = pipeline.drop("incoming/bad.manifest", lines)
    assert answer["status"] == "FAILED"
    assert pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"] == []
    run = pipeline.ledger(answer["run_id"])
    assert run["status"] == "FAILED" and run["failure"]["step"] == "validate"
    assert any("line 2" in error for error in run["errors"])


def test_lost_endpoint_event_is_recovered_by_verification(pipeline: Pipeline) -> None:
    # Given an endpoint change whose state-change event never arrives
    pipeline.doubles.endpoint_event_lost = True
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the heartbeat timeout hands over to VerifyEndpoint, which finds the new config serving
    assert described["status"] == "SUCCEEDED"
    assert entered[entered.index("DeployEndpoint") + 1] == "VerifyEndpoint"
    assert pipeline.ledger("@serving")["source_run_id"] == started["run_id"]


def test_over_budget_labeling_is_refused_before_anything_starts(pipeline: Pipeline) -> None:
    # Given a $1 budget and 12 objects at 3 workers each ($0.116 per object: $1.39)
    pipeline.configure(budget_usd=1.0)
    lines = input_manifest()
    answer = pipeline.drop("incoming/digits.manifest", lines)
    # Then no execution starts, the run is FAILED at the cost guard with the estimate and the budget
    assert answer["status"] == "FAILED" and answer["error"] == "LabelingBudgetExceeded"
    assert pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"] == []
    run = pipeline.ledger(answer["run_id"])
    assert run["status"] == "FAILED"
    assert run["failure"]["step"] == "costguard"
    assert "$1.39" in run["failure"]["cause"] and "$1.00" in run["failure"]["cause"]
    assert float(run["labeling_cost"]["estimated_usd"]) == pytest.approx(1.39)
    assert float(run["labeling_cost"]["budget_usd"]) == 1.0
    (notification,) = pipeline.notifications()
    assert notification["step"] == "costguard" and "$1.39" in notification["reason"]
    # nothing was written for labeling and the manifest is untouched
    listed = pipeline.s3.list_objects_v2(Bucket=SAMPLE_BUCKET, Prefix="labeling/").get("Contents", [])
    assert listed == []
    body = pipeline.s3.get_object(Bucket=SAMPLE_BUCKET, Key="incoming/digits.manifest")["Body"].read()
    assert [json.loads(line) for line in body.splitlines()] == lines


def test_within_budget_labeling_runs(pipeline: Pipeline) -> None:
    pipeline.configure(budget_usd=1.40)
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    assert pipeline.wait(started["run_id"])[0]["status"] == "SUCCEEDED"
    assert float(pipeline.ledger(started["run_id"])["labeling_cost"]["budget_usd"]) == pytest.approx(1.4)


def final_model_outputs(job: Any) -> dict[str, Any]:
    """A completed automated labeling job that trained a model (DescribeLabelingJob as on AWS)."""
    output_path = job.request["OutputConfig"]["S3OutputPath"].rstrip("/")
    return {
        "LabelCounters": {**LABEL_COUNTERS, "HumanLabeled": 4, "MachineLabeled": 8},
        "LabelingJobOutput": {
            "OutputDatasetS3Uri": f"{output_path}/{job.name}/manifests/output/output.manifest",
            "FinalActiveLearningModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{job.name}-final",
        },
    }


def test_a_later_run_starts_labeling_from_the_newest_model_of_the_same_label_set(pipeline: Pipeline) -> None:
    # Given model reuse and a first run whose automated labeling left a final model
    pipeline.configure(auto_labeling=True, reuse_model=True)
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    first = pipeline.drop("incoming/first.manifest", input_manifest())
    described, entered = pipeline.wait(first["run_id"])
    assert described["status"] == "SUCCEEDED"
    # the first run had nothing to reuse: automated labeling without an initial model
    assert "LabelWithAutoLabeling" in entered and "LabelFromEarlierModel" not in entered
    first_job = pipeline.sagemaker.jobs("labeling")[0]
    assert "InitialActiveLearningModelArn" not in first_job.request["LabelingJobAlgorithmsConfig"]
    first_model = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{first_job.name}-final"
    first_run = pipeline.ledger(first["run_id"])
    assert first_run["final_active_learning_model_arn"] == first_model
    assert first_run["label_counters"]["machine"] == 8
    # machine labels cost the per-object fee only: 4 x $0.116 + 8 x $0.08
    assert float(first_run["labeling_cost"]["actual_usd"]) == pytest.approx(1.10)
    assert float(first_run["labeling_cost"]["estimated_usd"]) == pytest.approx(1.39)
    # When a second manifest with the same task type and label set is dropped
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    second = pipeline.drop("incoming/second.manifest", input_manifest(15))
    assert second["labeling"]["initial_active_learning_model_arn"] == first_model
    described, entered = pipeline.wait(second["run_id"])
    # Then its labeling job starts from the first run's model, and the ledger says so
    assert described["status"] == "SUCCEEDED"
    assert "LabelFromEarlierModel" in entered
    second_job = pipeline.sagemaker.jobs("labeling")[1]
    assert second_job.request["LabelingJobAlgorithmsConfig"]["InitialActiveLearningModelArn"] == first_model
    second_run = pipeline.ledger(second["run_id"])
    assert second_run["reused_model_arn"] == first_model
    assert second_run["reused_model_source_run_id"] == first["run_id"]
    assert second_run["labeling_fingerprint"] == first_run["labeling_fingerprint"]


def test_a_model_of_another_label_set_is_not_reused(pipeline: Pipeline) -> None:
    # Given a first run that left a model for the configured classes
    pipeline.configure(auto_labeling=True, reuse_model=True)
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    first = pipeline.drop("incoming/first.manifest", input_manifest())
    assert pipeline.wait(first["run_id"])[0]["status"] == "SUCCEEDED"
    # When the label set changes order (class ids change meaning)
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["label_categories"] = list(reversed(config["label_categories"]))
    os.environ["PIPELINE_CONFIG"] = json.dumps(config)
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    second = pipeline.drop("incoming/second.manifest", input_manifest())
    _, entered = pipeline.wait(second["run_id"])
    # Then the second run labels without the first run's model
    assert "LabelWithAutoLabeling" in entered and "LabelFromEarlierModel" not in entered
    assert "reused_model_arn" not in pipeline.ledger(second["run_id"])


BUILTIN_PATH = ["ChooseLabeling", "LabelWithTeam", *HAPPY_PATH[2:]]


def test_builtin_backend_labels_with_the_team_and_goes_on_to_deploy(pipeline: Pipeline) -> None:
    # Given the builtin labeling backend
    pipeline.configure_builtin()
    # When an unlabeled manifest is dropped and the team's job answers the token
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run labels with the team (no Ground Truth job) and goes on through RecordLabeling to Split
    assert described["status"] == "SUCCEEDED"
    assert entered == BUILTIN_PATH
    assert pipeline.sagemaker.jobs("labeling") == []
    # the labeling function was invoked with the token payload of the contract
    (opened,) = pipeline.doubles.called("labeling")
    run_id = started["run_id"]
    assert opened["action"] == "open" and opened["task_token"]
    assert opened["run_id"] == run_id and opened["job_name"] == f"{run_id}-label-0"
    assert opened["task_type"] == "image-classification"
    assert opened["manifest_uri"] == f"s3://{SAMPLE_BUCKET}/incoming/digits.manifest"
    version = pipeline.s3.head_object(Bucket=SAMPLE_BUCKET, Key="incoming/digits.manifest")["VersionId"]
    assert opened["manifest_version_id"] == version
    assert opened["label_attribute"] == "category"
    settings = opened["settings"]
    assert settings["backend"] == "builtin" and settings["lease_seconds"] == 300
    assert len(settings["class_names"]) == 10 and settings["min_labeled_share"] == 0.9
    # the split read the service's output manifest; the ledger has the job and its counters
    output_uri = f"s3://{SAMPLE_BUCKET}/labeling/{run_id}-label-0/manifests/output/output.manifest"
    (split_call,) = pipeline.doubles.called("split")
    assert split_call["manifest_uri"] == output_uri
    run = pipeline.ledger(run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["labeling_job_arn"] == f"gtpipe:labeling-job/{run_id}-label-0"
    assert run["label_counters"] == {"human": 12, "machine": 0, "total": 12, "failed": 0, "unlabeled": 0}
    state = json.loads(described["output"])
    assert state["labeling"]["backend"] == "builtin" and state["labeling"]["team"]["answers"] == 36


def test_builtin_labeling_failure_is_recorded(pipeline: Pipeline) -> None:
    # Given a team that labeled too little before the lifetime ended
    pipeline.configure_builtin()
    cause = (
        "labeled share 0.50 is below the minimum 0.90; unlabeled objects: "
        f"s3://{SAMPLE_BUCKET}/labeling/x/manifests/output/unlabeled.manifest"
    )
    pipeline.doubles.labeling_failure = ("LabelingIncomplete", cause)
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run fails at labeling with the service's error and cause, and nothing after labeling ran
    assert described["status"] == "FAILED"
    assert entered == [
        "ChooseLabeling",
        "LabelWithTeam",
        "FailedLabeling",
        "SkipReport",
        "RecordFailure",
        "PipelineFailed",
    ]
    run = pipeline.ledger(started["run_id"])
    assert run["failure"] == {"step": "labeling", "error": "LabelingIncomplete", "cause": cause}
    assert pipeline.doubles.called("split") == [] and pipeline.doubles.called("report") == []
    notification = pipeline.notifications()[-1]
    assert notification["status"] == "FAILED" and notification["step"] == "labeling"
