"""The state machine definition against its neighbours: the execution input start_run really builds from
the synthesized configuration, the Lambda results, and botocore's SageMaker service model."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator
from gtpipe_shared.config import load_pipeline_config
from gtpipe_shared.events import S3ObjectCreated
from gtpipe_shared.manifest import ManifestSummary
from start_run.handler import execution_input

from infra.config import StackConfig
from tests.pipeline.asl_paths import render, resolve_path
from tests.pipeline.incremental_support import with_incremental
from tests.pipeline.label_errors_support import with_label_errors
from tests.pipeline.sample_config import synthesized_pipeline_config

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "state_machines" / "pipeline.asl.json").read_text())
STATES: dict[str, Any] = DEFINITION["States"]
SAGEMAKER_OPERATIONS = {
    "createLabelingJob": "CreateLabelingJob",
    "createTrainingJob": "CreateTrainingJob",
    "createModel": "CreateModel",
    "createTransformJob": "CreateTransformJob",
    "createEndpointConfig": "CreateEndpointConfig",
    "createHyperParameterTuningJob": "CreateHyperParameterTuningJob",
}
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
FUNCTIONS = ("Split", "Evaluate", "Notify", "Endpoint", "Report", "Labeling", "Registry", "LabelErrors")
SUBSTITUTIONS = {
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "SageMakerRoleArn": "arn:aws:iam::123456789012:role/GtpipePipeline-SageMakerExecutionRole",
    "DataBucketName": "gtpipe-data-bucket",
    **{
        f"{name}FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{name.lower()}"
        for name in FUNCTIONS
    },
}
EARLIER_MODEL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/earlier-0123456789abcdef-label-0-final"
REPORT_STATES = {"ReportOnSuccess": "succeeded", "ReportOnRejection": "rejected", "ReportOnFailure": "failed"}
RECORD_STEPS = {
    "ReportOnSuccess": "RecordSuccess",
    "ReportOnRejection": "RecordRejected",
    "ReportOnFailure": "RecordFailure",
}
LABEL_STATES = ("Label", "LabelWithAutoLabeling", "LabelFromEarlierModel")
# Longest run id start_run can produce: a 20-character slug, a dash and 16 hex digits.
LONGEST_RUN_ID = "abcdefghijklmnopqrst-0123456789abcdef"


@pytest.fixture(scope="module")
def pipeline_config_json(synth: Any) -> str:
    return synthesized_pipeline_config(synth)


def sample_tuning() -> dict[str, Any]:
    """config.tuning as gtpipe:tuning with every kind of range puts it into the execution input."""
    context = {
        "gtpipe:tuning": {
            "ranges": {
                "learning_rate": {"type": "continuous", "min": 0.0001, "max": 0.5, "scaling": "Logarithmic"},
                "mini_batch_size": {"type": "integer", "min": 8, "max": 64},
                "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
            },
            "maxJobs": 6,
            "maxParallelJobs": 2,
            "earlyStopping": "Auto",
        }
    }
    tuning = StackConfig.from_context(context.get).tuning
    assert tuning is not None
    return tuning.model_dump(mode="json")


def _labeling_part() -> dict[str, Any]:
    """The labeling step's result: a finished Ground Truth job with its final active-learning model."""
    return {
        "labeling": {
            "job_arn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/x",
            "output_uri": "s3://gtpipe-data-bucket/labeling/x/manifests/output/output.manifest",
            "counters": {"TotalLabeled": 100},
            "job_output": {
                "OutputDatasetS3Uri": "s3://gtpipe-data-bucket/labeling/x/manifests/output/output.manifest",
                "FinalActiveLearningModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/x-final",
            },
        },
    }


