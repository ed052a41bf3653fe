"""SageMaker's API as the local cloud models it: botocore's service model, the service protocol, defaults.

Every local SageMaker answers the API through :class:`SageMakerService`: one method per API action,
taking the request dict in the API's PascalCase (exactly as a state machine's ``Parameters`` or a boto3
call build it) and returning the API response (``datetime`` values allowed; :func:`json_safe` renders
them). Failures are raised as :class:`~local.sagemaker.errors.SageMakerServiceError` with the API's error
code; requests are checked by :func:`local.sagemaker.validation.validate_request`.

Callers (the Step Functions interpreter in :mod:`local.sfn`, the moto routes in
:mod:`local.sagemaker.moto_api`) depend on this module; it depends on neither.
"""

from __future__ import annotations

import datetime as dt
import functools
from base64 import b64encode
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import botocore.session
from botocore.model import ServiceModel

Request = dict[str, Any]
Response = dict[str, Any]

DEFAULT_ACCOUNT_ID = "123456789012"
"""The account the local cloud's resources live in (moto's default account)."""
DEFAULT_REGION = "us-east-1"
"""The region of the local cloud unless a caller picks another."""


@functools.cache
def service_model() -> ServiceModel:
    """botocore's SageMaker service model (loaded once; it is large)."""
    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def modeled_error_codes() -> frozenset[str]:
    """Error codes SageMaker's API model declares (``ResourceInUse``, ``ResourceLimitExceeded`` ...)."""
    model = service_model()
    return frozenset(
        error.name
        for operation in model.operation_names
        for error in model.operation_model(operation).error_shapes
    )


@runtime_checkable
class SageMakerService(Protocol):
    """A local SageMaker as its callers see it; one method per API action.

    Each method takes the request dict in the API's PascalCase (``{"TrainingJobName": ...}``) and
    returns the API response dict; errors are raised as ``SageMakerServiceError``. The Step Functions
    ``.sync`` tasks call ``create_*`` once, then ``describe_*`` every poll interval until the job status
    is terminal, and ``stop_*`` when the task is abandoned (timeout, stopped execution).
    ``aws-sdk:sagemaker:<action>`` tasks call the method named ``<action>`` in snake_case, if present.
    """

    def create_labeling_job(self, request: Request) -> Response: ...
    def describe_labeling_job(self, request: Request) -> Response: ...
    def stop_labeling_job(self, request: Request) -> Response: ...
    def create_training_job(self, request: Request) -> Response: ...
    def describe_training_job(self, request: Request) -> Response: ...
    def stop_training_job(self, request: Request) -> Response: ...
    def create_transform_job(self, request: Request) -> Response: ...
    def describe_transform_job(self, request: Request) -> Response: ...
    def stop_transform_job(self, request: Request) -> Response: ...
    def create_hyper_parameter_tuning_job(self, request: Request) -> Response: ...
    def describe_hyper_parameter_tuning_job(self, request: Request) -> Response: ...
    def stop_hyper_parameter_tuning_job(self, request: Request) -> Response: ...
    def create_model(self, request: Request) -> Response: ...
    def create_endpoint_config(self, request: Request) -> Response: ...
    def create_endpoint(self, request: Request) -> Response: ...
    def update_endpoint(self, request: Request) -> Response: ...
    def describe_endpoint(self, request: Request) -> Response: ...


def json_safe(value: Any) -> Any:
    """A JSON-compatible copy of an API response: datetimes become epoch milliseconds (as Step Functions
    renders SDK timestamps), bytes base64, tuples/sets lists, Decimals numbers."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
