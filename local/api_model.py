"""The REST API as the local deployment understood it from the template (routes, auth, stage, keys).

Filled by :mod:`local.deploy` from the ``AWS::ApiGateway::*`` resources and served by
:mod:`local.apigateway`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Throttle:
    """A token bucket's settings: steady ``rate_limit`` requests per second, bursts up to ``burst_limit``."""

    rate_limit: float
    burst_limit: int


@dataclass
class MethodModel:
    """One method of one resource (``POST /predict``)."""

    resource_id: str
    resource_path: str
    http_method: str
    authorization_type: str
    api_key_required: bool
    integration_type: str
    function_arn: str | None
    request_parameters: dict[str, bool] = field(default_factory=dict)
    validator_id: str | None = None
    authorizer_id: str | None = None
    authorization_scopes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuthorizerModel:
    """A ``COGNITO_USER_POOLS`` authorizer: the pools whose tokens it accepts and the header holding them."""

    id: str
    name: str
    type: str
    provider_arns: tuple[str, ...]
    identity_source: str = "method.request.header.Authorization"

    @property
    def header(self) -> str:
        """The request header with the token (``method.request.header.Authorization`` -> ``authorization``)."""
        return self.identity_source.removeprefix("method.request.header.").strip().lower()


@dataclass
class StageModel:
    """A deployed stage and its method settings (``ResourcePath`` ``/*`` + ``HttpMethod`` ``*`` = all)."""

    name: str
    deployment_id: str
    method_settings: list[dict[str, object]] = field(default_factory=list)

    def throttle_for(self, resource_path: str, http_method: str) -> Throttle | None:
        """The throttle of a method: its own ``MethodSettings`` entry, else the ``/*``/``*`` entry."""
        # MethodSettings name a resource by its path with "/" escaped as "~1": /predict -> "/~1predict".
        escaped = "/" + resource_path.replace("/", "~1")
        exact = [
            s
            for s in self.method_settings
            if s.get("ResourcePath") == escaped and s.get("HttpMethod") == http_method
        ]
        wildcard = [
            s for s in self.method_settings if s.get("ResourcePath") == "/*" and s.get("HttpMethod") == "*"
        ]
        for settings in (*exact, *wildcard):
            if "ThrottlingRateLimit" in settings or "ThrottlingBurstLimit" in settings:
                return Throttle(
                    rate_limit=float(settings.get("ThrottlingRateLimit", 10000)),  # type: ignore[arg-type]
                    burst_limit=int(settings.get("ThrottlingBurstLimit", 5000)),  # type: ignore[call-overload]
                )
        return None


@dataclass
class ApiKeyModel:
    """An API key (its value was generated locally unless the template set one)."""

    id: str
    name: str
    value: str
    enabled: bool = True


@dataclass
class UsagePlanModel:
    """A usage plan: the stages it covers, its throttle and its keys."""

    id: str
    api_stages: list[tuple[str, str]]
    throttle: Throttle | None = None
    key_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class GatewayResponseModel:
    """An ``AWS::ApiGateway::GatewayResponse``: how API Gateway answers one of its own errors
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html)."""

    response_type: str
    status_code: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    templates: tuple[tuple[str, str], ...] = ()


@dataclass
class RestApiModel:
    """One REST API."""

    id: str
    name: str
    binary_media_types: list[str] = field(default_factory=list)
    root_resource_id: str = ""
    resource_paths: dict[str, str] = field(default_factory=dict)
    methods: dict[tuple[str, str], MethodModel] = field(default_factory=dict)
    validators: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    stages: dict[str, StageModel] = field(default_factory=dict)
    api_keys: dict[str, ApiKeyModel] = field(default_factory=dict)
    usage_plans: dict[str, UsagePlanModel] = field(default_factory=dict)
    authorizers: dict[str, AuthorizerModel] = field(default_factory=dict)
    gateway_responses: dict[str, GatewayResponseModel] = field(default_factory=dict)

    def aws_url(self, region: str, stage: str, url_suffix: str = "amazonaws.com") -> str:
        """The invoke URL this API would have on AWS."""
        return f"https://{self.id}.execute-api.{region}.{url_suffix}/{stage}"

    def keys_for_stage(self, stage: str) -> dict[str, tuple[ApiKeyModel, UsagePlanModel]]:
        """Enabled key values usable on ``stage`` (attached to a usage plan covering it) -> key, plan."""
        usable: dict[str, tuple[ApiKeyModel, UsagePlanModel]] = {}
        for plan in self.usage_plans.values():
            if (self.id, stage) not in plan.api_stages:
                continue
            for key_id in plan.key_ids:
                key = self.api_keys.get(key_id)
                if key is not None and key.enabled:
                    usable[key.value] = (key, plan)
        return usable
