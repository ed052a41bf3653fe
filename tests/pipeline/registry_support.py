"""The model registry in the pipeline harness: the real registry handler on the harness's local SageMaker.

The harness's boto3 SageMaker calls go to moto, while the state machine's SageMaker tasks go to the harness's
:class:`~local.sagemaker.LocalSageMaker`; the registry function is pointed at the latter (as the local cloud
does), so its packages and the "SageMaker Model Package State Change" events the backend emits are one state.
The backend's event sink plays the stack's ModelPackageStateRule: events of ``gtpipe-models-*`` groups reach
the registry handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from local.sagemaker import LocalSageMaker
from local.sagemaker.errors import SageMakerServiceError

GROUP_PREFIX = "gtpipe-models-"
LambdaDouble = Callable[[dict[str, Any], Any], Any]


class LocalSageMakerClient:
    """A boto3-style ``sagemaker`` client over a LocalSageMaker: ``describe_model_package(**kwargs)`` calls
    ``service.describe_model_package(kwargs)``; the service's errors become ClientError with their code."""

    def __init__(self, service: LocalSageMaker) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._service, name)
        operation = re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), name)

        def call(**kwargs: Any) -> Any:
            try:
                return method(kwargs)
            except SageMakerServiceError as exc:
                raise ClientError({"Error": {"Code": exc.code, "Message": exc.message}}, operation) from None

        return call


def point_registry_at(service: LocalSageMaker, sfn: Any, monkeypatch: Any) -> None:
    """The registry handler's SageMaker client is ``service``; its Step Functions client is ``sfn``."""
    import registry.handler as registry
    import registry.rollback as rollback

    sagemaker = LocalSageMakerClient(service)
    for module in (registry, rollback):
        monkeypatch.setattr(module, "client", lambda name: sagemaker if name == "sagemaker" else sfn)


def package_events_to_registry(context: Any) -> Callable[[str, dict[str, Any], list[str]], None]:
    """An ``emit_event`` sink delivering this stack's model package events to the registry handler, as
    EventBridge delivers them (envelope per the AWS example event)."""

    def sink(detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        if detail_type != "SageMaker Model Package State Change":
            return
        if not str(detail.get("ModelPackageGroupName", "")).startswith(GROUP_PREFIX):
            return
        from registry.handler import lambda_handler

        event = {
            "version": "0",
            "id": "00000000-0000-0000-0000-000000000001",
            "detail-type": detail_type,
            "source": "aws.sagemaker",
            "account": "123456789012",
            "time": "2026-11-23T11:00:00Z",
            "region": "us-east-1",
            "resources": resources,
            "detail": detail,
        }
        lambda_handler(event, context)

    return sink


def registry_function(decide: Callable[[], tuple[str, str] | None], service: LocalSageMaker) -> LambdaDouble:
    """The real registry handler; after a ``wait``, ``decide()`` (status, description) is applied to the
    package with UpdateModelPackage, as a reviewer would (None: nobody decides)."""

    def registry_handler(event: dict[str, Any], context: Any) -> Any:
        from registry.handler import lambda_handler

        result = lambda_handler(event, context)
        decision = decide()
        if event.get("action") == "wait" and decision is not None:
            status, description = decision
            service.update_model_package(
                {
                    "ModelPackageArn": event["package_arn"],
                    "ModelApprovalStatus": status,
                    "ApprovalDescription": description,
                }
            )
        return result

    return registry_handler
