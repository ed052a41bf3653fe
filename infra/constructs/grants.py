"""Explicit least-privilege grants.

CDK's `grant_read`/`grant_read_write_data` add wildcard actions (`s3:GetObject*`, `kms:ReEncrypt*`, ...).
These helpers name each action the handlers call, so the policies say exactly what the code does.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

TABLE_READ = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


def grant_objects(
    role: iam.IRole, bucket: s3.IBucket, *, read: Iterable[str] = (), write: Iterable[str] = ()
) -> None:
    """Object-level access under the given key prefixes of one bucket."""
    read, write = list(read), list(write)
    if read:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in read],
            )
        )
    if write:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in write],
            )
        )


def grant_list(role: iam.IRole, bucket: s3.IBucket, prefixes: Iterable[str]) -> None:
    """ListBucket restricted to the given prefixes."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    )


def grant_table(role: iam.IRole, table: dynamodb.ITable, *, write: bool) -> None:
    """Item-level access to one table (reads, and writes when asked)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=TABLE_READ + (TABLE_WRITE if write else []), resources=[table.table_arn])
    )


def grant_item_read(role: iam.IRole, table: dynamodb.ITable) -> None:
    """GetItem only: read one known item (no Query, no Scan)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[table.table_arn])
    )


def grant_index_query(role: iam.IRole, table: dynamodb.ITable, index_name: str) -> None:
    """Query one named index of a table (not the table, not its other indexes)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{index_name}"])
    )


def grant_key(role: iam.IRole, key: kms.IKey, *, encrypt: bool = True) -> None:
    """Use of the data key for reading (and writing) encrypted objects, items and messages."""
    actions = ["kms:Decrypt", "kms:DescribeKey"]
    if encrypt:
        actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[key.key_arn]))


def grant_invoke(role: iam.IRole, function_arns: Iterable[str]) -> None:
    """Invoke the given functions (unqualified ARNs only: the pipeline never calls versions)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=list(function_arns))
    )


def grant_key_for_aws_resources(role: iam.IRole, key: kms.IKey) -> None:
    """Let SageMaker create grants on the key for the volumes and endpoints the caller asks it to encrypt."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )


def manifest_source_objects(bucket: s3.IBucket, allowed_source_buckets: Iterable[str]) -> list[str]:
    """Object ARNs of every ``source-ref`` a manifest may name: start_run's validation
    (``lambdas/start_run/handler.py`` ``manifest_rules``, ``gtpipe_shared.manifest``) accepts any key of the
    data bucket and any key of each ``gtpipe:allowedSourceBuckets`` bucket, so whoever reads the images
    (SageMaker jobs, the labeling API's presigned URLs) must be able to read exactly those objects.

    S3 object ARNs: https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html
    """
    partition = Stack.of(bucket).partition
    return [bucket.arn_for_objects("*")] + [
        f"arn:{partition}:s3:::{name}/*" for name in dict.fromkeys(allowed_source_buckets)
    ]
