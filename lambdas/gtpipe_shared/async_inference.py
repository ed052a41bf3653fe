"""Asynchronous inference (issue 19, item 3): a second SageMaker endpoint, ``<prefix>-endpoint-async``, serving
the same model as the real-time one with an ``AsyncInferenceConfig``; ``POST /predict/async {"upload_id"}``
queues an upload on it and ``GET /predictions/{id}`` answers the result.

AWS facts this relies on (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html): an
asynchronous endpoint takes payloads up to 1 GB and processing up to one hour, reads the request from S3
(``InputLocation`` of InvokeEndpointAsync: https://docs.aws.amazon.com/sagemaker/latest/APIReference/
API_runtime_InvokeEndpointAsync.html), writes the answer under ``S3OutputPath`` (or the error under
``S3FailurePath``) and publishes to the success/error SNS topics of ``NotificationConfig``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AsyncInferenceOutputConfig.html: both paths
``(https|s3)://...`` of at most 512 characters; ``KmsKeyId`` encrypts the output). Per request
``InvocationTimeoutSeconds`` is at most 3600 (default 900) and ``InferenceId`` at most 64 characters
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-invoke-endpoint.html). An endpoint is real-time
or asynchronous by its endpoint config, never both, hence the second endpoint.

Our limits: the input is an upload (``gtpipe_shared.uploads``: 50 MiB, 89.5 megapixels), far below 1 GB, so the
upload itself is the InputLocation (no copy). The output objects' names are SageMaker's: predict keeps the
``OutputLocation``/``FailureLocation`` InvokeEndpointAsync answers in a request record
(``async/requests/<prediction_id>.json``) that ``GET /predictions/{id}`` reads. Everything under ``async/``
expires with the bucket's lifecycle rule after ASYNC_RETENTION_DAYS.

This module is the one home of the names, the config schema (context ``gtpipe:asyncInference``, read by
infra/config_async.py) and the CreateEndpointConfig request the endpoint function sends.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ASYNC_PREFIX = "async/"
REQUESTS_PREFIX = f"{ASYNC_PREFIX}requests/"
OUTPUT_PREFIX = f"{ASYNC_PREFIX}output/"
FAILURE_PREFIX = f"{ASYNC_PREFIX}failure/"
ASYNC_RETENTION_DAYS = 7
ASYNC_ENDPOINT_SUFFIX = "-async"
MAX_ASYNC_PAYLOAD_BYTES = 1_000_000_000  # 1 GB (async-inference.html)
MAX_INVOCATION_TIMEOUT_SECONDS = 3600
MAX_INFERENCE_ID_LENGTH = 64
MAX_S3_PATH_LENGTH = 512
# The async endpoint's variant: AsyncInferenceConfig endpoints are scaled per variant as real-time ones.
ASYNC_VARIANT = "AllTraffic"
_PREDICTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_S3_PATH = re.compile(r"^(https|s3)://([^/])/?(.*)$")
_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class AsyncInferenceSettings(BaseModel):
    """``gtpipe:asyncInference``: whether the stack has the asynchronous endpoint, its instances and how many
    requests one instance works on at once (``ClientConfig.MaxConcurrentInvocationsPerInstance``, 1..1000).
    ``min_instances`` 0 lets Application Auto Scaling scale the endpoint to zero while its queue is empty
    (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    instance_type: str = "ml.m5.xlarge"
    min_instances: int = Field(default=0, ge=0, le=100)
    max_instances: int = Field(default=1, ge=1, le=100)
    max_concurrent_invocations_per_instance: int = Field(default=4, ge=1, le=1000)
    invocation_timeout_seconds: int = Field(default=900, ge=1, le=MAX_INVOCATION_TIMEOUT_SECONDS)

    @model_validator(mode="after")
    def _bounds(self) -> AsyncInferenceSettings:
        if self.max_instances < self.min_instances:
            raise ValueError("max_instances must be at least min_instances")
        return self


def async_endpoint_name(endpoint_name: str) -> str:
    """The asynchronous endpoint beside the real-time ``endpoint_name`` (ValueError when too long)."""
    name = f"{endpoint_name}{ASYNC_ENDPOINT_SUFFIX}"
    if not _SAGEMAKER_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid endpoint name (at most 63 letters, digits and hyphens)")
    return name


def async_config_name(async_endpoint: str, model_name: str) -> str:
    """The async endpoint config serving ``model_name``: one per model, so mirroring the same model twice
    creates nothing new (the name is at most 63 characters whatever the model's name)."""
    digest = hashlib.sha256(model_name.encode()).hexdigest()[:12]
    return f"{async_endpoint[: 63 - 13]}-{digest}"


def new_prediction_id() -> str:
    """A fresh prediction id (UUID4; also the request's ``InferenceId``, at most 64 characters)."""
    return str(uuid.uuid4())


def is_prediction_id(value: Any) -> bool:
    """True for a lowercase UUID4 string (what :func:`new_prediction_id` makes); nothing else names a record."""
    return isinstance(value, str) and bool(_PREDICTION_ID.match(value))


def request_key(prediction_id: str) -> str:
    """The request record's key; ValueError for anything but a prediction id (no path tricks)."""
    if not is_prediction_id(prediction_id):
        raise ValueError(f"not a prediction id: {prediction_id!r}")
    return f"{REQUESTS_PREFIX}{prediction_id}.json"


def async_endpoint_config_request(
    *,
    config_name: str,
    model_name: str,
    bucket: str,
    kms_key_id: str,
    success_topic: str,
    error_topic: str,
    settings: AsyncInferenceSettings,
) -> dict[str, Any]:
    """The CreateEndpointConfig request of the asynchronous endpoint serving ``model_name``: output and failures
    under ``async/`` of the data bucket, encrypted with the data key, success/error notifications to the two
    topics. ``InitialInstanceCount`` is at least 1: SageMaker starts an endpoint with instances; scaling to
    zero is Application Auto Scaling's job afterwards."""
    output = f"s3://{bucket}/{OUTPUT_PREFIX}"
    failure = f"s3://{bucket}/{FAILURE_PREFIX}"
    for path in (output, failure):
        if len(path) > MAX_S3_PATH_LENGTH or not _S3_PATH.match(path):
            raise ValueError(f"{path!r} is not an S3 path of at most {MAX_S3_PATH_LENGTH} characters")
    return {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": ASYNC_VARIANT,
                "ModelName": model_name,
                "InstanceType": settings.instance_type,
                "InitialInstanceCount": max(1, settings.min_instances),
            }
        ],
        "KmsKeyId": kms_key_id,
        "AsyncInferenceConfig": {
            "ClientConfig": {
                "MaxConcurrentInvocationsPerInstance": settings.max_concurrent_invocations_per_instance
            },
            "OutputConfig": {
                "KmsKeyId": kms_key_id,
                "S3OutputPath": output,
                "S3FailurePath": failure,
                "NotificationConfig": {"SuccessTopic": success_topic, "ErrorTopic": error_topic},
            },
        },
    }
