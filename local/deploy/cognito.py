"""Cognito user pools, their clients, groups, users and group memberships in moto.

The template's properties that the ``cognito-idp`` API takes under the same name are passed; the others
(``EnabledMfas``, ``UserPoolTier``, ...) are recorded in the stack's ``not_emulated``. Template users get a
random temporary password and no invitation (the local cloud creates its own users to sign in with).
"""

from __future__ import annotations

from typing import Any

from ..cfn import ResourceState, TemplateError
from .context import Handler, StackContext, generated_name


def api_arguments(
    ctx: StackContext,
    logical_id: str,
    operation: str,
    props: dict[str, Any],
    *,
    skip: tuple[str, ...],
) -> dict[str, Any]:
    # CloudFormation's Cognito properties mostly carry the API's parameter names: pass those, record
    # the rest (EnabledMfas, UserPoolTier, ...) as not emulated.
    members = ctx.clients("cognito-idp").meta.service_model.operation_model(operation).input_shape.members
    passed = {key: value for key, value in props.items() if key in members and key not in skip}
    ignored = sorted(key for key in props if key not in members and key not in skip)
    if ignored:
        ctx.result.not_emulated[logical_id] = f"{operation}: properties not applied locally: {ignored}"
    return passed


def user_pool(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    name = props.get("UserPoolName") or generated_name(ctx.name, logical_id, 128)
    kwargs = api_arguments(ctx, logical_id, "CreateUserPool", props, skip=("PoolName", "UserPoolName"))
    pool = ctx.clients("cognito-idp").create_user_pool(PoolName=name, **kwargs)["UserPool"]
    pool_id, env = pool["Id"], ctx.environment
    return ResourceState(
        "AWS::Cognito::UserPool",
        pool_id,
        {
            "Arn": pool["Arn"],
            "UserPoolId": pool_id,
            "ProviderName": f"cognito-idp.{env.region}.{env.url_suffix}/{pool_id}",
            "ProviderURL": f"https://cognito-idp.{env.region}.{env.url_suffix}/{pool_id}",
        },
    )


def user_pool_client(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    name = props.get("ClientName") or generated_name(ctx.name, logical_id, 128)
    kwargs = api_arguments(ctx, logical_id, "CreateUserPoolClient", props, skip=("ClientName", "UserPoolId"))
    client = ctx.clients("cognito-idp").create_user_pool_client(
        UserPoolId=props["UserPoolId"], ClientName=name, **kwargs
    )["UserPoolClient"]
    attributes = {"ClientId": client["ClientId"], "Name": name}
    if client.get("ClientSecret"):
        attributes["ClientSecret"] = client["ClientSecret"]
    return ResourceState("AWS::Cognito::UserPoolClient", client["ClientId"], attributes)


def user_pool_group(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    name = props.get("GroupName") or generated_name(ctx.name, logical_id, 128)
    kwargs = api_arguments(ctx, logical_id, "CreateGroup", props, skip=("GroupName", "UserPoolId"))
    ctx.clients("cognito-idp").create_group(UserPoolId=props["UserPoolId"], GroupName=name, **kwargs)
    return ResourceState("AWS::Cognito::UserPoolGroup", name)


def user_pool_user(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    # AWS e-mails an invitation with a temporary password; locally no e-mail is sent (MessageAction
    # SUPPRESS) and the user has a random temporary password nobody knows: the local cloud creates its
    # own users for people and simulated workers (local.cognito.create_user).
    username = props.get("Username") or next(
        (a["Value"] for a in props.get("UserAttributes") or [] if a.get("Name") == "email"), None
    )
    if not username:
        raise TemplateError(f"{ctx.name}: {logical_id}: a user needs a Username or an email attribute")
    from ..cognito import new_password

    kwargs = api_arguments(
        ctx,
        logical_id,
        "AdminCreateUser",
        props,
        skip=("Username", "UserPoolId", "MessageAction", "DesiredDeliveryMediums", "TemporaryPassword"),
    )
    ctx.clients("cognito-idp").admin_create_user(
        UserPoolId=props["UserPoolId"],
        Username=str(username),
        TemporaryPassword=new_password(),
        MessageAction="SUPPRESS",
        **kwargs,
    )
    return ResourceState("AWS::Cognito::UserPoolUser", str(username))


def user_to_group(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    ctx.clients("cognito-idp").admin_add_user_to_group(
        UserPoolId=props["UserPoolId"], Username=props["Username"], GroupName=props["GroupName"]
    )
    return ResourceState(
        "AWS::Cognito::UserPoolUserToGroupAttachment", f"{props['GroupName']}-{props['Username']}"
    )


HANDLERS: dict[str, Handler] = {
    "AWS::Cognito::UserPool": user_pool,
    "AWS::Cognito::UserPoolClient": user_pool_client,
    "AWS::Cognito::UserPoolGroup": user_pool_group,
    "AWS::Cognito::UserPoolUser": user_pool_user,
    "AWS::Cognito::UserPoolUserToGroupAttachment": user_to_group,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
