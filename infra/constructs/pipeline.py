"""The pipeline: SageMaker execution role, pipeline Lambdas, the state machine and the EventBridge rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from gtpipe_shared.config import BUILTIN_ONLY_LABELING_KEYS
from gtpipe_shared.config import PipelineConfig as FunctionsConfig
from gtpipe_shared.tasks import TaskType

from infra.config import PipelineConfig
from infra.config_limits import label_categories_json
from infra.constructs.definition import definition_text
from infra.constructs.grants import (
    grant_index_query,
    grant_invoke,
    grant_item_read,
    grant_key,
    grant_key_for_aws_resources,
    grant_list,
    grant_objects,
    grant_table,
    manifest_source_objects,
)
from infra.constructs.lambda_function import PythonLambda, encrypted_queue
from infra.constructs.ledger import LABELING_MODEL_INDEX
from infra.constructs.project_lambda import project_lambda
from infra.constructs.regional import RegionalFacts
from infra.constructs.storage import (
    IMAGES_PREFIX,
    INCOMING_PREFIX,
    LABELING_PREFIX,
    MANIFEST_SUFFIXES,
    MODELS_PREFIX,
    REPORTS_PREFIX,
    RUNS_PREFIX,
    SPLITS_PREFIX,
    TRANSFORM_PREFIX,
)
from infra.layers import require_layer

# The label category configuration file inside start_run's code (lambdas/start_run/handler.py reads it).
LABEL_CATEGORIES_BUNDLE = "start_run/label-categories.json"

DEFINITION_FILE = Path(__file__).resolve().parents[2] / "state_machines" / "pipeline.asl.json"
SAGEMAKER_JOB_EVENTS = [
    "SageMaker Training Job State Change",
    "SageMaker Transform Job State Change",
    "SageMaker Ground Truth Labeling Job State Change",
    "SageMaker Endpoint State Change",
]
# Managed rules that Step Functions creates for the `.sync` integrations, exactly as AWS publishes them in "IAM
# policies for Amazon SageMaker AI" (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html):
# training and transform jobs only. AWS documents no managed rule for createLabelingJob.sync, so none is granted
# (the former `...LabelingJobsRule` was a guess; issue 14 finding 7).
SYNC_MANAGED_RULES = [
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "StepFunctionsGetEventsForSageMakerTransformJobsRule",
]
ENDPOINT_VARIANT_NAME = "AllTraffic"
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
RUN_TAG = "gtpipe:run-id"
# Built-in algorithms log each training job to streams named `<job name>/algo-...` in this group; the report
# parses its training and validation curves from them with the algorithm's metric definitions.
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# With gtpipe:labelingBackend "ground-truth" the builtin labeling function does not exist, yet the definition
# names it: this ARN fills the substitution. ChooseLabeling never reaches LabelWithTeam then (the execution
# input says backend "ground-truth"), no function has this name, and the state machine role may not invoke it.
LABELING_DISABLED_FUNCTION_NAME = "gtpipe-builtin-labeling-not-deployed"


def state_machine_name(config: PipelineConfig) -> str:
    """The pipeline state machine's fixed name (constructs that answer its task tokens need its ARN)."""
    return f"{config.stack_prefix}-pipeline"


