"""The building blocks of local.sfn without the interpreter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from local.sagemaker import (
    LocalSageMaker,
    SageMakerService,
    SageMakerServiceError,
    ScriptedJobRunner,
    fail,
    json_safe,
    reject,
    succeed,
    validate_request,
)
from local.sfn import (
    LambdaContext,
    LambdaRegistry,
    LambdaServiceError,
    aws_sdk_integration_error_name,
    function_name_of,
    optimized_integration_error_name,
)

from .harness import IMAGE, SM_ROLE_ARN, training_parameters


def training_request(name: str = "job-1") -> dict[str, Any]:
    request = training_parameters()
    del request["TrainingJobName.$"]
    return {"TrainingJobName": name, **request}


@pytest.mark.parametrize(
    "reference",
    [
        "fn",
        "fn:live",
        "123456789012:function:fn",
        "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "arn:aws:lambda:us-east-1:123456789012:function:fn:3",
    ],
)
def test_every_function_name_form_resolves_to_the_bare_name(reference: str) -> None:
    assert function_name_of(reference) == "fn"


def test_registry_invoke_mirrors_the_lambda_invoke_response() -> None:
    # given a registry with a handler reading the context
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return {
            "event": event,
            "remaining_ok": context.get_remaining_time_in_millis() > 0,
            "group": context.log_group_name,
        }

    registry = LambdaRegistry({"arn:aws:lambda:us-east-1:123456789012:function:fn": handler})

    # when invoked with a JSON payload
    response = registry.invoke("fn", b'{"a": 1}')

    # then the response has the Invoke API's shape
    assert response == {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": {"event": {"a": 1}, "remaining_ok": True, "group": "/aws/lambda/fn"},
    }
    assert registry.names == ["fn"]


def test_registry_reports_handler_errors_as_function_errors() -> None:
    registry = LambdaRegistry({"fn": lambda event, context: int("x")})
    response = registry.invoke("fn", b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "ValueError"
    assert registry.invocations[0].error == "ValueError"


def test_registry_raises_service_errors() -> None:
    registry = LambdaRegistry({"fn": lambda event, context: None})
    with pytest.raises(LambdaServiceError) as missing:
        registry.invoke("other", b"{}")
    assert (missing.value.code, missing.value.status_code) == ("ResourceNotFoundException", 404)
    with pytest.raises(LambdaServiceError) as invalid:
        registry.invoke("fn", b"{not json")
    assert invalid.value.code == "InvalidRequestContentException"
    assert LambdaServiceError("TooManyRequestsException").status_code == 429


@pytest.mark.parametrize(
    ("code", "optimized", "sdk"),
    [
        (
            "ResourceLimitExceeded",
            "SageMaker.ResourceLimitExceededException",
            "SageMaker.ResourceLimitExceededException",
        ),
        ("ResourceInUse", "SageMaker.ResourceInUseException", "SageMaker.ResourceInUseException"),
        ("ResourceNotFound", "SageMaker.ResourceNotFoundException", "SageMaker.ResourceNotFoundException"),
        ("ConflictException", "SageMaker.ConflictException", "SageMaker.ConflictException"),
        ("ValidationException", "SageMaker.AmazonSageMakerException", "SageMaker.SageMakerException"),
        ("ThrottlingException", "SageMaker.AmazonSageMakerException", "SageMaker.SageMakerException"),
    ],
)
def test_sagemaker_error_names(code: str, optimized: str, sdk: str) -> None:
    assert optimized_integration_error_name(code) == optimized
    assert aws_sdk_integration_error_name(code) == sdk


def test_validation_catches_unknown_missing_and_mistyped_fields() -> None:
    request = training_request()
    validate_request("CreateTrainingJob", request)
    for broken, fragment in [
        ({**request, "HyperParams": {}}, 'Unknown parameter in input: "HyperParams"'),
        ({key: value for key, value in request.items() if key != "RoleArn"}, "Missing required parameter"),
        ({**request, "ResourceConfig": {**request["ResourceConfig"], "InstanceCount": "1"}}, "Invalid type"),
        ({**request, "HyperParameters": {"epochs": 2}}, "Invalid type"),
    ]:
        with pytest.raises(SageMakerServiceError, match="ValidationException") as raised:
            validate_request("CreateTrainingJob", broken)
        assert fragment in raised.value.message


def test_validation_enforces_lengths_patterns_and_enums() -> None:
    request = training_request("bad_name!")
    request["ResourceConfig"]["InstanceType"] = "ml.banana.xlarge"
    with pytest.raises(SageMakerServiceError) as raised:
        validate_request("CreateTrainingJob", request)
    message = raised.value.message
    assert message.startswith("2 validation errors detected")
    assert "Member must satisfy regular expression pattern" in message
    assert "Member must satisfy enum value set" in message
    validate_request("CreateTrainingJob", request, constraints=False)  # botocore's own checks pass


def test_scripted_runner_plays_outcomes_in_order_then_the_default() -> None:
    runner = ScriptedJobRunner().script(
        "training", reject("ResourceLimitExceeded"), fail("boom", after_polls=0)
    )
    service = LocalSageMaker(runner=runner)
    with pytest.raises(SageMakerServiceError, match="ResourceLimitExceeded"):
        service.create_training_job(training_request("a"))
    service.create_training_job(training_request("b"))
    service.create_training_job(training_request("c"))
    assert service.describe_training_job({"TrainingJobName": "b"})["FailureReason"] == "boom"
    described = [
        service.describe_training_job({"TrainingJobName": "c"})["TrainingJobStatus"] for _ in range(2)
    ]
    assert described == ["InProgress", "Completed"]
    assert [(call.name, call.accepted) for call in runner.calls] == [("a", False), ("b", True), ("c", True)]


def test_service_enforces_unique_names_and_references() -> None:
    service = LocalSageMaker(runner=ScriptedJobRunner())
    service.create_training_job(training_request("t"))
    with pytest.raises(SageMakerServiceError, match="ResourceInUse"):
        service.create_training_job(training_request("t"))
    with pytest.raises(SageMakerServiceError, match="ValidationException: Requested resource not found"):
        service.describe_training_job({"TrainingJobName": "missing"})
    with pytest.raises(SageMakerServiceError, match=r'Could not find model "arn:aws:sagemaker:.*model/m"'):
        service.create_endpoint_config(
            {
                "EndpointConfigName": "c",
                "ProductionVariants": [
                    {
                        "VariantName": "v",
                        "ModelName": "m",
                        "InstanceType": "ml.m5.xlarge",
                        "InitialInstanceCount": 1,
                    }
                ],
            }
        )
    service.create_model(
        {"ModelName": "m", "PrimaryContainer": {"Image": IMAGE}, "ExecutionRoleArn": SM_ROLE_ARN}
    )
    with pytest.raises(SageMakerServiceError, match="already existing model"):
        service.create_model(
            {"ModelName": "m", "PrimaryContainer": {"Image": IMAGE}, "ExecutionRoleArn": SM_ROLE_ARN}
        )
    with pytest.raises(SageMakerServiceError, match="Could not find endpoint configuration"):
        service.create_endpoint({"EndpointName": "e", "EndpointConfigName": "nope"})


def test_stop_training_job() -> None:
    service = LocalSageMaker(runner=ScriptedJobRunner().script("training", succeed(after_polls=100)))
    service.create_training_job(training_request("t"))
    service.stop_training_job({"TrainingJobName": "t"})
    assert service.describe_training_job({"TrainingJobName": "t"})["TrainingJobStatus"] == "Stopped"
    with pytest.raises(SageMakerServiceError, match="not in progress"):
        service.stop_training_job({"TrainingJobName": "t"})


def test_runner_outputs_with_unknown_fields_are_a_programming_error() -> None:
    runner = ScriptedJobRunner().script("training", succeed(after_polls=0, outputs={"ModelArtefacts": {}}))
    service = LocalSageMaker(runner=runner)
    service.create_training_job(training_request("t"))
    with pytest.raises(ValueError, match="ModelArtefacts"):
        service.describe_training_job({"TrainingJobName": "t"})


def test_the_local_sagemaker_with_a_scripted_runner_satisfies_the_protocol() -> None:
    assert isinstance(LocalSageMaker(runner=ScriptedJobRunner()), SageMakerService)


def test_json_safe_renders_sdk_values() -> None:
    moment = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    assert json_safe({"t": moment, "b": b"hi", "d": Decimal("2"), "f": Decimal("0.5"), "l": (1, 2)}) == {
        "t": 1704164645678,
        "b": "aGk=",
        "d": 2,
        "f": 0.5,
        "l": [1, 2],
    }
