"""Lambda functions in the local runtime (:class:`local.lambda_runtime.LambdaRuntime`), registered with
:class:`local.sfn.LambdaRegistry` under their name and ARN, and their asynchronous invocation settings.

Python 3 zip/folder assets and inline code only; environment values naming an AWS endpoint listed in the
deployer's ``endpoint_rewrites`` are rewritten to the local endpoint.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from ..cfn import ResourceState, TemplateError, property_text
from ..lambda_runtime import FunctionSpec
from .context import Handler, StackContext, aws_arn, generated_name


def code_dir(ctx: StackContext, logical_id: str, code: dict[str, Any]) -> Path:
    if "ImageUri" in code:
        raise TemplateError(f"{ctx.name}: {logical_id}: container image functions are not supported locally")
    if "ZipFile" in code:
        target = ctx.services.work_dir / "inline" / ctx.name / logical_id
        target.mkdir(parents=True, exist_ok=True)
        (target / "index.py").write_text(code["ZipFile"])
        return target
    asset = ctx.stack.asset_for_object_key(str(code.get("S3Key")))
    if asset.source.is_dir():
        return asset.source
    if zipfile.is_zipfile(asset.source):
        target = ctx.services.work_dir / "zips" / asset.asset_hash
        if not target.exists():
            with zipfile.ZipFile(asset.source) as archive:
                archive.extractall(target)
        return target
    raise TemplateError(f"{ctx.name}: {logical_id}: asset {asset.source} is neither a folder nor a zip file")


def lambda_function(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    runtime = str(props.get("Runtime", ""))
    if not runtime.startswith("python3"):
        raise TemplateError(
            f"{ctx.name}: {logical_id}: runtime {runtime or props.get('PackageType')!r} is not supported "
            "locally (Python 3 functions only)"
        )
    name = props.get("FunctionName") or generated_name(ctx.name, logical_id, 64)
    arn = aws_arn(ctx.environment, "lambda", f"function:{name}")
    variables = (props.get("Environment") or {}).get("Variables") or {}
    spec = FunctionSpec(
        name=name,
        arn=arn,
        handler=str(props["Handler"]),
        code_dir=code_dir(ctx, logical_id, props["Code"]),
        environment={key: rewrite_endpoints(ctx, property_text(value)) for key, value in variables.items()},
        timeout_seconds=int(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
        runtime=runtime,
        role_arn=str(props["Role"]) if props.get("Role") else None,
    )
    spec.async_config.dead_letter_arn = (props.get("DeadLetterConfig") or {}).get("TargetArn")
    function = ctx.services.runtime.add(spec)
    # Registered under the name and the ARN: tasks and targets may use either form.
    for key in (name, arn):
        ctx.services.registry.register(
            key, function, memory_mb=spec.memory_mb, timeout_seconds=spec.timeout_seconds
        )
    ctx.deployment.functions[name] = spec
    return ResourceState("AWS::Lambda::Function", name, {"Arn": arn})


def rewrite_endpoints(ctx: StackContext, value: str) -> str:
    """``value`` with each AWS endpoint URL of the deployer's ``endpoint_rewrites`` replaced by its local one."""
    for aws_url, local_url in ctx.services.endpoint_rewrites.items():
        value = value.replace(aws_url, local_url)
    return value


def lambda_event_invoke_config(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    from local.sfn import function_name_of

    name = function_name_of(str(props["FunctionName"]))
    spec = ctx.deployment.functions.get(name)
    if spec is None:
        raise TemplateError(f"{ctx.name}: {logical_id}: function {name} is not deployed")
    if "MaximumRetryAttempts" in props:
        spec.async_config.maximum_retry_attempts = int(props["MaximumRetryAttempts"])
    if "MaximumEventAgeInSeconds" in props:
        spec.async_config.maximum_event_age_seconds = int(props["MaximumEventAgeInSeconds"])
    on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if on_failure:
        if ":sqs:" not in on_failure:
            raise TemplateError(f"{ctx.name}: {logical_id}: only SQS on-failure destinations are supported")
        spec.async_config.on_failure_arn = on_failure
    if (props.get("DestinationConfig") or {}).get("OnSuccess"):
        raise TemplateError(f"{ctx.name}: {logical_id}: on-success destinations are not supported locally")
    return ResourceState("AWS::Lambda::EventInvokeConfig", f"{name}-{props.get('Qualifier', '$LATEST')}")


HANDLERS: dict[str, Handler] = {
    "AWS::Lambda::Function": lambda_function,
    "AWS::Lambda::EventInvokeConfig": lambda_event_invoke_config,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
