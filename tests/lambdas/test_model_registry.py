"""The model registry's pure parts (gtpipe_shared.model_registry) and the registry handler's edges.

The handler's main paths (register, wait, approve, reject, timeout) run in the executed definition:
tests/pipeline/test_model_registry.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from gtpipe_shared.model_registry import (
    GROUP_NAME,
    RegistryError,
    client_token,
    create_package_request,
    group_name,
    group_prefix,
    package_container,
    package_group_of_arn,
    package_metadata,
    package_run_id,
    parse_package_state_change,
    rollback_refusal,
    token_id,
)
from registry import handler

from local.sagemaker import LocalSageMaker
from tests.lambdas.conftest import Cloud, FakeContext, load_event
from tests.pipeline.registry_support import LocalSageMakerClient

PREFIX = group_prefix("Gtpipe")
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/gtpipe-models-0123456789abcdef0123/1"


def run_state(**overrides: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "run_id": "demo-0123456789abcdef",
        "input": {"manifest_uri": "s3://b/incoming/demo.manifest", "version_id": "v7"},
        "config": {"task_type": "image-classification", "split": {"validation_ratio": 0.2, "seed": 1234}},
        "labeling_record": {"label_counters": {"human": 12, "machine": 3, "total": 15}},
        "split": {"class_names": ["cat", "dog"]},
        "training": {"image": "img:1", "model_artifacts": "s3://b/models/x/output/model.tar.gz"},
        "evaluation": {
            "metrics_uri": "s3://b/runs/x/metrics.json",
            "metric_name": "accuracy",
            "metric_value": 0.9,
        },
    }
    state.update(overrides)
    return state


def test_group_name_is_deterministic_per_label_set_and_within_sagemakers_rule() -> None:
    # Given label sets / When naming their groups
    cats = group_name(PREFIX, "image-classification", ["cat", "dog"])
    # Then the same set gives the same name, another order, class or task type another one
    assert cats == group_name(PREFIX, "image-classification", ["cat", "dog"])
    assert cats != group_name(PREFIX, "image-classification", ["dog", "cat"])
    assert cats != group_name(PREFIX, "object-detection", ["cat", "dog"])
    assert cats.startswith("gtpipe-models-") and GROUP_NAME.match(cats)
    # and the longest stack prefix synth accepts (31 characters) still fits 63 characters
    longest = group_name(group_prefix("A" * 31), "object-detection", ["x"])
    assert len(longest) <= 63 and GROUP_NAME.match(longest) and longest == longest.lower()


def test_a_prefix_that_breaks_the_name_rule_is_refused() -> None:
    with pytest.raises(RegistryError, match="breaks SageMaker's rule"):
        group_name("bad_prefix-", "image-classification", ["cat", "dog"])


def test_package_request_carries_the_runs_facts_and_the_approval_status() -> None:
    # Given a run's state / When building its CreateModelPackage request
    request = create_package_request(run_state(), "gtpipe-models-x", "manual")
    # Then it is pending, idempotent per run, and carries metrics, run id, manifest version, seed, counters
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    assert request["ClientToken"] == client_token("demo-0123456789abcdef")
    assert request["ClientToken"] != client_token("demo-0123456789abcdee")
    assert (
        re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", request["ClientToken"])
        and len(request["ClientToken"]) <= 36
    )
    metadata = request["CustomerMetadataProperties"]
    assert metadata["gtpipe:run-id"] == "demo-0123456789abcdef"
    assert metadata["gtpipe:manifest-version"] == "v7"
    assert metadata["gtpipe:split-seed"] == "1234"
    assert metadata["gtpipe:labels-machine"] == "3"
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://b/runs/x/metrics.json"
    assert create_package_request(run_state(), "g", "auto")["ModelApprovalStatus"] == "Approved"


def test_package_request_refuses_an_unknown_mode_and_a_state_without_training() -> None:
    with pytest.raises(RegistryError, match="approval must be one of"):
        create_package_request(run_state(), "g", "sometimes")
    with pytest.raises(RegistryError, match="training"):
        create_package_request(run_state(training=None), "g", "auto")


def test_metadata_leaves_out_missing_facts_and_cuts_long_values() -> None:
    metadata = package_metadata({"run_id": "r" * 300})
    assert metadata == {"gtpipe:run-id": "r" * 256}


def test_metadata_values_keep_only_the_characters_sagemaker_accepts() -> None:
    # Given a manifest key with characters outside [\p{L}\p{Z}\p{N}_.:/=+\-@] (any S3 key is possible)
    metadata = package_metadata({"input": {"manifest_uri": "s3://b/incoming/pets (v2)&~\tnew.manifest"}})
    # Then they become "_" and the rest is kept
    assert metadata["gtpipe:manifest-uri"] == "s3://b/incoming/pets _v2____new.manifest"


def test_state_change_event_is_parsed_from_awss_shape() -> None:
    # Given AWS's documented event shape (tests/events) / When parsing / Then group, ARN, status and reason
    change = parse_package_state_change(load_event("sagemaker_model_package_rejected.json"))
    assert change.arn == ARN
    assert (change.approval_status, change.approval_description) == (
        "Rejected",
        "cats labeled as dogs in batch 3",
    )
    assert token_id(change.arn) == f"package#{ARN}"


def test_an_event_without_a_status_names_the_missing_field() -> None:
    event = load_event("sagemaker_model_package_rejected.json")
    del event["detail"]["ModelApprovalStatus"]
    with pytest.raises(RegistryError, match=r"detail\.ModelApprovalStatus"):
        parse_package_state_change(event)


def test_bad_payloads_name_the_problem(cloud: Cloud, context: FakeContext) -> None:
    with pytest.raises(handler.InvalidRequest, match="approval"):
        handler.lambda_handler(
            {"action": "register", "run_id": "r", "approval": "maybe", "state": {}}, context
        )
    with pytest.raises(handler.InvalidRequest, match="package_arn"):
        handler.lambda_handler(
            {"action": "wait", "task_token": "t", "run_id": "r", "package_arn": "x"}, context
        )
    with pytest.raises(handler.InvalidRequest, match="unknown action 'deploy'"):
        handler.lambda_handler({"action": "deploy"}, context)


def test_an_event_nobody_waits_for_is_ignored(cloud: Cloud, context: FakeContext) -> None:
    # Given no stored token (an auto-approved package, or a run answered already)
    result = handler.lambda_handler(load_event("sagemaker_model_package_rejected.json"), context)
    # Then nothing is answered
    assert result == {"ignored": True, "reason": "no run waits for this package"}


def test_a_package_decided_before_the_wait_is_answered_at_once(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a package someone rejected before the run stored its token (the event came too early)
    service = LocalSageMaker()
    service.create_model_package_group({"ModelPackageGroupName": "gtpipe-models-abc"})
    arn = service.create_model_package(
        {"ModelPackageGroupName": "gtpipe-models-abc", "ModelApprovalStatus": "Rejected"}
    )["ModelPackageArn"]
    service.update_model_package({"ModelPackageArn": arn, "ApprovalDescription": "wrong classes"})
    answered: list[dict[str, Any]] = []

    class Sfn:
        def send_task_failure(self, **kwargs: Any) -> None:
            answered.append(kwargs)

    sagemaker = LocalSageMakerClient(service)
    monkeypatch.setattr(handler, "client", lambda name: sagemaker if name == "sagemaker" else Sfn())
    # When the run starts waiting
    result = handler.lambda_handler(
        {"action": "wait", "task_token": "token-1", "run_id": "demo-0123456789abcdef", "package_arn": arn},
        context,
    )
    # Then the token is answered with the rejection at once and not kept
    assert result["answered"] == "failure"
    assert answered == [
        {
            "taskToken": "token-1",
            "error": "ModelRejected",
            "cause": f"model package {arn} was rejected: wrong classes",
        }
    ]
    assert "Item" not in cloud.tokens().get_item(Key={"id": token_id(arn)})


# --- Rollback (gtpipe deploy --package): the rule both the CLI and PrepareRollback apply ------------------

SERVING = {"task_type": "image-classification", "class_names": ["cat", "dog"], "source_run_id": "v2-run"}


def described(**overrides: Any) -> dict[str, Any]:
    group = group_name(PREFIX, "image-classification", ["cat", "dog"])
    package: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/1",
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {"Containers": [{"Image": "img:1", "ModelDataUrl": "s3://b/m.tar.gz"}]},
        "CustomerMetadataProperties": {"gtpipe:run-id": "v1-run"},
    }
    package.update(overrides)
    return package


def test_an_approved_package_of_the_serving_label_set_may_be_rolled_back_to() -> None:
    assert rollback_refusal(described(), PREFIX, SERVING) is None
    assert package_container(described()) == ("img:1", "s3://b/m.tar.gz")
    assert package_run_id(described()) == "v1-run"


@pytest.mark.parametrize(
    ("package", "serving", "reason"),
    [
        (described(ModelApprovalStatus="PendingManualApproval"), SERVING, "is PendingManualApproval"),
        (described(ModelApprovalStatus="Rejected"), SERVING, "only an Approved version"),
        (described(ModelPackageGroupName="other-models-0123"), SERVING, "not one of this stack's groups"),
        (described(), {**SERVING, "class_names": ["dog", "cat"]}, "another label set"),
        (described(), {**SERVING, "task_type": "object-detection"}, "another label set"),
        (described(), None, "nothing is serving yet"),
    ],
)
def test_a_package_that_may_not_be_rolled_back_to_is_refused_with_the_reason(
    package: dict[str, Any], serving: dict[str, Any] | None, reason: str
) -> None:
    refusal = rollback_refusal(package, PREFIX, serving)
    assert refusal is not None and reason in refusal


def test_a_package_arn_names_its_group_and_anything_else_is_refused() -> None:
    assert package_group_of_arn(ARN) == "gtpipe-models-0123456789abcdef0123"
    for bad in ("not-an-arn", ARN.rsplit("/", 1)[0], ARN.replace(":model-package/", ":model/")):
        with pytest.raises(RegistryError, match="not a versioned model package ARN"):
            package_group_of_arn(bad)
    with pytest.raises(RegistryError, match="no container"):
        package_container(described(InferenceSpecification={"Containers": []}))


def test_a_prepare_rollback_payload_without_a_package_names_the_field(
    cloud: Cloud, context: FakeContext
) -> None:
    with pytest.raises(handler.InvalidRequest, match="package_arn"):
        handler.lambda_handler({"action": "prepare_rollback", "run_id": "rollback-v1-0"}, context)
