"""The harvester (``gtpipe:harvest``, ``lambdas/harvest``): a scheduled function that picks captured
predictions to label again and drops ``incoming/feedback-<day>.manifest`` (README "Model lifecycle:
harvest, relabel, retrain"). Created only when ``gtpipe:harvest.enabled``: each harvest starts a labeling
run, which costs money.

Grants, least privilege: list and get under ``captured/`` (records, images, corrections), put the copied
images under ``images/feedback/``, the summary and the window state under ``harvest/``, the manifest under
``incoming/feedback-`` only; get ``harvest/`` (its state) and ``incoming/feedback-`` (head: was today's
manifest dropped); the bucket's KMS key to decrypt and encrypt. It reads images with Pillow, from the
predict function's image layer (one layer build, ``make layers``).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from gtpipe_shared.capture import CAPTURE_PREFIX
from gtpipe_shared.harvest import IMAGE_PREFIX, MANIFEST_PREFIX, SUMMARY_PREFIX

from infra.config import StackConfig
from infra.constructs.grants import grant_key, grant_list, grant_objects
from infra.constructs.lambda_function import encrypted_queue
from infra.constructs.project_lambda import project_lambda


class Harvester(Construct):
    """The harvest function and its schedule rule (with a dead-letter queue for failed deliveries)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        data_bucket: s3.IBucket,
        image_layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = project_lambda(
            self,
            "harvest",
            "gtpipe: picks captured predictions to relabel and drops incoming/feedback-<day>.manifest",
            {
                "DATA_BUCKET": data_bucket.bucket_name,
                # warmStart is the split's setting (its WARM_START), not the harvester's.
                "HARVEST_CONFIG": config.harvest.model_dump_json(exclude={"warm_start"}),
                "CAPTURE_RETENTION_DAYS": str(config.capture.retention_days),
            },
            key=key,
            config=config,
            # Reads one record per capture of the window and the images it may pick.
            timeout=Duration.minutes(15),
            memory_size=1024,
            layers=[image_layer],
        )
        role = self.function.role
        grant_key(role, key, encrypt=True)
        grant_list(role, data_bucket, [CAPTURE_PREFIX])
        grant_objects(
            role,
            data_bucket,
            read=[CAPTURE_PREFIX, SUMMARY_PREFIX, MANIFEST_PREFIX],
            write=[IMAGE_PREFIX, SUMMARY_PREFIX, MANIFEST_PREFIX],
        )
        self.dead_letter_queue = encrypted_queue(self, "RuleDeadLetterQueue", key)
        self.rule = events.Rule(
            self,
            "ScheduleRule",
            description="gtpipe: harvest captured predictions for relabeling",
            schedule=events.Schedule.expression(config.harvest.schedule),
            targets=[
                targets.LambdaFunction(
                    self.function.function,
                    dead_letter_queue=self.dead_letter_queue,
                    # The next scheduled harvest does the same work; a stale one is not worth retrying long.
                    max_event_age=Duration.hours(1),
                    retry_attempts=2,
                )
            ],
        )
