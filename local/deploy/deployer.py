"""The deployer: stacks in dependency order, each stack's resources in reference order, each resource by
its type's handler (:mod:`local.deploy.registry`) or answered as accepted-but-not-emulated
(:mod:`local.deploy.not_emulated`); any other type fails before anything is created."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from local.sfn import LambdaRegistry

from ..cfn import Environment, ResourceState, TemplateError, TemplateResolver
from ..cfn_assembly import CloudAssembly, StackArtifact
from ..fidelity import AccountState, api_gateway_logging_role, check_resource
from ..iam_roles import DeployedIam
from ..lambda_runtime import LambdaRuntime
from .assets import publish_assets
from .context import (
    Deployment,
    DeployServices,
    Handler,
    StackContext,
    StackDeployment,
    aws_arn,
    generated_name,
)
from .not_emulated import NATIVE_CUSTOM_RESOURCES, NOT_EMULATED
from .registry import HANDLERS


class LocalDeployer:
    """Creates the resources of a cloud assembly in the local cloud (see :mod:`local.deploy`).

    ``clients(service)`` returns a boto3 client for the local endpoint. :attr:`handlers` starts as a copy of
    the registry; a caller may add a handler for a type the local cloud serves itself (the gateway
    responses of :mod:`local.apigateway`).
    """

    def __init__(
        self,
        clients: Callable[[str], Any],
        environment: Environment,
        runtime: LambdaRuntime,
        registry: LambdaRegistry,
        *,
        work_dir: Path | None = None,
        endpoint_rewrites: Mapping[str, str] | None = None,
        account: AccountState | None = None,
        iam: DeployedIam | None = None,
    ) -> None:
        # Filled as roles deploy, so functions run during the deployment already act with their role.
        self.iam = iam if iam is not None else DeployedIam()
        self.services = DeployServices(
            clients=clients,
            environment=environment,
            runtime=runtime,
            registry=registry,
            work_dir=work_dir or Path(tempfile.mkdtemp(prefix="gtpipe-deploy-")),
            endpoint_rewrites=dict(endpoint_rewrites or {}),
            # The account's private workforce (local/fidelity.py); the API Gateway role lives in moto.
            account=account if account is not None else AccountState(),
        )
        self.handlers: dict[str, Handler] = dict(HANDLERS)

    def deploy(self, assembly: CloudAssembly) -> Deployment:
        """Deploy every stack of the assembly; raises :class:`TemplateError` on anything unsupported.

        All templates are checked for unsupported resource types before anything is created.
        """
        stacks = assembly.stacks_in_order()
        for stack in stacks:
            self.check_types(stack)
        deployment = Deployment(environment=self.services.environment, iam=self.iam)
        for stack in stacks:
            self._deploy_stack(stack, deployment)
        return deployment

    def check_types(self, stack: StackArtifact) -> None:
        """Fail naming every resource type of ``stack`` that is neither emulated nor accepted."""
        unknown = sorted(
            {
                f"{resource['Type']} ({logical_id})"
                for logical_id, resource in stack.template.get("Resources", {}).items()
                if resource["Type"] not in self.handlers and resource["Type"] not in NOT_EMULATED
            }
        )
        if unknown:
            raise TemplateError(
                f"{stack.name}: resource types not supported by the local cloud: {', '.join(unknown)}. "
                f"Emulated: {', '.join(sorted(self.handlers))}; accepted without emulation: "
                f"{', '.join(sorted(NOT_EMULATED))}"
            )

    def _deploy_stack(self, stack: StackArtifact, deployment: Deployment) -> None:
        resolver = TemplateResolver(
            stack.template,
            stack_name=stack.name,
            environment=self.services.environment,
            exports=deployment.exports,
        )
        result = StackDeployment(name=stack.name)
        # Assets a service reads from S3 at run time (the training source archive), as cdk deploy publishes.
        publish_assets(self.services.clients("s3"), stack, self.services.environment)
        context = StackContext(stack, resolver, deployment, result, self.services)
        providers = self._custom_resource_providers(stack)
        # Whether a logging stage may count on this stack's AWS::ApiGateway::Account (local/fidelity.py).
        api_accounts = [
            name
            for name, r in stack.template.get("Resources", {}).items()
            if r["Type"] == "AWS::ApiGateway::Account"
        ]
        role_before = api_gateway_logging_role(self.services.clients) if api_accounts else None
        for logical_id in resolver.resource_order():
            resource = stack.template["Resources"][logical_id]
            resource_type = resource["Type"]
            path = f"Resources.{logical_id}.Properties"
            properties = resolver.resolve(resource.get("Properties", {}), path)
            unawaited = None
            if role_before is None and resource_type in (
                "AWS::ApiGateway::Stage",
                "AWS::ApiGateway::Deployment",
            ):
                awaited = _transitive_dependencies(resolver, logical_id)
                unawaited = next((a for a in api_accounts if a not in awaited), None)
            self._check_fidelity(stack.name, logical_id, resource_type, properties, unawaited)
            if resource_type == "AWS::Lambda::Function" and logical_id in providers:
                state = self._provider_function(context, logical_id, properties, providers[logical_id])
            elif resource_type in self.handlers:
                try:
                    state = self.handlers[resource_type](context, logical_id, properties)
                except TemplateError:
                    raise
                except Exception as error:
                    raise TemplateError(
                        f"{stack.name}: creating {logical_id} ({resource_type}) failed: {error}"
                    ) from error
            else:
                spec = NOT_EMULATED[resource_type]
                state = ResourceState(
                    resource_type,
                    spec.ref(logical_id, properties, self.services.environment),
                    spec.attributes(logical_id, properties, self.services.environment),
                )
                result.not_emulated[logical_id] = f"{resource_type}: {spec.reason}"
            deployment.iam.record(resource_type, str(state.ref), state.attributes, properties)
            resolver.set_resource(logical_id, state)
            result.resources[logical_id] = state
        result.outputs = resolver.outputs()
        deployment.exports.update(resolver.exported())
        deployment.stacks[stack.name] = result

    def _check_fidelity(
        self,
        stack: str,
        logical_id: str,
        resource_type: str,
        props: dict[str, Any],
        unawaited: str | None = None,
    ) -> None:
        # Where AWS refuses what moto accepts (key policies, Lambda limits, account state): local/fidelity.py.
        spec = NOT_EMULATED.get(resource_type)
        name = spec.ref(logical_id, props, self.services.environment) if spec else logical_id
        try:
            check_resource(
                self.services.clients,
                self.services.environment,
                resource_type,
                name,
                props,
                account=self.services.account,
                unawaited_account=unawaited,
            )
        except TemplateError as error:
            raise type(error)(f"{stack}: creating {logical_id} ({resource_type}) failed: {error}") from None

    def _custom_resource_providers(self, stack: StackArtifact) -> dict[str, str]:
        # Provider functions of the custom resources applied natively: {function logical id: custom type}.
        providers: dict[str, str] = {}
        for resource in stack.template.get("Resources", {}).values():
            if resource["Type"] in NATIVE_CUSTOM_RESOURCES:
                token = resource.get("Properties", {}).get("ServiceToken", {})
                target = token.get("Fn::GetAtt", [None])[0] if isinstance(token, dict) else None
                if isinstance(target, str):
                    providers[target] = resource["Type"]
        return providers

    def _provider_function(
        self, ctx: StackContext, logical_id: str, props: dict[str, Any], custom_type: str
    ) -> ResourceState:
        name = props.get("FunctionName") or generated_name(ctx.name, logical_id, 64)
        arn = aws_arn(self.services.environment, "lambda", f"function:{name}")
        ctx.result.not_emulated[logical_id] = (
            f"AWS::Lambda::Function: provider of {custom_type}, {NATIVE_CUSTOM_RESOURCES[custom_type]}"
        )
        return ResourceState("AWS::Lambda::Function", name, {"Arn": arn})


def _transitive_dependencies(resolver: TemplateResolver, logical_id: str) -> set[str]:
    """Every resource ``logical_id`` waits for on CloudFormation (references and DependsOn, transitively)."""
    found: set[str] = set()
    pending = [logical_id]
    while pending:
        for dependency in resolver.dependencies(pending.pop()):
            if dependency not in found:
                found.add(dependency)
                pending.append(dependency)
    return found
