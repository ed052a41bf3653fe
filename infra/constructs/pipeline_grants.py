"""What each pipeline function may do: the handlers' calls, named action by action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from gtpipe_shared.dataset import DATASET_PREFIX

from infra.constructs.grants import (
    grant_index_query,
    grant_item_read,
    grant_key,
    grant_key_for_aws_resources,
    grant_list,
    grant_objects,
    grant_table,
)
from infra.constructs.ledger import LABELING_MODEL_INDEX
from infra.constructs.storage import (
    IMAGES_PREFIX,
    INCOMING_PREFIX,
    LABELING_PREFIX,
    REPORTS_PREFIX,
    RUNS_PREFIX,
    SPLITS_PREFIX,
    TRANSFORM_PREFIX,
)

if TYPE_CHECKING:
    from infra.constructs.pipeline import Pipeline

# What the endpoint function needs to register the variant for target tracking (issue 14 finding 5), per
# https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html:
# the Application Auto Scaling calls it makes, and the SageMaker and CloudWatch permissions Application Auto
# Scaling validates for the caller.
AUTOSCALING_ACTIONS = (
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
)
AUTOSCALING_ENDPOINT_ACTIONS = ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities")
AUTOSCALING_ENDPOINT_CONFIG_ACTIONS = ("sagemaker:DescribeEndpointConfig",)
AUTOSCALING_ALARM_ACTIONS = (
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DeleteAlarms",
)
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
AUTOSCALING_SERVICE_LINKED_ROLE = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
# Built-in algorithms log each training job to streams named `<job name>/algo-...` in this group; the report
# parses its training and validation curves from them with the algorithm's metric definitions.
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def grant_pipeline_functions(
    pipeline: Pipeline,
    *,
    runs_table: dynamodb.ITable,
    task_token_table: dynamodb.ITable,
    idempotency_table: dynamodb.ITable,
    topic: sns.ITopic,
    endpoint_alarm_names: list[str],
    golden_manifest: str | None = None,
    tuning: bool = False,
) -> None:
    """Grants every function of ``pipeline`` (its functions and state machine exist) exactly its calls;
    ``golden_manifest`` is the champion/challenger golden manifest's key, if configured; ``tuning``: runs
    tune hyperparameters (gtpipe:tuning), so the report lists the trials."""
    bucket = pipeline.data_bucket
    start_run = pipeline.start_run
    # start_run: reads the manifest (never writes it), writes the labeling inputs, starts one run.
    grant_objects(start_run.role, bucket, read=[INCOMING_PREFIX], write=[LABELING_PREFIX])
    pipeline.state_machine.grant_start_execution(start_run.role)
    grant_table(start_run.role, runs_table, write=True)
    # Model reuse: the newest reusable model of the run's label set, from the ledger's sparse index.
    grant_index_query(start_run.role, runs_table, LABELING_MODEL_INDEX)
    grant_table(start_run.role, idempotency_table, write=True)
    # split: labeled manifests in, train/validation manifests out.
    grant_objects(pipeline.split.role, bucket, read=[INCOMING_PREFIX, LABELING_PREFIX], write=[SPLITS_PREFIX])
    # The label set's cumulative dataset (gtpipe_shared.dataset): listed (is there one yet?), read by a
    # feedback run, and every run writes its next version.
    grant_objects(pipeline.split.role, bucket, read=[DATASET_PREFIX], write=[DATASET_PREFIX])
    grant_list(pipeline.split.role, bucket, [DATASET_PREFIX])
    # The run's dataset version and warm-start decision on its ledger item, and the @serving item the
    # warm start is decided from (split/warm_start.py): GetItem and UpdateItem, no Put, Query or Scan.
    grant_item_read(pipeline.split.role, runs_table)
    pipeline.split.role.add_to_principal_policy(
        iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[runs_table.table_arn])
    )
    # evaluate: validation manifests and transform output in, metrics out.
    # Champion/challenger: the golden manifest's images manifest out (splits/<run_id>/, which the SageMaker
    # role reads for the transforms), and the golden manifest in: that one object, known at synth.
    grant_objects(
        pipeline.evaluate.role,
        bucket,
        read=[SPLITS_PREFIX, TRANSFORM_PREFIX],
        write=[RUNS_PREFIX, SPLITS_PREFIX],
    )
    if golden_manifest:
        pipeline.evaluate.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects(golden_manifest)],
            )
        )
    # Without ListBucket, S3 reports a missing transform output as AccessDenied instead of NoSuchKey.
    grant_list(pipeline.evaluate.role, bucket, [TRANSFORM_PREFIX])
    # notify and job_status: ledger and topic.
    for fn in (pipeline.notify, pipeline.job_status):
        grant_table(fn.role, runs_table, write=True)
    for fn in (start_run, pipeline.notify, pipeline.job_status):
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn])
        )
    _grant_label_errors(pipeline)
    for fn in (
        start_run,
        pipeline.split,
        pipeline.evaluate,
        pipeline.notify,
        pipeline.job_status,
        pipeline.endpoint,
        pipeline.report,
        pipeline.registry,
    ):
        grant_key(fn.role, pipeline.key)
    _grant_report(pipeline, runs_table, tuning=tuning)
    _grant_endpoint(pipeline, task_token_table, endpoint_alarm_names)
    _grant_registry(pipeline, runs_table, task_token_table)


def _grant_label_errors(pipeline: Pipeline) -> None:
    """label_errors (gtpipe:labelErrors only): the split's training manifest and the folds' transform outputs
    in; fold manifests and the corrected manifest out (splits/), the review job's input out and its output in
    (labeling/, where the labeling function reads and writes); the label set's dataset in and out (datasets/:
    ``correct`` writes the reviewed labels as its next version); DescribeTrainingJob for the validation
    accuracy of Train's and Retrain's jobs (its ``accuracy`` action)."""
    if pipeline.label_errors is None:
        return
    role, bucket = pipeline.label_errors.role, pipeline.data_bucket
    role.add_to_policy(
        iam.PolicyStatement(
            sid="DescribeRunTrainingJobs",
            # Job names derive from run ids known only at run time; read-only, training jobs only.
            actions=["sagemaker:DescribeTrainingJob"],
            resources=[
                Stack.of(pipeline).format_arn(service="sagemaker", resource="training-job", resource_name="*")
            ],
        )
    )
    grant_objects(
        role,
        bucket,
        read=[SPLITS_PREFIX, TRANSFORM_PREFIX, LABELING_PREFIX, DATASET_PREFIX],
        write=[SPLITS_PREFIX, LABELING_PREFIX, DATASET_PREFIX],
    )
    # Without ListBucket, S3 reports a missing transform output (or dataset) as AccessDenied, not NoSuchKey.
    grant_list(role, bucket, [TRANSFORM_PREFIX, DATASET_PREFIX])
    grant_key(role, pipeline.key)


def _grant_registry(
    pipeline: Pipeline, runs_table: dynamodb.ITable, task_token_table: dynamodb.ITable
) -> None:
    """registry: this stack's model package groups and their versions, the run's ledger item, the approval
    task token. Resource types per action from the Service Authorization Reference
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html): groups are
    ``model-package-group/<name>``, versioned packages ``model-package/<group>/<version>``."""
    stack = Stack.of(pipeline)
    role = pipeline.registry.role
    prefix = pipeline.model_package_group_prefix
    groups = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=f"{prefix}*")
    packages = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{prefix}*/*")
    grant_table(role, runs_table, write=True)
    grant_table(role, task_token_table, write=True)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ModelPackageGroups",
            actions=["sagemaker:DescribeModelPackageGroup", "sagemaker:CreateModelPackageGroup"],
            resources=[groups],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ModelPackages",
            # CreateModelPackage with a group names the group; its Tags need AddTags on the new package.
            actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            resources=[groups, packages],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReturnApprovalTaskToken",
            actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
            resources=[pipeline.state_machine_arn],
        )
    )


def _grant_report(pipeline: Pipeline, runs_table: dynamodb.ITable, *, tuning: bool) -> None:
    """The report reads what a run produced and writes only under reports/ (with ``tuning``, also the
    trials of the stack's tuning jobs)."""
    stack = Stack.of(pipeline)
    role = pipeline.report.role
    bucket = pipeline.data_bucket
    readable = [
        INCOMING_PREFIX,
        IMAGES_PREFIX,
        LABELING_PREFIX,
        SPLITS_PREFIX,
        TRANSFORM_PREFIX,
        RUNS_PREFIX,
    ]
    grant_objects(role, bucket, read=readable, write=[REPORTS_PREFIX])
    # Labeling output (annotations per iteration) and transform output are found by listing.
    grant_list(role, bucket, [LABELING_PREFIX, TRANSFORM_PREFIX, REPORTS_PREFIX])
    grant_item_read(role, runs_table)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="DescribeRunJobs",
            actions=["sagemaker:DescribeTrainingJob", "sagemaker:DescribeLabelingJob"],
            resources=[
                stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
                for kind in ("training-job", "labeling-job")
            ],
        )
    )
    if tuning:
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListTuningTrials",
                actions=["sagemaker:ListTrainingJobsForHyperParameterTuningJob"],
                resources=[
                    stack.format_arn(
                        service="sagemaker", resource="hyper-parameter-tuning-job", resource_name="*"
                    )
                ],
            )
        )
    log_group = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{TRAINING_LOG_GROUP}"
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadTrainingLogs",
            actions=["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"],
            # The group (DescribeLogStreams, FilterLogEvents) and its streams (GetLogEvents); CloudWatch Logs also
            # authorizes group operations against the `:*` form.
            resources=[log_group, f"{log_group}:*"],
        )
    )


