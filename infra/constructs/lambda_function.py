"""One Python Lambda function with its own role, log group and (optionally) dead-letter queue."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size, Stack, Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
SHARED_MODULE = "gtpipe_shared"
# Public Powertools for AWS Lambda (Python) v3 layer, published by AWS in every commercial region.
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:{version}"


def asset_excludes(function_folder: str) -> list[str]:
    """Everything under lambdas/ except the function's own folder and the shared module."""
    keep = {function_folder, SHARED_MODULE}
    excluded = [entry.name for entry in LAMBDAS_DIR.iterdir() if entry.name not in keep]
    return [*excluded, "**/__pycache__", "**/*.pyc"]


class PythonLambda(Construct):
    """A Lambda function from `lambdas/<folder>/handler.py` with least-privilege defaults.

    The role starts with nothing but writing to the function's own log group and sending X-Ray traces;
    callers add grants for what the handler calls. Asynchronously invoked functions pass
    `dead_letter_queue=True` so failed events are kept for inspection instead of dropped.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: str,
        description: str,
        environment: Mapping[str, str],
        key: kms.IKey,
        powertools_layer_version: int,
        timeout: Duration | None = None,
        memory_size: int = 256,
        dead_letter_queue: bool = False,
        reserved_concurrency: int | None = None,
        ephemeral_storage: Size | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        bundled_files: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"gtpipe {folder} Lambda",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.dead_letter_queue: sqs.Queue | None = None
        if dead_letter_queue:
            self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue", key)
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            POWERTOOLS_LAYER.format(
                partition=stack.partition, region=stack.region, version=powertools_layer_version
            ),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=f"{folder}.handler.lambda_handler",
            code=function_code(self, folder, bundled_files),
            role=self.role,
            # Powertools first; a function's own layers (the report's matplotlib) after it.
            layers=[layer, *layers],
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": "gtpipe",
                "POWERTOOLS_METRICS_NAMESPACE": "Gtpipe",
                "LOG_LEVEL": "INFO",
                **environment,
            },
            environment_encryption=key,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrency,
            ephemeral_storage_size=ephemeral_storage,
            retry_attempts=2 if dead_letter_queue else None,
        )


def function_code(scope: Construct, folder: str, bundled_files: Mapping[str, str] | None) -> lambda_.Code:
    """The function's code: ``lambdas/<folder>`` and the shared module, plus ``bundled_files`` (path inside
    the asset -> text) when given.

    Bundled files carry configuration that does not fit the 4 KB Lambda environment (issue 14, finding 4) and
    is known at synth: they are written next to copies of the sources in a folder of the cloud assembly, which
    CDK stages and hashes like any asset folder.
    """
    if not bundled_files:
        return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=asset_excludes(folder))
    digest = hashlib.sha256(json.dumps(dict(sorted(bundled_files.items()))).encode()).hexdigest()[:16]
    target = Path(Stage.of(scope).outdir) / "gtpipe-bundled" / f"{folder}-{digest}"  # type: ignore[union-attr]
    if target.exists():
        shutil.rmtree(target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (folder, SHARED_MODULE):
        shutil.copytree(LAMBDAS_DIR / name, target / name, ignore=ignore)
    for relative, text in bundled_files.items():
        path = target / relative
        if not path.resolve().is_relative_to(target.resolve()):
            raise ValueError(f"bundled file {relative!r} is outside the function's code")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return lambda_.Code.from_asset(str(target))


def encrypted_queue(scope: Construct, construct_id: str, key: kms.IKey) -> sqs.Queue:
    """A KMS-encrypted, TLS-only SQS queue that keeps messages for 14 days (dead letters)."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
