"""cdk-nag suppressions. Each one carries the reason it is safe; tests fail on any unsuppressed finding.

IAM5 (wildcards) is never suppressed wholesale: each suppression names the exact resource pattern it
applies to, so a new wildcard elsewhere still fails the build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct


@dataclass(frozen=True)
class Suppression:
    """One reasoned suppression: a rule, why it is safe, and (for IAM5) the findings it covers."""

    rule: str
    reason: str
    applies_to: tuple[str, ...] = ()

    def to_nag(self) -> NagPackSuppression:
        """The cdk-nag object for this suppression."""
        if self.applies_to:
            applies_to = [
                RegexAppliesTo(regex=item.removeprefix("regex:")) if item.startswith("regex:") else item
                for item in self.applies_to
            ]
            return NagPackSuppression(id=self.rule, reason=self.reason, applies_to=applies_to)
        return NagPackSuppression(id=self.rule, reason=self.reason)


PIPELINE_STACK_SUPPRESSIONS = (
    Suppression(
        "AwsSolutions-IAM5",
        "X-Ray PutTraceSegments/PutTelemetryRecords, Step Functions' vended log delivery, ecr:GetAuthorizationToken, "
        "cloudwatch:PutMetricData (conditioned on the SageMaker namespace, or for the drift monitor on its own "
        "<prefix>/Drift namespace), the idle parker's cloudwatch:GetMetricData "
        "(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html) and Application Auto Scaling "
        "RegisterScalableTarget/PutScalingPolicy do not support resource-level permissions; sagemaker:ListTags is "
        "granted on * in AWS's published Step Functions policies for the .sync SageMaker integrations; the "
        "endpoint function's cloudwatch PutMetricAlarm/DescribeAlarms/DeleteAlarms exist only for Application "
        "Auto Scaling's permission validation, whose calls name no alarm (so no alarm ARN can match them).",
        ("Resource::*",),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "Object access is limited to one pipeline prefix of the data bucket; object keys are created per run "
        "(captured/: per prediction; uploads/: per POST /uploads), so they cannot be listed in advance.",
        (
            "regex:/^Resource::(<StorageDataBucket[A-Za-z0-9]+\\.Arn>|[A-Za-z0-9]+:ExportsOutputFnGetAtt"
            "StorageDataBucket[A-Za-z0-9]+)\\/(incoming|images|labeling|splits|models|transform|runs|reports|captured|uploads|datasets)"
            "\\/\\*$/",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "SageMaker job, model and endpoint-config names derive from run ids that exist only at run time; the "
        "grant is limited to these resource types in this account and region.",
        (
            "regex:/^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:(labeling-job|"
            "training-job|transform-job|hyper-parameter-tuning-job|model|endpoint-config|endpoint)\\/\\*$/",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "Asynchronous inference (gtpipe:asyncInference): request records, outputs and failures are one object "
        "per prediction under one async/ sub-prefix each, named by prediction id or by SageMaker at run time; the "
        "async endpoint's configs are one per served model, named <async-endpoint>-<model digest> at run time.",
        (
            "regex:/^Resource::(<StorageDataBucket[A-Za-z0-9]+\\.Arn>|[A-Za-z0-9]+:ExportsOutputFnGetAtt"
            "StorageDataBucket[A-Za-z0-9]+)\\/async\\/(requests|output|failure)\\/\\*$/",
            "regex:/^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint-config\\/"
            "[a-z0-9-]+-endpoint-async-\\*$/",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "Automated labeling algorithm specifications are AWS-owned resources in an AWS account that differs by "
        "region; only that resource type is allowed.",
        ("Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:*:labeling-job-algorithm-specification/*",),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "The endpoint function reads the status of the pipeline's executions (DescribeExecution) to take over "
        "the endpoint lock of a run that ended without releasing it; execution names are run ids known only "
        "at run time, and the grant names the one state machine.",
        (
            "regex:/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            "[A-Za-z0-9-]+-pipeline:\\*$/",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "The registry function creates one model package group per label set (its name is a hash of the task "
        "type and class list, known only at run time) and versioned packages in them; the grant is limited to "
        "groups and packages with this stack's group prefix (<stack prefix>-models-).",
        (
            "regex:/^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
            "model-package-group\\/[a-z0-9]+-models-\\*$/",
            "regex:/^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
            "model-package\\/[a-z0-9]+-models-\\*\\/\\*$/",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "SageMaker jobs write to log groups it names per job under /aws/sagemaker/.",
        ("Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/*",),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "The report function reads the training log streams SageMaker creates per job (named after the job, "
        "known only at run time) in the one TrainingJobs log group; no other group.",
        (
            "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/sagemaker/TrainingJobs:*",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "Manifests may name images under any key of the data bucket or of a gtpipe:allowedSourceBuckets bucket "
        "(start_run's validation); SageMaker jobs, the labeling API's presigned URLs and automated labeling's "
        "image-header reads (boxes) read exactly those objects, GetObject and GetObjectVersion only.",
        (
            "regex:/^Resource::(<StorageDataBucket[A-Za-z0-9]+\\.Arn>|[A-Za-z0-9]+:ExportsOutputFnGetAtt"
            "StorageDataBucket[A-Za-z0-9]+)\\/\\*$/",
            "regex:/^Resource::arn:<AWS::Partition>:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\\/\\*$/",
        ),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "Drift monitoring (gtpipe:monitoring): predict writes one record per request under monitoring/requests/ "
        "and the monitor writes each window's summary under monitoring/windows/ (keys named by time and "
        "inference id) and each model's baseline at runs/<run id>/drift-baseline.json (run ids exist only at "
        "run time); nothing else of those prefixes.",
        (
            "regex:/^Resource::(<StorageDataBucket[A-Za-z0-9]+\\.Arn>|[A-Za-z0-9]+:ExportsOutputFnGetAtt"
            "StorageDataBucket[A-Za-z0-9]+)\\/(monitoring\\/requests\\/\\*|monitoring\\/windows\\/\\*|"
            "runs\\/\\*\\/drift-baseline\\.json)$/",
        ),
    ),
    Suppression(
        "AwsSolutions-L1",
        "Functions pin Python 3.12 to match the Powertools for AWS Lambda v3 python312 layer they load and the "
        "runtime the test suite exercises; the runtime is upgraded together with the layer.",
    ),
)

# Both REST API stages (infra/constructs/rest_api.py) log access, not execution.
_NO_EXECUTION_LOGGING = Suppression(
    "AwsSolutions-APIG6",
    "Execution logging writes request details to API-Gateway-Execution-Logs_* log groups that API Gateway "
    "creates itself, unencrypted by the data key and kept forever; the stage writes JSON access logs (to the "
    "data-key-encrypted group, six months) and X-Ray traces for every request instead.",
)
PIPELINE_RESOURCE_SUPPRESSIONS = {
    "Pipeline/RuleDeadLetterQueue/Resource": (
        Suppression(
            "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the EventBridge targets."
        ),
    ),
    "Serving/Api": (
        Suppression(
            "AwsSolutions-COG4",
            "The API authenticates callers with IAM SigV4 (default) or an API key with a usage plan, per "
            "gtpipe:apiAuth; callers are services and scripts, not Cognito users.",
        ),
        Suppression(
            "AwsSolutions-APIG4",
            "With gtpipe:apiAuth=api-key the caller is identified by an API key bound to a throttled usage plan; "
            "the default (iam) signs every request with SigV4.",
        ),
        _NO_EXECUTION_LOGGING,
        Suppression(
            "AwsSolutions-APIG3",
            "WAF is an account-level cost decision; the API is authenticated, throttled per stage and usage "
            "plan, and rejects non-image bodies before they reach the endpoint.",
        ),
    ),
}

_STATIC_APP_METHOD = (
    Suppression(
        "AwsSolutions-APIG4",
        "The builtin labeling service's static web app (index.html, config.json with the public user pool and "
        "client ids, JS and CSS) must load before anyone signs in; it carries no data. Every /api method "
        "requires a Cognito ID token.",
    ),
    Suppression(
        "AwsSolutions-COG4",
        "A static, public part of the labeling web app: the sign-in page itself cannot require the token it "
        "obtains. The /api methods use the Cognito user pool authorizer.",
    ),
)
# Present only with gtpipe:endpoint.idleMinutes; applied when the construct exists.
IDLE_RESOURCE_SUPPRESSIONS = {
    "Idle/IdleCheckDeadLetterQueue/Resource": (
        Suppression(
            "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the idle parker's schedule."
        ),
    ),
}
# Present only with gtpipe:monitoring enabled; applied when the construct exists.
DRIFT_RESOURCE_SUPPRESSIONS = {
    "DriftMonitoring/RuleDeadLetterQueue/Resource": (
        Suppression(
            "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the drift monitor's schedule."
        ),
    ),
}
# Present only with gtpipe:labelingBackend "builtin"; applied when the construct exists.
LABELING_RESOURCE_SUPPRESSIONS = {
    "Labeling/RuleDeadLetterQueue/Resource": (
        Suppression(
            "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the labeling sweep schedule."
        ),
    ),
    "Labeling/Team/Resource": (
        Suppression(
            "AwsSolutions-COG2",
            "MFA is optional (TOTP): the labeling web app signs users in with SOFTWARE_TOKEN_MFA when they turned "
            "it on but has no enrolment flow, so requiring MFA would lock invited labelers out. Users are only "
            "invited by an administrator (no self sign-up), passwords are strong and threat protection is on.",
        ),
    ),
    "Labeling/LabelingApi/DeploymentStage.prod/Resource": (
        _NO_EXECUTION_LOGGING,
        Suppression(
            "AwsSolutions-APIG3",
            "WAF is an account-level cost decision; the labeling API is Cognito-authenticated, throttled per "
            "stage, validates requests and serves only a small team.",
        ),
    ),
    "Labeling/LabelingApi/Default/GET/Resource": _STATIC_APP_METHOD,
    "Labeling/LabelingApi/Default/config.json/GET/Resource": _STATIC_APP_METHOD,
    "Labeling/LabelingApi/Default/app/{file+}/GET/Resource": _STATIC_APP_METHOD,
}

# Present only with gtpipe:harvest enabled (infra/constructs/harvest.py); applied when the construct exists.
HARVEST_RESOURCE_SUPPRESSIONS = {
    "Harvest/RuleDeadLetterQueue/Resource": (
        Suppression(
            "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the harvest schedule."
        ),
    ),
    "Harvest/HarvestFunction": (
        Suppression(
            "AwsSolutions-IAM5",
            "The harvester writes one copied image per picked inference under images/feedback/, its window "
            "state and one summary per day under harvest/, and one manifest per day named "
            "incoming/feedback-<yyyy-mm-dd>.manifest: keys made at run time, each grant one such prefix.",
            (
                "regex:/^Resource::(<StorageDataBucket[A-Za-z0-9]+\\.Arn>|[A-Za-z0-9]+:ExportsOutputFnGetAtt"
                "StorageDataBucket[A-Za-z0-9]+)\\/(images\\/feedback\\/\\*|harvest\\/\\*|incoming\\/feedback-\\*)$/",
            ),
        ),
    ),
}

# Present with gtpipe:apiGateway.accountRole "create" (the default); see infra/constructs/rest_api.py.
API_GATEWAY_ACCOUNT_SUPPRESSIONS = {
    "ApiGatewayAccount/CloudWatchRole/Resource": (
        Suppression(
            "AwsSolutions-IAM4",
            "The region's API Gateway CloudWatch Logs role is shared by every REST API of the account and region "
            "(AWS::ApiGateway::Account); AWS documents the AmazonAPIGatewayPushToCloudWatchLogs managed policy "
            "for it, and a policy scoped to this stack's log groups would break the other APIs' logging.",
            (
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            ),
        ),
    ),
}

STATEFUL_RESOURCE_SUPPRESSIONS = {
    "BucketNotificationsHandler050a0587b7544547bf325f094a3db834/Role/Resource": (
        Suppression(
            "AwsSolutions-IAM4",
            "CDK's own singleton that turns on the bucket's EventBridge notifications uses the AWS managed "
            "basic-execution policy; it only writes its logs.",
            ("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
        ),
    ),
}


def all_suppressions() -> list[Suppression]:
    """Every suppression the project declares (the security doc and tests enumerate them)."""
    result = list(PIPELINE_STACK_SUPPRESSIONS)
    for group in (
        PIPELINE_RESOURCE_SUPPRESSIONS,
        LABELING_RESOURCE_SUPPRESSIONS,
        HARVEST_RESOURCE_SUPPRESSIONS,
        IDLE_RESOURCE_SUPPRESSIONS,
        DRIFT_RESOURCE_SUPPRESSIONS,
        API_GATEWAY_ACCOUNT_SUPPRESSIONS,
        STATEFUL_RESOURCE_SUPPRESSIONS,
    ):
        for suppressions in group.values():
            result.extend(suppressions)
    return result


def _apply_by_path(
    stack: Stack, by_path: Mapping[str, tuple[Suppression, ...]], *, optional: bool = False
) -> None:
    for path, suppressions in by_path.items():
        target: IConstruct | None = stack
        for part in path.split("/"):
            target = target.node.try_find_child(part) if target else None
        if target is None:
            if optional:
                continue
            raise KeyError(f"cdk-nag suppression target {path!r} does not exist in {stack.node.id}")
        NagSuppressions.add_resource_suppressions(
            target, [s.to_nag() for s in suppressions], apply_to_children=True
        )


def apply_suppressions(stateful: Stack, pipeline: Stack) -> None:
    """Attach the project's reasoned suppressions to the two stacks."""
    NagSuppressions.add_stack_suppressions(pipeline, [s.to_nag() for s in PIPELINE_STACK_SUPPRESSIONS])
    _apply_by_path(pipeline, PIPELINE_RESOURCE_SUPPRESSIONS)
    _apply_by_path(
        pipeline, LABELING_RESOURCE_SUPPRESSIONS, optional=pipeline.node.try_find_child("Labeling") is None
    )
    _apply_by_path(
        pipeline, HARVEST_RESOURCE_SUPPRESSIONS, optional=pipeline.node.try_find_child("Harvest") is None
    )
    _apply_by_path(
        pipeline, IDLE_RESOURCE_SUPPRESSIONS, optional=pipeline.node.try_find_child("Idle") is None
    )
    _apply_by_path(
        pipeline,
        DRIFT_RESOURCE_SUPPRESSIONS,
        optional=pipeline.node.try_find_child("DriftMonitoring") is None,
    )
    _apply_by_path(
        pipeline,
        API_GATEWAY_ACCOUNT_SUPPRESSIONS,
        optional=pipeline.node.try_find_child("ApiGatewayAccount") is None,
    )
    _apply_by_path(stateful, STATEFUL_RESOURCE_SUPPRESSIONS)