def state_machine_arn(stack: Stack, config: PipelineConfig) -> str:
    """The pipeline state machine's ARN, built from its name: no reference, so no dependency cycle."""
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(config),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Pipeline(Construct):
    """Owns everything from the dropped manifest to the published endpoint, and their grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        key: kms.IKey,
        data_bucket: s3.IBucket,
        runs_table: dynamodb.ITable,
        task_token_table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        topic: sns.ITopic,
        workteam_arn: str | None,
        endpoint_alarm_names: list[str],
        labeling_function: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._stack = stack
        self._key = key
        self._bucket = data_bucket
        self._labeling_function = labeling_function
        regional = RegionalFacts(self, "Regional", task_type=config.task_type)
        self.endpoint_name = config.endpoint_name
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name
        )
        self.sagemaker_role = self._sagemaker_role(config, regional)
        self.state_machine_name = state_machine_name(config)
        self.state_machine_arn = state_machine_arn(stack, config)

        def function(folder: str, description: str, env: dict[str, str], **kwargs: Any) -> PythonLambda:
            return project_lambda(self, folder, description, env, key=key, config=config, **kwargs)

        self.split = function(
            "split",
            "gtpipe: stratified, streaming train/validation split of the labeled manifest",
            {"DATA_BUCKET": data_bucket.bucket_name},
            timeout=Duration.minutes(15),
            memory_size=1024,
            # The streaming split spills shuffle buckets to /tmp: about 1.1x the manifest's size.
            ephemeral_storage=Size.gibibytes(2),
        )
        self.evaluate = function(
            "evaluate",
            "gtpipe: joins batch-transform output with validation labels; metrics and quality gate",
            {"DATA_BUCKET": data_bucket.bucket_name},
            timeout=Duration.minutes(10),
            memory_size=1024,
        )
        self.notify = function(
            "notify",
            "gtpipe: records steps, outcomes and the serving deployment in the ledger; notifies",
            {"RUNS_TABLE": runs_table.table_name, "TOPIC_ARN": topic.topic_arn},
        )
        self.endpoint = function(
            "endpoint",
            "gtpipe: creates or blue/green-updates the endpoint and returns the task token on state change",
            {
                "TASK_TOKEN_TABLE": task_token_table.table_name,
                "ENDPOINT_ALARM_NAMES": json.dumps(endpoint_alarm_names),
            },
            timeout=Duration.minutes(1),
            dead_letter_queue=True,
        )
        self.report_layer = lambda_.LayerVersion(
            self,
            "ReportLayer",
            code=lambda_.Code.from_asset(str(require_layer())),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="gtpipe: matplotlib and its dependencies for the report function (make layers)",
        )
        self.report = function(
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
            layers=[self.report_layer],
        )
        self.job_status = function(
            "job_status",
            "gtpipe: SageMaker job state changes into the runs ledger and notifications",
            {"RUNS_TABLE": runs_table.table_name, "TOPIC_ARN": topic.topic_arn},
            dead_letter_queue=True,
        )

        self.state_machine = self._state_machine(config)
        pipeline_config = self._pipeline_config(config, regional, workteam_arn)
        self.start_run = function(
            "start_run",
            "gtpipe: validates a dropped manifest and starts exactly one run for it",
            {
                "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "RUNS_TABLE": runs_table.table_name,
                "IDEMPOTENCY_TABLE": idempotency_table.table_name,
                "TOPIC_ARN": topic.topic_arn,
                "DATA_BUCKET": data_bucket.bucket_name,
                "PIPELINE_CONFIG": stack.to_json_string(pipeline_config),
            },
            timeout=Duration.minutes(5),
            memory_size=1024,
            dead_letter_queue=True,
            # The class list grows with the number of classes, and Lambda allows 4 KB of environment in total
            # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): it travels in the
            # function's code as a label category configuration file (issue 14, finding 4).
            bundled_files={LABEL_CATEGORIES_BUNDLE: label_categories_json(config.label_categories)},
        )

        self._grant_lambdas(runs_table, task_token_table, idempotency_table, topic, endpoint_alarm_names)
        self._rules(config, data_bucket, key)

    # --- SageMaker -----------------------------------------------------------------------------------

    def _sagemaker_role(self, config: PipelineConfig, regional: RegionalFacts) -> iam.Role:
        """Role SageMaker jobs and models assume: the data bucket's pipeline prefixes and the key, no more."""
        stack = self._stack
        role = iam.Role(
            self,
            "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="gtpipe: labeling, training, transform and hosting",
        )
        bucket_arn = self._bucket.bucket_arn
        readable = [INCOMING_PREFIX, IMAGES_PREFIX, LABELING_PREFIX, SPLITS_PREFIX, MODELS_PREFIX]
        writable = [LABELING_PREFIX, MODELS_PREFIX, TRANSFORM_PREFIX]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPipelineData",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"{bucket_arn}/{prefix}*" for prefix in readable],
            )
        )
        # Finding 10 (issue 14): a manifest may name images anywhere start_run's validation accepts (any key of
        # the data bucket, any gtpipe:allowedSourceBuckets bucket); labeling, training and transform jobs read
        # them with this role (the RoleArn of every job reads its input objects):
        # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadManifestSources",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=manifest_source_objects(self._bucket, config.allowed_source_buckets),
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WritePipelineOutputs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[f"{bucket_arn}/{prefix}*" for prefix in writable],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListPipelinePrefixes",
                actions=["s3:ListBucket"],
                resources=[bucket_arn],
                # dict.fromkeys, not a set: the same order in every synth (a set's follows PYTHONHASHSEED).
                conditions={
                    "StringLike": {"s3:prefix": [f"{p}*" for p in dict.fromkeys([*readable, *writable])]}
                },
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseDataKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self._key.key_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptJobVolumes",
                actions=["kms:CreateGrant"],
                resources=[self._key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PullBuiltInAlgorithm",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[regional.algorithm_repository_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        role.add_to_policy(
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
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="JobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            )
        )
        if config.labeling.auto_labeling:
            # Automated labeling runs training, transform and inference jobs on the labeling job's behalf.
            role.add_to_policy(
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
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="AutomatedLabelingPassRole",
                    actions=["iam:PassRole"],
                    resources=[role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                )
            )
        return role

    # --- State machine ---------------------------------------------------------------------------------

    def _state_machine(self, config: PipelineConfig) -> sfn.StateMachine:
        stack = self._stack
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="gtpipe pipeline state machine",
        )
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=logs.RetentionDays.SIX_MONTHS,
            encryption_key=self._key,
            removal_policy=RemovalPolicy.DESTROY,
        )

        def sagemaker_arn(kind: str) -> str:
            return stack.format_arn(service="sagemaker", resource=kind, resource_name="*")

        job_kinds = {
            "LabelingJob": "labeling-job",
            "TrainingJob": "training-job",
            "TransformJob": "transform-job",
        }
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunSageMakerJobs",
                actions=[
                    f"sagemaker:{verb}{kind}" for kind in job_kinds for verb in ("Create", "Describe", "Stop")
                ]
                + ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:AddTags"],
                resources=[sagemaker_arn(kind) for kind in job_kinds.values()]
                + [sagemaker_arn("model"), sagemaker_arn("endpoint-config")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LabelingJobAlgorithm",
                actions=["sagemaker:CreateLabelingJob"],
                resources=[
                    stack.format_arn(
                        service="sagemaker",
                        account="*",
                        resource="labeling-job-algorithm-specification",
                        resource_name="*",
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassSageMakerRole",
                actions=["iam:PassRole"],
                resources=[self.sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # Every published SageMaker integration policy grants sagemaker:ListTags on "*" (the `.sync` integrations
        # read the job's tags): https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html
        role.add_to_policy(
            iam.PolicyStatement(sid="SyncIntegrationTags", actions=["sagemaker:ListTags"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SyncIntegrationRules",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(service="events", resource="rule", resource_name=name)
                    for name in SYNC_MANAGED_RULES
                ],
            )
        )
        invoked = [
            fn.function.function_arn
            for fn in (self.split, self.evaluate, self.notify, self.endpoint, self.report)
        ]
        if self._labeling_function is not None:
            # LabelWithTeam (builtin backend): the labeling function opens the job with the task token.
            invoked.append(self._labeling_function.function_arn)
            labeling_function_arn = self._labeling_function.function_arn
        else:
            labeling_function_arn = stack.format_arn(
                service="lambda",
                resource="function",
                resource_name=LABELING_DISABLED_FUNCTION_NAME,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        grant_invoke(role, invoked)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # The file fitted to the configured instance types: no volume key where SageMaker refuses one
            # (instance storage; issue 14 finding 11, see infra/constructs/definition.py).
            definition_body=sfn.DefinitionBody.from_string(definition_text(config)),
            definition_substitutions={
                "KmsKeyArn": self._key.key_arn,
                "SageMakerRoleArn": self.sagemaker_role.role_arn,
                "DataBucketName": self._bucket.bucket_name,
                "SplitFunctionArn": self.split.function.function_arn,
                "EvaluateFunctionArn": self.evaluate.function.function_arn,
                "NotifyFunctionArn": self.notify.function.function_arn,
                "EndpointFunctionArn": self.endpoint.function.function_arn,
                "ReportFunctionArn": self.report.function.function_arn,
                "LabelingFunctionArn": labeling_function_arn,
            },
            role=role,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        # Creating jobs whose outputs and volumes use the data key requires the caller to be able to use it.
        grant_key(role, self._key)
        grant_key_for_aws_resources(role, self._key)
        return machine

    def _pipeline_config(
        self, config: PipelineConfig, regional: RegionalFacts, workteam_arn: str | None
    ) -> dict[str, Any]:
        """The configuration `start_run` places into every execution's input (see docs/design.md): the
        functions' schema (gtpipe_shared.config) filled with this stack's resources, in its serialized form.

        Lambda limits start_run's environment to 4 KB in total
        (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): the class names are not
        here (start_run reads them from the label category file bundled with its code), nor, for Ground
        Truth, the builtin backend's settings.
        """
        bucket = self._bucket.bucket_name
        functions_config = FunctionsConfig(
            task_type=TaskType(config.task_type),
            data_bucket=bucket,
            label_categories=list(config.label_categories),
            allowed_source_buckets=list(config.allowed_source_buckets),
            max_manifest_lines=config.max_manifest_lines,
            max_manifest_bytes=config.max_manifest_bytes,
            labeling=config.labeling.model_copy(
                update={
                    "output_path": f"s3://{bucket}/{LABELING_PREFIX}",
                    "workteam_arn": workteam_arn or "",
                    "pre_human_task_lambda_arn": regional.pre_human_task_lambda_arn,
                    "annotation_consolidation_lambda_arn": regional.annotation_consolidation_lambda_arn,
                    "algorithm_specification_arn": regional.algorithm_specification_arn,
                }
            ),
            training=config.training.model_copy(update={"image": regional.training_image}),
            transform=config.transform,
            endpoint=config.endpoint.model_copy(
                update={"name": self.endpoint_name, "variant_name": ENDPOINT_VARIANT_NAME}
            ),
            split=config.split,
            quality_threshold=config.quality_threshold,
        )
        serialized = functions_config.environment_json()
        if config.labeling_backend != "builtin":
            for key in BUILTIN_ONLY_LABELING_KEYS:
                serialized["labeling"].pop(key, None)
        return serialized

    # --- Grants ---------------------------------------------------------------------------------------

    def _grant_lambdas(
        self,
        runs_table: dynamodb.ITable,
        task_token_table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        topic: sns.ITopic,
        endpoint_alarm_names: list[str],
    ) -> None:
        stack = self._stack
        bucket = self._bucket
        # start_run: reads the manifest (never writes it), writes the labeling inputs, starts one run.
        grant_objects(self.start_run.role, bucket, read=[INCOMING_PREFIX], write=[LABELING_PREFIX])
        self.state_machine.grant_start_execution(self.start_run.role)
        grant_table(self.start_run.role, runs_table, write=True)
        # Model reuse: the newest reusable model of the run's label set, from the ledger's sparse index.
        grant_index_query(self.start_run.role, runs_table, LABELING_MODEL_INDEX)
        grant_table(self.start_run.role, idempotency_table, write=True)
        # split: labeled manifests in, train/validation manifests out.
        grant_objects(self.split.role, bucket, read=[INCOMING_PREFIX, LABELING_PREFIX], write=[SPLITS_PREFIX])
        # evaluate: validation manifests and transform output in, metrics out.
        grant_objects(self.evaluate.role, bucket, read=[SPLITS_PREFIX, TRANSFORM_PREFIX], write=[RUNS_PREFIX])
        # Without ListBucket, S3 reports a missing transform output as AccessDenied instead of NoSuchKey.
        grant_list(self.evaluate.role, bucket, [TRANSFORM_PREFIX])
        # notify and job_status: ledger and topic.
        for fn in (self.notify, self.job_status):
            grant_table(fn.role, runs_table, write=True)
        for fn in (self.start_run, self.notify, self.job_status):
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn])
            )
        for fn in (
            self.start_run,
            self.split,
            self.evaluate,
            self.notify,
            self.job_status,
            self.endpoint,
            self.report,
        ):
            grant_key(fn.role, self._key)
        self._grant_report(runs_table)
        # endpoint: the one endpoint of this stack, its configs, the task tokens and autoscaling.
        grant_table(self.endpoint.role, task_token_table, write=True)
        # CreateEndpoint on a KMS-encrypted endpoint configuration needs the caller to grant the key.
        grant_key_for_aws_resources(self.endpoint.role, self._key)
        self.endpoint.role.add_to_policy(
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
                resources=[
                    self.endpoint_arn,
                    stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*"),
                ],
            )
        )
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadEndpointConfigs",
                actions=["sagemaker:DescribeEndpointConfig"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
                ],
            )
        )
        if endpoint_alarm_names:
            self.endpoint.role.add_to_policy(
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
        # Named by ARN string, not by reference: the state machine already depends on this function.
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReturnDeploymentTaskToken",
                actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                resources=[self.state_machine_arn],
            )
        )
        # A deploy takes over the endpoint lock of a run whose execution ended without releasing it; it asks
        # DescribeExecution, whose resource type is the execution
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointLockHolder",
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{self.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        # VerifyEndpoint registers the variant with Application Auto Scaling and puts a target-tracking policy.
        # Application Auto Scaling validates that the *caller* holds the target service's and CloudWatch's
        # permissions before it accepts either call ("Additional required IAM permissions", SageMaker endpoints:
        # https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html,
        # https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_permission_validation.html).
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointAutoscaling",
                actions=list(AUTOSCALING_ACTIONS),
                # Application Auto Scaling's scalable-target ARNs carry a generated id, unknown before
                # registration: no narrower resource exists for these calls.
                resources=["*"],
            )
        )
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingTargetEndpoint",
                actions=list(AUTOSCALING_ENDPOINT_ACTIONS),
                resources=[self.endpoint_arn],
            )
        )
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingTargetEndpointConfig",
                actions=list(AUTOSCALING_ENDPOINT_CONFIG_ACTIONS),
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
                ],
            )
        )
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingAlarmValidation",
                actions=list(AUTOSCALING_ALARM_ACTIONS),
                # The validation calls name no alarm (PutMetricAlarm and DeleteAlarms without parameters,
                # DescribeAlarms with MaxRecords 1), so no alarm-name prefix can match them; the alarms themselves
                # are created by the service-linked role, not by this function.
                resources=["*"],
            )
        )
        # RegisterScalableTarget creates the service-linked role on first use; exactly the documented role and
        # condition: https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-prerequisites.html
        self.endpoint.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
                    f"{AUTOSCALING_SERVICE}/{AUTOSCALING_SERVICE_LINKED_ROLE}"
                ],
                conditions={"StringLike": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
            )
        )

    def _grant_report(self, runs_table: dynamodb.ITable) -> None:
        """The report reads what a run produced and writes only under reports/."""
        stack = self._stack
        role = self.report.role
        readable = [
            INCOMING_PREFIX,
            IMAGES_PREFIX,
            LABELING_PREFIX,
            SPLITS_PREFIX,
            TRANSFORM_PREFIX,
            RUNS_PREFIX,
        ]
        grant_objects(role, self._bucket, read=readable, write=[REPORTS_PREFIX])
        # Labeling output (annotations per iteration) and transform output are found by listing.
        grant_list(role, self._bucket, [LABELING_PREFIX, TRANSFORM_PREFIX, REPORTS_PREFIX])
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
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTrainingLogs",
                actions=["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"],
                # The group (DescribeLogStreams, FilterLogEvents) and its streams (GetLogEvents); CloudWatch Logs also
                # authorizes group operations against the `:*` form.
                resources=[
                    f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{TRAINING_LOG_GROUP}",
                    f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{TRAINING_LOG_GROUP}:*",
                ],
            )
        )

    # --- Rules ----------------------------------------------------------------------------------------

    def _rules(self, config: PipelineConfig, data_bucket: s3.IBucket, key: kms.IKey) -> None:
        self.rule_dead_letter_queue: sqs.Queue = encrypted_queue(self, "RuleDeadLetterQueue", key)
        dlq = self.rule_dead_letter_queue

        def target(fn: PythonLambda) -> targets.LambdaFunction:
            return targets.LambdaFunction(
                fn.function, dead_letter_queue=dlq, max_event_age=Duration.hours(2), retry_attempts=8
            )

        self.manifest_rule = events.Rule(
            self,
            "ManifestDroppedRule",
            description="gtpipe: a manifest dropped under incoming/ starts a run",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data_bucket.bucket_name]},
                    "object": {
                        "key": [{"wildcard": f"{INCOMING_PREFIX}*{suffix}"} for suffix in MANIFEST_SUFFIXES]
                    },
                },
            ),
            targets=[target(self.start_run)],
        )
        self.job_status_rule = events.Rule(
            self,
            "SageMakerJobStateRule",
            description="gtpipe: SageMaker job and endpoint state changes into the runs ledger",
            event_pattern=events.EventPattern(source=["aws.sagemaker"], detail_type=SAGEMAKER_JOB_EVENTS),
            targets=[target(self.job_status)],
        )
        self.endpoint_rule = events.Rule(
            self,
            "EndpointStateRule",
            description="gtpipe: endpoint state changes return the waiting deployment's task token",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Endpoint State Change"],
                detail={"EndpointName": [self.endpoint_name]},
            ),
            targets=[target(self.endpoint)],
        )
