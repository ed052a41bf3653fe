"""Idle endpoints (``gtpipe:endpoint.idleMinutes``, ``gtpipe_shared.idle``): a scheduled parker function and
predict's permission to wake the endpoint it parked. Built only when the setting is on.

Grants, each the least its caller needs:
- parker: DescribeEndpoint and DeleteEndpoint on the stack's endpoint, DescribeEndpointConfig on its configs
  (``endpoint-config/*``: named after run ids; the instance type prices the parked hours), GetItem/UpdateItem on the
  runs table (``@serving``, ``@endpoint-usage``), GetItem/PutItem/DeleteItem on the task-token table (the
  endpoint lock), the endpoint function's auto scaling statements (the endpoint's scalable targets are
  deregistered before DeleteEndpoint and registered again after a wake), and ``cloudwatch:GetMetricData``, which has no resource-level permissions: it is granted on
  ``*`` (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html; the
  stack's ``Resource::*`` cdk-nag suppression in infra/nag.py names it).
- predict: DescribeEndpoint and CreateEndpoint on the stack's endpoint (CreateEndpoint authorizes on the
  endpoint: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html) and
  UpdateItem on the runs table (the conditional wake claim).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.grants import grant_key
from infra.constructs.lambda_function import PythonLambda, encrypted_queue
from infra.constructs.pipeline_grants import _autoscaling_statements as autoscaling_statements
from infra.constructs.project_lambda import project_lambda

# How often the parker looks (AWS: every 5 minutes; the local cloud fires rate() rules faster, local/schedules.py).
IDLE_CHECK_SCHEDULE = "rate(5 minutes)"


class IdleParking(Construct):
    """The ``idle`` function on a schedule, and predict's wake permissions (module docstring)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        runs_table: dynamodb.ITable,
        task_token_table: dynamodb.ITable,
        endpoint_arn: str,
        predict: PythonLambda,
    ) -> None:
        super().__init__(scope, construct_id)
        minutes = config.endpoint.idle_minutes
        if minutes is None:
            raise ValueError("IdleParking needs gtpipe:endpoint.idleMinutes")
        self.parker = project_lambda(
            self,
            "idle",
            "gtpipe: park the serving endpoint after idleMinutes without invocations",
            {
                "RUNS_TABLE": runs_table.table_name,
                "TASK_TOKEN_TABLE": task_token_table.table_name,
                "IDLE_MINUTES": str(minutes),
            },
            key=key,
            config=config,
            timeout=Duration.seconds(60),
        )
        stack = Stack.of(self)
        # Endpoint config names derive from run ids (``<run>-epc-<n>``), known only at run time.
        config_arn = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
        role = self.parker.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ParkEndpoint",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"],
                resources=[endpoint_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PriceEndpoint", actions=["sagemaker:DescribeEndpointConfig"], resources=[config_arn]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ServingRecord",
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[runs_table.table_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EndpointLock",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
                resources=[task_token_table.table_arn],
            )
        )
        # Save, deregister (DeleteEndpoint needs it) and, after a wake, restore the endpoint's auto scaling: the
        # endpoint function's statements, for the same calls (lambdas/idle/scaling.py).
        for statement in autoscaling_statements(stack, endpoint_arn):
            role.add_to_principal_policy(statement)
        grant_key(role, key, encrypt=True)  # both tables are encrypted with the stack's key
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvocationMetrics", actions=["cloudwatch:GetMetricData"], resources=["*"]
            )
        )
        self._schedule(key)
        self._wake_grants(predict, runs_table, endpoint_arn)

    def _schedule(self, key: kms.IKey) -> None:
        self.rule = events.Rule(
            self,
            "IdleCheckRule",
            description="gtpipe: park the serving endpoint when it has been idle",
            schedule=events.Schedule.expression(IDLE_CHECK_SCHEDULE),
            targets=[
                targets.LambdaFunction(
                    self.parker.function,
                    dead_letter_queue=encrypted_queue(self, "IdleCheckDeadLetterQueue", key),
                    # A check older than the next one is worthless: the next one does the same work.
                    max_event_age=Duration.minutes(5),
                    retry_attempts=2,
                )
            ],
        )

    @staticmethod
    def _wake_grants(predict: PythonLambda, runs_table: dynamodb.ITable, endpoint_arn: str) -> None:
        predict.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WakeParkedEndpoint",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:CreateEndpoint"],
                resources=[endpoint_arn],
            )
        )
        predict.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WakeClaim", actions=["dynamodb:UpdateItem"], resources=[runs_table.table_arn]
            )
        )
