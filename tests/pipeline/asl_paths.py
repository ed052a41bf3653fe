"""A small evaluator for the ASL Parameters the pipeline uses: `.$` JSONPaths, the context object and the
intrinsic functions States.Format / States.Array / States.ArrayGetItem / States.StringSplit / States.Hash.

It lets tests render every Task's request from a sample state and check it against botocore's service
model without running anything. Anything it does not understand raises, so the definition cannot quietly
drift past the test.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

# States.Hash's algorithms and their hashlib names (hex digest, as Step Functions returns it).
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}

_INTRINSIC = re.compile(r"^(States\.[A-Za-z]+)\((.*)\)$", re.S)


def resolve_path(path: str, state: Any, context: dict[str, Any]) -> Any:
    """`$.a.b` against the state, `$$.X.Y` against the context object."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (state, path[1:])
    value = root
    for part in [p for p in rest.split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"{path}: no field {part!r}")
        value = value[part]
    return value


def _split_arguments(text: str) -> list[str]:
    arguments, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'" and depth == 0:
            quoted = not quoted
        if char == "," and depth == 0 and not quoted:
            arguments.append(current.strip())
            current = ""
            continue
        depth += (char == "(") - (char == ")") if not quoted else 0
        current += char
    if current.strip():
        arguments.append(current.strip())
    return arguments


def evaluate(expression: str, state: Any, context: dict[str, Any]) -> Any:
    """A `.$` value: a path or an intrinsic function call."""
    expression = expression.strip()
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    if expression.startswith("$"):
        return resolve_path(expression, state, context)
    match = _INTRINSIC.match(expression)
    if not match:
        raise ValueError(f"unsupported expression {expression!r}")
    name, arguments = match.group(1), [evaluate(a, state, context) for a in _split_arguments(match.group(2))]
    if name == "States.Format":
        template, values = arguments[0], list(arguments[1:])
        return re.sub(r"\{\}", lambda _: str(values.pop(0)), template)
    if name == "States.Array":
        return arguments
    if name == "States.StringSplit":
        return [part for part in str(arguments[0]).split(arguments[1]) if part]
    if name == "States.ArrayGetItem":
        return arguments[0][int(arguments[1])]
    if name == "States.Hash":
        return hashlib.new(_HASHES[arguments[1]], str(arguments[0]).encode()).hexdigest()
    raise ValueError(f"unsupported intrinsic {name}")


def render(parameters: Any, state: Any, context: dict[str, Any]) -> Any:
    """Parameters with every `key.$` replaced by `key` and its evaluated value."""
    if isinstance(parameters, dict):
        rendered = {}
        for key, value in parameters.items():
            if key.endswith(".$"):
                rendered[key[:-2]] = evaluate(value, state, context)
            else:
                rendered[key] = render(value, state, context)
        return rendered
    if isinstance(parameters, list):
        return [render(item, state, context) for item in parameters]
    return parameters
