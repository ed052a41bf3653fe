"""Drift monitoring of the serving endpoint (``gtpipe:monitoring``; README "Monitoring"): predict's request
records, the scheduled monitor function, and one alarm per drift metric to the notification topic.

Created only when ``gtpipe:monitoring.enabled`` is true (with it unset the templates are unchanged).

- predict may put objects under ``monitoring/requests/`` (and gets ``MONITORING_RECORDS=on``).
- The monitor function (``lambdas/monitor``, Pillow from the serving image layer) runs every
  ``windowMinutes`` (EventBridge ``rate``; a dead-letter queue keeps failed firings). It reads the
  ``@serving`` item (GetItem), the serving run's ``metrics.json``, validation manifest, batch-transform
  output and validation images (the images may be under any key a manifest may name: the data bucket or an
  allowed source bucket, GetObject only), the window's request records and the capture records and
  corrections; it lists only ``monitoring/requests/`` and ``captured/``; it writes only
  ``runs/*/drift-baseline.json`` and ``monitoring/windows/``. It puts metrics only to its own namespace:
  PutMetricData has no resource-level permissions, so the grant is on ``*`` conditioned on
  ``cloudwatch:namespace``
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
- The run report (``MONITORING_WINDOWS=on``) may list and read ``monitoring/windows/`` for its Monitoring
  section.
- Alarms (names fixed: ``<prefix>-drift-<what>``): the window's metric (statistic Maximum over one period
  of ``windowMinutes``) above its threshold, ``LiveAccuracy`` below; a window without the metric (too few
  requests or corrections) is not breaching. Each notifies the topic on ALARM and on OK.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct
from gtpipe_shared.capture import CAPTURE_PREFIX
from gtpipe_shared.drift import (
    METRIC_CLASS_PSI,
    METRIC_CONFIDENCE_PSI,
    METRIC_EMBEDDING,
    METRIC_INPUT_SHIFT,
    METRIC_LIVE_ACCURACY,
)
from gtpipe_shared.drift_monitor import REQUESTS_PREFIX, WINDOWS_PREFIX, baseline_key, threshold_map

from infra.config import StackConfig
from infra.constructs.grants import grant_item_read, grant_key, grant_list, manifest_source_objects
from infra.constructs.lambda_function import encrypted_queue
from infra.constructs.project_lambda import project_lambda

# Construct id, alarm name suffix and description of each alarm, by metric.
ALARMS = {
    METRIC_INPUT_SHIFT: ("InputDriftAlarm", "drift-input", "input statistics moved from the baseline"),
    METRIC_EMBEDDING: ("EmbeddingDriftAlarm", "drift-embedding", "input embedding moved from the baseline"),
    METRIC_CLASS_PSI: ("ClassDriftAlarm", "drift-class", "predicted-class histogram drifted (PSI)"),
    METRIC_CONFIDENCE_PSI: ("ConfidenceDriftAlarm", "drift-confidence", "confidence histogram drifted (PSI)"),
    METRIC_LIVE_ACCURACY: ("LiveAccuracyAlarm", "live-accuracy", "accuracy on corrected samples fell"),
}


def metric_namespace(stack_prefix: str) -> str:
    """The CloudWatch namespace of the drift metrics: ``<stack prefix>/Drift``."""
    return f"{stack_prefix}/Drift"


def drift_alarm_names(stack_prefix: str) -> dict[str, str]:
    """Metric name -> the name of its alarm."""
    return {metric: f"{stack_prefix}-{suffix}" for metric, (_, suffix, _) in ALARMS.items()}


class DriftMonitoring(Construct):
    """The monitor function, its schedule and the drift alarms; predict's request records (module
    docstring)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        runs_table: dynamodb.ITable,
        data_bucket: s3.IBucket,
        predict: lambda_.Function,
        report: lambda_.Function,
        image_layer: lambda_.ILayerVersion,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        monitoring = config.monitoring
        namespace = metric_namespace(config.stack_prefix)
        predict.add_environment("MONITORING_RECORDS", "on")
        predict.add_to_role_policy(
            iam.PolicyStatement(
                sid="DriftRequestRecords",
                actions=["s3:PutObject"],
                resources=[data_bucket.arn_for_objects(f"{REQUESTS_PREFIX}*")],
            )
        )
        self.monitor = project_lambda(
            self,
            "monitor",
            "gtpipe: one drift-monitoring window of the serving endpoint",
            {
                "RUNS_TABLE": runs_table.table_name,
                "DATA_BUCKET": data_bucket.bucket_name,
                "MONITORING_CONFIG": monitoring.model_dump_json(),
                "METRIC_NAMESPACE": namespace,
                "STACK_PREFIX": config.stack_prefix,
                "ENDPOINT_NAME": config.endpoint_name,
            },
            key=key,
            config=config,
            # The first window of a model builds its baseline: up to 500 validation images.
            timeout=Duration.minutes(5),
            memory_size=1024,
            layers=[image_layer],
        )
        self._grants(config, key, runs_table, data_bucket, namespace)
        dead_letters = encrypted_queue(self, "RuleDeadLetterQueue", key)
        events.Rule(
            self,
            "Schedule",
            description="gtpipe: drift monitoring window",
            schedule=events.Schedule.rate(Duration.minutes(monitoring.window_minutes)),
            targets=[
                targets.LambdaFunction(
                    self.monitor.function,
                    dead_letter_queue=dead_letters,
                    max_event_age=Duration.minutes(monitoring.window_minutes),
                    retry_attempts=2,
                )
            ],
        )
        self.alarms = self._alarms(config, namespace, topic)
        self._report_section(report, data_bucket)

    @staticmethod
    def _report_section(report: lambda_.Function, data_bucket: s3.IBucket) -> None:
        """The run report's Monitoring section reads the latest window summaries (lambdas/report/monitoring.py)."""
        report.add_environment("MONITORING_WINDOWS", "on")
        assert report.role is not None  # the project's functions always have their own role
        grant_list(report.role, data_bucket, [WINDOWS_PREFIX])
        report.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadDriftWindows",
                actions=["s3:GetObject"],
                resources=[data_bucket.arn_for_objects(f"{WINDOWS_PREFIX}*")],
            )
        )

    def _grants(
        self,
        config: StackConfig,
        key: kms.IKey,
        runs_table: dynamodb.ITable,
        data_bucket: s3.IBucket,
        namespace: str,
    ) -> None:
        role = self.monitor.role
        grant_item_read(role, runs_table)
        grant_key(role, key, encrypt=True)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadValidationImagesAndRecords",
                actions=["s3:GetObject"],
                resources=manifest_source_objects(data_bucket, config.allowed_source_buckets),
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteBaselinesAndWindows",
                actions=["s3:PutObject"],
                resources=[
                    data_bucket.arn_for_objects(baseline_key("*")),
                    data_bucket.arn_for_objects(f"{WINDOWS_PREFIX}*"),
                ],
            )
        )
        grant_list(role, data_bucket, [REQUESTS_PREFIX, CAPTURE_PREFIX])
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutDriftMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            )
        )

    def _alarms(self, config: StackConfig, namespace: str, topic: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
        notify = actions.SnsAction(topic)
        thresholds = threshold_map(config.monitoring)
        names = drift_alarm_names(config.stack_prefix)
        found = {}
        for metric_name, (construct_id, _, what) in ALARMS.items():
            below = metric_name == METRIC_LIVE_ACCURACY
            alarm = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=names[metric_name],
                alarm_description=f"gtpipe: {what} (README Monitoring)",
                metric=cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=metric_name,
                    dimensions_map={"Stack": config.stack_prefix, "Endpoint": config.endpoint_name},
                    statistic="Maximum" if not below else "Minimum",
                    period=Duration.minutes(config.monitoring.window_minutes),
                ),
                threshold=thresholds[metric_name],
                evaluation_periods=1,
                comparison_operator=(
                    cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
                    if below
                    else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
                ),
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)
            found[metric_name] = alarm
        return found
