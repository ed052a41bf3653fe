"""The EventBridge rules that drive the pipeline: dropped manifests, SageMaker job, endpoint and model
package state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from gtpipe_shared.model_registry import MODEL_PACKAGE_STATE_CHANGE

from infra.constructs.lambda_function import PythonLambda, encrypted_queue
from infra.constructs.storage import INCOMING_PREFIX, MANIFEST_SUFFIXES

if TYPE_CHECKING:
    from infra.constructs.pipeline import Pipeline

SAGEMAKER_JOB_EVENTS = [
    "SageMaker Training Job State Change",
    "SageMaker Transform Job State Change",
    "SageMaker Ground Truth Labeling Job State Change",
    "SageMaker Endpoint State Change",
]


@dataclass(frozen=True)
class PipelineRules:
    """The four rules and the queue that keeps the events their targets could not take."""

    dead_letter_queue: sqs.Queue
    manifest_rule: events.Rule
    job_status_rule: events.Rule
    endpoint_rule: events.Rule
    model_package_rule: events.Rule


def pipeline_rules(pipeline: Pipeline) -> PipelineRules:
    """Creates the rules and their dead-letter queue in ``pipeline``'s scope (their logical IDs follow the
    scope; its functions exist); every target retries for two hours before the event goes to the queue."""
    dlq = encrypted_queue(pipeline, "RuleDeadLetterQueue", pipeline.key)

    def target(fn: PythonLambda) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            fn.function, dead_letter_queue=dlq, max_event_age=Duration.hours(2), retry_attempts=8
        )

    manifest_rule = events.Rule(
        pipeline,
        "ManifestDroppedRule",
        description="gtpipe: a manifest dropped under incoming/ starts a run",
        event_pattern=events.EventPattern(
            source=["aws.s3"],
            detail_type=["Object Created"],
            detail={
                "bucket": {"name": [pipeline.data_bucket.bucket_name]},
                "object": {
                    "key": [{"wildcard": f"{INCOMING_PREFIX}*{suffix}"} for suffix in MANIFEST_SUFFIXES]
                },
            },
        ),
        targets=[target(pipeline.start_run)],
    )
    job_status_rule = events.Rule(
        pipeline,
        "SageMakerJobStateRule",
        description="gtpipe: SageMaker job and endpoint state changes into the runs ledger",
        event_pattern=events.EventPattern(source=["aws.sagemaker"], detail_type=SAGEMAKER_JOB_EVENTS),
        targets=[target(pipeline.job_status)],
    )
    endpoint_rule = events.Rule(
        pipeline,
        "EndpointStateRule",
        description="gtpipe: endpoint state changes return the waiting deployment's task token",
        event_pattern=events.EventPattern(
            source=["aws.sagemaker"],
            detail_type=["SageMaker Endpoint State Change"],
            detail={"EndpointName": [pipeline.endpoint_name]},
        ),
        targets=[target(pipeline.endpoint)],
    )
    # The event's detail is DescribeModelPackage's (ModelPackageGroupName ...):
    # https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package
    model_package_rule = events.Rule(
        pipeline,
        "ModelPackageStateRule",
        description="gtpipe: approval decisions on this stack's model packages answer the waiting run",
        event_pattern=events.EventPattern(
            source=["aws.sagemaker"],
            detail_type=[MODEL_PACKAGE_STATE_CHANGE],
            detail={"ModelPackageGroupName": [{"prefix": pipeline.model_package_group_prefix}]},
        ),
        targets=[target(pipeline.registry)],
    )
    return PipelineRules(dlq, manifest_rule, job_status_rule, endpoint_rule, model_package_rule)
