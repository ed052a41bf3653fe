"""The REST API in moto and in its :class:`local.api_model.RestApiModel` (served over HTTPS by
:mod:`local.apigateway`): the API, resources, methods (``AWS_PROXY`` to Lambda or ``MOCK``; ``NONE``,
``AWS_IAM`` or ``COGNITO_USER_POOLS`` authorization), Cognito authorizers, request validators, deployments,
stages and the region's account settings. API keys and usage plans: :mod:`local.deploy.api_keys`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..api_model import AuthorizerModel, MethodModel, RestApiModel, StageModel
from ..cfn import ResourceState, TemplateError
from ..fidelity import set_api_gateway_logging_role
from .context import Handler, StackContext


def rest_api_of(ctx: StackContext, api_id: str) -> RestApiModel:
    api = ctx.deployment.apis.get(api_id)
    if api is None:
        raise TemplateError(f"{ctx.name}: REST API {api_id} is not deployed")
    return api


def rest_api(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    for key in ("Body", "BodyS3Location", "CloneFrom"):
        if key in props:
            raise TemplateError(f"{ctx.name}: {logical_id}: RestApi {key} (OpenAPI import) is not supported")
    apigateway = ctx.clients("apigateway")
    kwargs: dict[str, Any] = {"name": props.get("Name") or logical_id}
    if props.get("Description"):
        kwargs["description"] = props["Description"]
    if props.get("BinaryMediaTypes"):
        kwargs["binaryMediaTypes"] = props["BinaryMediaTypes"]
    if props.get("EndpointConfiguration"):
        kwargs["endpointConfiguration"] = {"types": props["EndpointConfiguration"].get("Types", ["EDGE"])}
    api_id = apigateway.create_rest_api(**kwargs)["id"]
    root = next(r["id"] for r in apigateway.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    model = RestApiModel(
        id=api_id,
        name=kwargs["name"],
        binary_media_types=list(props.get("BinaryMediaTypes", [])),
        root_resource_id=root,
        resource_paths={root: "/"},
    )
    ctx.deployment.apis[api_id] = model
    return ResourceState("AWS::ApiGateway::RestApi", api_id, {"RootResourceId": root, "RestApiId": api_id})


def api_resource(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    api = rest_api_of(ctx, props["RestApiId"])
    parent_path = api.resource_paths[props["ParentId"]]
    resource_id = ctx.clients("apigateway").create_resource(
        restApiId=api.id, parentId=props["ParentId"], pathPart=props["PathPart"]
    )["id"]
    api.resource_paths[resource_id] = parent_path.rstrip("/") + "/" + props["PathPart"]
    return ResourceState("AWS::ApiGateway::Resource", resource_id, {"ResourceId": resource_id})


def api_method(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    api = rest_api_of(ctx, props["RestApiId"])
    authorization = props.get("AuthorizationType", "NONE")
    if authorization not in ("NONE", "AWS_IAM", "COGNITO_USER_POOLS"):
        raise TemplateError(
            f"{ctx.name}: {logical_id}: authorization type {authorization} is not supported locally "
            "(NONE, AWS_IAM, COGNITO_USER_POOLS; API keys with any)"
        )
    authorizer_id = props.get("AuthorizerId")
    if authorization == "COGNITO_USER_POOLS" and authorizer_id not in api.authorizers:
        raise TemplateError(
            f"{ctx.name}: {logical_id}: COGNITO_USER_POOLS needs the AuthorizerId of a Cognito authorizer "
            f"of the same API (got {authorizer_id!r})"
        )
    integration = props.get("Integration") or {}
    integration_type = integration.get("Type", "MOCK")
    function_arn = None
    if integration_type == "AWS_PROXY":
        match = re.search(
            r":lambda:path/2015-03-31/functions/(.+)/invocations$", str(integration.get("Uri", ""))
        )
        if not match:
            raise TemplateError(
                f"{ctx.name}: {logical_id}: AWS_PROXY integrations must target a Lambda function"
            )
        function_arn = match.group(1)
    elif integration_type != "MOCK":
        raise TemplateError(
            f"{ctx.name}: {logical_id}: integration type {integration_type} is not supported locally "
            "(AWS_PROXY to Lambda, MOCK)"
        )
    http_method = str(props["HttpMethod"]).upper()
    apigateway = ctx.clients("apigateway")
    method_kwargs: dict[str, Any] = {
        "restApiId": api.id,
        "resourceId": props["ResourceId"],
        "httpMethod": http_method,
        "authorizationType": authorization,
        "apiKeyRequired": bool(props.get("ApiKeyRequired", False)),
    }
    if props.get("RequestParameters"):
        method_kwargs["requestParameters"] = {k: bool(v) for k, v in props["RequestParameters"].items()}
    if props.get("RequestValidatorId"):
        method_kwargs["requestValidatorId"] = props["RequestValidatorId"]
    if authorization == "COGNITO_USER_POOLS":
        method_kwargs["authorizerId"] = authorizer_id
        if props.get("AuthorizationScopes"):
            method_kwargs["authorizationScopes"] = list(props["AuthorizationScopes"])
    apigateway.put_method(**method_kwargs)
    if integration_type == "AWS_PROXY":
        apigateway.put_integration(
            restApiId=api.id,
            resourceId=props["ResourceId"],
            httpMethod=http_method,
            type="AWS_PROXY",
            integrationHttpMethod=integration.get("IntegrationHttpMethod", "POST"),
            uri=integration["Uri"],
        )
    path = api.resource_paths[props["ResourceId"]]
    api.methods[(path, http_method)] = MethodModel(
        resource_id=props["ResourceId"],
        resource_path=path,
        http_method=http_method,
        authorization_type=authorization,
        api_key_required=bool(props.get("ApiKeyRequired", False)),
        integration_type=integration_type,
        function_arn=function_arn,
        request_parameters={k: bool(v) for k, v in (props.get("RequestParameters") or {}).items()},
        validator_id=props.get("RequestValidatorId"),
        authorizer_id=authorizer_id if authorization == "COGNITO_USER_POOLS" else None,
        authorization_scopes=list(props.get("AuthorizationScopes") or []),
    )
    return ResourceState("AWS::ApiGateway::Method", f"{api.id}-{props['ResourceId']}-{http_method}")


def api_authorizer(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    api = rest_api_of(ctx, props["RestApiId"])
    kind = props.get("Type")
    if kind != "COGNITO_USER_POOLS":
        raise TemplateError(
            f"{ctx.name}: {logical_id}: authorizers of type {kind} are not supported locally "
            "(COGNITO_USER_POOLS)"
        )
    arns = [str(arn) for arn in props.get("ProviderARNs") or []]
    if not arns:
        raise TemplateError(f"{ctx.name}: {logical_id}: a Cognito authorizer needs ProviderARNs")
    identity_source = str(props.get("IdentitySource") or "method.request.header.Authorization")
    if not identity_source.startswith("method.request.header."):
        raise TemplateError(
            f"{ctx.name}: {logical_id}: IdentitySource {identity_source!r} is not a request header"
        )
    name = str(props.get("Name") or logical_id)
    authorizer_id = ctx.clients("apigateway").create_authorizer(
        restApiId=api.id,
        name=name,
        type="COGNITO_USER_POOLS",
        providerARNs=arns,
        identitySource=identity_source,
    )["id"]
    api.authorizers[authorizer_id] = AuthorizerModel(
        id=authorizer_id,
        name=name,
        type="COGNITO_USER_POOLS",
        provider_arns=tuple(arns),
        identity_source=identity_source,
    )
    return ResourceState("AWS::ApiGateway::Authorizer", authorizer_id, {"AuthorizerId": authorizer_id})


def api_validator(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    api = rest_api_of(ctx, props["RestApiId"])
    body = bool(props.get("ValidateRequestBody", False))
    parameters = bool(props.get("ValidateRequestParameters", False))
    validator_id = ctx.clients("apigateway").create_request_validator(
        restApiId=api.id,
        name=props.get("Name", logical_id),
        validateRequestBody=body,
        validateRequestParameters=parameters,
    )["id"]
    api.validators[validator_id] = (body, parameters)
    return ResourceState(
        "AWS::ApiGateway::RequestValidator", validator_id, {"RequestValidatorId": validator_id}
    )


def api_deployment(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    api = rest_api_of(ctx, props["RestApiId"])
    kwargs: dict[str, Any] = {"restApiId": api.id, "description": props.get("Description", "")}
    if props.get("StageName"):
        kwargs["stageName"] = props["StageName"]
    deployment_id = ctx.clients("apigateway").create_deployment(**kwargs)["id"]
    if props.get("StageName"):
        api.stages[props["StageName"]] = StageModel(name=props["StageName"], deployment_id=deployment_id)
    return ResourceState("AWS::ApiGateway::Deployment", deployment_id, {"DeploymentId": deployment_id})


def api_stage(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    api = rest_api_of(ctx, props["RestApiId"])
    name = props["StageName"]
    ctx.clients("apigateway").create_stage(
        restApiId=api.id,
        stageName=name,
        deploymentId=props["DeploymentId"],
        description=props.get("Description", ""),
        tracingEnabled=bool(props.get("TracingEnabled", False)),
    )
    api.stages[name] = StageModel(
        name=name,
        deployment_id=props["DeploymentId"],
        method_settings=list(props.get("MethodSettings", [])),
    )
    return ResourceState("AWS::ApiGateway::Stage", name)


def api_account(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    """The region's API Gateway settings: UpdateAccount ``/cloudwatchRoleArn`` in moto (account-wide, so it
    outlives the stack as on AWS). The role itself is not checked (IAM is not evaluated locally)."""
    if props.get("CloudWatchRoleArn"):
        set_api_gateway_logging_role(ctx.clients, str(props["CloudWatchRoleArn"]))
    account_id = hashlib.sha256(f"{ctx.name}/{logical_id}".encode()).hexdigest()[:10]
    return ResourceState("AWS::ApiGateway::Account", account_id, {"Id": account_id})


HANDLERS: dict[str, Handler] = {
    "AWS::ApiGateway::RestApi": rest_api,
    "AWS::ApiGateway::Resource": api_resource,
    "AWS::ApiGateway::Method": api_method,
    "AWS::ApiGateway::RequestValidator": api_validator,
    "AWS::ApiGateway::Deployment": api_deployment,
    "AWS::ApiGateway::Stage": api_stage,
    "AWS::ApiGateway::Authorizer": api_authorizer,
    "AWS::ApiGateway::Account": api_account,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
