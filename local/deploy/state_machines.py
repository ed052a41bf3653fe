"""``AWS::StepFunctions::StateMachine`` in moto: the definition (inline, string or asset) with its
``DefinitionSubstitutions`` filled; a placeholder left without a value or a definition that is not JSON fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..cfn import ResourceState, TemplateError, property_text
from .context import Handler, StackContext, generated_name


def state_machine(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    if "DefinitionString" in props:
        definition = str(props["DefinitionString"])
    elif "Definition" in props:
        definition = json.dumps(props["Definition"])
    elif "DefinitionS3Location" in props:
        location = props["DefinitionS3Location"]
        definition = ctx.stack.asset_for_object_key(str(location["Key"])).source.read_text()
    else:
        raise TemplateError(f"{ctx.name}: {logical_id}: state machine without a definition")
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", property_text(value))
    leftover = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
    if leftover:
        raise TemplateError(
            f"{ctx.name}: {logical_id}: definition placeholders without a DefinitionSubstitutions value: "
            f"{leftover}"
        )
    json.loads(definition)  # CloudFormation refuses a definition that is not JSON
    name = props.get("StateMachineName") or generated_name(ctx.name, logical_id, 80)
    response = ctx.clients("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=props["RoleArn"],
        type=props.get("StateMachineType", "STANDARD"),
    )
    arn = response["stateMachineArn"]
    return ResourceState("AWS::StepFunctions::StateMachine", arn, {"Arn": arn, "Name": name})


HANDLERS: dict[str, Handler] = {
    "AWS::StepFunctions::StateMachine": state_machine,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
