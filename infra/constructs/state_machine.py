"""The pipeline state machine: its role, its log group and the definition with its substitutions."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.definition import definition_text
from infra.constructs.grants import grant_invoke, grant_key, grant_key_for_aws_resources
from infra.constructs.pytorch_algorithm import PytorchTraining
from infra.constructs.stage_functions import StageFunctions

# Managed rules that Step Functions creates for the `.sync` integrations, exactly as AWS publishes them in "IAM
# policies for Amazon SageMaker AI" (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html):
# training and transform jobs only. AWS documents no managed rule for createLabelingJob.sync, so none is granted
# (the former `...LabelingJobsRule` was a guess; issue 14 finding 7).
SYNC_MANAGED_RULES = [
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "StepFunctionsGetEventsForSageMakerTransformJobsRule",
]
# With gtpipe:tuning, createHyperParameterTuningJob.sync's rule too (the name the AWS Step Functions Data Science
# SDK's documented execution policy grants; https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html).
TUNING_MANAGED_RULE = "StepFunctionsGetEventsForSageMakerTuningJobsRule"
# With gtpipe:labelingBackend "ground-truth" the builtin labeling function does not exist, yet the definition
# names it: this ARN fills the substitution. ChooseLabeling never reaches LabelWithTeam then (the execution
# input says backend "ground-truth"), no function has this name, and the state machine role may not invoke it.
LABELING_DISABLED_FUNCTION_NAME = "gtpipe-builtin-labeling-not-deployed"
# Likewise without gtpipe:labelErrors: ChooseLabelErrors never reaches the label_errors states (the execution
# input has no config.label_errors), and nothing may invoke this name.
LABEL_ERRORS_DISABLED_FUNCTION_NAME = "gtpipe-label-errors-not-deployed"


def pipeline_state_machine(
    scope: Construct,
    *,
    name: str,
    config: StackConfig,
    key: kms.IKey,
    data_bucket: s3.IBucket,
    sagemaker_role: iam.IRole,
    stages: StageFunctions,
    labeling_function: lambda_.IFunction | None,
    pytorch: PytorchTraining | None = None,
) -> sfn.StateMachine:
    """The STANDARD state machine ``name``, created in ``scope`` (the pipeline: its logical IDs follow the
    scope) with a role that runs the SageMaker jobs as ``sagemaker_role`` and invokes the stage functions
    (and the builtin labeling function when there is one)."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "StateMachineRole",
        assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
        description="gtpipe pipeline state machine",
    )
    log_group = logs.LogGroup(
        scope,
        "StateMachineLogs",
        retention=logs.RetentionDays.SIX_MONTHS,
        encryption_key=key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    for statement in _sagemaker_statements(stack, sagemaker_role, tuning=config.tuning is not None):
        role.add_to_policy(statement)
    invoked = [fn.function.function_arn for fn in stages.state_machine_tasks]
    if labeling_function is not None:
        # LabelWithTeam (builtin backend): the labeling function opens the job with the task token.
        invoked.append(labeling_function.function_arn)
        labeling_function_arn = labeling_function.function_arn
    else:
        labeling_function_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=LABELING_DISABLED_FUNCTION_NAME,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
    grant_invoke(role, invoked)
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        # The file fitted to the configured instance types: no volume key where SageMaker refuses one
        # (instance storage; issue 14 finding 11, see infra/constructs/definition.py).
        definition_body=sfn.DefinitionBody.from_string(definition_text(config)),
        definition_substitutions={
            "KmsKeyArn": key.key_arn,
            "SageMakerRoleArn": sagemaker_role.role_arn,
            "DataBucketName": data_bucket.bucket_name,
            "SplitFunctionArn": stages.split.function.function_arn,
            "EvaluateFunctionArn": stages.evaluate.function.function_arn,
            "NotifyFunctionArn": stages.notify.function.function_arn,
            "EndpointFunctionArn": stages.endpoint.function.function_arn,
            "ReportFunctionArn": stages.report.function.function_arn,
            "LabelingFunctionArn": labeling_function_arn,
            "RegistryFunctionArn": stages.registry.function.function_arn,
            "LabelErrorsFunctionArn": _label_errors_arn(stack, stages),
            # gtpipe:trainingAlgorithm pytorch: the image that serves the trained model (Train's result).
            **({"PyTorchInferenceImage": pytorch.inference_image} if pytorch else {}),
        },
        role=role,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
    )
    # Creating jobs whose outputs and volumes use the data key requires the caller to be able to use it.
    grant_key(role, key)
    grant_key_for_aws_resources(role, key)
    return machine


def _label_errors_arn(stack: Stack, stages: StageFunctions) -> str:
    """The label_errors function's ARN, or without gtpipe:labelErrors a name nothing may invoke."""
    if stages.label_errors is not None:
        return stages.label_errors.function.function_arn
    return stack.format_arn(
        service="lambda",
        resource="function",
        resource_name=LABEL_ERRORS_DISABLED_FUNCTION_NAME,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def _sagemaker_statements(
    stack: Stack, sagemaker_role: iam.IRole, *, tuning: bool
) -> list[iam.PolicyStatement]:
    """The jobs the machine creates, describes and stops, the role it passes, and the `.sync` integrations'
    tags and managed rules; hyperparameter tuning jobs (and their trials' list) only with ``tuning``."""

    def sagemaker_arn(kind: str) -> str:
        return stack.format_arn(service="sagemaker", resource=kind, resource_name="*")

    job_kinds = {
        "LabelingJob": "labeling-job",
        "TrainingJob": "training-job",
        "TransformJob": "transform-job",
    }
    rules = SYNC_MANAGED_RULES + ([TUNING_MANAGED_RULE] if tuning else [])
    tuning_actions = (
        # Read-only, on the stack's own tuning jobs: the report lists the trials with the same call.
        ["sagemaker:ListTrainingJobsForHyperParameterTuningJob"]
        + [f"sagemaker:{verb}HyperParameterTuningJob" for verb in ("Create", "Describe", "Stop")]
        if tuning
        else []
    )
    return [
        iam.PolicyStatement(
            sid="RunSageMakerJobs",
            actions=[
                f"sagemaker:{verb}{kind}" for kind in job_kinds for verb in ("Create", "Describe", "Stop")
            ]
            + ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:AddTags"]
            + tuning_actions,
            resources=[sagemaker_arn(kind) for kind in job_kinds.values()]
            + [sagemaker_arn("model"), sagemaker_arn("endpoint-config")]
            + ([sagemaker_arn("hyper-parameter-tuning-job")] if tuning else []),
        ),
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
        ),
        iam.PolicyStatement(
            sid="PassSageMakerRole",
            actions=["iam:PassRole"],
            resources=[sagemaker_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        # Every published SageMaker integration policy grants sagemaker:ListTags on "*" (the `.sync` integrations
        # read the job's tags): https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html
        iam.PolicyStatement(sid="SyncIntegrationTags", actions=["sagemaker:ListTags"], resources=["*"]),
        iam.PolicyStatement(
            sid="SyncIntegrationRules",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                stack.format_arn(service="events", resource="rule", resource_name=name) for name in rules
            ],
        ),
    ]
