"""A small identity-policy evaluator for the synthesized templates (issue 14 findings 5, 7 and 10).

moto does not evaluate the identity policies of the roles the local cloud's principals act with, so a role that
lacks a permission AWS requires deploys and runs locally. :func:`role_statements` collects the statements a
synthesized template attaches to one role (its inline ``Policies`` and every ``AWS::IAM::Policy`` naming it),
with the CloudFormation intrinsics rendered to concrete strings, and :func:`allows` answers whether they allow
one request (action, resource ARN, request context) the way IAM's identity-policy evaluation does within one
account: an explicit Deny wins, otherwise some Allow must match
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

Modelled: ``Action``/``NotAction`` and ``Resource``/``NotResource`` with ``*`` and ``?`` wildcards (actions
case-insensitively, resources case-sensitively), Allow and Deny, and the String/Arn/Bool condition operators of
:mod:`local.fidelity` (with ``IfExists``). Not modelled: permissions boundaries, SCPs, session policies, resource
policies, policy variables and the numeric/date/IP operators (a statement using one raises
:class:`local.fidelity.PolicyNotEvaluated`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .cfn import Environment
from .fidelity import _action_matches, _as_list, _conditions_match


@dataclass(frozen=True)
class Request:
    """One authorization request: ``action`` on ``resource`` with condition ``context``."""

    action: str
    resource: str
    context: Mapping[str, str] | None = None


def render(node: Any, env: Environment, lookup: Callable[[str], str] | None = None) -> Any:
    """``node`` with ``Ref``/``Fn::GetAtt``/``Fn::ImportValue``/``Fn::Join``/``Fn::Sub`` rendered. Pseudo
    parameters come from ``env``; anything else is ``lookup("Ref:<id>")``, ``lookup("GetAtt:<id>.<attr>")`` or
    ``lookup("Import:<name>")`` (default: the key itself in ``${...}``, which matches no concrete ARN)."""

    def other(key: str) -> str:
        return lookup(key) if lookup else "${" + key + "}"

    pseudo = {
        "AWS::Partition": env.partition,
        "AWS::Region": env.region,
        "AWS::AccountId": env.account_id,
        "AWS::URLSuffix": "amazonaws.com",
    }
    if isinstance(node, list):
        return [render(item, env, lookup) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        name = str(node["Ref"])
        return pseudo.get(name) or other(f"Ref:{name}")
    if "Fn::GetAtt" in node:
        logical_id, attribute = node["Fn::GetAtt"]
        return other(f"GetAtt:{logical_id}.{attribute}")
    if "Fn::ImportValue" in node:
        return other(f"Import:{render(node['Fn::ImportValue'], env, lookup)}")
    if "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        return str(separator).join(str(render(part, env, lookup)) for part in parts)
    if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
        text = str(node["Fn::Sub"])
        for name, value in pseudo.items():
            text = text.replace("${" + name + "}", value)
        return text
    return {key: render(value, env, lookup) for key, value in node.items()}


def role_statements(
    template: Mapping[str, Any],
    role_id: str,
    env: Environment,
    lookup: Callable[[str], str] | None = None,
) -> list[dict[str, Any]]:
    """Every statement ``template`` attaches to the role with logical id ``role_id``, rendered."""
    resources: Mapping[str, Any] = template["Resources"]
    role = resources[role_id]
    statements = [
        s for inline in role["Properties"].get("Policies", []) for s in inline["PolicyDocument"]["Statement"]
    ]
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} in _as_list(resource["Properties"].get("Roles")):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return [render(statement, env, lookup) for statement in statements]


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    def matches(patterns: Any) -> bool:
        return any(fnmatchcase(resource, str(pattern)) for pattern in _as_list(patterns))

    if "NotResource" in statement:
        return not matches(statement["NotResource"])
    return matches(statement.get("Resource"))


def allows(statements: list[dict[str, Any]], request: Request) -> bool:
    """Whether ``statements`` (one principal's identity policies) allow ``request``."""
    context = request.context or {}
    allowed = False
    for statement in statements:
        if not _action_matches(statement, request.action) or not _resource_matches(
            statement, request.resource
        ):
            continue
        if not _conditions_match(statement.get("Condition") or {}, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = True
    return allowed


def denied(statements: list[dict[str, Any]], requests: list[Request]) -> list[Request]:
    """The requests of ``requests`` that ``statements`` do not allow (AccessDenied on AWS)."""
    return [request for request in requests if not allows(statements, request)]