def _training_part(run_id: str, class_names: Sequence[str], image: str) -> dict[str, Any]:
    """Split, training, model and evaluation results of run ``run_id`` trained on ``image``."""
    return {
        "split": {
            "train_uri": f"s3://gtpipe-data-bucket/splits/{run_id}/train.manifest",
            "validation_uri": f"s3://gtpipe-data-bucket/splits/{run_id}/validation.manifest",
            "validation_images_uri": f"s3://gtpipe-data-bucket/splits/{run_id}/validation-images.manifest",
            "transform_output_uri": f"s3://gtpipe-data-bucket/transform/{run_id}/",
            "counts": {"train": 80, "validation": 20},
            "class_names": list(class_names),
            "hyperparameters": {"num_classes": "10", "num_training_samples": "80", "epochs": "10"},
        },
        "training": {
            "job_name": f"{run_id}-train-0",
            "image": image,
            "model_artifacts": f"s3://gtpipe-data-bucket/models/{run_id}-train-0/output/model.tar.gz",
        },
        "model": {
            "model_arn": "arn:aws:sagemaker:us-east-1:123456789012:model/m",
            "model_name": f"{run_id}-model-0",
        },
        "evaluation": {
            "metrics_uri": "s3://x/metrics.json",
            "metric_name": "accuracy",
            "metric_value": 0.9,
            "passed": True,
        },
    }


def _release_part(run_id: str) -> dict[str, Any]:
    """Champion comparison, registry, endpoint config and report results of run ``run_id``."""
    return {
        "champion_lookup": {
            "payload": {
                "found": True,
                "model_name": "earlier-0123456789abcdef-model-0",
                "source_run_id": "earlier",
            }
        },
        "comparison": {
            "images_uri": f"s3://gtpipe-data-bucket/splits/{run_id}/golden-images.manifest",
            "labels_uri": "s3://gtpipe-data-bucket/golden/digits.manifest",
            "challenger_output_uri": f"s3://gtpipe-data-bucket/transform/{run_id}-golden/",
            "golden": True,
        },
        "champion_transform": {"job_name": f"{run_id}-champ-0"},
        "registry": {
            "package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/gtpipe-models-0123/1",
            "group_name": "gtpipe-models-0123",
            "approval_status": "PendingManualApproval",
        },
        "endpoint_config": {"endpoint_config_arn": "arn", "endpoint_config_name": f"{run_id}-epc-0"},
        "report": {"report_uri": f"s3://gtpipe-data-bucket/reports/{run_id}/index.html", "figures": []},
    }


def _auto_labeling_part(run_id: str, image: str) -> dict[str, Any]:
    """Automated labeling on the builtin service, at its last possible round (the longest job names)."""
    auto = f"s3://gtpipe-data-bucket/labeling/auto/{run_id}/round-20/"
    return {
        "auto": {
            "state_uri": f"s3://gtpipe-data-bucket/labeling/auto/{run_id}/state.json",
            "round": 20,
            "next": "train",
            "batch_manifest_uri": auto + "batch.manifest",
            "train_uri": auto + "train.manifest",
            "validation_uri": auto + "validation.manifest",
            "hyperparameters": {"num_classes": "10", "num_training_samples": "40", "epochs": "5"},
            "transform_manifest_uri": auto + "transform.manifest",
            "transform_output_uri": auto + "predictions/",
            "model_name": "earlier-0123456789abcdef-alm3-0",
        },
        "auto_training": {
            "image": image,
            "model_artifacts": f"s3://gtpipe-data-bucket/models/{run_id}-alt20-0/output/model.tar.gz",
        },
        "auto_batch": {
            "output_uri": f"s3://gtpipe-data-bucket/labeling/{run_id}-al20-0/manifests/output/output.manifest"
        },
        "auto_transform": {
            "created": 1.7e12,
            "ended": 1.7e12,
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
        },
        "auto_model": {
            "model_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{run_id}-alm20-0",
            "model_name": f"{run_id}-alm20-0",
        },
    }


