"""The harness that executes state_machines/pipeline.asl.json in moto's Step Functions interpreter.

The run starts the way it does on AWS: a manifest lands in the bucket and the real start_run handler
validates it and starts the execution. The ledger is written by the real notify handler. SageMaker jobs and
the split/evaluate/endpoint/report Lambdas are test doubles, through the extension points in local/sfn.
Test modules import the ``pipeline`` and ``pipeline_config`` fixtures from here (re-exporting them).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.config import StackConfig
from infra.constructs.definition import definition_text
from local.sagemaker import LocalSageMaker, ScriptedJobRunner
from local.sfn import LambdaRegistry, install
from tests.infra.conftest import project_context
from tests.lambdas.conftest import create_runs_table
from tests.pipeline.label_errors_support import label_errors_double
from tests.pipeline.registry_support import (
    GROUP_PREFIX,
    package_events_to_registry,
    point_registry_at,
    registry_function,
)
from tests.pipeline.sample_config import SAMPLE_BUCKET, synthesized_pipeline_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
RUNS_TABLE = "gtpipe-runs"
FUNCTIONS = {
    name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gtpipe-{name}"
    for name in ("split", "evaluate", "notify", "endpoint", "report", "labeling", "registry", "label_errors")
}
SUBSTITUTIONS = {
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
    "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/gtpipe-sagemaker",
    "DataBucketName": SAMPLE_BUCKET,
    "SplitFunctionArn": FUNCTIONS["split"],
    "EvaluateFunctionArn": FUNCTIONS["evaluate"],
    "NotifyFunctionArn": FUNCTIONS["notify"],
    "EndpointFunctionArn": FUNCTIONS["endpoint"],
    "ReportFunctionArn": FUNCTIONS["report"],
    "LabelingFunctionArn": FUNCTIONS["labeling"],
    "RegistryFunctionArn": FUNCTIONS["registry"],
    "LabelErrorsFunctionArn": FUNCTIONS["label_errors"],
}
HAPPY_PATH = [
    "ChooseLabeling",
    "Label",
    "RecordLabeling",
    "UseLabelingOutput",
    "Split",
    "ChooseTraining",
    "Train",
    "ChooseLabelErrors",
    "CreateModel",
    "Transform",
    "Evaluate",
    "QualityGate",
    "FindChampion",
    "HasChampion",
    "RegisterModel",
    "ChooseApproval",
    "CreateEndpointConfig",
    "DeployEndpoint",
    "VerifyEndpoint",
    "Publish",
    "ReleaseEndpoint",
    "ChooseSuccessReport",
    "ReportOnSuccess",
    "RecordSuccess",
    "Deployed",
]
LABEL_COUNTERS = {
    "TotalLabeled": 12,
    "HumanLabeled": 12,
    "MachineLabeled": 0,
    "Unlabeled": 0,
    "FailedNonRetryableError": 0,
}
LambdaDouble = Callable[[dict[str, Any], Any], Any]


def definition() -> str:
    # As synth deploys it: fitted to the project's instance types (SageMaker refuses a volume key on a type
    # with hardware-encrypted instance storage, and so does the local SageMaker).
    text = definition_text(StackConfig.from_context(project_context().get))
    return re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTIONS[m.group(1)], text)


@dataclass
class Doubles:
    """What the test double Lambdas answer; tests change these before dropping a manifest."""

    accuracy: float = 0.93
    # What the serving model scores in CompareChampion (None: the same as the challenger, so it passes)
    champion_accuracy: float | None = None
    endpoint_outcome: tuple[str, str] | None = None  # (error, cause) to fail the deployment
    endpoint_event_lost: bool = False  # deploy starts the change but no event ever answers the token
    endpoint_created: bool = False  # deploy creates the endpoint in moto (CreateEndpoint) before answering
    verify_error: str | None = None  # verify raises PermissionError with this message
    report_error: str | None = None  # the report Lambda raises with this message
    labeling_failure: tuple[str, str] | None = None  # (error, cause) the builtin labeling job ends with
    # (ModelApprovalStatus, ApprovalDescription) a reviewer sets once a run waits for approval; None: nobody
    approval_decision: tuple[str, str] | None = None
    # The split's dataset answer: {"cumulative": True, ...} makes the run a feedback run that may warm-start
    dataset: dict[str, Any] = field(default_factory=lambda: {"cumulative": False})
    label_errors_flagged: int = 2  # objects label_errors' flag step finds (label_errors_support.py)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def called(self, name: str) -> list[dict[str, Any]]:
        return [event for called, event in self.calls if called == name]


@dataclass
class Pipeline:
    s3: Any
    sfn: Any
    dynamodb: Any
    sqs: Any
    queue_url: str
    state_machine_arn: str
    sagemaker: LocalSageMaker
    runner: ScriptedJobRunner
    doubles: Doubles

    def drop(self, key: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
        """Upload a manifest and deliver its S3 Object Created event to the real start_run handler."""
        from start_run.handler import lambda_handler

        body = "\n".join(json.dumps(line) for line in lines).encode()
        put = self.s3.put_object(Bucket=SAMPLE_BUCKET, Key=key, Body=body)
        event = json.loads((ROOT / "tests" / "events" / "s3_object_created_manifest.json").read_text())
        event["detail"]["object"].update(
            {"key": key, "size": len(body), "etag": put["ETag"].strip('"'), "version-id": put["VersionId"]}
        )
        return dict(lambda_handler(event, LambdaContextStub()))

    def wait(self, run_id: str, timeout: float = 30.0) -> tuple[dict[str, Any], list[str]]:
        arn = f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
        deadline = time.monotonic() + timeout
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution still RUNNING"
            time.sleep(0.02)
        history = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [
            e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
        ]
        return described, entered

    def ledger(self, run_id: str) -> dict[str, Any]:
        return dict(self.dynamodb.Table(RUNS_TABLE).get_item(Key={"run_id": run_id}).get("Item", {}))

    def configure(self, **labeling: Any) -> None:
        """Change ``config.labeling`` of PIPELINE_CONFIG for the next drops (the fixture restores it)."""
        config = json.loads(os.environ["PIPELINE_CONFIG"])
        config["labeling"].update(labeling)
        os.environ["PIPELINE_CONFIG"] = json.dumps(config)

    def configure_registry(self, **registry: Any) -> None:
        """Change ``config.registry`` of PIPELINE_CONFIG (``approval``, ``timeout_seconds``) for the next drops."""
        config = json.loads(os.environ["PIPELINE_CONFIG"])
        config["registry"].update(registry)
        os.environ["PIPELINE_CONFIG"] = json.dumps(config)

    def configure_builtin(self) -> None:
        """Switch to the builtin backend with the job settings synth adds for it (and only for it:
        ``Pipeline._builtin_labeling_settings``), as a deployment with ``labeling.backend: builtin`` has."""
        self.configure(backend="builtin", instructions="", min_labeled_share=0.9, lease_seconds=300)

    def notifications(self) -> list[dict[str, Any]]:
        messages = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in batch:
                messages.append(json.loads(json.loads(message["Body"])["Message"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages


class LambdaContextStub:
    function_name = "gtpipe-start-run"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gtpipe-start-run"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def input_manifest(count: int = 12) -> list[dict[str, Any]]:
    return [{"source-ref": f"s3://{SAMPLE_BUCKET}/images/digit-{i}.png"} for i in range(count)]


def augmented_manifest(count: int = 12) -> list[dict[str, Any]]:
    names = ["zero", "one", "two"]
    return [
        {
            "source-ref": f"s3://{SAMPLE_BUCKET}/images/digit-{i}.png",
            "category": i % 3,
            "category-metadata": {
                "class-name": names[i % 3],
                "confidence": 1.0,
                "human-annotated": "yes",
                "creation-date": "2026-11-23T10:00:00",
                "job-name": "labeling-job/prior",
                "type": "groundtruth/image-classification",
            },
        }
        for i in range(count)
    ]


def create_endpoint(name: str, config_name: str, instance_type: str = "ml.m5.large") -> None:
    """CreateEndpoint in moto (with the model and endpoint config it needs), as the deploy action does."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    model = f"{config_name}-model"
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
        PrimaryContainer={
            "Image": "image-classification:1",
            "ModelDataUrl": f"s3://{SAMPLE_BUCKET}/m.tar.gz",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": instance_type,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config_name)


def split_double(doubles: Doubles) -> LambdaDouble:
    """Stands in for lambdas/split: the manifest URIs and hyperparameters the training step reads, and the
    real warm-start decision and ledger record (split/warm_start.py) for ``doubles.dataset``."""

    def split(event: dict[str, Any], context: Any) -> dict[str, Any]:
        from split.warm_start import decide_and_record

        doubles.calls.append(("split", event))
        run, bucket = event["run_id"], event["data_bucket"]
        hyperparameters = {
            **event["hyperparameters"],
            "num_classes": str(len(event["class_names"])),
            "num_training_samples": "9",
        }
        # As the real split: every run's manifests become the label set's dataset's next version (unless the
        # test's dataset answer names one).
        folder = f"s3://{bucket}/datasets/lf1-harness/"
        version = {"train_uri": f"{folder}train.manifest", "validation_uri": f"{folder}validation.manifest"}
        dataset = {"version": version, **doubles.dataset}
        warm_start = decide_and_record(
            run_id=run,
            dataset=dataset,
            task_type=event["task_type"],
            class_names=event["class_names"],
            training_image=event.get("training_image"),
            hyperparameters=hyperparameters,
        )
        return {
            "train_uri": f"s3://{bucket}/splits/{run}/train.manifest",
            "validation_uri": f"s3://{bucket}/splits/{run}/validation.manifest",
            "validation_images_uri": f"s3://{bucket}/splits/{run}/validation-images.manifest",
            "transform_output_uri": f"s3://{bucket}/transform/{run}/",
            "counts": {"train": 9, "validation": 3},
            "class_names": event["class_names"],
            "hyperparameters": hyperparameters,
            "dataset": dataset,
            "warm_start": warm_start,
        }

    return split


def evaluate_double(doubles: Doubles) -> LambdaDouble:
    """Stands in for lambdas/evaluate: it passes when ``doubles.accuracy`` meets the threshold."""

    def evaluate(event: dict[str, Any], context: Any) -> dict[str, Any]:
        doubles.calls.append(("evaluate", event))
        if "champion" in event:
            return compare(event)
        if "golden_manifest_uri" in event:
            return {
                "images_uri": f"s3://{event['data_bucket']}/splits/{event['run_id']}/golden-images.manifest",
                "labels_uri": event["golden_manifest_uri"],
                "challenger_output_uri": event["transform_output_uri"],
                "golden": True,
            }
        passed = doubles.accuracy >= event["quality_threshold"]
        return {
            "metrics_uri": f"s3://{event['data_bucket']}/runs/{event['run_id']}/metrics.json",
            "metric_name": "accuracy",
            "metric_value": doubles.accuracy,
            "accuracy": doubles.accuracy,
            "quality_threshold": event["quality_threshold"],
            "passed": passed,
        }

    def compare(event: dict[str, Any]) -> dict[str, Any]:
        # The real decision rule (gtpipe_shared.champion) on the doubles' two accuracies.
        from gtpipe_shared.champion import decide

        champion = doubles.accuracy if doubles.champion_accuracy is None else doubles.champion_accuracy
        decision = decide(
            metric_name="accuracy",
            challenger=doubles.accuracy,
            champion=champion,
            images=event["min_images"],
            margin_points=event["margin_points"],
            min_images=event["min_images"],
        )
        block = {**event["champion"], "passed": decision.passed, "reason": decision.reason}
        return {**event["challenger"], "passed": decision.passed, "champion": block}

    return evaluate


def endpoint_double(doubles: Doubles, sfn: Any) -> LambdaDouble:
    """Stands in for lambdas/endpoint: the real cleanup and release; deploy and verify as ``doubles`` script."""

    def endpoint(event: dict[str, Any], context: Any) -> dict[str, Any]:
        doubles.calls.append(("endpoint", event))
        if event["action"] in ("cleanup", "release"):
            # The real cleanup and lock release, against the endpoints and the token table in moto.
            from endpoint.handler import lambda_handler as endpoint_handler

            return dict(endpoint_handler(event, context))
        if event["action"] == "deploy" and doubles.endpoint_created:
            create_endpoint(event["endpoint_name"], event["endpoint_config_name"])
        if event["action"] == "verify" and doubles.verify_error:
            raise PermissionError(doubles.verify_error)
        if event["action"] == "verify":
            return {
                "endpoint_name": event["endpoint_name"],
                "endpoint_status": "InService",
                "endpoint_config_name": event["endpoint_config_name"],
            }
        # deploy: answer the token as the EventBridge endpoint state-change callback would.
        if doubles.endpoint_event_lost:
            return {"accepted": True}
        if doubles.endpoint_outcome:
            error, cause = doubles.endpoint_outcome
            sfn.send_task_failure(taskToken=event["task_token"], error=error, cause=cause)
        else:
            sfn.send_task_success(
                taskToken=event["task_token"],
                output=json.dumps(
                    {
                        "endpoint_name": event["endpoint_name"],
                        "endpoint_status": "InService",
                        "endpoint_config_name": event["endpoint_config_name"],
                    }
                ),
            )
        return {"accepted": True}

    return endpoint


def report_double(doubles: Doubles) -> LambdaDouble:
    """The report Lambda double; it raises when ``doubles.report_error`` is set."""

    def report(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Stands in for lambdas/report: the contract is the payload and the {report_uri, figures} answer.
        doubles.calls.append(("report", event))
        if doubles.report_error:
            raise RuntimeError(doubles.report_error)
        return {
            "report_uri": f"s3://{SAMPLE_BUCKET}/reports/{event['run_id']}/index.html",
            "figures": ["class-histogram.png"],
        }

    return report


def labeling_double(doubles: Doubles, sfn: Any) -> LambdaDouble:
    """The labeling Lambda double; it answers the task token at once."""

    def labeling(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Stands in for lambdas/labeling `open`: the contract is the payload and the token's answer. Here the
        # team finishes at once; on AWS the finish answers the token hours later.
        doubles.calls.append(("labeling", event))
        if doubles.labeling_failure:
            error, cause = doubles.labeling_failure
            sfn.send_task_failure(taskToken=event["task_token"], error=error, cause=cause)
            return {"opened": True}
        job = event["job_name"]
        output_uri = f"{event['settings']['output_path']}{job}/manifests/output/output.manifest"
        result = {
            "job_arn": f"gtpipe:labeling-job/{job}",
            "backend": "builtin",
            "output_uri": output_uri,
            "counters": LABEL_COUNTERS,
            "job_output": {"OutputDatasetS3Uri": output_uri},
            "team": {"workers": [], "classes": [], "answers": 36, "objects": 12},
        }
        sfn.send_task_success(taskToken=event["task_token"], output=json.dumps(result))
        return {"opened": True}

    return labeling


def make_doubles(
    doubles: Doubles, sfn: Any, sagemaker: LocalSageMaker | None = None
) -> dict[str, LambdaDouble]:
    """The Lambda doubles by function ARN; notify and registry are the real handlers, so the ledger and the
    model packages are written for real (registry on ``sagemaker``, the harness's local SageMaker)."""
    from notify.handler import lambda_handler as notify

    registry = (
        {FUNCTIONS["registry"]: registry_function(lambda: doubles.approval_decision, sagemaker)}
        if sagemaker is not None
        else {}
    )
    return {
        **registry,
        FUNCTIONS["labeling"]: labeling_double(doubles, sfn),
        FUNCTIONS["split"]: split_double(doubles),
        FUNCTIONS["evaluate"]: evaluate_double(doubles),
        FUNCTIONS["endpoint"]: endpoint_double(doubles, sfn),
        FUNCTIONS["notify"]: notify,
        FUNCTIONS["report"]: report_double(doubles),
        FUNCTIONS["label_errors"]: label_errors_double(doubles),
    }


@pytest.fixture(scope="module")
def pipeline_config(synth: Any) -> str:
    return synthesized_pipeline_config(synth)


@pytest.fixture
def pipeline(pipeline_config: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    # A two-second heartbeat, so a lost endpoint event is noticed at once (the definition reads it from the
    # execution input, which start_run fills from PIPELINE_CONFIG).
    config = json.loads(pipeline_config)
    config["endpoint"]["heartbeat_seconds"] = 2
    pipeline_config = json.dumps(config)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=SAMPLE_BUCKET)
        s3.put_bucket_versioning(Bucket=SAMPLE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        create_runs_table(dynamodb)
        dynamodb.create_table(
            TableName="gtpipe-idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName="gtpipe-task-tokens",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="gtpipe-runs")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine_arn = sfn.create_state_machine(
            name="Gtpipe-pipeline", definition=definition(), roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        for name, value in {
            "RUNS_TABLE": RUNS_TABLE,
            "TASK_TOKEN_TABLE": "gtpipe-task-tokens",
            "TOPIC_ARN": topic_arn,
            "STATE_MACHINE_ARN": machine_arn,
            "DATA_BUCKET": SAMPLE_BUCKET,
            "PIPELINE_CONFIG": pipeline_config,
            "MODEL_PACKAGE_GROUP_PREFIX": GROUP_PREFIX,
            # The registry function's: what a rollback (gtpipe deploy --package) deploys with.
            "DEPLOY_CONFIG": json.dumps({"task_type": config["task_type"], "endpoint": config["endpoint"]}),
        }.items():
            monkeypatch.setenv(name, value)
        doubles = Doubles()
        runner = ScriptedJobRunner()
        service = LocalSageMaker(runner=runner, emit_event=package_events_to_registry(LambdaContextStub()))
        point_registry_at(service, sfn, monkeypatch)
        with install(
            LambdaRegistry(make_doubles(doubles, sfn, service)),
            service,
            poll_interval=0.01,
            retry_interval_scale=0.0001,
        ):
            yield Pipeline(s3, sfn, dynamodb, sqs, queue_url, machine_arn, service, runner, doubles)
