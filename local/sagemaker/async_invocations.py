"""sagemaker-runtime ``InvokeEndpointAsync`` of the local SageMaker (a part of ``LocalSageMaker``).

As SageMaker does (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-invoke-endpoint.html,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html): the call is
accepted only by an endpoint whose served config has an ``AsyncInferenceConfig``, with exactly one of
``InputLocation`` (an S3 URI) or an inline ``Body`` of at most 128,000 bytes; it answers at once with the
``InferenceId`` (the caller's, or a new one) and the ``OutputLocation``/``FailureLocation`` the result will
have (``<S3OutputPath>/<uuid>.out``, ``<S3FailurePath>/<uuid>-error.out``). The request is queued: a thread
per request, at most ``MaxConcurrentInvocationsPerInstance`` x instances at once per endpoint, reads the input
with the MODEL's execution role (so a role that cannot read it fails the request, as on AWS), runs the serving
variant's model in process, writes the answer (SSE-KMS with the output config's ``KmsKeyId``) or the error,
and publishes the result notification to ``SuccessTopic``/``ErrorTopic`` with that role.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any, Final

from .endpoints import EndpointsApi
from .errors import SageMakerServiceError, runtime_validation_error
from .s3 import S3Uri

LOG = logging.getLogger(__name__)

MAX_INLINE_BODY_BYTES: Final = 128_000
DEFAULT_CONCURRENCY: Final = 4


class AsyncInvocationsApi(EndpointsApi):
    """InvokeEndpointAsync over :class:`~local.sagemaker.endpoints.EndpointsApi`'s endpoints."""

    _async_slots: dict[str, threading.BoundedSemaphore]

    def _async_config(self, name: str) -> tuple[Mapping[str, Any], str | None]:
        """The served config's AsyncInferenceConfig and its first variant model's execution role."""
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is None or endpoint.deleted:
                raise runtime_validation_error(f"Endpoint {name} of account {self.account_id} not found.")
            config = self._endpoint_configs.get(endpoint.config_name or "") or {}
            async_config = copy.deepcopy(config.get("AsyncInferenceConfig"))
            variants = config.get("ProductionVariants") or [{}]
            model = self._models.get(str(variants[0].get("ModelName", ""))) or {}
            count = sum(int(v.get("InitialInstanceCount", 1)) for v in variants)
            if not async_config:
                raise runtime_validation_error(
                    f"Endpoint {name} of account {self.account_id} is not an asynchronous inference endpoint: "
                    "its endpoint configuration has no AsyncInferenceConfig."
                )
            if not hasattr(self, "_async_slots"):
                self._async_slots = {}
            if name not in self._async_slots:
                per_instance = (async_config.get("ClientConfig") or {}).get(
                    "MaxConcurrentInvocationsPerInstance", DEFAULT_CONCURRENCY
                )
                self._async_slots[name] = threading.BoundedSemaphore(
                    max(1, int(per_instance) * max(1, count))
                )
        role = model.get("ExecutionRoleArn")
        return async_config, str(role) if role else None

    def invoke_endpoint_async(self, name: str, request: Mapping[str, Any]) -> dict[str, str]:
        """InvokeEndpointAsync: ``{"InferenceId", "OutputLocation", "FailureLocation"}``; the work is queued.

        ``request`` has the API's members (``InputLocation`` or ``Body``, ``ContentType``, ``Accept``,
        ``InferenceId``). Raises ``ValidationError`` as the runtime API does for an unknown or real-time
        endpoint and for a request with neither or both of ``InputLocation`` and ``Body``."""
        input_location, body = request.get("InputLocation"), request.get("Body")
        if (input_location is None) == (body is None):
            raise runtime_validation_error("Provide exactly one of InputLocation or Body.")
        if body is not None and len(body) > MAX_INLINE_BODY_BYTES:
            raise runtime_validation_error(
                f"Body of {len(body)} bytes exceeds the {MAX_INLINE_BODY_BYTES} bytes of an inline "
                "asynchronous request: upload it to S3 and pass InputLocation."
            )
        if input_location is not None:
            try:
                S3Uri.parse(str(input_location))
            except ValueError as error:
                raise runtime_validation_error(
                    f"InputLocation {input_location!r} is not an S3 URI."
                ) from error
        async_config, role = self._async_config(name)
        output = async_config.get("OutputConfig") or {}
        inference_id = str(request.get("InferenceId") or uuid.uuid4())
        object_id = str(uuid.uuid4())
        output_location = _join(output.get("S3OutputPath"), f"{object_id}.out")
        failure_location = _join(
            output.get("S3FailurePath") or output.get("S3OutputPath"), f"{object_id}-error.out"
        )
        received = dt.datetime.now(dt.UTC)
        job = _AsyncJob(
            endpoint=name,
            inference_id=inference_id,
            input_location=str(input_location) if input_location is not None else None,
            body=bytes(body) if body is not None else None,
            content_type=request.get("ContentType"),
            accept=request.get("Accept"),
            output_location=output_location,
            failure_location=failure_location,
            output_config=output,
            role=role,
            received=received,
        )
        self._start_thread(f"async-{name}-{inference_id}", lambda: self._run_async(job))
        return {
            "InferenceId": inference_id,
            "OutputLocation": output_location,
            "FailureLocation": failure_location,
        }

    def _run_async(self, job: _AsyncJob) -> None:
        slots = self._async_slots[job.endpoint]
        with slots:
            s3 = self._role_s3(job.role)
            try:
                data = job.body if job.body is not None else _read(s3, str(job.input_location))
                answer, content_type = self.invoke_endpoint(job.endpoint, data, job.content_type, job.accept)
            except SageMakerServiceError as error:
                self._finish_async(job, s3, error.message.encode(), "text/plain", failed=True)
                return
            except Exception as error:  # the input could not be read (AccessDenied, NoSuchKey)
                message = f"ClientError: could not read {job.input_location}: {error}"
                self._finish_async(job, s3, message.encode(), "text/plain", failed=True)
                return
            self._finish_async(job, s3, answer, content_type, failed=False)

    def _finish_async(self, job: _AsyncJob, s3: Any, data: bytes, content_type: str, *, failed: bool) -> None:
        location = job.failure_location if failed else job.output_location
        target = S3Uri.parse(location)
        extra: dict[str, Any] = {}
        key_id = job.output_config.get("KmsKeyId")
        if key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": str(key_id)}
        try:
            s3.put_object(Bucket=target.bucket, Key=target.key, Body=data, ContentType=content_type, **extra)
        except Exception:  # the role may not write there: SageMaker's result is lost, the error topic says so
            LOG.exception("asynchronous inference %s could not write %s", job.inference_id, location)
            failed = True
        topics = job.output_config.get("NotificationConfig") or {}
        topic = topics.get("ErrorTopic" if failed else "SuccessTopic")
        if not topic:
            return
        try:
            self._role_client("sns", job.role).publish(
                TopicArn=str(topic), Message=json.dumps(job.notification(failed, content_type, self.region))
            )
        except Exception:
            LOG.exception("asynchronous inference %s could not notify %s", job.inference_id, topic)


