"""Issue 14 findings 5, 7 and 10 at synth: the exact statements, and how far each reaches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import BUILTIN_TEAM, Synthesized, synthesize
from tests.infra.test_security import as_list, role_statements

SOURCE_BUCKET = "gtpipe-public-images"


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements if "Sid" in s}


def rendered(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture(scope="module")
def synth_sources() -> Synthesized:
    return synthesize(
        labelingBackend="builtin", labelingTeam=BUILTIN_TEAM, allowedSourceBuckets=[SOURCE_BUCKET]
    )


# --- finding 5: endpoint autoscaling -----------------------------------------------------------------------


def test_endpoint_function_holds_what_application_auto_scaling_validates(synth: Synthesized) -> None:
    statements = by_sid(role_statements(synth, "PipelineEndpointFunctionRole"))
    target = statements["AutoscalingTargetEndpoint"]
    assert set(as_list(target["Action"])) == {
        "sagemaker:DescribeEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    }
    # this stack's one endpoint, nothing else
    (resource,) = as_list(target["Resource"])
    assert rendered(resource).endswith('":endpoint/gtpipe-endpoint"]]}')
    config = statements["AutoscalingTargetEndpointConfig"]
    assert as_list(config["Action"]) == ["sagemaker:DescribeEndpointConfig"]
    assert rendered(config["Resource"]).endswith('":endpoint-config/*"]]}')
    alarms = statements["AutoscalingAlarmValidation"]
    assert set(as_list(alarms["Action"])) == {
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    }
    assert alarms["Resource"] == "*"
    scaling = statements["EndpointAutoscaling"]
    assert all(a.startswith("application-autoscaling:") for a in as_list(scaling["Action"]))


def test_endpoint_function_may_create_only_the_sagemaker_autoscaling_service_linked_role(
    synth: Synthesized,
) -> None:
    slr = by_sid(role_statements(synth, "PipelineEndpointFunctionRole"))["AutoscalingServiceLinkedRole"]
    assert as_list(slr["Action"]) == ["iam:CreateServiceLinkedRole"]
    assert slr["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
    }
    assert rendered(slr["Resource"]).endswith(
        ":role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
        'AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"]]}'
    )


# --- finding 7: the state machine role -------------------------------------------------------------------


def test_state_machine_role_lists_tags_and_uses_only_the_published_managed_rules(synth: Synthesized) -> None:
    statements = by_sid(role_statements(synth, "PipelineStateMachineRole"))
    tags = statements["SyncIntegrationTags"]
    assert as_list(tags["Action"]) == ["sagemaker:ListTags"] and tags["Resource"] == "*"
    rules = statements["SyncIntegrationRules"]
    assert set(as_list(rules["Action"])) == {"events:PutTargets", "events:PutRule", "events:DescribeRule"}
    names = sorted(rendered(r).rsplit(":rule/", 1)[1].split('"')[0] for r in as_list(rules["Resource"]))
    assert names == [
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    ]


# --- finding 10: manifest sources ------------------------------------------------------------------------


def test_sagemaker_role_reads_every_manifest_source_and_only_reads_them(synth_sources: Synthesized) -> None:
    statement = by_sid(role_statements(synth_sources, "PipelineSageMakerExecutionRole"))[
        "ReadManifestSources"
    ]
    assert set(as_list(statement["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    resources = sorted(rendered(r) for r in as_list(statement["Resource"]))
    source = rendered({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{SOURCE_BUCKET}/*"]]})
    (data,) = [r for r in resources if r != source]
    assert len(resources) == 2 and source in resources
    # every key of the data bucket: the whole object space, not a prefix
    assert "StorageDataBucket" in data and data.endswith('"/*"]]}')


def test_without_source_buckets_only_the_data_bucket_is_readable(synth: Synthesized) -> None:
    statement = by_sid(role_statements(synth, "PipelineSageMakerExecutionRole"))["ReadManifestSources"]
    (resource,) = as_list(statement["Resource"])
    assert "StorageDataBucket" in rendered(resource)


def test_labeling_api_presigns_exactly_the_manifest_sources(synth_sources: Synthesized) -> None:
    statements = role_statements(synth_sources, "LabelingLabelingApiFunctionRole")
    presign = by_sid(statements)["PresignManifestImages"]
    assert set(as_list(presign["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    sagemaker = by_sid(role_statements(synth_sources, "PipelineSageMakerExecutionRole"))[
        "ReadManifestSources"
    ]
    assert presign["Resource"] == sagemaker["Resource"]
    functions = synth_sources.main.find_resources("AWS::Lambda::Function").values()
    (api,) = [f for f in functions if f["Properties"]["Handler"] == "labeling_api.handler.lambda_handler"]
    assert json.loads(api["Properties"]["Environment"]["Variables"]["IMAGE_BUCKETS"]) == [SOURCE_BUCKET]
