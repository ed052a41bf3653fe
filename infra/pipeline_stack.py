"""The stateless stack: pipeline, serving, notifications, workforce and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.async_inference import AsyncInference
from infra.constructs.drift_monitoring import DriftMonitoring
from infra.constructs.harvest import Harvester
from infra.constructs.idle import IdleParking
from infra.constructs.labeling_service import LabelingService
from infra.constructs.ledger import Ledger
from infra.constructs.monitoring import Monitoring, endpoint_alarm_names
from infra.constructs.notifications import Notifications
from infra.constructs.pipeline import Pipeline, state_machine_arn
from infra.constructs.serving import Serving
from infra.constructs.storage import INCOMING_PREFIX, Storage
from infra.constructs.workforce import PrivateWorkteam


class PipelineStack(Stack):
    """Composes the stateless constructs over the stateful stack's storage and ledger."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        ledger: Ledger,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        notifications = Notifications(
            self, "Notifications", key=storage.key, emails=config.notification_emails
        )
        workteam_arn = self._workteam_arn(config)
        labeling: LabelingService | None = None
        if config.labeling_backend == "builtin":
            # Before the pipeline: the state machine's definition names the labeling function, which answers
            # the machine's task tokens by its ARN (a string, so no dependency cycle).
            labeling = LabelingService(
                self,
                "Labeling",
                config=config,
                key=storage.key,
                data_bucket=storage.data_bucket,
                runs_table=ledger.runs_table,
                labeling_table=ledger.labeling_table,
                state_machine_arn=state_machine_arn(self, config),
            )
        alarm_names = endpoint_alarm_names(config.stack_prefix)
        pipeline = Pipeline(
            self,
            "Pipeline",
            config=config,
            key=storage.key,
            data_bucket=storage.data_bucket,
            runs_table=ledger.runs_table,
            task_token_table=ledger.task_token_table,
            idempotency_table=ledger.idempotency_table,
            topic=notifications.topic,
            workteam_arn=workteam_arn,
            endpoint_alarm_names=alarm_names,
            labeling_function=labeling.labeling.function if labeling else None,
        )
        serving = Serving(
            self,
            "Serving",
            config=config,
            key=storage.key,
            runs_table=ledger.runs_table,
            data_bucket=storage.data_bucket,
            endpoint_arn=pipeline.endpoint_arn,
            endpoint_name=pipeline.endpoint_name,
        )
        Monitoring(
            self,
            "Monitoring",
            stack_prefix=config.stack_prefix,
            state_machine=pipeline.state_machine,
            api=serving.api,
            endpoint_name=pipeline.endpoint_name,
            topic=notifications.topic,
        )
        self._optional_features(config, storage, ledger, notifications, pipeline, serving)
        self._outputs(storage, ledger, notifications, pipeline, serving, labeling)

    def _optional_features(
        self,
        config: StackConfig,
        storage: Storage,
        ledger: Ledger,
        notifications: Notifications,
        pipeline: Pipeline,
        serving: Serving,
    ) -> None:
        """The constructs that exist only when their setting is on (each off by default): the feedback
        harvester, idle parking, the asynchronous endpoint and drift monitoring."""
        if config.harvest.enabled:
            Harvester(
                self,
                "Harvest",
                config=config,
                key=storage.key,
                data_bucket=storage.data_bucket,
                image_layer=serving.image_layer,
            )
        if config.endpoint.idle_minutes is not None:
            IdleParking(
                self,
                "Idle",
                config=config,
                key=storage.key,
                runs_table=ledger.runs_table,
                task_token_table=ledger.task_token_table,
                endpoint_arn=pipeline.endpoint_arn,
                predict=serving.predict,
            )
        if config.async_inference.enabled:
            AsyncInference(
                self,
                "AsyncInference",
                config=config,
                key=storage.key,
                data_bucket=storage.data_bucket,
                pipeline=pipeline,
                serving=serving,
            )
        if config.monitoring.enabled:
            DriftMonitoring(
                self,
                "DriftMonitoring",
                config=config,
                key=storage.key,
                runs_table=ledger.runs_table,
                data_bucket=storage.data_bucket,
                predict=serving.predict.function,
                report=pipeline.report.function,
                image_layer=serving.image_layer,
                topic=notifications.topic,
            )

    def _workteam_arn(self, config: StackConfig) -> str | None:
        """The Ground Truth workteam: one this stack creates, or the configured one; None for the builtin
        backend."""
        if config.labeling_backend != "ground-truth":
            return None
        if config.workforce.type == "create-private":
            return PrivateWorkteam(
                self,
                "Workforce",
                worker_emails=config.workforce.worker_emails,
                existing_workforce=config.workforce.existing_workforce,
            ).workteam_arn
        return config.workforce.workteam_arn

    def _outputs(
        self,
        storage: Storage,
        ledger: Ledger,
        notifications: Notifications,
        pipeline: Pipeline,
        serving: Serving,
        labeling: LabelingService | None,
    ) -> None:
        """The stack's outputs, each exported as ``<stack name>-<output name>``."""
        outputs = {
            "DataBucketName": storage.data_bucket.bucket_name,
            "IncomingPrefix": INCOMING_PREFIX,
            "StateMachineArn": pipeline.state_machine.state_machine_arn,
            "ApiUrl": serving.api_url,
            "RunsTableName": ledger.runs_table.table_name,
            "NotificationTopicArn": notifications.topic.topic_arn,
            "EndpointName": pipeline.endpoint_name,
        }
        if labeling:
            outputs.update(
                {
                    "LabelingUrl": labeling.url,
                    "LabelingUserPoolId": labeling.user_pool.user_pool_id,
                    "LabelingUserPoolClientId": labeling.client.user_pool_client_id,
                }
            )
        for name, value in outputs.items():
            CfnOutput(self, name, value=value, export_name=f"{self.stack_name}-{name}")
