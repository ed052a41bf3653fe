"""SageMaker tasks answered by the LocalSageMaker and a ScriptedJobRunner."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.sagemaker import Job, LocalSageMaker, ScriptedJobRunner, fail, reject, succeed

from .harness import IMAGE, SM_ROLE_ARN, Sfn, machine, pass_end, task, training_parameters

SM = "arn:aws:states:::sagemaker:"
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]


def one_task(resource: str, parameters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Task -> Done, with every error caught into $.error -> Failed unless fields override Catch."""
    fields.setdefault("Catch", CATCH_ALL)
    return machine(
        ("Task", task(SM + resource, parameters, Next="Done", **fields)),
        ("Done", pass_end()),
        ("Failed", pass_end()),
    )


def labeling_parameters() -> dict[str, Any]:
    return {
        "LabelingJobName.$": "States.Format('{}-label-{}', $.run_id, $$.State.RetryCount)",
        "LabelAttributeName": "category",
        "InputConfig": {
            "DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://data/incoming/demo.manifest"}}
        },
        "OutputConfig": {"S3OutputPath": "s3://data/labeling/"},
        "RoleArn": SM_ROLE_ARN,
        "LabelCategoryConfigS3Uri": "s3://data/labeling/r/label-categories.json",
        "HumanTaskConfig": {
            "WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team",
            "UiConfig": {"UiTemplateS3Uri": "s3://data/labeling/r/template.liquid"},
            "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
            "TaskTitle": "Classify",
            "TaskDescription": "Pick the class",
            "NumberOfHumanWorkersPerDataObject": 3,
            "TaskTimeLimitInSeconds": 300,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass"
            },
        },
    }


def model_parameters() -> dict[str, Any]:
    return {
        "ModelName.$": "States.Format('{}-model-{}', $.run_id, $$.State.RetryCount)",
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": "s3://data/models/r-train-0/output/model.tar.gz",
        },
        "ExecutionRoleArn": SM_ROLE_ARN,
    }


