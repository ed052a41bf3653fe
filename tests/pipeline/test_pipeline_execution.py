"""Execute state_machines/pipeline.asl.json itself in moto's Step Functions interpreter.

The run starts the way it does on AWS: a manifest lands in the bucket and the real start_run handler
validates it and starts the execution. The ledger is written by the real notify handler. SageMaker jobs and
the split/evaluate/endpoint Lambdas are test doubles, through the extension points in local/sfn.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.sfn import InMemorySageMakerService, LambdaRegistry, ScriptedJobRunner, install
from local.sfn.sagemaker import fail, reject, succeed
from tests.pipeline.sample_config import SAMPLE_BUCKET, synthesized_pipeline_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
RUNS_TABLE = "gtpipe-runs"
FUNCTIONS = {
    name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gtpipe-{name}"
    for name in ("split", "evaluate", "notify", "endpoint")
}
SUBSTITUTIONS = {
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
    "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/gtpipe-sagemaker",
    "DataBucketName": SAMPLE_BUCKET,
    "SplitFunctionArn": FUNCTIONS["split"],
    "EvaluateFunctionArn": FUNCTIONS["evaluate"],
    "NotifyFunctionArn": FUNCTIONS["notify"],
    "EndpointFunctionArn": FUNCTIONS["endpoint"],
}
HAPPY_PATH = [
    "ChooseLabeling",
    "Label",
    "UseLabelingOutput",
    "Split",
    "Train",
    "CreateModel",
    "Transform",
    "Evaluate",
    "QualityGate",
    "CreateEndpointConfig",
    "DeployEndpoint",
    "VerifyEndpoint",
    "Publish",
    "RecordSuccess",
    "Deployed",
]


def definition() -> str:
    text = (ROOT / "state_machines" / "pipeline.asl.json").read_text()
    return re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTIONS[m.group(1)], text)


@dataclass
class Doubles:
    """What the test double Lambdas answer; tests change these before dropping a manifest."""

    accuracy: float = 0.93
    endpoint_outcome: tuple[str, str] | None = None  # (error, cause) to fail the deployment
    endpoint_event_lost: bool = False  # deploy starts the change but no event ever answers the token
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Pipeline:
    s3: Any
    sfn: Any
    dynamodb: Any
    sqs: Any
    queue_url: str
    state_machine_arn: str
    sagemaker: InMemorySageMakerService
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


def make_doubles(doubles: Doubles, sfn: Any) -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    def split(event: dict[str, Any], context: Any) -> dict[str, Any]:
        doubles.calls.append(("split", event))
        run, bucket = event["run_id"], event["data_bucket"]
        return {
            "train_uri": f"s3://{bucket}/splits/{run}/train.manifest",
            "validation_uri": f"s3://{bucket}/splits/{run}/validation.manifest",
            "validation_images_uri": f"s3://{bucket}/splits/{run}/validation-images.manifest",
            "transform_output_uri": f"s3://{bucket}/transform/{run}/",
            "counts": {"train": 9, "validation": 3},
            "class_names": event["class_names"],
            "hyperparameters": {
                **event["hyperparameters"],
                "num_classes": str(len(event["class_names"])),
                "num_training_samples": "9",
            },
        }

    def evaluate(event: dict[str, Any], context: Any) -> dict[str, Any]:
        doubles.calls.append(("evaluate", event))
        passed = doubles.accuracy >= event["quality_threshold"]
        return {
            "metrics_uri": f"s3://{event['data_bucket']}/runs/{event['run_id']}/metrics.json",
            "metric_name": "accuracy",
            "metric_value": doubles.accuracy,
            "accuracy": doubles.accuracy,
            "quality_threshold": event["quality_threshold"],
            "passed": passed,
        }

    def endpoint(event: dict[str, Any], context: Any) -> dict[str, Any]:
        doubles.calls.append(("endpoint", event))
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

    from notify.handler import lambda_handler as notify

    return {
        FUNCTIONS["split"]: split,
        FUNCTIONS["evaluate"]: evaluate,
        FUNCTIONS["endpoint"]: endpoint,
        FUNCTIONS["notify"]: notify,
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
        for name, key in ((RUNS_TABLE, "run_id"), ("gtpipe-idempotency", "id")):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
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
            "TOPIC_ARN": topic_arn,
            "STATE_MACHINE_ARN": machine_arn,
            "DATA_BUCKET": SAMPLE_BUCKET,
            "PIPELINE_CONFIG": pipeline_config,
        }.items():
            monkeypatch.setenv(name, value)
        doubles = Doubles()
        runner = ScriptedJobRunner()
        service = InMemorySageMakerService(runner)
        with install(
            LambdaRegistry(make_doubles(doubles, sfn)),
            service,
            poll_interval=0.01,
            retry_interval_scale=0.0001,
        ):
            yield Pipeline(s3, sfn, dynamodb, sqs, queue_url, machine_arn, service, runner, doubles)


def test_input_manifest_runs_labeling_training_and_deploys(pipeline: Pipeline) -> None:
    # Given an unlabeled manifest and SageMaker jobs that complete
    pipeline.runner.script(
        "labeling",
        succeed(
            outputs={
                "LabelCounters": {
                    "TotalLabeled": 12,
                    "HumanLabeled": 12,
                    "MachineLabeled": 0,
                    "Unlabeled": 0,
                    "FailedNonRetryableError": 0,
                }
            }
        ),
    )
    # When it is dropped under incoming/
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run takes the labeling path to a deployed, published model
    assert described["status"] == "SUCCEEDED"
    assert entered == HAPPY_PATH
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "SUCCEEDED"
    serving = pipeline.ledger("@serving")
    assert serving["source_run_id"] == started["run_id"]
    assert serving["endpoint_name"] == "gtpipe-endpoint"
    assert serving["model_name"].startswith(f"{started['run_id']}-model-")
    # the split saw the labeling job's output manifest, the training job the split's hyperparameters
    split_call = next(event for name, event in pipeline.doubles.calls if name == "split")
    labeling_job = pipeline.sagemaker.jobs("labeling")[0]
    assert split_call["manifest_uri"].endswith(f"{labeling_job.name}/manifests/output/output.manifest")
    training_job = pipeline.sagemaker.jobs("training")[0]
    assert training_job.request["HyperParameters"]["num_classes"] == "10"
    assert [n["status"] for n in pipeline.notifications()] == ["SUCCEEDED"]
    assert json.loads(described["output"])["evaluation"]["metric_value"] == pytest.approx(0.93)


def test_augmented_manifest_skips_labeling(pipeline: Pipeline) -> None:
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    assert "Label" not in entered and "UseDroppedManifest" in entered
    assert pipeline.sagemaker.jobs("labeling") == []
    split_call = next(event for name, event in pipeline.doubles.calls if name == "split")
    assert split_call["manifest_uri"] == f"s3://{SAMPLE_BUCKET}/incoming/labeled.manifest"


def test_labeling_failure_is_recorded_with_step_and_reason(pipeline: Pipeline) -> None:
    pipeline.runner.script("labeling", fail("ClientError: workteam has no members"))
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    assert entered[-3:] == ["FailedLabeling", "RecordFailure", "PipelineFailed"]
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "FAILED"
    assert run["failure"]["step"] == "labeling"
    assert "workteam has no members" in run["failure"]["cause"]
    notification = pipeline.notifications()[-1]
    assert notification["status"] == "FAILED" and notification["step"] == "labeling"


def test_training_throttled_beyond_retries_fails_the_run(pipeline: Pipeline) -> None:
    # Given SageMaker refuses CreateTrainingJob more often than the Retry policy allows (1 + 5 attempts)
    pipeline.runner.script("training", *[reject("ThrottlingException", "Rate exceeded")] * 6)
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    assert entered.count("Train") == 1 and "FailedTraining" in entered
    attempts = [call for call in pipeline.runner.calls if call.kind == "training"]
    assert len(attempts) == 6
    run = pipeline.ledger(started["run_id"])
    assert run["failure"]["step"] == "training"
    assert run["failure"]["error"] == "SageMaker.AmazonSageMakerException"


def test_training_job_failure_is_not_retried_and_names_the_reason(pipeline: Pipeline) -> None:
    pipeline.runner.script(
        "training", reject("ThrottlingException"), fail("AlgorithmError: num_classes is 1")
    )
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, _ = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    names = [job.name for job in pipeline.sagemaker.jobs("training")]
    # the throttled attempt created nothing; the retry got a fresh, unique name
    assert names == [f"{started['run_id']}-train-1"]
    run = pipeline.ledger(started["run_id"])
    assert run["failure"] == {
        "step": "training",
        "error": "States.TaskFailed",
        "cause": run["failure"]["cause"],
    }
    assert "num_classes is 1" in run["failure"]["cause"]


def test_quality_gate_rejects_and_does_not_deploy(pipeline: Pipeline) -> None:
    pipeline.doubles.accuracy = 0.42
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    assert entered[-3:] == ["QualityGate", "RecordRejected", "Rejected"]
    assert "CreateEndpointConfig" not in entered
    assert pipeline.ledger(started["run_id"])["status"] == "REJECTED"
    assert pipeline.ledger("@serving") == {}
    assert [n["status"] for n in pipeline.notifications()] == ["REJECTED"]


def test_failed_endpoint_update_keeps_previous_model_serving(pipeline: Pipeline) -> None:
    # Given a first run that deployed
    first = pipeline.drop("incoming/first.manifest", augmented_manifest())
    assert pipeline.wait(first["run_id"])[0]["status"] == "SUCCEEDED"
    serving_before = pipeline.ledger("@serving")
    # When the second run's blue/green update fails on the endpoint
    pipeline.doubles.endpoint_outcome = ("EndpointFailed", "Update rolled back: invocation errors alarm")
    second = pipeline.drop("incoming/second.manifest", augmented_manifest(15))
    described, entered = pipeline.wait(second["run_id"])
    # Then the run fails at deployment and the published model is still the first one
    assert described["status"] == "FAILED"
    assert entered[-4:] == ["DeployEndpoint", "FailedDeployment", "RecordFailure", "PipelineFailed"]
    run = pipeline.ledger(second["run_id"])
    assert run["failure"]["step"] == "deployment" and run["failure"]["error"] == "EndpointFailed"
    assert pipeline.ledger("@serving") == serving_before


def test_invalid_manifest_starts_no_execution(pipeline: Pipeline) -> None:
    lines = [{"source-ref": f"s3://{SAMPLE_BUCKET}/images/a.png"}, {"source": "inline text"}]
    answer = pipeline.drop("incoming/bad.manifest", lines)
    assert answer["status"] == "FAILED"
    assert pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"] == []
    run = pipeline.ledger(answer["run_id"])
    assert run["status"] == "FAILED" and run["failure"]["step"] == "validate"
    assert any("line 2" in error for error in run["errors"])


def test_lost_endpoint_event_is_recovered_by_verification(pipeline: Pipeline) -> None:
    # Given an endpoint change whose state-change event never arrives
    pipeline.doubles.endpoint_event_lost = True
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the heartbeat timeout hands over to VerifyEndpoint, which finds the new config serving
    assert described["status"] == "SUCCEEDED"
    assert entered[entered.index("DeployEndpoint") + 1] == "VerifyEndpoint"
    assert pipeline.ledger("@serving")["source_run_id"] == started["run_id"]
