"""The Lambda functions the state machine runs (split, evaluate, notify, endpoint, report, registry, and with
gtpipe:labelErrors label_errors) and job_status."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import StackConfig
from infra.config_harvest import warm_start_on
from infra.constructs.execution_config import deploy_config
from infra.constructs.lambda_function import PythonLambda
from infra.constructs.project_lambda import project_lambda
from infra.layers import require_layer

FunctionFactory = Callable[..., PythonLambda]


@dataclass(frozen=True)
class StageFunctions:
    """The pipeline's step functions, the report's layer and the job state listener."""

    split: PythonLambda
    evaluate: PythonLambda
    notify: PythonLambda
    endpoint: PythonLambda
    report: PythonLambda
    report_layer: lambda_.LayerVersion
    job_status: PythonLambda
    registry: PythonLambda
    # gtpipe:labelErrors only (infra/config_label_errors.py): the label-error finding steps.
    label_errors: PythonLambda | None = None

    @property
    def state_machine_tasks(self) -> tuple[PythonLambda, ...]:
        """The functions the state machine invokes, in the order its role names them."""
        optional = (self.label_errors,) if self.label_errors is not None else ()
        return (self.split, self.evaluate, self.notify, self.endpoint, self.report, self.registry, *optional)


def stage_functions(
    scope: Construct,
    *,
    config: StackConfig,
    key: kms.IKey,
    data_bucket: s3.IBucket,
    runs_table: dynamodb.ITable,
    task_token_table: dynamodb.ITable,
    topic: sns.ITopic,
    endpoint_alarm_names: list[str],
) -> StageFunctions:
    """Creates the functions in ``scope`` (logical IDs follow it), in the stack's order; grants: pipeline_grants."""

    def function(folder: str, description: str, env: dict[str, str], **kwargs: Any) -> PythonLambda:
        return project_lambda(scope, folder, description, env, key=key, config=config, **kwargs)

    split = function(
        "split",
        "gtpipe: stratified, streaming train/validation split of the labeled manifest",
        {
            "DATA_BUCKET": data_bucket.bucket_name,
            # The run's dataset version and warm-start decision go into its ledger item (split/warm_start.py).
            "RUNS_TABLE": runs_table.table_name,
            "WARM_START": "on"
            if warm_start_on(
                config.harvest, pytorch=config.training_algorithm.is_pytorch, tuning=config.tuning is not None
            )
            else "off",
        },
        timeout=Duration.minutes(15),
        memory_size=1024,
        # The streaming split spills shuffle buckets to /tmp: about 1.1x the manifest's size.
        ephemeral_storage=Size.gibibytes(2),
    )
    evaluate = function(
        "evaluate",
        "gtpipe: joins batch-transform output with validation labels; metrics and quality gate",
        {"DATA_BUCKET": data_bucket.bucket_name},
        timeout=Duration.minutes(10),
        memory_size=1024,
    )
    notify = function(
        "notify",
        "gtpipe: records steps, outcomes and the serving deployment in the ledger; notifies",
        {"RUNS_TABLE": runs_table.table_name, "TOPIC_ARN": topic.topic_arn},
    )
    endpoint = function(
        "endpoint",
        "gtpipe: creates or blue/green-updates the endpoint and returns the task token on state change",
        {
            "TASK_TOKEN_TABLE": task_token_table.table_name,
            "ENDPOINT_ALARM_NAMES": json.dumps(endpoint_alarm_names),
        },
        timeout=Duration.minutes(1),
        dead_letter_queue=True,
    )
    report_layer, report = _report(scope, function, config, data_bucket, runs_table)
    job_status = function(
        "job_status",
        "gtpipe: SageMaker job state changes into the runs ledger and notifications",
        {"RUNS_TABLE": runs_table.table_name, "TOPIC_ARN": topic.topic_arn},
        dead_letter_queue=True,
    )
    registry = function(
        "registry",
        "gtpipe: registers passed models as model packages and answers manual approval's task token",
        {
            "RUNS_TABLE": runs_table.table_name,
            "TASK_TOKEN_TABLE": task_token_table.table_name,
            "MODEL_PACKAGE_GROUP_PREFIX": config.model_package_group_prefix,
            # The approval wait may last gtpipe:approvalTimeoutSeconds; the token item outlives it by a day.
            "TASK_TOKEN_TTL_SECONDS": str(config.registry.timeout_seconds + 86400),
            # gtpipe deploy --package: a rollback deploys with the endpoint settings runs deploy with.
            "DEPLOY_CONFIG": json.dumps(deploy_config(config), separators=(",", ":")),
        },
        timeout=Duration.minutes(1),
        dead_letter_queue=True,
    )
    made = (split, evaluate, notify, endpoint, report, report_layer, job_status, registry)
    return StageFunctions(*made, _label_errors(function, config, data_bucket))


def _label_errors(
    function: FunctionFactory, config: StackConfig, data_bucket: s3.IBucket
) -> PythonLambda | None:
    """The label_errors function with gtpipe:labelErrors, else None."""
    if config.label_errors is None:
        return None
    return function(
        "label_errors",
        "gtpipe: label-error finding: fold manifests, flagged objects, the corrected training manifest",
        {"DATA_BUCKET": data_bucket.bucket_name},
        timeout=Duration.minutes(15),
        # The training manifest is read whole (lambdas/label_errors: ~300 MB for 1M lines).
        memory_size=2048,
    )


def _report(
    scope: Construct,
    function: FunctionFactory,
    config: StackConfig,
    data_bucket: s3.IBucket,
    runs_table: dynamodb.ITable,
) -> tuple[lambda_.LayerVersion, PythonLambda]:
    """The report function and its matplotlib layer."""
    layer = lambda_.LayerVersion(
        scope,
        "ReportLayer",
        code=lambda_.Code.from_asset(str(require_layer())),
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
        compatible_architectures=[lambda_.Architecture.X86_64],
        description="gtpipe: matplotlib and its dependencies for the report function (make layers)",
    )
    report = function(
        "report",
        "gtpipe: the run report (HTML and PNG figures) under reports/<run_id>/",
        {
            "DATA_BUCKET": data_bucket.bucket_name,
            "RUNS_TABLE": runs_table.table_name,
            # The stack's prices, for runs whose execution input carries none (older runs).
            "LABELING_PRICES": json.dumps(config.labeling_prices.as_dict(), separators=(",", ":")),
            # Lambda's home is read-only: matplotlib keeps its font cache in /tmp instead.
            "MPLCONFIGDIR": "/tmp/matplotlib",
        },
        timeout=Duration.minutes(5),
        memory_size=2048,
        # Validation images for the sample grids are downloaded to /tmp.
        ephemeral_storage=Size.gibibytes(2),
        layers=[layer],
    )
    return layer, report
