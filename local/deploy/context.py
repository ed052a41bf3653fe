"""What every resource handler works with: the deployment so far, the stack being deployed, the local
services it creates resources in, and CloudFormation's naming.

A handler is ``handler(ctx, logical_id, properties) -> ResourceState``: ``properties`` are the resource's
resolved ``Properties``; it creates the resource (in moto through ``ctx.clients(service)``, or in the local
runtimes of ``ctx.services``) and returns what it answers to ``Ref`` and ``Fn::GetAtt``. A
:class:`~local.cfn.TemplateError` names what the local cloud cannot do; any other exception is reported as
the resource's creation failing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.sfn import LambdaRegistry

from ..api_model import RestApiModel
from ..cfn import Environment, ResourceState, TemplateResolver
from ..cfn_assembly import StackArtifact
from ..fidelity import AccountState
from ..iam_roles import DeployedIam
from ..lambda_runtime import FunctionSpec, LambdaRuntime


@dataclass
class StackDeployment:
    """One deployed stack."""

    name: str
    resources: dict[str, ResourceState] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    not_emulated: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    """Everything a local deployment created."""

    environment: Environment
    stacks: dict[str, StackDeployment] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    apis: dict[str, RestApiModel] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    iam: DeployedIam = field(default_factory=DeployedIam)
    """The roles with their identity policies, and the Lambda permissions (local/iam_roles.py)."""
    alarms: list[str] = field(default_factory=list)
    """The CloudWatch alarms created in moto, which the local cloud evaluates (local/alarms.py)."""

    def output(self, name: str) -> Any:
        """An output by name (the last stack that declares it wins); KeyError if none does."""
        for stack in reversed(list(self.stacks.values())):
            if name in stack.outputs:
                return stack.outputs[name]
        raise KeyError(name)


@dataclass(frozen=True)
class DeployServices:
    """Where the handlers create resources: ``clients(service)`` (boto3 clients of the local endpoint), the
    Lambda runtime and registry, a scratch folder for unpacked code, endpoint rewrites and account state."""

    clients: Callable[[str], Any]
    environment: Environment
    runtime: LambdaRuntime
    registry: LambdaRegistry
    work_dir: Path
    endpoint_rewrites: Mapping[str, str]
    account: AccountState


@dataclass
class StackContext:
    """One stack's deployment in progress, as a handler sees it."""

    stack: StackArtifact
    resolver: TemplateResolver
    deployment: Deployment
    result: StackDeployment
    services: DeployServices

    @property
    def name(self) -> str:
        """The stack's name (it starts every error message)."""
        return self.stack.name

    @property
    def clients(self) -> Callable[[str], Any]:
        """``clients(service)``: a boto3 client of the local endpoint."""
        return self.services.clients

    @property
    def environment(self) -> Environment:
        """The account and region deployed to."""
        return self.services.environment


Handler = Callable[[StackContext, str, dict[str, Any]], ResourceState]
"""Creates one resource (see the module docstring)."""


def generated_name(stack: str, logical_id: str, max_length: int, *, lowercase: bool = False) -> str:
    """A CloudFormation-style physical name ``<stack>-<logical id>-<suffix>`` within ``max_length``."""
    digest = base64.b32encode(hashlib.sha256(f"{stack}/{logical_id}".encode()).digest()).decode()
    suffix = digest[:12]
    budget = max_length - len(suffix) - 2
    stack_part = stack[: max(1, budget // 2)] if len(stack) + len(logical_id) > budget else stack
    logical_part = logical_id[: max(1, budget - len(stack_part))]
    name = f"{stack_part}-{logical_part}-{suffix}"
    return name.lower() if lowercase else name


def aws_arn(env: Environment, service: str, resource: str, region: bool = True, account: bool = True) -> str:
    """An ARN in ``env`` (IAM ARNs have no region)."""
    return (
        f"arn:{env.partition}:{service}:{env.region if region else ''}:{env.account_id if account else ''}:"
        f"{resource}"
    )