def _grant_endpoint(
    pipeline: Pipeline, task_token_table: dynamodb.ITable, endpoint_alarm_names: list[str]
) -> None:
    """endpoint: the one endpoint of this stack, its configs, the task tokens and autoscaling."""
    role = pipeline.endpoint.role
    grant_table(role, task_token_table, write=True)
    # CreateEndpoint on a KMS-encrypted endpoint configuration needs the caller to grant the key.
    grant_key_for_aws_resources(role, pipeline.key)
    statements = [
        *_deployment_statements(pipeline, endpoint_alarm_names),
        *_autoscaling_statements(Stack.of(pipeline), pipeline.endpoint_arn),
    ]
    for statement in statements:
        role.add_to_policy(statement)


def _deployment_statements(pipeline: Pipeline, endpoint_alarm_names: list[str]) -> list[iam.PolicyStatement]:
    """Create, update and replace the endpoint, watch the rollback alarms, answer the deployment's task
    token and take over the endpoint lock of an ended execution."""
    stack = Stack.of(pipeline)
    endpoint_configs = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
    statements = [
        iam.PolicyStatement(
            sid="ManageServingEndpoint",
            actions=[
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DescribeEndpoint",
                # A Failed endpoint cannot be updated: it is deleted and created again.
                "sagemaker:DeleteEndpoint",
                "sagemaker:AddTags",
            ],
            resources=[pipeline.endpoint_arn, endpoint_configs],
        ),
        iam.PolicyStatement(
            sid="ReadEndpointConfigs",
            actions=["sagemaker:DescribeEndpointConfig"],
            resources=[endpoint_configs],
        ),
    ]
    if endpoint_alarm_names:
        statements.append(
            iam.PolicyStatement(
                sid="RollbackAlarms",
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=name,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for name in endpoint_alarm_names
                ],
            )
        )
    executions = stack.format_arn(
        service="states",
        resource="execution",
        resource_name=f"{pipeline.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return [
        *statements,
        # Named by ARN string, not by reference: the state machine already depends on this function.
        iam.PolicyStatement(
            sid="ReturnDeploymentTaskToken",
            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            resources=[pipeline.state_machine_arn],
        ),
        # A deploy takes over the endpoint lock of a run whose execution ended without releasing it; it asks
        # DescribeExecution, whose resource type is the execution
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
        iam.PolicyStatement(
            sid="EndpointLockHolder", actions=["states:DescribeExecution"], resources=[executions]
        ),
    ]


