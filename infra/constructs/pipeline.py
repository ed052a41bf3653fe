"""The pipeline: composes the SageMaker role, the stage functions, the state machine, start_run, the grants
and the EventBridge rules, each built by its own module, in this one construct's scope."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.config_limits import label_categories_json
from infra.constructs.execution_config import execution_config
from infra.constructs.lambda_function import PythonLambda
from infra.constructs.pipeline_grants import grant_pipeline_functions
from infra.constructs.pipeline_rules import pipeline_rules
from infra.constructs.project_lambda import project_lambda
from infra.constructs.pytorch_algorithm import PytorchTraining, pytorch_training
from infra.constructs.regional import RegionalFacts
from infra.constructs.sagemaker_role import sagemaker_execution_role
from infra.constructs.stage_functions import stage_functions
from infra.constructs.state_machine import pipeline_state_machine

# The label category configuration file inside start_run's code (lambdas/start_run/handler.py reads it).
LABEL_CATEGORIES_BUNDLE = "start_run/label-categories.json"


def state_machine_name(config: StackConfig) -> str:
    """The pipeline state machine's fixed name (constructs that answer its task tokens need its ARN)."""
    return f"{config.stack_prefix}-pipeline"


def state_machine_arn(stack: Stack, config: StackConfig) -> str:
    """The pipeline state machine's ARN, built from its name: no reference, so no dependency cycle."""
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(config),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Pipeline(Construct):
    """Owns everything from the dropped manifest to the published endpoint, and their grants.

    The helpers create every resource in this construct's scope, never in a nested construct: the logical
    IDs (and so the deployed resources) are those the stack has always had.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
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
        self.key = key
        self.data_bucket = data_bucket
        regional = RegionalFacts(self, "Regional", task_type=config.task_type)
        pytorch = pytorch_training(self, config)
        self.endpoint_name = config.endpoint_name
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name
        )
        self.sagemaker_role = sagemaker_execution_role(
            self, config=config, key=key, data_bucket=data_bucket, regional=regional, pytorch=pytorch
        )
        self.state_machine_name = state_machine_name(config)
        self.state_machine_arn = state_machine_arn(stack, config)
        stages = stage_functions(
            self,
            config=config,
            key=key,
            data_bucket=data_bucket,
            runs_table=runs_table,
            task_token_table=task_token_table,
            topic=topic,
            endpoint_alarm_names=endpoint_alarm_names,
        )
        self.split, self.evaluate, self.notify = stages.split, stages.evaluate, stages.notify
        self.endpoint, self.report, self.job_status = stages.endpoint, stages.report, stages.job_status
        self.report_layer = stages.report_layer
        self.registry = stages.registry
        self.label_errors = stages.label_errors  # gtpipe:labelErrors only
        self.state_machine: sfn.StateMachine = pipeline_state_machine(
            self,
            name=self.state_machine_name,
            config=config,
            key=key,
            data_bucket=data_bucket,
            sagemaker_role=self.sagemaker_role,
            stages=stages,
            labeling_function=labeling_function,
            pytorch=pytorch,
        )
        self.start_run = self._start_run(
            config,
            regional,
            pytorch,
            workteam_arn,
            runs_table=runs_table,
            idempotency_table=idempotency_table,
            topic=topic,
        )
        self.model_package_group_prefix = config.model_package_group_prefix
        self._grants_and_rules(
            config,
            runs_table=runs_table,
            task_token_table=task_token_table,
            idempotency_table=idempotency_table,
            topic=topic,
            endpoint_alarm_names=endpoint_alarm_names,
        )

    def _grants_and_rules(
        self,
        config: StackConfig,
        *,
        runs_table: dynamodb.ITable,
        task_token_table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        topic: sns.ITopic,
        endpoint_alarm_names: list[str],
    ) -> None:
        """The pipeline functions' grants, then the EventBridge rules that start and follow the pipeline."""
        grant_pipeline_functions(
            self,
            runs_table=runs_table,
            task_token_table=task_token_table,
            idempotency_table=idempotency_table,
            topic=topic,
            endpoint_alarm_names=endpoint_alarm_names,
            golden_manifest=config.champion.golden_manifest,
            tuning=config.tuning is not None,
        )
        rules = pipeline_rules(self)
        self.rule_dead_letter_queue = rules.dead_letter_queue
        self.manifest_rule, self.job_status_rule = rules.manifest_rule, rules.job_status_rule
        self.endpoint_rule = rules.endpoint_rule
        self.model_package_rule = rules.model_package_rule

    def _start_run(
        self,
        config: StackConfig,
        regional: RegionalFacts,
        pytorch: PytorchTraining | None,
        workteam_arn: str | None,
        *,
        runs_table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        topic: sns.ITopic,
    ) -> PythonLambda:
        """start_run, created after the state machine it starts, with the execution configuration."""
        pipeline_config = execution_config(
            config,
            regional,
            data_bucket_name=self.data_bucket.bucket_name,
            endpoint_name=self.endpoint_name,
            workteam_arn=workteam_arn,
            pytorch=pytorch,
        )
        return project_lambda(
            self,
            "start_run",
            "gtpipe: validates a dropped manifest and starts exactly one run for it",
            {
                "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "RUNS_TABLE": runs_table.table_name,
                "IDEMPOTENCY_TABLE": idempotency_table.table_name,
                "TOPIC_ARN": topic.topic_arn,
                "DATA_BUCKET": self.data_bucket.bucket_name,
                "PIPELINE_CONFIG": Stack.of(self).to_json_string(pipeline_config),
            },
            key=self.key,
            config=config,
            timeout=Duration.minutes(5),
            memory_size=1024,
            dead_letter_queue=True,
            # The class list grows with the number of classes, and Lambda allows 4 KB of environment in total
            # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): it travels in the
            # function's code as a label category configuration file (issue 14, finding 4).
            bundled_files={LABEL_CATEGORIES_BUNDLE: label_categories_json(config.label_categories)},
        )