class _AsyncJob:
    """One queued request and where its result goes."""

    def __init__(self, **fields: Any) -> None:
        self.endpoint: str = fields["endpoint"]
        self.inference_id: str = fields["inference_id"]
        self.input_location: str | None = fields["input_location"]
        self.body: bytes | None = fields["body"]
        self.content_type: str | None = fields["content_type"]
        self.accept: str | None = fields["accept"]
        self.output_location: str = fields["output_location"]
        self.failure_location: str = fields["failure_location"]
        self.output_config: Mapping[str, Any] = fields["output_config"]
        self.role: str | None = fields["role"]
        self.received: dt.datetime = fields["received"]

    def notification(self, failed: bool, content_type: str, region: str) -> dict[str, Any]:
        """The SNS message: the fields of SageMaker's asynchronous inference result notification."""
        response: dict[str, Any] = {"contentType": content_type}
        if failed:
            response["failureLocation"] = self.failure_location
        else:
            response["outputLocation"] = self.output_location
        return {
            "awsRegion": region,
            "eventTime": dt.datetime.now(dt.UTC).isoformat(),
            "receivedTime": self.received.isoformat(),
            "invocationStatus": "Failed" if failed else "Completed",
            "requestParameters": {
                "contentType": self.content_type,
                "endpointName": self.endpoint,
                "inputLocation": self.input_location,
            },
            "responseParameters": response,
            "inferenceId": self.inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }


def _join(path: Any, name: str) -> str:
    base = str(path or "")
    return f"{base}{'' if base.endswith('/') else '/'}{name}"


def _read(s3: Any, uri: str) -> bytes:
    source = S3Uri.parse(uri)
    return bytes(s3.get_object(Bucket=source.bucket, Key=source.key)["Body"].read())