def sample_state(
    pipeline_config_json: str, kind: str, run_id: str = "demo-0123456789abcdef"
) -> dict[str, Any]:
    """The state after every step, as the Lambdas' ResultSelectors and the SageMaker results leave it."""
    config = load_pipeline_config(pipeline_config_json, data_bucket="gtpipe-data-bucket")
    event = S3ObjectCreated(
        bucket="gtpipe-data-bucket",
        key="incoming/demo.manifest",
        version_id="v1",
        etag="e",
        size=10,
        time=datetime.now(UTC),
        event_id="1",
    )
    summary = ManifestSummary(
        kind=kind,
        label_attribute="category" if kind == "augmented" else None,
        line_count=100,
        task_type="image-classification",
    )
    state = execution_input(run_id, event, "incoming/demo.manifest", summary, config)
    # start_run's labeling plan: a reused model from an earlier run, the cost guard's estimate
    state["config"]["labeling"].update(
        {
            "initial_active_learning_model_arn": EARLIER_MODEL_ARN,
            "initial_model_source_run_id": "earlier-0123456789abcdef",
            "estimated_cost_usd": 11.6,
            "fingerprint": "lf1-0123",
        }
    )
    state.update(_labeling_part())
    # A run of a stack with gtpipe:tuning (only Tune reads it; the states Train's path takes ignore it).
    state["config"]["tuning"] = sample_tuning()
    # warmStart: start_run found the label set's earlier tuning job (only TuneWarmStart reads it).
    state["config"]["tuning"]["parent_tuning_jobs"] = [
        {"HyperParameterTuningJobName": "0123456789abcdef" * 2}
    ]
    state["labeling_record"] = {"status": "RECORDED", "label_counters": {}, "labeling_cost": {}}
    state["augmented"] = {"manifest_uri": state["labeling"]["output_uri"]}
    state.update(_training_part(run_id, config.label_categories, state["config"]["training"]["image"]))
    with_incremental(run_id, state)  # a warm-started feedback run's split and training results
    with_label_errors(run_id, state)  # gtpipe:labelErrors: folds, flags, review, corrected manifest
    state.update(_release_part(run_id))
    state.update(_auto_labeling_part(run_id, state["config"]["training"]["image"]))
    return state


def definition_with_substitutions() -> dict[str, Any]:
    text = (ROOT / "state_machines" / "pipeline.asl.json").read_text()
    for name, value in SUBSTITUTIONS.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, "a substitution is not provided by the stack"
    return json.loads(text)


def sagemaker_tasks() -> list[tuple[str, str]]:
    tasks = []
    for name, state in STATES.items():
        resource = state.get("Resource", "")
        if resource.startswith("arn:aws:states:::sagemaker:"):
            action = resource.rsplit(":", 1)[1].removesuffix(".sync")
            tasks.append((name, SAGEMAKER_OPERATIONS[action]))
    return tasks


@pytest.mark.parametrize("kind", ["input", "augmented"])
@pytest.mark.parametrize(("state_name", "operation"), sagemaker_tasks())
def test_every_sagemaker_request_is_valid_for_botocore(
    pipeline_config_json: str, kind: str, state_name: str, operation: str
) -> None:
    # Given the state a real run carries when it reaches this task
    state = sample_state(pipeline_config_json, kind)
    task = definition_with_substitutions()["States"][state_name]
    context = {"State": {"RetryCount": 3, "Name": state_name}, "Task": {"Token": "token"}}
    # When the Parameters are rendered as Step Functions would
    request = render(task["Parameters"], state, context)
    # Then botocore accepts the request for the operation the integration calls
    shape = get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize(("state_name", "operation"), sagemaker_tasks())
