"""The role SageMaker's labeling, training, transform and hosting jobs assume."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.grants import manifest_source_objects
from infra.constructs.pytorch_algorithm import PytorchTraining, role_statements
from infra.constructs.regional import RegionalFacts
from infra.constructs.storage import (
    IMAGES_PREFIX,
    INCOMING_PREFIX,
    LABELING_PREFIX,
    MODELS_PREFIX,
    SPLITS_PREFIX,
    TRANSFORM_PREFIX,
)

READABLE_PREFIXES = (INCOMING_PREFIX, IMAGES_PREFIX, LABELING_PREFIX, SPLITS_PREFIX, MODELS_PREFIX)
WRITABLE_PREFIXES = (LABELING_PREFIX, MODELS_PREFIX, TRANSFORM_PREFIX)


def sagemaker_execution_role(
    scope: Construct,
    *,
    config: StackConfig,
    key: kms.IKey,
    data_bucket: s3.IBucket,
    regional: RegionalFacts,
    pytorch: PytorchTraining | None = None,
) -> iam.Role:
    """``SageMakerExecutionRole``, created in ``scope`` (the pipeline: its logical ID follows the scope): the
    data bucket's pipeline prefixes, the manifests' source objects, the data key and the job's algorithm,
    logs and metrics, no more (with gtpipe:trainingAlgorithm pytorch: the PyTorch images and the training source
    archive); with automated labeling also the jobs Ground Truth runs on the job's behalf."""
    role = iam.Role(
        scope,
        "SageMakerExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="gtpipe: labeling, training, transform and hosting",
    )
    stack = Stack.of(scope)
    statements = [
        *_data_statements(data_bucket, key, config.allowed_source_buckets),
        *_job_statements(stack, regional),
        *role_statements(pytorch),
    ]
    if config.labeling.auto_labeling:
        statements += _auto_labeling_statements(stack, role)
    for statement in statements:
        role.add_to_policy(statement)
    return role


def _data_statements(
    bucket: s3.IBucket, key: kms.IKey, allowed_source_buckets: Iterable[str]
) -> list[iam.PolicyStatement]:
    """The pipeline prefixes of the data bucket, the manifests' source objects and the data key."""
    bucket_arn = bucket.bucket_arn
    return [
        iam.PolicyStatement(
            sid="ReadPipelineData",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[f"{bucket_arn}/{prefix}*" for prefix in READABLE_PREFIXES],
        ),
        # Finding 10 (issue 14): a manifest may name images anywhere start_run's validation accepts (any key of
        # the data bucket, any gtpipe:allowedSourceBuckets bucket); labeling, training and transform jobs read
        # them with this role (the RoleArn of every job reads its input objects):
        # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html
        iam.PolicyStatement(
            sid="ReadManifestSources",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=manifest_source_objects(bucket, allowed_source_buckets),
        ),
        iam.PolicyStatement(
            sid="WritePipelineOutputs",
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[f"{bucket_arn}/{prefix}*" for prefix in WRITABLE_PREFIXES],
        ),
        iam.PolicyStatement(
            sid="ListPipelinePrefixes",
            actions=["s3:ListBucket"],
            resources=[bucket_arn],
            # dict.fromkeys, not a set: the same order in every synth (a set's follows PYTHONHASHSEED).
            conditions={
                "StringLike": {
                    "s3:prefix": [f"{p}*" for p in dict.fromkeys([*READABLE_PREFIXES, *WRITABLE_PREFIXES])]
                }
            },
        ),
        iam.PolicyStatement(
            sid="UseDataKey",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
        ),
        iam.PolicyStatement(
            sid="EncryptJobVolumes",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]


def _job_statements(stack: Stack, regional: RegionalFacts) -> list[iam.PolicyStatement]:
    """The built-in algorithm's image, and the jobs' logs and metrics."""
    return [
        iam.PolicyStatement(
            sid="PullBuiltInAlgorithm",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[regional.algorithm_repository_arn],
        ),
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            sid="JobLogs",
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=[
                f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:/aws/sagemaker/*"
            ],
        ),
        iam.PolicyStatement(
            sid="JobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
        ),
    ]


def _auto_labeling_statements(stack: Stack, role: iam.IRole) -> list[iam.PolicyStatement]:
    """Automated labeling runs training, transform and inference jobs on the labeling job's behalf."""
    return [
        iam.PolicyStatement(
            sid="AutomatedLabelingJobs",
            actions=[
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:CreateTransformJob",
                "sagemaker:DescribeTransformJob",
                "sagemaker:StopTransformJob",
                "sagemaker:CreateModel",
                "sagemaker:DeleteModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:InvokeEndpoint",
            ],
            resources=[
                stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
                for kind in ("training-job", "transform-job", "model", "endpoint-config", "endpoint")
            ],
        ),
        iam.PolicyStatement(
            sid="AutomatedLabelingPassRole",
            actions=["iam:PassRole"],
            resources=[role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    ]
