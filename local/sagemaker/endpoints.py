"""Endpoints of the local SageMaker (a part of ``LocalSageMaker``): hosting, blue/green updates, invocation.

CreateEndpoint/UpdateEndpoint hand a deployment (a :class:`~local.sagemaker.jobs.JobRecord` of kind
``endpoint``) to the backend's runner. The local runner loads every production variant's model in a
background thread (:mod:`.hosting`); a scripted runner decides the outcome, polled on every
DescribeEndpoint, and its variants load no model. The endpoint turns InService when the deployment
completes, an update swaps traffic only then (and rolls back on failure); ``invoke_endpoint`` runs the
serving variant's model in this process.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .api import Request, Response
from .backend import POLL_SECONDS, SageMakerBackend
from .errors import runtime_validation_error, validation_error
from .events import (
    ENDPOINT_STATE_CHANGE,
    event_detail,
    event_status,
)
from .hosting import LoadedModel, ModelLoadError, load_model, primary_container
from .invocation_metrics import publish_invocation
from .jobs import JobRecord, utcnow

LOG = logging.getLogger(__name__)

ENDPOINT_BUSY: Final = frozenset({"Creating", "Updating", "RollingBack", "SystemUpdating", "Deleting"})


@dataclass
class VariantRecord:
    """A production variant an endpoint serves: its weight, instances, image and loaded model (None when
    a scripted runner deployed it: it answers no invocation)."""

    name: str
    weight: float
    instance_count: int
    image: str
    loaded: LoadedModel | None

    @classmethod
    def of(
        cls, variant: Mapping[str, Any], model: Mapping[str, Any], loaded: LoadedModel | None
    ) -> VariantRecord:
        """The record of a config's production variant serving ``model`` (a DescribeModel response)."""
        try:
            image = str(primary_container(model).get("Image", ""))
        except ModelLoadError:  # the model was deleted since: the variant still serves what was loaded
            image = ""
        return cls(
            variant["VariantName"],
            float(variant.get("InitialVariantWeight", 1.0)),
            int(variant.get("InitialInstanceCount", 1)),
            image,
            loaded,
        )

    def unload(self) -> None:
        """Release the loaded model, if any."""
        if self.loaded is not None:
            self.loaded.unload()


@dataclass
class EndpointRecord:
    """An endpoint as the backend tracks it; ``generation`` makes a superseded deployment stale."""

    name: str
    arn: str
    created: Any
    status: str
    last_modified: Any
    config_name: str | None = None  # the config being served
    pending_config: str | None = None  # the config being deployed
    failure_reason: str | None = None
    variants: tuple[VariantRecord, ...] = ()
    last_deployment_config: dict[str, Any] | None = None
    generation: int = 0
    deleted: bool = False
    deployment: JobRecord | None = None  # the latest create/update deployment handed to the runner


@dataclass(frozen=True)
class Invocation:
    """An InvokeEndpoint answer: body, its content type, and the production variant that served it."""

    body: bytes
    content_type: str
    variant: str