def test_resource_names_fit_sagemaker_pattern_for_the_longest_run_id(
    pipeline_config_json: str, state_name: str, operation: str
) -> None:
    state = sample_state(pipeline_config_json, "input", run_id=LONGEST_RUN_ID)
    task = definition_with_substitutions()["States"][state_name]
    request = render(task["Parameters"], state, {"State": {"RetryCount": 99}, "Task": {"Token": "t"}})
    name_field = next(
        k
        for k in request
        if (k.endswith("Name") and k not in ("ModelName", "LabelAttributeName"))
        or (operation == "CreateModel" and k == "ModelName")
    )
    assert SAGEMAKER_NAME.match(request[name_field]), request[name_field]


def test_every_lambda_payload_path_exists_in_the_state(pipeline_config_json: str) -> None:
    state = sample_state(pipeline_config_json, "input")
    state["failure"] = {"step": "training", "error": "States.TaskFailed", "cause": "boom"}
    context = {
        "State": {"RetryCount": 0},
        "Task": {"Token": "token"},
        "Execution": {
            "StartTime": "2026-01-01T00:00:00.000Z",
            "Id": "arn:aws:states:us-east-1:123456789012:execution:gtpipe-pipeline:demo",
        },
    }
    # A rollback execution's input (gtpipe deploy --package) is what PrepareRollback reads.
    rollback_input = {"run_id": "rollback-v1-0123456789ab", "rollback": {"package_arn": "arn:p"}}
    definition = definition_with_substitutions()
    for name, task in definition["States"].items():
        if task.get("Resource", "").startswith("arn:aws:states:::lambda:invoke"):
            given = rollback_input if name == "PrepareRollback" else state
            rendered = render(task["Parameters"], given, context)
            assert rendered["FunctionName"].startswith("arn:aws:lambda:"), name


def test_every_task_retries_catches_and_times_out() -> None:
    for name, state in STATES.items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no Retry"
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, f"{name} has no timeout"
        catchers = state.get("Catch", [])
        assert any("States.ALL" in c["ErrorEquals"] for c in catchers), f"{name} has no catch-all"
        if name in REPORT_STATES:
            # A report failure never changes the outcome: the error becomes $.report, the run goes on.
            assert catchers == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.report", "Next": RECORD_STEPS[name]}
            ]
        elif name == "CleanUpEndpoint":
            # A failed cleanup never changes the failure: its error becomes $.failure.endpoint, recorded.
            assert catchers == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure.endpoint", "Next": "ReportOnFailure"}
            ]
        elif name == "ReleaseEndpoint":
            # A failed release never fails a published run: the next deploy takes over an ended run's lock.
            # (ChooseSuccessReport sends every run but a rollback on to ReportOnSuccess.)
            assert catchers == [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.endpoint_release",
                    "Next": "ChooseSuccessReport",
                }
            ]
            assert STATES["ChooseSuccessReport"]["Default"] == "ReportOnSuccess"
        elif name != "RecordFailure":
            failure_catchers = [c for c in catchers if c["Next"] != "VerifyEndpoint"]
            assert all(c["Next"].startswith("Failed") for c in failure_catchers), name
            assert all(c["ResultPath"] == "$.error" for c in failure_catchers), name
        if state["Resource"].endswith(".waitForTaskToken"):
            assert "HeartbeatSeconds" in state or "HeartbeatSecondsPath" in state, name
        assert "ResultSelector" in state or state["Resource"].endswith(".waitForTaskToken"), (
            f"{name} keeps the whole service response in the state (256 KB limit)"
        )
    assert DEFINITION["TimeoutSeconds"] > 0


