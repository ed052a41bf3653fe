"""Reading a CDK cloud assembly and resolving CloudFormation intrinsics, for the local deployment.

The local cloud deploys exactly what ``cdk synth`` wrote: :class:`local.cfn_assembly.CloudAssembly` reads
``manifest.json`` (stack order from the artifacts' dependencies) and each stack's asset manifest (so a
Lambda ``Code.S3Key`` or a state machine ``DefinitionS3Location`` leads back to the staged asset in the
assembly directory). :class:`TemplateResolver` evaluates the intrinsic functions and pseudo parameters a
template uses against the physical IDs and attributes of resources already deployed.

Anything this module does not understand fails loudly with :class:`TemplateError` naming the construct
and where it appears, rather than deploying something that behaves differently from CloudFormation:

- intrinsics: :data:`SUPPORTED_INTRINSICS` (plus ``Ref``; ``Condition`` inside conditions);
- pseudo parameters: :data:`PSEUDO_PARAMETERS`;
- template sections: ``Transform`` (macros, SAM) is refused; ``Rules`` are not evaluated (CDK's only rule
  checks the version of the bootstrap stack, which does not exist locally); ``Parameters`` resolve to
  their ``Default`` unless they are SSM-typed (CDK's ``BootstrapVersion``), which may not be referenced.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

SUPPORTED_INTRINSICS: Final[frozenset[str]] = frozenset(
    {
        "Fn::GetAtt",
        "Fn::Join",
        "Fn::Sub",
        "Fn::FindInMap",
        "Fn::ImportValue",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::Base64",
        "Fn::GetAZs",
    }
)
"""Intrinsic functions resolved in resource properties and outputs (``Ref`` is always supported)."""

CONDITION_FUNCTIONS: Final[frozenset[str]] = frozenset(
    {"Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Fn::Contains", "Condition"}
)
"""Functions allowed inside the ``Conditions`` section (plus every supported intrinsic)."""

PSEUDO_PARAMETERS: Final[frozenset[str]] = frozenset(
    {
        "AWS::Region",
        "AWS::AccountId",
        "AWS::Partition",
        "AWS::URLSuffix",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::NoValue",
        "AWS::NotificationARNs",
    }
)


class TemplateError(Exception):
    """The template uses something the local deployment cannot resolve or emulate (the message says what
    and where)."""


class _NoValue:
    """``Ref: AWS::NoValue``: the enclosing property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


@dataclass(frozen=True)
class Environment:
    """Account and region the templates are deployed to (CDK's environment-agnostic stacks use the pseudo
    parameters, which resolve to these)."""

    account_id: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"


# --------------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------------