def test_training_sync_completes_with_the_describe_response(sfn: Sfn, runner: ScriptedJobRunner) -> None:
    # given a training job that completes after 2 InProgress polls
    runner.script("training", succeed(after_polls=2))
    definition = one_task(
        "createTrainingJob.sync",
        training_parameters(),
        ResultSelector={
            "job_name.$": "$.TrainingJobName",
            "status.$": "$.TrainingJobStatus",
            "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
            "created.$": "$.CreationTime",
        },
        ResultPath="$.training",
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "demo-0123456789abcdef"})

    # then the task waited for Completed and its output is the DescribeTrainingJob response
    assert execution.entered == ["Task", "Done"]
    training = execution.output["training"]
    assert training["job_name"] == "demo-0123456789abcdef-train-0"
    assert training["status"] == "Completed"
    assert training["model_artifacts"] == "s3://data/models/demo-0123456789abcdef-train-0/output/model.tar.gz"
    assert isinstance(training["created"], int)  # epoch milliseconds, JSON-safe
    assert execution.types[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    submitted = json.loads(execution.of_type("TaskSubmitted")[0]["taskSubmittedEventDetails"]["output"])
    assert submitted == {
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/demo-0123456789abcdef-train-0"
    }


def test_failed_training_job_is_caught_as_task_failed_with_the_failure_reason(
    sfn: Sfn, runner: ScriptedJobRunner
) -> None:
    # given a training job that fails
    runner.script("training", fail("AlgorithmError: CUDA out of memory"))
    definition = one_task(
        "createTrainingJob.sync",
        training_parameters(),
        Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Failed"}],
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then the Catch gets States.TaskFailed and the Describe response as cause
    assert execution.entered == ["Task", "Failed"]
    error = execution.output["error"]
    assert error["Error"] == "States.TaskFailed"
    cause = json.loads(error["Cause"])
    assert cause["TrainingJobStatus"] == "Failed"
    assert cause["FailureReason"] == "AlgorithmError: CUDA out of memory"


def test_retrying_a_failed_job_uses_a_new_name_from_the_retry_count(
    sfn: Sfn, runner: ScriptedJobRunner, sagemaker: LocalSageMaker
) -> None:
    # given a first job that fails and a second that completes
    runner.script("training", fail("InternalServerError"), succeed())
    definition = one_task(
        "createTrainingJob.sync",
        training_parameters(),
        Retry=[{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then the retry created r-train-1 ($$.State.RetryCount) and succeeded
    assert execution.entered == ["Task", "Done"]
    assert [job.name for job in sagemaker.jobs("training")] == ["r-train-0", "r-train-1"]
    assert [job.status for job in sagemaker.jobs("training")] == ["Failed", "Completed"]


def test_retrying_with_the_same_job_name_fails_with_resource_in_use(
    sfn: Sfn, runner: ScriptedJobRunner
) -> None:
    # given a job name that does not change between attempts
    runner.script("training", fail("InternalServerError"))
    definition = one_task(
        "createTrainingJob.sync",
        training_parameters(name_expression="$.run_id"),
        Retry=[{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "same-name"})

    # then the second CreateTrainingJob is refused as SageMaker does
    assert [error for error, _ in execution.failures()] == [
        "States.TaskFailed",
        "SageMaker.ResourceInUseException",
    ]


def test_labeling_sync_completes_with_the_output_manifest_and_counters(
    sfn: Sfn, runner: ScriptedJobRunner
) -> None:
    # given a labeling job completing with counters
    counters = {
        "TotalLabeled": 10,
        "HumanLabeled": 10,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 0,
    }
    runner.script("labeling", succeed(outputs={"LabelCounters": counters}))
    definition = one_task(
        "createLabelingJob.sync",
        labeling_parameters(),
        ResultSelector={
            "output_uri.$": "$.LabelingJobOutput.OutputDatasetS3Uri",
            "counters.$": "$.LabelCounters",
        },
        ResultPath="$.labeling",
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "demo"})

    # then the output manifest URI follows Ground Truth's layout
    assert execution.output["labeling"] == {
        "output_uri": "s3://data/labeling/demo-label-0/manifests/output/output.manifest",
        "counters": counters,
    }


def test_runner_outputs_can_be_computed_from_the_job(sfn: Sfn, runner: ScriptedJobRunner) -> None:
    # given outputs derived from the job when it ends (a local runner would write files here)
    def outputs(job: Job) -> dict[str, Any]:
        return {"LabelingJobOutput": {"OutputDatasetS3Uri": f"s3://elsewhere/{job.name}.manifest"}}

    runner.script("labeling", succeed(outputs=outputs))

    # when the labeling task runs
    execution = sfn.run(one_task("createLabelingJob.sync", labeling_parameters()), {"run_id": "x"})

    # then the computed output is in the Describe response
    assert execution.output["LabelingJobOutput"]["OutputDatasetS3Uri"] == "s3://elsewhere/x-label-0.manifest"


def test_transform_sync_after_create_model(sfn: Sfn, sagemaker: LocalSageMaker) -> None:
    # given a model and a transform job using it
    definition = machine(
        ("CreateModel", task(SM + "createModel", model_parameters(), ResultPath="$.model", Next="Transform")),
        (
            "Transform",
            task(
                SM + "createTransformJob.sync",
                {
                    "TransformJobName.$": "States.Format('{}-xform-{}', $.run_id, $$.State.RetryCount)",
                    "ModelName": "r-model-0",
                    "TransformInput": {
                        "DataSource": {
                            "S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://data/v.manifest"}
                        },
                        "ContentType": "application/x-image",
                    },
                    "TransformOutput": {"S3OutputPath": "s3://data/runs/r/transform/"},
                    "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
                },
                ResultSelector={
                    "status.$": "$.TransformJobStatus",
                    "output.$": "$.TransformOutput.S3OutputPath",
                },
                ResultPath="$.transform",
            ),
        ),
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then CreateModel returned the ModelArn and the transform completed
    assert execution.output["model"] == {
        "ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/r-model-0"
    }
    assert execution.output["transform"] == {"status": "Completed", "output": "s3://data/runs/r/transform/"}
    assert [operation for operation, _ in sagemaker.calls][:2] == ["CreateModel", "CreateTransformJob"]


def test_create_model_and_endpoint_config_are_request_response(sfn: Sfn, sagemaker: LocalSageMaker) -> None:
    # given CreateModel then CreateEndpointConfig referencing it
    definition = machine(
        (
            "CreateModel",
            task(
                SM + "createModel",
                model_parameters(),
                ResultSelector={
                    "model_arn.$": "$.ModelArn",
                    "model_name.$": "States.ArrayGetItem(States.StringSplit($.ModelArn, '/'), 1)",
                },
                ResultPath="$.model",
                Next="CreateEndpointConfig",
            ),
        ),
        (
            "CreateEndpointConfig",
            task(
                SM + "createEndpointConfig",
                {
                    "EndpointConfigName.$": "States.Format('{}-epc-{}', $.run_id, $$.State.RetryCount)",
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName.$": "$.model.model_name",
                            "InstanceType": "ml.m5.xlarge",
                            "InitialInstanceCount": 1,
                        }
                    ],
                },
                ResultPath="$.epc",
            ),
        ),
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then each task's output is the API response and the task does not wait (no TaskSubmitted)
    assert execution.output["model"]["model_name"] == "r-model-0"
    assert execution.output["epc"] == {
        "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/r-epc-0"
    }
    assert "TaskSubmitted" not in execution.types
    assert (
        sagemaker.describe_endpoint_config({"EndpointConfigName": "r-epc-0"})["ProductionVariants"][0][
            "ModelName"
        ]
        == "r-model-0"
    )


def test_endpoint_create_then_update(sfn: Sfn, sagemaker: LocalSageMaker) -> None:
    # given two endpoint configs of one model
    sagemaker.create_model(
        {"ModelName": "m", "PrimaryContainer": {"Image": IMAGE}, "ExecutionRoleArn": SM_ROLE_ARN}
    )
    for name in ("blue", "green"):
        sagemaker.create_endpoint_config(
            {
                "EndpointConfigName": name,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": "m",
                        "InstanceType": "ml.m5.xlarge",
                        "InitialInstanceCount": 1,
                    }
                ],
            }
        )
    create = machine(
        ("Create", task(SM + "createEndpoint", {"EndpointName": "ep", "EndpointConfigName": "blue"}))
    )
    update = machine(
        ("Update", task(SM + "updateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "green"}))
    )

    # when the endpoint is created, becomes InService, then is updated
    created = sfn.run(create)
    sagemaker.describe_endpoint({"EndpointName": "ep"})
    assert sagemaker.describe_endpoint({"EndpointName": "ep"})["EndpointStatus"] == "InService"
    updated = sfn.run(update)

    # then both tasks returned the EndpointArn and the endpoint moves to the new config
    arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ep"
    assert created.output == {"EndpointArn": arn}
    assert updated.output == {"EndpointArn": arn}
    assert sagemaker.describe_endpoint({"EndpointName": "ep"})["EndpointStatus"] == "Updating"
    assert sagemaker.describe_endpoint({"EndpointName": "ep"})["EndpointConfigName"] == "green"


def test_misspelled_field_fails_with_a_validation_error(sfn: Sfn, runner: ScriptedJobRunner) -> None:
    # given a CreateTrainingJob request with a misspelled nested field
    parameters = training_parameters()
    parameters["ResourceConfig"]["InstanceCnt"] = parameters["ResourceConfig"].pop("InstanceCount")

    # when it runs
    execution = sfn.run(one_task("createTrainingJob.sync", parameters), {"run_id": "r"})

    # then SageMaker refuses it with a ValidationException, which Step Functions names
    # SageMaker.AmazonSageMakerException (the code is in the cause), and no job was started
    assert execution.entered == ["Task", "Failed"]
    error = execution.output["error"]
    assert error["Error"] == "SageMaker.AmazonSageMakerException"
    assert "Error Code: ValidationException" in error["Cause"]
    assert "InstanceCnt" in error["Cause"]
    assert runner.calls == []


def test_job_name_longer_than_63_characters_is_rejected(sfn: Sfn) -> None:
    # given a job name over SageMaker's limit
    parameters = training_parameters(name_expression="$.run_id")

    # when it runs
    execution = sfn.run(one_task("createTrainingJob.sync", parameters), {"run_id": "x" * 64})

    # then the service's constraint message is in the cause
    assert "Member must have length less than or equal to 63" in execution.output["error"]["Cause"]


def test_throttled_create_is_retried(sfn: Sfn, runner: ScriptedJobRunner) -> None:
    # given a CreateTrainingJob throttled once, then accepted
    runner.script("training", reject("ThrottlingException", "Rate exceeded"), succeed())
    definition = one_task(
        "createTrainingJob.sync",
        training_parameters(),
        Retry=[
            {
                "ErrorEquals": ["SageMaker.ResourceLimitExceededException"],
                "IntervalSeconds": 300,
                "MaxAttempts": 6,
            },
            {
                "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                "IntervalSeconds": 5,
                "MaxAttempts": 5,
                "BackoffRate": 2,
                "JitterStrategy": "FULL",
            },
        ],
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then the throttle is named like Step Functions names it and the retry succeeded
    assert execution.entered == ["Task", "Done"]
    assert [error for error, _ in execution.failures()] == ["SageMaker.AmazonSageMakerException"]
    assert "Error Code: ThrottlingException" in execution.failures()[0][1]
    assert [(call.name, call.accepted) for call in runner.calls] == [
        ("r-train-0", False),
        ("r-train-1", True),
    ]


def test_resource_limit_exceeded_has_its_own_error_name(sfn: Sfn, runner: ScriptedJobRunner) -> None:
    # given a CreateTrainingJob over the account's instance limit
    runner.script(
        "training", reject("ResourceLimitExceeded", "The account-level service limit is 0 Instances")
    )

    # when it runs
    execution = sfn.run(one_task("createTrainingJob.sync", training_parameters()), {"run_id": "r"})

    # then the modeled error gets the SDK exception class name
    assert execution.output["error"]["Error"] == "SageMaker.ResourceLimitExceededException"


def test_throttled_request_response_call_is_retried(sfn: Sfn, sagemaker: LocalSageMaker) -> None:
    # given CreateModel throttled twice
    sagemaker.inject_error("CreateModel", "ThrottlingException", "Rate exceeded", times=2)
    definition = one_task(
        "createModel",
        model_parameters(),
        Retry=[
            {"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "IntervalSeconds": 1, "MaxAttempts": 3}
        ],
    )

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then the third attempt created the model (named after the final retry count)
    assert execution.entered == ["Task", "Done"]
    assert len(execution.failures()) == 2
    assert execution.output["ModelArn"].endswith("model/r-model-2")


def test_task_timeout_stops_the_running_job(
    sfn: Sfn, runner: ScriptedJobRunner, sagemaker: LocalSageMaker
) -> None:
    # given a training job that would run for a very long time and a 1 s task timeout
    runner.script("training", succeed(after_polls=1_000_000))
    definition = one_task("createTrainingJob.sync", training_parameters(), TimeoutSeconds=1)

    # when it runs
    execution = sfn.run(definition, {"run_id": "r"})

    # then the task times out and the job is stopped, as Step Functions does
    assert execution.output["error"]["Error"] == "States.Timeout"
    job = sagemaker.jobs("training")[0]
    assert job.status == "Stopping"
    assert sagemaker.describe_training_job({"TrainingJobName": job.name})["TrainingJobStatus"] == "Stopped"


@pytest.mark.parametrize(
    "resource",
    ["createTrainingJob.waitForTaskToken", "createModel.sync", "createTrainingJob.sync:2", "deleteModel"],
)
def test_unsupported_integrations_are_rejected_at_creation(sfn: Sfn, resource: str) -> None:
    # given a SageMaker resource Step Functions does not offer
    definition = one_task(resource, {"ModelName": "m"})

    # when the state machine is created
    with pytest.raises(ClientError) as raised:
        sfn.create(definition)

    # then it is an invalid definition, as on AWS (moto 5.2.5 sends InvalidDefinition with an empty code)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        f"arn:aws:states:::sagemaker:{resource} not recognized" in raised.value.response["Error"]["Message"]
    )


def test_aws_sdk_sagemaker_passthrough(sfn: Sfn, sagemaker: LocalSageMaker) -> None:
    # given a completed training job, described with the AWS SDK integration, and a missing job
    sagemaker.create_training_job(_training_request("t1"))
    definition = machine(
        (
            "Describe",
            task(
                "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
                {"TrainingJobName.$": "$.name"},
                # An unknown training job is SageMaker's ValidationException, not a modeled error, so the
                # AWS SDK integration names it SageMaker.SageMakerException (local.sfn.sagemaker)
                Catch=[{"ErrorEquals": ["SageMaker.SageMakerException"], "Next": "Missing"}],
            ),
        ),
        ("Missing", pass_end()),
    )

    # when both run
    found = sfn.run(definition, {"name": "t1"})
    missing = sfn.run(definition, {"name": "nope"})

    # then the passthrough answers from the same service, and errors use the SDK names
    assert found.output["TrainingJobName"] == "t1"
    assert missing.entered == ["Describe", "Missing"]


def _training_request(name: str) -> dict[str, Any]:
    request = training_parameters()
    del request["TrainingJobName.$"]
    return {"TrainingJobName": name, **request}


def test_stopping_the_execution_stops_the_job(
    sfn: Sfn, runner: ScriptedJobRunner, sagemaker: LocalSageMaker
) -> None:
    # given an execution waiting on a long training job
    runner.script("training", succeed(after_polls=1_000_000))
    definition = one_task(
        "createTrainingJob.sync",
        training_parameters(),
        ResultSelector={"artifacts.$": "$.ModelArtifacts.S3ModelArtifacts"},
    )
    arn = sfn.start(definition, {"run_id": "r"})
    while not sagemaker.jobs("training"):
        time.sleep(0.01)

    # when the execution is stopped
    sfn.client.stop_execution(executionArn=arn, error="Operator", cause="stop")
    execution = sfn.wait(arn)

    # then it is ABORTED without a task outcome, and the job was asked to stop
    assert execution.status == "ABORTED"
    assert execution.types[-2:] == ["TaskSubmitted", "ExecutionAborted"]
    assert sagemaker.describe_training_job({"TrainingJobName": "r-train-0"})["TrainingJobStatus"] == "Stopped"
