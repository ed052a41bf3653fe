"""Stateful storage: the customer managed key, the data bucket and its access-log bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from gtpipe_shared.async_inference import ASYNC_PREFIX, ASYNC_RETENTION_DAYS
from gtpipe_shared.capture import CAPTURE_PREFIX
from gtpipe_shared.uploads import UPLOAD_PREFIX, UPLOAD_RETENTION_DAYS

INCOMING_PREFIX = "incoming/"
IMAGES_PREFIX = "images/"
LABELING_PREFIX = "labeling/"
RUNS_PREFIX = "runs/"
SPLITS_PREFIX = "splits/"
TRANSFORM_PREFIX = "transform/"
MODELS_PREFIX = "models/"
REPORTS_PREFIX = "reports/"
MANIFEST_SUFFIXES = (".manifest", ".jsonl")


class Storage(Construct):
    """KMS key (rotated) plus the versioned, TLS-only, private data bucket and its access-log bucket.

    Everything here is retained on stack deletion: datasets and labels cost money to recreate. Captured
    predictions (``captured/``) expire after ``capture_retention_days``: they hold user images, kept only
    as long as they are useful for relabeling.
    """

    def __init__(self, scope: Construct, construct_id: str, *, capture_retention_days: int = 90) -> None:
        super().__init__(scope, construct_id)
        self.key = self._data_key()
        self._allow_cloudwatch_logs()
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            # Server access logs can only be delivered to SSE-S3 buckets, not SSE-KMS ones.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(365))],
        )
        self.data_bucket = s3.Bucket(
            self,
            "DataBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            event_bridge_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="data-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
            cors=[
                # Ground Truth's worker UI loads images from the bucket in the browser.
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.GET],
                    allowed_origins=["*"],
                    allowed_headers=["*"],
                    exposed_headers=["Access-Control-Allow-Origin"],
                )
            ],
            lifecycle_rules=data_lifecycle_rules(capture_retention_days),
        )

    def _data_key(self) -> kms.Key:
        """The rotated data key, usable by the AWS services that write encrypted messages for us."""
        key = kms.Key(
            self,
            "DataKey",
            description="gtpipe: encrypts datasets, labels, models, ledger, queues and notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Services that write encrypted messages to our topic and queues need the key through their
        # service principal; the grant is limited to this account by the key policy condition. CloudWatch
        # alarms publish to the KMS-encrypted topic only if the key policy lets cloudwatch.amazonaws.com use
        # the key: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        for service in (
            "events.amazonaws.com",
            "sns.amazonaws.com",
            "s3.amazonaws.com",
            "cloudwatch.amazonaws.com",
        ):
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].capitalize()}UseOfTheKey",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": key.stack.account}},
                )
            )
        return key

    def _allow_cloudwatch_logs(self) -> None:
        """Every log group of the app is encrypted with this key: CloudWatch Logs must be able to use it.

        Without this statement creating a log group fails ("The specified KMS key does not exist or is not
        allowed to be used with Arn ..."; aws/aws-cdk#28304). The statement is AWS's, scoped by the encryption
        context to this account's log groups in this region:
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        """
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsUseOfTheKey",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )


def data_lifecycle_rules(capture_retention_days: int) -> list[s3.LifecycleRule]:
    """The data bucket's lifecycle: derived data, captured predictions and uploads expire, old versions too."""
    return [
        s3.LifecycleRule(
            id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(7)
        ),
        # Splits and batch-transform output are derived data, re-creatable from the run's inputs.
        s3.LifecycleRule(id="ExpireSplits", prefix=SPLITS_PREFIX, expiration=Duration.days(90)),
        s3.LifecycleRule(id="ExpireTransformOutput", prefix=TRANSFORM_PREFIX, expiration=Duration.days(30)),
        s3.LifecycleRule(
            id="ExpireCapturedPredictions",
            prefix=CAPTURE_PREFIX,
            expiration=Duration.days(capture_retention_days),
            # The bucket is versioned: without this the expired images would stay, as noncurrent
            # versions, for another ExpireOldVersions period.
            noncurrent_version_expiration=Duration.days(1),
        ),
        # Images uploaded for POST /predict {"upload_id"} (gtpipe_shared.uploads) are used once, right away.
        s3.LifecycleRule(
            id="ExpireUploads",
            prefix=UPLOAD_PREFIX,
            expiration=Duration.days(UPLOAD_RETENTION_DAYS),
            noncurrent_version_expiration=Duration.days(1),
        ),
        # Asynchronous predictions: request records, outputs and failures (gtpipe_shared.async_inference).
        s3.LifecycleRule(
            id="ExpireAsyncPredictions",
            prefix=ASYNC_PREFIX,
            expiration=Duration.days(ASYNC_RETENTION_DAYS),
            noncurrent_version_expiration=Duration.days(1),
        ),
        s3.LifecycleRule(id="ExpireOldVersions", noncurrent_version_expiration=Duration.days(90)),
    ]