class EndpointsApi(SageMakerBackend):
    """The endpoint actions (Create/Update/Describe/Delete) and sagemaker-runtime's InvokeEndpoint."""

    def wait_for_endpoint(self, name: str, timeout: float = 60.0) -> Response:
        """Poll an endpoint until it is neither Creating, Updating nor RollingBack; returns DescribeEndpoint."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                response = self._render_endpoint(self._endpoint(name))
            if response["EndpointStatus"] not in ENDPOINT_BUSY:
                return response
            if time.monotonic() >= deadline:
                raise TimeoutError(f"endpoint {name} is still {response['EndpointStatus']} after {timeout} s")
            time.sleep(POLL_SECONDS)

    def _emit_endpoint(self, endpoint: EndpointRecord) -> None:
        describe = self._render_endpoint(endpoint)
        detail = event_detail(describe, self._tags.get(endpoint.arn))
        detail["EndpointStatus"] = event_status(describe["EndpointStatus"])
        self._enqueue_event(ENDPOINT_STATE_CHANGE, detail, [endpoint.arn])

    def _endpoint(self, name: str) -> EndpointRecord:
        endpoint = self._endpoints.get(name)
        if endpoint is None or endpoint.deleted:
            raise validation_error(f'Could not find endpoint "{self._arn("endpoint", name)}".')
        return endpoint

    def _render_endpoint(self, endpoint: EndpointRecord) -> Response:
        response: Response = {
            "EndpointName": endpoint.name,
            "EndpointArn": endpoint.arn,
            "EndpointConfigName": endpoint.config_name or endpoint.pending_config,
            "EndpointStatus": endpoint.status,
            "CreationTime": endpoint.created,
            "LastModifiedTime": endpoint.last_modified,
        }
        if endpoint.variants:
            response["ProductionVariants"] = [
                {
                    "VariantName": variant.name,
                    "DeployedImages": [
                        {
                            "SpecifiedImage": variant.image,
                            "ResolvedImage": variant.image,
                            "ResolutionTime": endpoint.created,
                        }
                    ],
                    "CurrentWeight": variant.weight,
                    "DesiredWeight": variant.weight,
                    "CurrentInstanceCount": variant.instance_count,
                    "DesiredInstanceCount": variant.instance_count,
                }
                for variant in endpoint.variants
            ]
        if endpoint.failure_reason:
            response["FailureReason"] = endpoint.failure_reason
        if endpoint.last_deployment_config:
            response["LastDeploymentConfig"] = copy.deepcopy(endpoint.last_deployment_config)
        return response

    def _set_endpoint(self, endpoint: EndpointRecord, status: str, **changes: Any) -> None:
        # Caller holds self._lock.
        for key, value in changes.items():
            setattr(endpoint, key, value)
        endpoint.status = status
        endpoint.last_modified = utcnow()
        self._emit_endpoint(endpoint)

    def create_endpoint(self, request: Request) -> Response:
        """CreateEndpoint: Creating, then InService once every variant's model is loaded (or Failed)."""
        with self._lock:
            request = self._begin("CreateEndpoint", request)
            name = request["EndpointName"]
            arn = self._arn("endpoint", name)
            existing = self._endpoints.get(name)
            if existing is not None and not existing.deleted:
                raise validation_error(f'Cannot create already existing endpoint "{arn}".')
            config = copy.deepcopy(self._require_config(request["EndpointConfigName"]))
            now = utcnow()
            endpoint = EndpointRecord(
                name, arn, now, "Creating", now, pending_config=request["EndpointConfigName"]
            )
            self._start_deployment(endpoint, request, config, update=False, deployment_config=None)
            self._endpoints[name] = endpoint
            self._store_tags(arn, request.get("Tags"))
            self._emit_endpoint(endpoint)
            return {"EndpointArn": arn}

    def update_endpoint(self, request: Request) -> Response:
        """UpdateEndpoint: blue/green. The old variants keep serving while the new config loads, then
        traffic swaps. If the new models fail to load the endpoint rolls back: InService on the OLD
        config with a FailureReason (``RollingBack`` first when ``AutoRollbackConfiguration`` is set)."""
        with self._lock:
            request = self._begin("UpdateEndpoint", request)
            endpoint = self._endpoint(request["EndpointName"])
            if endpoint.status == "Failed":
                raise validation_error(f'Cannot update failed endpoint "{endpoint.arn}".')
            if endpoint.status != "InService":
                raise validation_error(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            config = copy.deepcopy(self._require_config(request["EndpointConfigName"]))
            deployment = copy.deepcopy(request.get("DeploymentConfig"))
            self._start_deployment(endpoint, request, config, update=True, deployment_config=deployment)
            self._set_endpoint(
                endpoint,
                "Updating",
                pending_config=request["EndpointConfigName"],
                last_deployment_config=deployment,
            )
            return {"EndpointArn": endpoint.arn}

    def describe_endpoint(self, request: Request) -> Response:
        """DescribeEndpoint (EndpointConfigName is the config being served; during creation the new one)."""
        with self._lock:
            request = self._begin("DescribeEndpoint", request)
            endpoint = self._endpoint(request["EndpointName"])
            self._poll_deployment(endpoint)
            return self._render_endpoint(endpoint)

    def delete_endpoint(self, request: Request) -> Response:
        """DeleteEndpoint: the endpoint disappears at once (its models are unloaded)."""
        with self._lock:
            request = self._begin("DeleteEndpoint", request)
            endpoint = self._endpoint(request["EndpointName"])
            endpoint.generation += 1  # a deployment still loading finds itself stale
            variants = endpoint.variants
            self._set_endpoint(endpoint, "Deleting", variants=(), deleted=True)
            del self._endpoints[endpoint.name]
        for variant in variants:
            variant.unload()
        return {}

    def _start_deployment(
        self,
        endpoint: EndpointRecord,
        request: Request,
        config: Mapping[str, Any],
        *,
        update: bool,
        deployment_config: Any,
    ) -> None:
        # Caller holds the lock. The runner may reject the deployment (SageMakerServiceError): the
        # endpoint is then neither created nor changed.
        models = {
            variant["ModelName"]: copy.deepcopy(self._require_model(variant["ModelName"]))
            for variant in config.get("ProductionVariants", [])
        }
        generation = endpoint.generation + 1
        now = utcnow()
        job = JobRecord(
            "endpoint", endpoint.name, endpoint.arn, copy.deepcopy(request), now, "InProgress", now
        )

        def run() -> None:
            self._deploy(
                endpoint, generation, config, models, update=update, deployment_config=deployment_config
            )

        job.work = run
        previous, endpoint.generation = endpoint.generation, generation  # before the work can look
        try:
            self.runner.start(job)
        except BaseException:
            endpoint.generation = previous
            raise
        endpoint.deployment = job

    def _poll_deployment(self, endpoint: EndpointRecord) -> None:
        # DescribeEndpoint asks the runner how the deployment goes (the local runner's thread reports
        # itself: None). Caller holds the lock.
        job = endpoint.deployment
        if job is None or job.terminal:
            return
        job.polls += 1
        state = self.runner.poll(job)
        if state is None or state.status not in ("Completed", "Failed", "Stopped"):
            return
        job.status = state.status
        job.failure_reason = state.failure_reason
        job.ended = job.last_modified = utcnow()
        config = self._endpoint_configs.get(endpoint.pending_config or "", {})
        variants = [
            VariantRecord.of(variant, self._models.get(variant.get("ModelName", ""), {}), None)
            for variant in config.get("ProductionVariants", [])
        ]
        failure = None if state.status == "Completed" else state.failure_reason or "deployment failed"
        update = endpoint.config_name is not None
        retired = self._finish_deployment(
            endpoint, variants, failure, update=update, deployment_config=job.request.get("DeploymentConfig")
        )
        for variant in retired:
            variant.unload()

    def _stale(self, endpoint: EndpointRecord, generation: int) -> bool:
        return endpoint.deleted or endpoint.generation != generation or self._closing.is_set()

    def _deploy(
        self,
        endpoint: EndpointRecord,
        generation: int,
        config: Mapping[str, Any],
        models: Mapping[str, Mapping[str, Any]],
        *,
        update: bool,
        deployment_config: Any,
    ) -> None:
        loaded: list[VariantRecord] = []
        failure: str | None = None
        injected = self.faults.take_failure("endpoint")
        while self.faults.endpoint_stuck(endpoint.name) and not self._stale(endpoint, generation):
            time.sleep(POLL_SECONDS)
        variant_name = "AllTraffic"
        try:
            if injected is not None:
                for variant in config.get("ProductionVariants", [])[:1]:
                    variant_name = variant["VariantName"]
                raise ModelLoadError(injected)
            folder = self.work_dir / "endpoints" / endpoint.name
            for variant in config.get("ProductionVariants", []):
                variant_name = variant["VariantName"]
                if self._stale(endpoint, generation):
                    break
                model = models[variant["ModelName"]]
                s3 = self._role_s3(model.get("ExecutionRoleArn"))
                loaded_model = load_model(model, s3, folder, self.algorithms)
                loaded.append(VariantRecord.of(variant, model, loaded_model))
        except ModelLoadError as error:
            failure = (
                f"The primary container for production variant {variant_name} did not pass the ping health "
                f"check: {error}"
            )
        except Exception as error:  # a bug must not leave the endpoint Creating forever
            LOG.exception("deployment of endpoint %s crashed", endpoint.name)
            failure = f"InternalServerError: local SageMaker error: {type(error).__name__}: {error}"
        with self._lock:
            if self._stale(endpoint, generation):
                retired: tuple[VariantRecord, ...] = tuple(loaded)
            else:
                if endpoint.deployment is not None:
                    endpoint.deployment.status = "Completed" if failure is None else "Failed"
                retired = self._finish_deployment(
                    endpoint, loaded, failure, update=update, deployment_config=deployment_config
                )
        for variant in retired:
            variant.unload()

    def _finish_deployment(
        self,
        endpoint: EndpointRecord,
        loaded: list[VariantRecord],
        failure: str | None,
        *,
        update: bool,
        deployment_config: Any,
    ) -> tuple[VariantRecord, ...]:
        # Caller holds the lock. Serve the new variants, roll back an update, or fail a creation;
        # returns the variants to unload.
        if failure is None:
            retired = endpoint.variants
            self._set_endpoint(
                endpoint,
                "InService",
                variants=tuple(loaded),
                config_name=endpoint.pending_config,
                pending_config=None,
                failure_reason=None,
            )
            return retired
        if update:
            if isinstance(deployment_config, Mapping) and deployment_config.get("AutoRollbackConfiguration"):
                self._set_endpoint(endpoint, "RollingBack", failure_reason=failure)
            self._set_endpoint(endpoint, "InService", pending_config=None, failure_reason=failure)
        else:
            self._set_endpoint(endpoint, "Failed", failure_reason=failure)
        return tuple(loaded)

    # -- runtime ----------------------------------------------------------------------------------

    def invoke_endpoint_detailed(
        self,
        name: str,
        body: bytes,
        content_type: str | None = None,
        accept: str | None = None,
        *,
        target_variant: str | None = None,
    ) -> Invocation:
        """InvokeEndpoint with the serving variant's name (see :meth:`invoke_endpoint`)."""
        with self._lock:
            endpoint = self._endpoints.get(name)
            variants = endpoint.variants if endpoint is not None and not endpoint.deleted else ()
            status = endpoint.status if endpoint is not None else None
        if endpoint is None:
            raise runtime_validation_error(f"Endpoint {name} of account {self.account_id} not found.")
        if not variants:
            raise runtime_validation_error(
                f"Endpoint {name} of account {self.account_id} is {status} and has no model serving requests."
            )
        if target_variant is not None:
            chosen = next((v for v in variants if v.name == target_variant), None)
            if chosen is None:
                raise runtime_validation_error(
                    f"Variant {target_variant} not found for endpoint {name} of account {self.account_id}."
                )
        elif len(variants) == 1:
            chosen = variants[0]
        else:
            chosen = self._random.choices(variants, weights=[max(v.weight, 0.0) for v in variants])[0]
        if chosen.loaded is None:
            raise runtime_validation_error(
                f"Endpoint {name} of account {self.account_id} was deployed by a scripted runner and "
                "hosts no model."
            )
        publish_invocation(self.account_id, self.region, name, chosen.name)
        data, response_type = chosen.loaded.predict(bytes(body), content_type, accept)
        return Invocation(data, response_type, chosen.name)

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> tuple[bytes, str]:
        """sagemaker-runtime InvokeEndpoint: ``(response body, content type)``.

        Raises :class:`~local.sagemaker.errors.ModelError` (HTTP 424, ``OriginalStatusCode`` from the
        handlers) when the model rejects or fails the request, and ``SageMakerServiceError`` with code
        ``ValidationError`` (the runtime API's name) for an unknown or not-yet-serving endpoint.
        """
        invocation = self.invoke_endpoint_detailed(name, body, content_type, accept)
        return invocation.body, invocation.content_type
