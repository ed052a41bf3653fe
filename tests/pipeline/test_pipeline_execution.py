"""Execute state_machines/pipeline.asl.json itself in moto's Step Functions interpreter.

The run starts the way it does on AWS: a manifest lands in the bucket and the real start_run handler
validates it and starts the execution. The ledger is written by the real notify handler. SageMaker jobs and
the split/evaluate/endpoint/report Lambdas are test doubles, through the extension points in local/sfn.
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
from local.sagemaker import LocalSageMaker, ScriptedJobRunner, fail, reject, succeed
from local.sfn import LambdaRegistry, install
from tests.infra.conftest import project_context
from tests.lambdas.conftest import create_runs_table
from tests.pipeline.sample_config import SAMPLE_BUCKET, synthesized_pipeline_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
RUNS_TABLE = "gtpipe-runs"
FUNCTIONS = {
    name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gtpipe-{name}"
    for name in ("split", "evaluate", "notify", "endpoint", "report", "labeling")
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
}
HAPPY_PATH = [
    "ChooseLabeling",
    "Label",
    "RecordLabeling",
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
    "ReleaseEndpoint",
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


def definition() -> str:
    # As synth deploys it: fitted to the project's instance types (SageMaker refuses a volume key on a type
    # with hardware-encrypted instance storage, and so does the local SageMaker).
    text = definition_text(StackConfig.from_context(project_context().get))
    return re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTIONS[m.group(1)], text)


@dataclass
class Doubles:
    """What the test double Lambdas answer; tests change these before dropping a manifest."""

    accuracy: float = 0.93
    endpoint_outcome: tuple[str, str] | None = None  # (error, cause) to fail the deployment
    endpoint_event_lost: bool = False  # deploy starts the change but no event ever answers the token
    endpoint_created: bool = False  # deploy creates the endpoint in moto (CreateEndpoint) before answering
    verify_error: str | None = None  # verify raises PermissionError with this message
    report_error: str | None = None  # the report Lambda raises with this message
    labeling_failure: tuple[str, str] | None = None  # (error, cause) the builtin labeling job ends with
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

    def report(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Stands in for lambdas/report: the contract is the payload and the {report_uri, figures} answer.
        doubles.calls.append(("report", event))
        if doubles.report_error:
            raise RuntimeError(doubles.report_error)
        return {
            "report_uri": f"s3://{SAMPLE_BUCKET}/reports/{event['run_id']}/index.html",
            "figures": ["class-histogram.png"],
        }

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

    from notify.handler import lambda_handler as notify

    return {
        FUNCTIONS["labeling"]: labeling,
        FUNCTIONS["split"]: split,
        FUNCTIONS["evaluate"]: evaluate,
        FUNCTIONS["endpoint"]: endpoint,
        FUNCTIONS["notify"]: notify,
        FUNCTIONS["report"]: report,
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
        }.items():
            monkeypatch.setenv(name, value)
        doubles = Doubles()
        runner = ScriptedJobRunner()
        service = LocalSageMaker(runner=runner)
        with install(
            LambdaRegistry(make_doubles(doubles, sfn)),
            service,
            poll_interval=0.01,
            retry_interval_scale=0.0001,
        ):
            yield Pipeline(s3, sfn, dynamodb, sqs, queue_url, machine_arn, service, runner, doubles)


def test_input_manifest_runs_labeling_training_and_deploys(pipeline: Pipeline) -> None:
    # Given an unlabeled manifest and SageMaker jobs that complete
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
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


def test_labeling_counters_and_cost_are_recorded_and_the_notification_links_the_report(
    pipeline: Pipeline,
) -> None:
    # Given 12 objects, 3 workers each at the seed prices, labeled by people
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, _ = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    run = pipeline.ledger(started["run_id"])
    # Then the ledger has the counters, the estimate next to the actual cost and the report
    assert run["label_counters"] == {"human": 12, "machine": 0, "total": 12, "failed": 0, "unlabeled": 0}
    # 12 x ($0.08 + 3 x $0.012), in cents
    assert float(run["labeling_cost"]["estimated_usd"]) == pytest.approx(1.39)
    assert float(run["labeling_cost"]["actual_usd"]) == pytest.approx(1.39)
    assert run["labeling_job_arn"].endswith(f"labeling-job/{started['run_id']}-label-0")
    report_uri = f"s3://{SAMPLE_BUCKET}/reports/{started['run_id']}/index.html"
    assert run["report_uri"] == report_uri
    # the report saw the whole state of a successful run
    (report_call,) = pipeline.doubles.called("report")
    assert report_call["outcome"] == "succeeded" and report_call["run_id"] == started["run_id"]
    assert {"config", "input", "labeling", "split", "training", "evaluation"} <= set(report_call["state"])
    (notification,) = pipeline.notifications()
    assert notification["report_uri"] == report_uri
    assert notification["report_console_url"] == (
        f"https://s3.console.aws.amazon.com/s3/object/{SAMPLE_BUCKET}?region={REGION}&bucketType=general"
        f"&prefix=reports/{started['run_id']}/index.html"
    )
    assert float(notification["labeling_cost"]["actual_usd"]) == pytest.approx(1.39, abs=0.01)


def test_a_failed_report_never_changes_the_outcome(pipeline: Pipeline) -> None:
    # Given a report function that fails
    pipeline.doubles.report_error = "matplotlib exploded"
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run still succeeds, deployed, and the ledger and the notification say why there is no report
    assert described["status"] == "SUCCEEDED"
    assert entered[-3:] == ["ReportOnSuccess", "RecordSuccess", "Deployed"]
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "SUCCEEDED" and "report_uri" not in run
    assert run["report_error"]["error"] == "RuntimeError"
    assert "matplotlib exploded" in run["report_error"]["cause"]
    (notification,) = pipeline.notifications()
    assert notification["status"] == "SUCCEEDED"
    assert "matplotlib exploded" in notification["report_error"]
    assert pipeline.ledger("@serving")["source_run_id"] == started["run_id"]


def test_a_failed_report_of_a_failed_run_keeps_the_failure(pipeline: Pipeline) -> None:
    pipeline.doubles.report_error = "no figures today"
    pipeline.runner.script("training", fail("AlgorithmError: out of memory"))
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "FAILED"
    assert entered[-4:] == ["FailedTraining", "ReportOnFailure", "RecordFailure", "PipelineFailed"]
    run = pipeline.ledger(started["run_id"])
    assert run["failure"]["step"] == "training" and "out of memory" in run["failure"]["cause"]
    assert "no figures today" in run["report_error"]["cause"]


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
    assert entered[-4:] == ["FailedLabeling", "SkipReport", "RecordFailure", "PipelineFailed"]
    # labeling left nothing to report on
    assert pipeline.doubles.called("report") == []
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "FAILED"
    assert "report_uri" not in run and "report_error" not in run
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
    # a failure after labeling is reported, with the failure in the state the report reads
    (report_call,) = pipeline.doubles.called("report")
    assert report_call["outcome"] == "failed"
    assert report_call["state"]["failure"]["step"] == "training"
    assert run["report_uri"].endswith(f"reports/{started['run_id']}/index.html")


def test_quality_gate_rejects_and_does_not_deploy(pipeline: Pipeline) -> None:
    pipeline.doubles.accuracy = 0.42
    started = pipeline.drop("incoming/labeled.manifest", augmented_manifest())
    described, entered = pipeline.wait(started["run_id"])
    assert described["status"] == "SUCCEEDED"
    assert entered[-4:] == ["QualityGate", "ReportOnRejection", "RecordRejected", "Rejected"]
    assert "CreateEndpointConfig" not in entered
    run = pipeline.ledger(started["run_id"])
    assert run["status"] == "REJECTED"
    assert run["report_uri"].endswith(f"reports/{started['run_id']}/index.html")
    assert [call["outcome"] for call in pipeline.doubles.called("report")] == ["rejected"]
    assert pipeline.ledger("@serving") == {}
    notifications = pipeline.notifications()
    assert [n["status"] for n in notifications] == ["REJECTED"]
    assert notifications[0]["report_uri"] == run["report_uri"]


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
    assert entered[-6:] == [
        "DeployEndpoint",
        "FailedDeployment",
        "CleanUpEndpoint",
        "ReportOnFailure",
        "RecordFailure",
        "PipelineFailed",
    ]
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


def test_over_budget_labeling_is_refused_before_anything_starts(pipeline: Pipeline) -> None:
    # Given a $1 budget and 12 objects at 3 workers each ($0.116 per object: $1.39)
    pipeline.configure(budget_usd=1.0)
    lines = input_manifest()
    answer = pipeline.drop("incoming/digits.manifest", lines)
    # Then no execution starts, the run is FAILED at the cost guard with the estimate and the budget
    assert answer["status"] == "FAILED" and answer["error"] == "LabelingBudgetExceeded"
    assert pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"] == []
    run = pipeline.ledger(answer["run_id"])
    assert run["status"] == "FAILED"
    assert run["failure"]["step"] == "costguard"
    assert "$1.39" in run["failure"]["cause"] and "$1.00" in run["failure"]["cause"]
    assert float(run["labeling_cost"]["estimated_usd"]) == pytest.approx(1.39)
    assert float(run["labeling_cost"]["budget_usd"]) == 1.0
    (notification,) = pipeline.notifications()
    assert notification["step"] == "costguard" and "$1.39" in notification["reason"]
    # nothing was written for labeling and the manifest is untouched
    listed = pipeline.s3.list_objects_v2(Bucket=SAMPLE_BUCKET, Prefix="labeling/").get("Contents", [])
    assert listed == []
    body = pipeline.s3.get_object(Bucket=SAMPLE_BUCKET, Key="incoming/digits.manifest")["Body"].read()
    assert [json.loads(line) for line in body.splitlines()] == lines


def test_within_budget_labeling_runs(pipeline: Pipeline) -> None:
    pipeline.configure(budget_usd=1.40)
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    assert pipeline.wait(started["run_id"])[0]["status"] == "SUCCEEDED"
    assert float(pipeline.ledger(started["run_id"])["labeling_cost"]["budget_usd"]) == pytest.approx(1.4)


def final_model_outputs(job: Any) -> dict[str, Any]:
    """A completed automated labeling job that trained a model (DescribeLabelingJob as on AWS)."""
    output_path = job.request["OutputConfig"]["S3OutputPath"].rstrip("/")
    return {
        "LabelCounters": {**LABEL_COUNTERS, "HumanLabeled": 4, "MachineLabeled": 8},
        "LabelingJobOutput": {
            "OutputDatasetS3Uri": f"{output_path}/{job.name}/manifests/output/output.manifest",
            "FinalActiveLearningModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{job.name}-final",
        },
    }


def test_a_later_run_starts_labeling_from_the_newest_model_of_the_same_label_set(pipeline: Pipeline) -> None:
    # Given model reuse and a first run whose automated labeling left a final model
    pipeline.configure(auto_labeling=True, reuse_model=True)
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    first = pipeline.drop("incoming/first.manifest", input_manifest())
    described, entered = pipeline.wait(first["run_id"])
    assert described["status"] == "SUCCEEDED"
    # the first run had nothing to reuse: automated labeling without an initial model
    assert "LabelWithAutoLabeling" in entered and "LabelFromEarlierModel" not in entered
    first_job = pipeline.sagemaker.jobs("labeling")[0]
    assert "InitialActiveLearningModelArn" not in first_job.request["LabelingJobAlgorithmsConfig"]
    first_model = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{first_job.name}-final"
    first_run = pipeline.ledger(first["run_id"])
    assert first_run["final_active_learning_model_arn"] == first_model
    assert first_run["label_counters"]["machine"] == 8
    # machine labels cost the per-object fee only: 4 x $0.116 + 8 x $0.08
    assert float(first_run["labeling_cost"]["actual_usd"]) == pytest.approx(1.10)
    assert float(first_run["labeling_cost"]["estimated_usd"]) == pytest.approx(1.39)
    # When a second manifest with the same task type and label set is dropped
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    second = pipeline.drop("incoming/second.manifest", input_manifest(15))
    assert second["labeling"]["initial_active_learning_model_arn"] == first_model
    described, entered = pipeline.wait(second["run_id"])
    # Then its labeling job starts from the first run's model, and the ledger says so
    assert described["status"] == "SUCCEEDED"
    assert "LabelFromEarlierModel" in entered
    second_job = pipeline.sagemaker.jobs("labeling")[1]
    assert second_job.request["LabelingJobAlgorithmsConfig"]["InitialActiveLearningModelArn"] == first_model
    second_run = pipeline.ledger(second["run_id"])
    assert second_run["reused_model_arn"] == first_model
    assert second_run["reused_model_source_run_id"] == first["run_id"]
    assert second_run["labeling_fingerprint"] == first_run["labeling_fingerprint"]


def test_a_model_of_another_label_set_is_not_reused(pipeline: Pipeline) -> None:
    # Given a first run that left a model for the configured classes
    pipeline.configure(auto_labeling=True, reuse_model=True)
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    first = pipeline.drop("incoming/first.manifest", input_manifest())
    assert pipeline.wait(first["run_id"])[0]["status"] == "SUCCEEDED"
    # When the label set changes order (class ids change meaning)
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["label_categories"] = list(reversed(config["label_categories"]))
    os.environ["PIPELINE_CONFIG"] = json.dumps(config)
    pipeline.runner.script("labeling", succeed(outputs=final_model_outputs))
    second = pipeline.drop("incoming/second.manifest", input_manifest())
    _, entered = pipeline.wait(second["run_id"])
    # Then the second run labels without the first run's model
    assert "LabelWithAutoLabeling" in entered and "LabelFromEarlierModel" not in entered
    assert "reused_model_arn" not in pipeline.ledger(second["run_id"])


BUILTIN_PATH = ["ChooseLabeling", "LabelWithTeam", *HAPPY_PATH[2:]]


def test_builtin_backend_labels_with_the_team_and_goes_on_to_deploy(pipeline: Pipeline) -> None:
    # Given the builtin labeling backend
    pipeline.configure_builtin()
    # When an unlabeled manifest is dropped and the team's job answers the token
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run labels with the team (no Ground Truth job) and goes on through RecordLabeling to Split
    assert described["status"] == "SUCCEEDED"
    assert entered == BUILTIN_PATH
    assert pipeline.sagemaker.jobs("labeling") == []
    # the labeling function was invoked with the token payload of the contract
    (opened,) = pipeline.doubles.called("labeling")
    run_id = started["run_id"]
    assert opened["action"] == "open" and opened["task_token"]
    assert opened["run_id"] == run_id and opened["job_name"] == f"{run_id}-label-0"
    assert opened["task_type"] == "image-classification"
    assert opened["manifest_uri"] == f"s3://{SAMPLE_BUCKET}/incoming/digits.manifest"
    version = pipeline.s3.head_object(Bucket=SAMPLE_BUCKET, Key="incoming/digits.manifest")["VersionId"]
    assert opened["manifest_version_id"] == version
    assert opened["label_attribute"] == "category"
    settings = opened["settings"]
    assert settings["backend"] == "builtin" and settings["lease_seconds"] == 300
    assert len(settings["class_names"]) == 10 and settings["min_labeled_share"] == 0.9
    # the split read the service's output manifest; the ledger has the job and its counters
    output_uri = f"s3://{SAMPLE_BUCKET}/labeling/{run_id}-label-0/manifests/output/output.manifest"
    (split_call,) = pipeline.doubles.called("split")
    assert split_call["manifest_uri"] == output_uri
    run = pipeline.ledger(run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["labeling_job_arn"] == f"gtpipe:labeling-job/{run_id}-label-0"
    assert run["label_counters"] == {"human": 12, "machine": 0, "total": 12, "failed": 0, "unlabeled": 0}
    state = json.loads(described["output"])
    assert state["labeling"]["backend"] == "builtin" and state["labeling"]["team"]["answers"] == 36


def test_builtin_labeling_failure_is_recorded(pipeline: Pipeline) -> None:
    # Given a team that labeled too little before the lifetime ended
    pipeline.configure_builtin()
    cause = (
        "labeled share 0.50 is below the minimum 0.90; unlabeled objects: "
        f"s3://{SAMPLE_BUCKET}/labeling/x/manifests/output/unlabeled.manifest"
    )
    pipeline.doubles.labeling_failure = ("LabelingIncomplete", cause)
    started = pipeline.drop("incoming/digits.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"])
    # Then the run fails at labeling with the service's error and cause, and nothing after labeling ran
    assert described["status"] == "FAILED"
    assert entered == [
        "ChooseLabeling",
        "LabelWithTeam",
        "FailedLabeling",
        "SkipReport",
        "RecordFailure",
        "PipelineFailed",
    ]
    run = pipeline.ledger(started["run_id"])
    assert run["failure"] == {"step": "labeling", "error": "LabelingIncomplete", "cause": cause}
    assert pipeline.doubles.called("split") == [] and pipeline.doubles.called("report") == []
    notification = pipeline.notifications()[-1]
    assert notification["status"] == "FAILED" and notification["step"] == "labeling"
