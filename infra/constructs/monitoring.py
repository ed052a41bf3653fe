"""Alarms and a dashboard for the pipeline, the API and the serving endpoint."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.execution_config import ENDPOINT_VARIANT_NAME


def endpoint_alarm_names(stack_prefix: str) -> list[str]:
    """Names of the alarms that roll back a blue/green endpoint update; fixed so the pipeline can pass them."""
    return [f"{stack_prefix}-endpoint-invocation-errors", f"{stack_prefix}-endpoint-5xx"]


EndpointMetric = Callable[[str], cloudwatch.Metric]


class Monitoring(Construct):
    """Failed executions, API 5xx and endpoint errors alarm to the notification topic; one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_prefix: str,
        state_machine: sfn.StateMachine,
        api: apigateway.RestApi,
        endpoint_name: str,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = actions.SnsAction(topic)
        failed = state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum")
        self.failed_executions = self._failed_executions(state_machine, failed)
        api_5xx = api.metric_server_error(period=Duration.minutes(5), statistic="Sum")
        self.api_errors = cloudwatch.Alarm(
            self,
            "Api5xx",
            alarm_description="gtpipe: the prediction API answered 5xx",
            metric=api_5xx,
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        def endpoint_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                statistic="Sum",
                period=Duration.minutes(1),
                dimensions_map={"EndpointName": endpoint_name, "VariantName": ENDPOINT_VARIANT_NAME},
            )

        self.endpoint_errors, self.endpoint_5xx = self._endpoint_alarms(stack_prefix, endpoint_metric)
        alarms = [self.failed_executions, self.api_errors, self.endpoint_errors, self.endpoint_5xx]
        for alarm in alarms:
            alarm.add_alarm_action(notify)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{stack_prefix}-pipeline")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Pipeline runs",
                left=[state_machine.metric_started(), state_machine.metric_succeeded(), failed],
            ),
            cloudwatch.GraphWidget(
                title="Prediction API",
                left=[api.metric_count(), api_5xx, api.metric_client_error()],
                right=[api.metric_latency()],
            ),
            cloudwatch.GraphWidget(
                title="Endpoint",
                left=[
                    endpoint_metric(name)
                    for name in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
                ],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms),
        )

    def _failed_executions(
        self, state_machine: sfn.StateMachine, failed: cloudwatch.Metric
    ) -> cloudwatch.Alarm:
        """A run failed or timed out within five minutes."""
        timed_out = state_machine.metric_timed_out(period=Duration.minutes(5), statistic="Sum")
        return cloudwatch.Alarm(
            self,
            "FailedExecutions",
            alarm_description="gtpipe: a pipeline run failed or timed out",
            metric=cloudwatch.MathExpression(
                expression="failed + timedOut",
                using_metrics={"failed": failed, "timedOut": timed_out},
                period=Duration.minutes(5),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _endpoint_alarms(
        self, stack_prefix: str, endpoint_metric: EndpointMetric
    ) -> tuple[cloudwatch.Alarm, cloudwatch.Alarm]:
        """The two alarms (named by `endpoint_alarm_names`) that roll back a blue/green endpoint update."""
        invocation_alarm, server_error_alarm = endpoint_alarm_names(stack_prefix)

        def rollback_alarm(
            construct_id: str, name: str, what: str, metric_name: str, threshold: int
        ) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=name,
                alarm_description=f"gtpipe: endpoint {what}; rolls back a blue/green update",
                metric=endpoint_metric(metric_name),
                threshold=threshold,
                evaluation_periods=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        return (
            rollback_alarm(
                "EndpointInvocationErrors", invocation_alarm, "model errors", "InvocationModelErrors", 10
            ),
            rollback_alarm("Endpoint5xx", server_error_alarm, "5xx", "Invocation5XXErrors", 1),
        )