@dataclass
class ResourceState:
    """What a deployed resource answers to ``Ref`` and ``Fn::GetAtt``."""

    resource_type: str
    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class TemplateResolver:
    """Evaluates one stack template's intrinsics against deployed resources and imported exports.

    The deployer creates resources in :meth:`resource_order`, resolves each one's properties with
    :meth:`resolve` and then records its physical ID and attributes with :meth:`set_resource`, so later
    ``Ref``/``Fn::GetAtt`` see them.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        environment: Environment,
        exports: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        if "Transform" in template:
            raise TemplateError(
                f"{stack_name}: template Transform {template['Transform']!r} (macros, SAM) is not supported"
            )
        self.template = template
        self.stack_name = stack_name
        self.environment = environment
        self.exports: Mapping[str, Any] = exports or {}
        self.resources: dict[str, Any] = dict(template.get("Resources", {}))
        self.mappings: dict[str, Any] = dict(template.get("Mappings", {}))
        self.conditions: dict[str, Any] = dict(template.get("Conditions", {}))
        self._parameters = self._parameter_values(dict(template.get("Parameters", {})), parameters or {})
        self._condition_values: dict[str, bool] = {}
        self.state: dict[str, ResourceState] = {}

    # -- parameters, pseudo parameters, conditions ---------------------------------------------------

    def _parameter_values(self, declared: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            elif str(spec.get("Type", "")).startswith("AWS::SSM::Parameter"):
                # Resolved by CloudFormation from SSM at deploy time; only CDK's bootstrap check uses one.
                continue
            elif "Default" in spec:
                values[name] = spec["Default"]
        return values

    @property
    def stack_id(self) -> str:
        """A stable stack ARN for ``AWS::StackId``."""
        env = self.environment
        return (
            f"arn:{env.partition}:cloudformation:{env.region}:{env.account_id}:stack/{self.stack_name}/"
            f"00000000-0000-0000-0000-{hashlib.sha256(self.stack_name.encode()).hexdigest()[:12]}"
        )

    def pseudo(self, name: str) -> Any:
        """The value of a pseudo parameter."""
        env = self.environment
        values: dict[str, Any] = {
            "AWS::Region": env.region,
            "AWS::AccountId": env.account_id,
            "AWS::Partition": env.partition,
            "AWS::URLSuffix": env.url_suffix,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        return values[name]

    def condition(self, name: str, path: str = "") -> bool:
        """Evaluate a named condition (memoized)."""
        if name not in self._condition_values:
            if name not in self.conditions:
                raise TemplateError(f"{self.stack_name}{_at(path)}: unknown condition {name!r}")
            value = self._evaluate_condition(self.conditions[name], f"Conditions.{name}")
            if not isinstance(value, bool):
                raise TemplateError(f"{self.stack_name}: condition {name} is not a boolean ({value!r})")
            self._condition_values[name] = value
        return self._condition_values[name]

    def _evaluate_condition(self, node: Any, path: str) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, args),) = node.items()
            if key == "Condition":
                return self.condition(args, path)
            if key == "Fn::Equals":
                left, right = (self._evaluate_condition(arg, path) for arg in args)
                return _comparable(left) == _comparable(right)
            if key == "Fn::And":
                return all(self._evaluate_condition(arg, path) for arg in args)
            if key == "Fn::Or":
                return any(self._evaluate_condition(arg, path) for arg in args)
            if key == "Fn::Not":
                return not self._evaluate_condition(args[0], path)
            if key == "Fn::Contains":
                values, needle = (self._evaluate_condition(arg, path) for arg in args)
                return _comparable(needle) in [_comparable(v) for v in values]
        return self.resolve(node, path)

    # -- resources -------------------------------------------------------------------------------------

    def resource_enabled(self, logical_id: str) -> bool:
        """False when the resource's ``Condition`` is false (CloudFormation does not create it)."""
        condition = self.resources[logical_id].get("Condition")
        return True if condition is None else self.condition(condition, f"Resources.{logical_id}")

    def set_resource(self, logical_id: str, state: ResourceState) -> None:
        """Record what a deployed resource answers to Ref/GetAtt."""
        self.state[logical_id] = state

    def dependencies(self, logical_id: str) -> set[str]:
        """Resources that ``logical_id`` references (Ref, GetAtt, Sub variables) or names in DependsOn."""
        resource = self.resources[logical_id]
        found: set[str] = set()
        depends_on = resource.get("DependsOn", [])
        found.update([depends_on] if isinstance(depends_on, str) else depends_on)
        found.update(self._references(resource.get("Properties", {})))
        unknown = found - set(self.resources)
        if unknown:
            raise TemplateError(
                f"{self.stack_name}: {logical_id} depends on unknown resources {sorted(unknown)}"
            )
        return found

    def _references(self, node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, args),) = node.items()
                if key == "Ref" and isinstance(args, str) and args in self.resources:
                    yield args
                    return
                if key == "Fn::GetAtt":
                    target = args.split(".", 1)[0] if isinstance(args, str) else args[0]
                    if isinstance(target, str) and target in self.resources:
                        yield target
                if key == "Fn::Sub":
                    text = args if isinstance(args, str) else args[0]
                    variables = {} if isinstance(args, str) else args[1]
                    for match in _SUB_VARIABLE.finditer(text if isinstance(text, str) else ""):
                        name = match.group(1).split(".", 1)[0]
                        if name in self.resources and name not in variables:
                            yield name
            for value in node.values():
                yield from self._references(value)
        elif isinstance(node, list):
            for value in node:
                yield from self._references(value)

    def resource_order(self) -> list[str]:
        """Enabled resources in an order where every resource follows what it references (template order
        on ties, like a stable topological sort)."""
        enabled = [name for name in self.resources if self.resource_enabled(name)]
        ordered: list[str] = []
        state: dict[str, str] = {}
        position = _stable(enabled)

        def visit(name: str, chain: list[str]) -> None:
            mark = state.get(name)
            if mark == "done":
                return
            if mark == "visiting":
                raise TemplateError(f"{self.stack_name}: circular dependency {' -> '.join([*chain, name])}")
            state[name] = "visiting"
            for dependency in sorted(self.dependencies(name), key=position):
                if dependency not in enabled:
                    raise TemplateError(
                        f"{self.stack_name}: {name} references {dependency}, whose condition is false"
                    )
                visit(dependency, [*chain, name])
            state[name] = "done"
            ordered.append(name)

        for name in enabled:
            visit(name, [])
        return ordered

    # -- resolution ------------------------------------------------------------------------------------

    def resolve(self, node: Any, path: str = "") -> Any:
        """``node`` with every intrinsic evaluated; ``AWS::NoValue`` properties are dropped."""
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, args),) = node.items()
                if key == "Ref":
                    return self._ref(args, path)
                if key.startswith("Fn::"):
                    return self._function(key, args, path)
                if key == "Condition" and path.startswith("Conditions"):
                    return self.condition(args, path)
            resolved: dict[str, Any] = {}
            for key, value in node.items():
                item = self.resolve(value, f"{path}.{key}" if path else key)
                if item is not NO_VALUE:
                    resolved[key] = item
            return resolved
        if isinstance(node, list):
            items = [self.resolve(value, f"{path}[{index}]") for index, value in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        return node

    def _ref(self, name: Any, path: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{self.stack_name}{_at(path)}: Ref needs a name, got {name!r}")
        if name.startswith("AWS::"):
            if name not in PSEUDO_PARAMETERS:
                raise TemplateError(f"{self.stack_name}{_at(path)}: unsupported pseudo parameter {name}")
            return self.pseudo(name)
        if name in self._parameters:
            return self._parameters[name]
        if name in self.template.get("Parameters", {}):
            raise TemplateError(
                f"{self.stack_name}{_at(path)}: parameter {name} has no value locally (SSM-typed or no Default)"
            )
        return self._state(name, path).ref

    def _state(self, logical_id: str, path: str) -> ResourceState:
        if logical_id not in self.resources:
            raise TemplateError(f"{self.stack_name}{_at(path)}: reference to unknown resource {logical_id!r}")
        state = self.state.get(logical_id)
        if state is None:
            raise TemplateError(
                f"{self.stack_name}{_at(path)}: {logical_id} is referenced before it was deployed "
                "(missing dependency?)"
            )
        return state

    def get_att(self, logical_id: str, attribute: str, path: str = "") -> Any:
        """``Fn::GetAtt`` of a deployed resource; unknown attributes fail loudly."""
        state = self._state(logical_id, path)
        if attribute not in state.attributes:
            raise TemplateError(
                f"{self.stack_name}{_at(path)}: Fn::GetAtt {logical_id}.{attribute} is not supported for "
                f"{state.resource_type} locally (supported: {', '.join(sorted(state.attributes)) or 'none'})"
            )
        return state.attributes[attribute]

    def _function(self, name: str, args: Any, path: str) -> Any:
        handlers: dict[str, Callable[[Any, str], Any]] = {
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Join": self._fn_join,
            "Fn::Sub": self._fn_sub,
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::ImportValue": self._fn_import_value,
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::If": self._fn_if,
            "Fn::Base64": self._fn_base64,
            "Fn::GetAZs": self._fn_get_azs,
        }
        handler = handlers.get(name)
        if handler is None:
            if name in CONDITION_FUNCTIONS and path.startswith("Conditions"):
                return self._evaluate_condition({name: args}, path)
            raise TemplateError(
                f"{self.stack_name}{_at(path)}: intrinsic function {name} is not supported by the local "
                f"deployment (supported: Ref, {', '.join(sorted(SUPPORTED_INTRINSICS))})"
            )
        return handler(args, f"{path}.{name}" if path else name)

    def _fn_get_att(self, args: Any, path: str) -> Any:
        if isinstance(args, str):
            args = args.split(".", 1)
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError(f"{self.stack_name}{_at(path)}: Fn::GetAtt needs [resource, attribute]")
        logical_id, attribute = args[0], self.resolve(args[1], path)
        return self.get_att(logical_id, attribute, path)

    def _fn_join(self, args: Any, path: str) -> str:
        delimiter, values = args
        items = self.resolve(values, path)
        if not isinstance(items, list):
            raise TemplateError(f"{self.stack_name}{_at(path)}: Fn::Join needs a list, got {items!r}")
        return str(delimiter).join(_as_string(item, self.stack_name, path) for item in items)

    def _fn_sub(self, args: Any, path: str) -> str:
        if isinstance(args, str):
            text, variables = args, {}
        else:
            text, raw_variables = args
            variables = {key: self.resolve(value, path) for key, value in raw_variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_string(variables[name], self.stack_name, path)
            if name.startswith("AWS::"):
                return _as_string(self._ref(name, path), self.stack_name, path)
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return _as_string(self.get_att(logical_id, attribute, path), self.stack_name, path)
            return _as_string(self._ref(name, path), self.stack_name, path)

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_find_in_map(self, args: Any, path: str) -> Any:
        if len(args) not in (3, 4):
            raise TemplateError(f"{self.stack_name}{_at(path)}: Fn::FindInMap needs 3 arguments")
        map_name, top, second = (self.resolve(arg, path) for arg in args[:3])
        try:
            return self.mappings[map_name][top][second]
        except KeyError:
            if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
                return self.resolve(args[3]["DefaultValue"], path)
            raise TemplateError(
                f"{self.stack_name}{_at(path)}: Fn::FindInMap {map_name}/{top}/{second} has no value "
                f"(is region {self.environment.region} in the mapping?)"
            ) from None

    def _fn_import_value(self, args: Any, path: str) -> Any:
        name = self.resolve(args, path)
        if name not in self.exports:
            raise TemplateError(
                f"{self.stack_name}{_at(path)}: Fn::ImportValue {name!r}: no deployed stack exports it "
                f"(exports: {', '.join(sorted(self.exports)) or 'none'})"
            )
        return self.exports[name]

    def _fn_select(self, args: Any, path: str) -> Any:
        index, values = self.resolve(args[0], path), self.resolve(args[1], path)
        if not isinstance(values, list):
            raise TemplateError(f"{self.stack_name}{_at(path)}: Fn::Select needs a list, got {values!r}")
        position = int(index)
        if not 0 <= position < len(values):
            raise TemplateError(f"{self.stack_name}{_at(path)}: Fn::Select index {position} out of range")
        return values[position]

    def _fn_split(self, args: Any, path: str) -> list[str]:
        delimiter, text = args[0], self.resolve(args[1], path)
        return _as_string(text, self.stack_name, path).split(str(delimiter))

    def _fn_if(self, args: Any, path: str) -> Any:
        condition, when_true, when_false = args
        return self.resolve(when_true if self.condition(condition, path) else when_false, path)

    def _fn_base64(self, args: Any, path: str) -> str:
        import base64

        return base64.b64encode(_as_string(self.resolve(args, path), self.stack_name, path).encode()).decode()

    def _fn_get_azs(self, args: Any, path: str) -> list[str]:
        region = self.resolve(args, path) or self.environment.region
        return [f"{region}{suffix}" for suffix in "abc"]

    # -- outputs ---------------------------------------------------------------------------------------

    def outputs(self) -> dict[str, Any]:
        """Resolved ``Outputs`` (those whose Condition holds)."""
        values: dict[str, Any] = {}
        for name, output in self.template.get("Outputs", {}).items():
            if "Condition" in output and not self.condition(output["Condition"], f"Outputs.{name}"):
                continue
            values[name] = self.resolve(output["Value"], f"Outputs.{name}")
        return values

    def exported(self) -> dict[str, Any]:
        """``Export.Name`` -> value of this stack's outputs (for later stacks' ``Fn::ImportValue``)."""
        values = self.outputs()
        result: dict[str, Any] = {}
        for name, output in self.template.get("Outputs", {}).items():
            if "Export" in output and name in values:
                result[self.resolve(output["Export"]["Name"], f"Outputs.{name}.Export")] = values[name]
        return result


def property_text(value: Any) -> str:
    """A resolved property value as the text a service stores: ``true``/``false``, JSON for objects and
    lists, else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _stable(order: list[str]) -> Callable[[str], int]:
    positions = {name: index for index, name in enumerate(order)}
    return lambda name: positions.get(name, len(positions))


def _at(path: str) -> str:
    return f" at {path}" if path else ""


def _comparable(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _as_string(value: Any, stack: str, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{stack}{_at(path)}: expected a string, got {value!r}")
