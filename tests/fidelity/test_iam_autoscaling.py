"""Finding 5: VerifyEndpoint registers the endpoint variant with Application Auto Scaling.

Application Auto Scaling validates that the caller holds the target service's and CloudWatch's permissions
before it accepts RegisterScalableTarget / PutScalingPolicy, and creates its service-linked role on first use
with the caller's ``iam:CreateServiceLinkedRole``. Without them the first run that passes the quality gate ends
FAILED with the endpoint left billing. Each documented requirement below is evaluated against the endpoint
function role's synthesized policy with the local identity-policy evaluator (:mod:`local.iam_policy`).
"""

from __future__ import annotations

import pytest

from infra.constructs.execution_config import ENDPOINT_VARIANT_NAME
from tests.fidelity.iam_support import ACCOUNT, REGION, Request, denied, statements, without_sids
from tests.infra.conftest import Synthesized

AAS_POLICY_DOCS = (
    "https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html"
)
AAS_VALIDATION_DOCS = (
    "https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_permission_validation.html"
)
SLR_DOCS = "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-prerequisites.html"
ROLE = "PipelineEndpointFunctionRole"
ENDPOINT = "gtpipe-endpoint"
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
SLR_ARN = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
TRACKING_ALARM = (
    f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-endpoint/{ENDPOINT}/variant/"
    f"{ENDPOINT_VARIANT_NAME}-AlarmHigh-0f3c5e1a"
)

# (documentation, request): what AWS documents the caller of RegisterScalableTarget / PutScalingPolicy for a
# SageMaker endpoint variant needs. The validation calls name no alarm, so their resource is "*".
DOCUMENTED = [
    (AAS_POLICY_DOCS, Request("application-autoscaling:RegisterScalableTarget", "*")),
    (AAS_POLICY_DOCS, Request("application-autoscaling:PutScalingPolicy", "*")),
    (AAS_POLICY_DOCS, Request("application-autoscaling:DescribeScalableTargets", "*")),
    (AAS_POLICY_DOCS, Request("application-autoscaling:DeregisterScalableTarget", "*")),
    (AAS_POLICY_DOCS, Request("sagemaker:DescribeEndpoint", ENDPOINT_ARN)),
    (
        AAS_POLICY_DOCS,
        Request(
            "sagemaker:DescribeEndpointConfig",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/run-epc-0",
        ),
    ),
    (AAS_POLICY_DOCS, Request("sagemaker:UpdateEndpointWeightsAndCapacities", ENDPOINT_ARN)),
    (AAS_VALIDATION_DOCS, Request("cloudwatch:PutMetricAlarm", "*")),
    (AAS_VALIDATION_DOCS, Request("cloudwatch:DescribeAlarms", "*")),
    (AAS_VALIDATION_DOCS, Request("cloudwatch:DeleteAlarms", "*")),
    (AAS_POLICY_DOCS, Request("cloudwatch:PutMetricAlarm", TRACKING_ALARM)),
    (AAS_POLICY_DOCS, Request("cloudwatch:DeleteAlarms", TRACKING_ALARM)),
    (SLR_DOCS, Request("iam:CreateServiceLinkedRole", SLR_ARN, {"iam:AWSServiceName": SERVICE})),
]


@pytest.mark.parametrize(
    ("docs", "request_"), DOCUMENTED, ids=[f"{r.action}:{r.resource[-24:]}" for _, r in DOCUMENTED]
)
def test_the_endpoint_function_may_do_what_application_auto_scaling_validates(
    synth: Synthesized, docs: str, request_: Request
) -> None:
    # Given the endpoint function's synthesized policy / When Application Auto Scaling checks the caller
    # Then each documented permission is allowed (else: ValidationException naming the missing permission)
    assert denied(statements(synth, ROLE), [request_]) == [], f"{request_} is required: {docs}"


def test_the_grants_are_scoped_to_this_endpoint_and_this_service_linked_role(synth: Synthesized) -> None:
    found = statements(synth, ROLE)
    other_endpoint = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/someone-elses"
    ecs = "ecs.application-autoscaling.amazonaws.com"
    outside = [
        Request("sagemaker:UpdateEndpointWeightsAndCapacities", other_endpoint),
        Request(
            "iam:CreateServiceLinkedRole",
            f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{ecs}/AWSServiceRoleForApplicationAutoScaling_ECSService",
            {"iam:AWSServiceName": ecs},
        ),
        Request("iam:CreateServiceLinkedRole", SLR_ARN, {"iam:AWSServiceName": ecs}),
    ]
    assert denied(found, outside) == outside


def test_without_the_target_service_and_alarm_grants_registration_is_refused(synth: Synthesized) -> None:
    # Given the policy before the fix: no UpdateEndpointWeightsAndCapacities, no CloudWatch alarm permissions
    before = without_sids(statements(synth, ROLE), "AutoscalingTargetEndpoint", "AutoscalingAlarmValidation")
    # Then the local evaluator refuses exactly what Application Auto Scaling reports as missing
    missing = {r.action for r in denied(before, [request for _, request in DOCUMENTED])}
    assert missing == {
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        # the rollback statement names only the rollback alarms, not the unnamed validation call
        "cloudwatch:DescribeAlarms",
    }
