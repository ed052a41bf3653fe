"""SageMaker's request limits that botocore does not check (issue 14), from botocore's own service model.

botocore validates only ``required``/``min``/``document``/``union`` client-side; SageMaker refuses the rest
(maximum lengths and counts, patterns) with a ValidationException. The numbers are the API reference's:
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html (TrainingJobName 63,
HyperParameters 100 items, key 256, value 2500, Tags 50), API_Tag.html (key 128, value 256),
API_S3DataSource.html (S3Uri 1024), API_ContainerDefinition.html (Environment 100 entries, key/value 1024),
API_CreateModel.html / API_CreateEndpointConfig.html / API_CreateLabelingJob.html (names 63),
API_CreateHyperParameterTuningJob.html (name 32), API_CategoricalParameterRange.html (30 values). Both local
SageMakers answer them with one validation: the in-memory double of the Step Functions interpreter, and the
local backend behind boto3 (moto).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import validate_parameters

from local.sagemaker import LocalSageMaker, SageMakerServiceError, ScriptedJobRunner
from local.sagemaker.api import service_model
from tests.local_sagemaker.conftest import BUCKET, IMAGE, ROLE, Cloud, training_request
from tests.local_sagemaker.conftest import api as api  # fixtures, re-exported
from tests.local_sagemaker.conftest import boto_session as boto_session
from tests.local_sagemaker.conftest import cloud as cloud

URI = f"s3://{BUCKET}/splits/run/train.manifest"
Mutate = Callable[[dict[str, Any]], None]


def training(mutate: Mutate) -> tuple[str, dict[str, Any]]:
    request = training_request("limits-train-0", URI, URI)
    mutate(request)
    return "CreateTrainingJob", request


def model(mutate: Mutate) -> tuple[str, dict[str, Any]]:
    request: dict[str, Any] = {
        "ModelName": "limits-model-0",
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/none/model.tar.gz"},
        "ExecutionRoleArn": ROLE,
    }
    mutate(request)
    return "CreateModel", request


def endpoint_config(mutate: Mutate) -> tuple[str, dict[str, Any]]:
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    request: dict[str, Any] = {"EndpointConfigName": "limits-epc-0", "ProductionVariants": [variant]}
    mutate(request)
    return "CreateEndpointConfig", request


def tuning(mutate: Mutate) -> tuple[str, dict[str, Any]]:
    """A CreateHyperParameterTuningJob whose trials are ``training``'s job (the Tune state's shape)."""
    trial = training_request("limits-trial-0", URI, URI)
    definition = {k: v for k, v in trial.items() if k not in ("TrainingJobName", "HyperParameters", "Tags")}
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": "limits-tune-0",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}]
            },
        },
        "TrainingJobDefinition": {**definition, "StaticHyperParameters": {"epochs": "1"}},
    }
    mutate(request)
    return "CreateHyperParameterTuningJob", request


def async_endpoint_config(mutate: Mutate) -> tuple[str, dict[str, Any]]:
    """The asynchronous endpoint's config as the endpoint function builds it (gtpipe_shared.async_inference)."""
    from gtpipe_shared.async_inference import AsyncInferenceSettings, async_endpoint_config_request

    request = async_endpoint_config_request(
        config_name="limits-async-0",
        model_name="m",
        bucket=BUCKET,
        kms_key_id="alias/gtpipe",
        success_topic="arn:aws:sns:us-east-1:123456789012:async-success",
        error_topic="arn:aws:sns:us-east-1:123456789012:async-error",
        settings=AsyncInferenceSettings(enabled=True),
    )
    mutate(request)
    return "CreateEndpointConfig", request