def _autoscaling_statements(stack: Stack, endpoint_arn: str) -> list[iam.PolicyStatement]:
    """VerifyEndpoint registers the variant with Application Auto Scaling and puts a target-tracking policy.

    Application Auto Scaling validates that the *caller* holds the target service's and CloudWatch's
    permissions before it accepts either call ("Additional required IAM permissions", SageMaker endpoints:
    https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html,
    https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_permission_validation.html).
    """
    return [
        iam.PolicyStatement(
            sid="EndpointAutoscaling",
            actions=list(AUTOSCALING_ACTIONS),
            # Application Auto Scaling's scalable-target ARNs carry a generated id, unknown before
            # registration: no narrower resource exists for these calls.
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="AutoscalingTargetEndpoint",
            actions=list(AUTOSCALING_ENDPOINT_ACTIONS),
            resources=[endpoint_arn],
        ),
        iam.PolicyStatement(
            sid="AutoscalingTargetEndpointConfig",
            actions=list(AUTOSCALING_ENDPOINT_CONFIG_ACTIONS),
            resources=[stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")],
        ),
        iam.PolicyStatement(
            sid="AutoscalingAlarmValidation",
            actions=list(AUTOSCALING_ALARM_ACTIONS),
            # The validation calls name no alarm (PutMetricAlarm and DeleteAlarms without parameters,
            # DescribeAlarms with MaxRecords 1), so no alarm-name prefix can match them; the alarms themselves
            # are created by the service-linked role, not by this function.
            resources=["*"],
        ),
        # RegisterScalableTarget creates the service-linked role on first use; exactly the documented role and
        # condition: https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-prerequisites.html
        iam.PolicyStatement(
            sid="AutoscalingServiceLinkedRole",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[
                f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
                f"{AUTOSCALING_SERVICE}/{AUTOSCALING_SERVICE_LINKED_ROLE}"
            ],
            conditions={"StringLike": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
        ),
    ]