def test_every_state_is_reachable_and_every_failure_is_recorded() -> None:
    reachable, frontier = set(), [DEFINITION["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in reachable:
            continue
        reachable.add(name)
        state = STATES[name]
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        frontier += [t for t in targets if t]
    assert reachable == set(STATES)
    for name, state in STATES.items():
        if name.startswith("Failed"):
            # Failures after labeling get a report first; a failed labeling job has nothing to report.
            # A failed deployment, verification or publication first rolls back the endpoint the run created
            # and releases the endpoint lock.
            # A refused rollback deployed nothing: nothing to report on either.
            expected = {"FailedLabeling": "SkipReport", "FailedDeployment": "CleanUpEndpoint"}
            expected["FailedRollback"] = "SkipReport"
            expected["FailedVerification"] = expected["FailedPublish"] = "CleanUpEndpoint"
            assert state["Next"] == expected.get(name, "ReportOnFailure"), name
            assert state["Parameters"]["step"] == name.removeprefix("Failed").lower()
    assert STATES["SkipReport"]["Next"] == "RecordFailure"
    assert STATES["CleanUpEndpoint"]["Next"] == "ReportOnFailure"


def predecessors(target: str) -> set[str]:
    found = set()
    for name, state in STATES.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        if target in targets:
            found.add(name)
    return found


def test_every_run_past_labeling_is_reported_before_its_outcome_is_recorded() -> None:
    # Given the three steps that end a run and notify
    for report, record in RECORD_STEPS.items():
        # Then only its report state (or, for failures, SkipReport) leads there, so $.report always exists
        allowed = {report} | ({"SkipReport"} if record == "RecordFailure" else set())
        # A rollback (gtpipe deploy --package) skips ReportOnSuccess: PrepareRollback set its $.report.
        allowed |= {"ChooseSuccessReport"} if record == "RecordSuccess" else set()
        assert predecessors(record) == allowed, record
        task = STATES[report]
        assert task["Parameters"]["FunctionName"] == "${ReportFunctionArn}"
        assert task["Parameters"]["Payload"] == {
            "run_id.$": "$.run_id",
            "outcome": REPORT_STATES[report],
            "state.$": "$",
        }
        assert task["ResultPath"] == "$.report" and task["Next"] == record
        assert STATES[record]["Parameters"]["Payload"]["report.$"] == "$.report"
    assert predecessors("ReportOnSuccess") == {"ChooseSuccessReport"}
    assert predecessors("ChooseSuccessReport") == {"ReleaseEndpoint"}
    assert predecessors("ReleaseEndpoint") == {"Publish"}
    assert predecessors("ReportOnRejection") == {"QualityGate", "ChampionGate"}
    assert predecessors("SkipReport") == {"FailedLabeling", "FailedRollback"}
    choose = STATES["ChooseSuccessReport"]
    assert choose["Choices"] == [{"Variable": "$.rollback", "IsPresent": True, "Next": "RecordSuccess"}]
    assert choose["Default"] == "ReportOnSuccess"
    assert STATES["PrepareRollback"]["ResultPath"] == "$"
    assert STATES["PrepareRollback"]["ResultSelector"]["report.$"] == "$.Payload.report"


def test_label_states_differ_only_in_the_automated_labeling_config() -> None:
    plain, auto, earlier = (json.loads(json.dumps(STATES[name])) for name in LABEL_STATES)
    algorithms = auto["Parameters"].pop("LabelingJobAlgorithmsConfig")
    assert algorithms == {
        "LabelingJobAlgorithmSpecificationArn.$": "$.config.labeling.algorithm_specification_arn"
    }
    assert earlier["Parameters"].pop("LabelingJobAlgorithmsConfig") == {
        **algorithms,
        "InitialActiveLearningModelArn.$": "$.config.labeling.initial_active_learning_model_arn",
    }
    assert plain == auto == earlier
    # The describe output's LabelingJobOutput (with FinalActiveLearningModelArn when there is one) is kept
    assert plain["ResultSelector"]["job_output.$"] == "$.LabelingJobOutput"
    assert plain["Next"] == "RecordLabeling" and STATES["RecordLabeling"]["Next"] == "UseLabelingOutput"


@pytest.mark.parametrize(
    ("auto_labeling", "initial_model", "expected"),
    [
        (False, EARLIER_MODEL_ARN, "Label"),
        (True, None, "LabelWithAutoLabeling"),
        (True, EARLIER_MODEL_ARN, "LabelFromEarlierModel"),
    ],
)
def test_the_reused_model_is_sent_only_when_start_run_found_one(
    auto_labeling: bool, initial_model: str | None, expected: str
) -> None:
    state = {
        "manifest": {"kind": "input"},
        "config": {
            "labeling": {"auto_labeling": auto_labeling, "initial_active_learning_model_arn": initial_model}
        },
    }
    assert follow_choices("ChooseLabeling", state) == expected


@pytest.mark.parametrize(
    ("kind", "labeling", "expected"),
    [
        ("input", {"backend": "builtin", "auto_labeling": False}, "LabelWithTeam"),
        ("augmented", {"backend": "builtin", "auto_labeling": False}, "UseDroppedManifest"),
        ("input", {"backend": "ground-truth", "auto_labeling": False}, "Label"),
        # an execution input from before the builtin backend carries no backend: a Ground Truth run
        ("input", {"auto_labeling": False}, "Label"),
        # automated labeling on the builtin backend runs the pipeline's own loop, not a labeling job
        ("input", {"backend": "builtin", "auto_labeling": True}, "StartAutoLabeling"),
        ("augmented", {"backend": "builtin", "auto_labeling": True}, "UseDroppedManifest"),
        ("input", {"backend": "ground-truth", "auto_labeling": True}, "LabelWithAutoLabeling"),
    ],
)
def test_the_builtin_backend_labels_with_the_team(kind: str, labeling: dict[str, Any], expected: str) -> None:
    state = {"manifest": {"kind": kind}, "config": {"labeling": labeling}}
    assert follow_choices("ChooseLabeling", state) == expected


@pytest.fixture(scope="module")
def builtin_config_json() -> str:
    """PIPELINE_CONFIG of the builtin backend: only it carries the team's job settings (4 KB environment)."""
    from tests.infra.conftest import BUILTIN_TEAM, synthesize

    return synthesized_pipeline_config(synthesize(labelingBackend="builtin", labelingTeam=BUILTIN_TEAM))


def test_label_with_team_is_the_contracts_token_task(builtin_config_json: str) -> None:
    # Given the LabelWithTeam state of docs/labeling-service.md
    task = STATES["LabelWithTeam"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert task["Parameters"]["FunctionName"] == "${LabelingFunctionArn}"
    assert (task["HeartbeatSeconds"], task["TimeoutSeconds"]) == (3600, 2592000)
    assert task["ResultPath"] == "$.labeling" and task["Next"] == "RecordLabeling"
    assert task["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FailedLabeling"}
    ]
    # Lambda-service errors are retried as for every other Lambda task
    assert task["Retry"] == STATES["RecordLabeling"]["Retry"]
    # When its payload is rendered from the state a real builtin run carries
    state = sample_state(builtin_config_json, "input")
    context = {"State": {"RetryCount": 0}, "Task": {"Token": "token-1"}}
    payload = render(task["Parameters"]["Payload"], state, context)
    # Then the labeling function gets the token, the job name and the whole labeling configuration
    assert payload == {
        "action": "open",
        "task_token": "token-1",
        "run_id": "demo-0123456789abcdef",
        "job_name": "demo-0123456789abcdef-label-0",
        "task_type": "image-classification",
        "manifest_uri": "s3://gtpipe-data-bucket/incoming/demo.manifest",
        "manifest_version_id": "v1",
        "label_attribute": "category",
        "settings": state["config"]["labeling"],
    }
    settings = payload["settings"]
    assert settings["lease_seconds"] == settings["task_time_limit_seconds"]
    assert settings["class_names"] == state["config"]["label_categories"]
    assert 0 <= settings["min_labeled_share"] <= 1 and settings["instructions"]


def follow_choices(name: str, state: dict[str, Any]) -> str:
    """Walk Choice states the way Step Functions does for the comparisons this definition uses."""
    while STATES[name]["Type"] == "Choice":
        choice = STATES[name]
        name = next((c["Next"] for c in choice["Choices"] if matches(c, state)), choice["Default"])
    return name


def matches(rule: dict[str, Any], state: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(matches(inner, state) for inner in rule["And"])
    try:
        value = resolve_path(rule["Variable"], state, {})
    except KeyError:
        return rule.get("IsPresent") is False
    if "IsPresent" in rule:
        return bool(rule["IsPresent"])
    if "IsString" in rule:
        return isinstance(value, str) == rule["IsString"]
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    raise AssertionError(f"comparison not handled by this test: {rule}")


def test_a_deployment_without_news_is_decided_by_verification() -> None:
    # A lost endpoint event must not fail a deployment that worked: the timeout goes to VerifyEndpoint,
    # which retries while the endpoint is not ready yet.
    timeout_catch = STATES["DeployEndpoint"]["Catch"][0]
    assert timeout_catch["ErrorEquals"] == ["States.Timeout"] and timeout_catch["Next"] == "VerifyEndpoint"
    assert timeout_catch["ResultPath"] != "$.error"
    assert any(r["ErrorEquals"] == ["EndpointNotReady"] for r in STATES["VerifyEndpoint"]["Retry"])


@pytest.mark.parametrize(
    ("next_step", "expected"),
    [
        ("label", "LabelAutoBatch"),
        ("train", "TrainLabelingModel"),
        ("transform", "UseEarlierLabelingModel"),
        ("finish", "FinishAutoLabeling"),
        ("dance", "AutoLabelingStepUnknown"),
    ],
)
def test_the_automated_labeling_loop_goes_where_the_labeling_function_says(
    next_step: str, expected: str
) -> None:
    # Given the labeling function's answer, as UseAutoView puts it at $.auto
    state = {"auto": {"next": next_step}}
    # When the loop's choice is followed / Then it reaches the step the answer names
    assert follow_choices("ChooseAutoStep", state) == expected


def test_the_automated_labeling_loop_is_closed_and_every_step_fails_at_labeling() -> None:
    # Given the loop's states
    loop = [
        "StartAutoLabeling",
        "LabelAutoBatch",
        "AddAutoBatch",
        "TrainLabelingModel",
        "CreateLabelingModel",
        "TransformForLabeling",
        "DecideAutoRound",
        "DecideEarlierModelRound",
        "FinishAutoLabeling",
    ]
    # Then every step's failure is recorded at the labeling step
    for name in loop:
        assert [c["Next"] for c in STATES[name]["Catch"]] == ["FailedLabeling"], name
    assert STATES["AutoLabelingStepUnknown"]["Next"] == "FailedLabeling"
    # And every loop action answers UseAutoView, which goes back to the loop's choice; the end records labels
    for name in ("StartAutoLabeling", "AddAutoBatch", "DecideAutoRound", "DecideEarlierModelRound"):
        assert STATES[name]["Next"] == "UseAutoView", name
    assert STATES["UseAutoView"]["Next"] == "ChooseAutoStep"
    assert STATES["LabelAutoBatch"]["Next"] == "AddAutoBatch"
    assert STATES["FinishAutoLabeling"]["Next"] == "RecordLabeling"
    # And the round with a training job prices it, the earlier model's round has none to price
    assert STATES["TransformForLabeling"]["Next"] == "ChooseRoundTraining"
    assert "training.$" in STATES["DecideAutoRound"]["Parameters"]["Payload"]
    assert "training.$" not in STATES["DecideEarlierModelRound"]["Parameters"]["Payload"]
    # And the labeling model trains with the run's own image and instance, as the Train state does
    train, run = STATES["TrainLabelingModel"]["Parameters"], STATES["Train"]["Parameters"]
    assert train["AlgorithmSpecification"] == run["AlgorithmSpecification"]
    assert train["ResourceConfig"] == run["ResourceConfig"]