def with_model_channel(uri: str) -> Mutate:
    """TrainIncremental's extra channel (state_machines/pipeline.asl.json): the serving model's artifact."""

    def mutate(request: dict[str, Any]) -> None:
        source = {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        request["InputDataConfig"].append(
            {
                "ChannelName": "model",
                "DataSource": {"S3DataSource": source},
                "ContentType": "application/x-sagemaker-model",
                "InputMode": "File",
                "CompressionType": "None",
            }
        )

    return mutate


def setting(path: str, value: Any) -> Mutate:
    """A mutation setting the dotted ``path`` (list items by index) to ``value``."""

    def mutate(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = request
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return mutate


NAME_64 = "a" * 64
ASYNC_PATH = f"s3://{BUCKET}/async/output/" + "x" * 512
LIMIT = "failed to satisfy constraint: Member must have length less than or equal to"
NAME_PATTERN = "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
# A 64-character name also breaks the name pattern's {0,62}: SageMaker lists both problems.
TOO_LONG_NAME = f"2 validation errors detected: Value '{NAME_64}' at '{{member}}' {LIMIT} 63; Value '{NAME_64}' at '{{member}}' failed to satisfy constraint: {{pattern}}"
CASES = {
    "training job name": (
        training(setting("TrainingJobName", NAME_64)),
        TOO_LONG_NAME.format(member="trainingJobName", pattern=NAME_PATTERN),
    ),
    "101 hyperparameters": (
        training(setting("HyperParameters", {f"k{i}": "1" for i in range(101)})),
        f"Value at 'hyperParameters' {LIMIT} 100",
    ),
    "hyperparameter key": (
        training(setting("HyperParameters", {"k" * 257: "1"})),
        "Value at 'hyperParameters' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 256]",
    ),
    "hyperparameter value": (
        training(setting("HyperParameters", {"epochs": "9" * 2501})),
        "Value at 'hyperParameters' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 2500]",
    ),
    "51 tags": (
        training(setting("Tags", [{"Key": f"k{i}", "Value": "v"} for i in range(51)])),
        f"Value at 'tags' {LIMIT} 50",
    ),
    "tag key": (
        training(setting("Tags", [{"Key": "k" * 129, "Value": "v"}])),
        f"Value '{'k' * 129}' at 'tags.1.member.key' {LIMIT} 128",
    ),
    "tag value": (
        training(setting("Tags", [{"Key": "k", "Value": "v" * 257}])),
        f"Value '{'v' * 257}' at 'tags.1.member.value' {LIMIT} 256",
    ),
    "S3Uri": (
        training(setting("InputDataConfig.0.DataSource.S3DataSource.S3Uri", URI + "x" * 1024)),
        f"Value '{URI + 'x' * 1024}' at 'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri' {LIMIT} 1024",
    ),
    # TrainIncremental's model channel (the serving model's artifact) is an S3Uri as well.
    "model channel S3Uri": (
        training(with_model_channel(URI + "x" * 1024)),
        f"Value '{URI + 'x' * 1024}' at 'inputDataConfig.3.member.dataSource.s3DataSource.s3Uri' {LIMIT} 1024",
    ),
    # gtpipe:trainingAlgorithm pytorch declares the metric definitions (API_AlgorithmSpecification.html:
    # MetricDefinitions 0-40 items; API_MetricDefinition.html: Regex 1-500 characters).
    "41 metric definitions": (
        training(
            setting(
                "AlgorithmSpecification.MetricDefinitions",
                [{"Name": f"m{i}", "Regex": "m=(.*)"} for i in range(41)],
            )
        ),
        f"Value at 'algorithmSpecification.metricDefinitions' {LIMIT} 40",
    ),
    "metric regex": (
        training(setting("AlgorithmSpecification.MetricDefinitions", [{"Name": "m", "Regex": "r" * 501}])),
        f"Value '{'r' * 501}' at 'algorithmSpecification.metricDefinitions.1.member.regex' {LIMIT} 500",
    ),
    # ModelName's pattern has no length bound of its own: one problem.
    "model name": (model(setting("ModelName", NAME_64)), f"Value '{NAME_64}' at 'modelName' {LIMIT} 63"),
    "101 environment variables": (
        model(setting("PrimaryContainer.Environment", {f"K{i}": "v" for i in range(101)})),
        f"Value at 'primaryContainer.environment' {LIMIT} 100",
    ),
    "environment value": (
        model(setting("PrimaryContainer.Environment", {"K": "v" * 1025})),
        "Value at 'primaryContainer.environment' failed to satisfy constraint: Map value must satisfy "
        "constraint: [Member must have length less than or equal to 1024]",
    ),
    "endpoint config name": (
        endpoint_config(setting("EndpointConfigName", NAME_64)),
        TOO_LONG_NAME.format(member="endpointConfigName", pattern=NAME_PATTERN),
    ),
    # Tuning job names are 1-32 characters (API_CreateHyperParameterTuningJob.html), categorical ranges hold
    # at most 30 values (API_CategoricalParameterRange.html).
    "tuning job name": (
        tuning(setting("HyperParameterTuningJobName", "t" * 33)),
        f"2 validation errors detected: Value '{'t' * 33}' at 'hyperParameterTuningJobName' {LIMIT} 32; "
        f"Value '{'t' * 33}' at 'hyperParameterTuningJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}",
    ),
    "31 categorical values": (
        tuning(
            setting(
                "HyperParameterTuningJobConfig.ParameterRanges.CategoricalParameterRanges.0.Values",
                [str(i) for i in range(31)],
            )
        ),
        "Value at 'hyperParameterTuningJobConfig.parameterRanges.categoricalParameterRanges.1.member.values' "
        f"{LIMIT} 30",
    ),
    # A warm start names 1 to 5 parents (API_HyperParameterTuningJobWarmStartConfig.html; the TuneWarmStart
    # state sends one).
    "6 warm start parents": (
        tuning(
            setting(
                "WarmStartConfig",
                {
                    "ParentHyperParameterTuningJobs": [
                        {"HyperParameterTuningJobName": f"p{i}"} for i in range(6)
                    ],
                    "WarmStartType": "TransferLearning",
                },
            )
        ),
        f"Value at 'warmStartConfig.parentHyperParameterTuningJobs' {LIMIT} 5",
    ),
    # Asynchronous inference (https://docs.aws.amazon.com/sagemaker/latest/APIReference/
    # API_AsyncInferenceClientConfig.html: 1..1000; API_AsyncInferenceOutputConfig.html: paths of 512 at most).
    "async concurrency": (
        async_endpoint_config(
            setting("AsyncInferenceConfig.ClientConfig.MaxConcurrentInvocationsPerInstance", 1001)
        ),
        "Value '1001' at 'asyncInferenceConfig.clientConfig.maxConcurrentInvocationsPerInstance' failed to "
        "satisfy constraint: Member must have value less than or equal to 1000",
    ),
    "async output path": (
        async_endpoint_config(setting("AsyncInferenceConfig.OutputConfig.S3OutputPath", ASYNC_PATH)),
        f"Value '{ASYNC_PATH}' at 'asyncInferenceConfig.outputConfig.s3OutputPath' {LIMIT} 512",
    ),
    "job name pattern": (
        training(setting("TrainingJobName", "run_1-train-0")),
        "Value 'run_1-train-0' at 'trainingJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    ),
}


def message(expected: str) -> str:
    """SageMaker's whole message for one problem (or ``expected`` itself when it already counts them)."""
    return expected if expected[0].isdigit() else f"1 validation error detected: {expected}"


def test_botocore_alone_checks_minimums_but_not_maximums() -> None:
    # given CreateTrainingJob's input shape in botocore's model
    shape = service_model().operation_model("CreateTrainingJob").input_shape
    (_, request) = CASES["training job name"][0]
    # when botocore's validator sees a 64-character name / then it lets it through (SageMaker refuses it)
    validate_parameters(request, shape)
    # and an empty name is refused by botocore itself (min length)
    with pytest.raises(ParamValidationError, match="valid min length: 1"):
        validate_parameters({**request, "TrainingJobName": ""}, shape)


@pytest.mark.parametrize("case", CASES)
def test_the_step_functions_double_refuses_what_sagemaker_refuses(case: str) -> None:
    # given the in-memory SageMaker the interpreter calls
    (operation, request), expected = CASES[case]
    service = LocalSageMaker(runner=ScriptedJobRunner())
    method = getattr(
        service,
        {
            "CreateTrainingJob": "create_training_job",
            "CreateModel": "create_model",
            "CreateHyperParameterTuningJob": "create_hyper_parameter_tuning_job",
        }.get(operation, "create_endpoint_config"),
    )
    # when the request over the limit is made / then it is SageMaker's ValidationException, word for word
    with pytest.raises(SageMakerServiceError) as refused:
        method(request)
    assert refused.value.code == "ValidationException"
    assert refused.value.message == message(expected)


@pytest.mark.parametrize("case", CASES)
def test_the_local_backend_refuses_it_through_boto3(api: Cloud, case: str) -> None:
    # given boto3's sagemaker client on the local backend (the Lambda functions' path)
    (operation, request), expected = CASES[case]
    client = api.client("sagemaker")
    call = {
        "CreateTrainingJob": client.create_training_job,
        "CreateModel": client.create_model,
        "CreateHyperParameterTuningJob": client.create_hyper_parameter_tuning_job,
    }.get(operation, client.create_endpoint_config)
    # when the request over the limit is sent / then the same ValidationException comes back
    with pytest.raises(ClientError) as refused:
        call(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == message(expected)
