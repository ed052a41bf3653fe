"""API Gateway API keys, usage plans (throttling; quotas are refused) and their keys, in moto and in the
REST APIs' models.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..api_model import ApiKeyModel, Throttle, UsagePlanModel
from ..cfn import ResourceState, TemplateError
from .apigateway import rest_api_of
from .context import Handler, StackContext, generated_name


def api_key(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    # API keys are at least 20 characters; AWS generates 40 when the template sets none.
    value = str(props.get("Value") or secrets.token_urlsafe(30)[:40])
    name = props.get("Name") or generated_name(ctx.name, logical_id, 128)
    stage_keys = [
        {"restApiId": key["RestApiId"], "stageName": key["StageName"]} for key in props.get("StageKeys", [])
    ]
    key_id = ctx.clients("apigateway").create_api_key(
        name=name,
        description=props.get("Description", ""),
        enabled=bool(props.get("Enabled", True)),
        value=value,
        stageKeys=stage_keys,
    )["id"]
    model = ApiKeyModel(id=key_id, name=name, value=value, enabled=bool(props.get("Enabled", True)))
    for key in props.get("StageKeys", []):
        rest_api_of(ctx, key["RestApiId"]).api_keys[key_id] = model
    for api in ctx.deployment.apis.values():
        api.api_keys.setdefault(key_id, model)
    return ResourceState("AWS::ApiGateway::ApiKey", key_id, {"APIKeyId": key_id})


def usage_plan(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    throttle = throttle_of(props.get("Throttle"))
    stages = [(stage["ApiId"], stage["Stage"]) for stage in props.get("ApiStages", [])]
    kwargs: dict[str, Any] = {
        "name": props.get("UsagePlanName") or generated_name(ctx.name, logical_id, 128),
        "apiStages": [{"apiId": api_id, "stage": stage} for api_id, stage in stages],
    }
    if throttle:
        kwargs["throttle"] = {"rateLimit": throttle.rate_limit, "burstLimit": throttle.burst_limit}
    if props.get("Quota"):
        raise TemplateError(f"{ctx.name}: {logical_id}: usage plan quotas are not enforced locally")
    plan_id = ctx.clients("apigateway").create_usage_plan(**kwargs)["id"]
    plan = UsagePlanModel(id=plan_id, api_stages=stages, throttle=throttle)
    for api_id, _ in stages:
        rest_api_of(ctx, api_id).usage_plans[plan_id] = plan
    return ResourceState("AWS::ApiGateway::UsagePlan", plan_id, {"Id": plan_id})


def usage_plan_key(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    if props.get("KeyType", "API_KEY") != "API_KEY":
        raise TemplateError(f"{ctx.name}: {logical_id}: key type {props.get('KeyType')} is not supported")
    ctx.clients("apigateway").create_usage_plan_key(
        usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType="API_KEY"
    )
    for api in ctx.deployment.apis.values():
        plan = api.usage_plans.get(props["UsagePlanId"])
        if plan is not None:
            plan.key_ids.add(props["KeyId"])
    return ResourceState("AWS::ApiGateway::UsagePlanKey", f"{props['UsagePlanId']}-{props['KeyId']}")


def throttle_of(value: Any) -> Throttle | None:
    """A usage plan's ``Throttle`` (None when it sets neither limit; a missing one takes AWS's default)."""
    if not value or not isinstance(value, dict):
        return None
    if "RateLimit" not in value and "BurstLimit" not in value:
        return None
    return Throttle(
        rate_limit=float(value.get("RateLimit", 10000)), burst_limit=int(value.get("BurstLimit", 5000))
    )


HANDLERS: dict[str, Handler] = {
    "AWS::ApiGateway::ApiKey": api_key,
    "AWS::ApiGateway::UsagePlan": usage_plan,
    "AWS::ApiGateway::UsagePlanKey": usage_plan_key,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
