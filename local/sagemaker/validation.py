"""SageMaker's request validation, driven by botocore's SageMaker service model (issue 14).

botocore's client-side validator (``botocore.validate``) checks only what it can check offline without
rejecting requests a newer service would accept: unknown and missing members, types and *minimum* lengths
and values (its ``VALIDATED_METADATA_ATTRS`` are ``required``, ``min``, ``document`` and ``union``). The
service itself also enforces each shape's ``max`` length or value, ``pattern`` and ``enum``: a 64-character
job name, a 101st hyperparameter, a 2501-character hyperparameter value, a 51st tag or a 1025-character
S3Uri reach SageMaker and are refused there with a ``ValidationException``. The limits are those the API
reference lists per member (e.g. https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html:
TrainingJobName "Maximum length of 63. Pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", HyperParameters
"Maximum number of 100 items", key "Maximum length of 256", value "Maximum length of 2500"; Tags "Maximum
number of 50 items", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html: key 128, value
256; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html: S3Uri 1024). They are
read from botocore's model (``max``/``pattern``/``enum`` of each shape), not copied.

:func:`validate_request` is the one request validation of :class:`local.sagemaker.LocalSageMaker`, whichever
job runner it has (real jobs behind the moto server, scripted ones in the Step Functions tests). Its messages have AWS's shape ("1 validation error
detected: Value 'x' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or
equal to 63"): members in lower camel case, list items as ``.N.member``, map entries summarised as "Map value
must satisfy constraint: [...]" / "Map keys must satisfy constraint: [...]", sensitive values not quoted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters

from .api import service_model
from .errors import SageMakerServiceError


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        # The model's patterns are Java regexes; the few Python cannot compile (\p{L} classes) are
        # skipped rather than guessed.
        return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def constraint_phrases(value: Any, shape: Shape) -> list[str]:
    """The constraints of ``shape`` a scalar ``value`` breaks, in AWS's words (``Member must ...``)."""
    phrases: list[str] = []
    maximum = shape.metadata.get("max")
    if isinstance(value, str):
        if shape.enum and value not in shape.enum:
            phrases.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        if maximum is not None and len(value) > maximum:
            phrases.append(f"Member must have length less than or equal to {maximum}")
        pattern = shape.metadata.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        # The service matches the whole value (Java's Pattern.matches), not a substring.
        if compiled is not None and compiled.fullmatch(value) is None:
            phrases.append(f"Member must satisfy regular expression pattern: {pattern}")
    elif (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and maximum is not None
        and value > maximum
    ):
        phrases.append(f"Member must have value less than or equal to {maximum}")
    return phrases


def _subject(value: Any, shape: Shape, path: str) -> str:
    if isinstance(value, str | int | float) and not shape.metadata.get("sensitive"):
        return f"Value '{value}' at '{path}'"
    return f"Value at '{path}'"


def _map_problems(value: Mapping[str, Any], shape: Shape, path: str, problems: list[str]) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and len(value) > maximum:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {maximum}"
        )
    key_phrases = sorted({p for key in value for p in constraint_phrases(key, shape.key)})
    if key_phrases:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: "
            f"Map keys must satisfy constraint: [{', '.join(key_phrases)}]"
        )
    scalar_values = shape.value.type_name not in ("structure", "list", "map")
    if scalar_values:
        value_phrases = sorted({p for item in value.values() for p in constraint_phrases(item, shape.value)})
        if value_phrases:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: "
                f"Map value must satisfy constraint: [{', '.join(value_phrases)}]"
            )
        return
    for key, item in value.items():
        check_constraints(item, shape.value, f"{path}.{key}", problems)


def check_constraints(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    """Append to ``problems`` every ``max``/``pattern``/``enum`` constraint of ``shape`` that ``value`` (a
    request already valid for botocore) breaks, as AWS words it; ``path`` is the member's AWS path."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            member = shape.members.get(key)
            if member is not None:
                check_constraints(
                    item, member, f"{path}.{_lower_first(key)}" if path else _lower_first(key), problems
                )
    elif kind == "list" and isinstance(value, list):
        maximum = shape.metadata.get("max")
        if maximum is not None and len(value) > maximum:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {maximum}"
            )
        for index, item in enumerate(value, start=1):
            check_constraints(item, shape.member, f"{path}.{index}.member", problems)
    elif kind == "map" and isinstance(value, Mapping):
        _map_problems(value, shape, path, problems)
    else:
        subject = _subject(value, shape, path)
        problems.extend(
            f"{subject} failed to satisfy constraint: {p}" for p in constraint_phrases(value, shape)
        )


def validate_request(operation: str, request: Mapping[str, Any], *, constraints: bool = True) -> None:
    """Validate a request against botocore's SageMaker model; raise ``ValidationException`` if bad.

    ``operation`` is the API name (``CreateTrainingJob``). botocore's own validator catches misspelled
    or unknown fields, missing required fields, wrong types and minimums; with ``constraints`` the maximum
    lengths, counts and values, regular-expression patterns and enum values of the model are enforced as
    well, as SageMaker does, with SageMaker's message (every problem, ``; ``-separated).
    """
    input_shape = service_model().operation_model(operation).input_shape
    try:
        validate_parameters(dict(request), input_shape)
    except ParamValidationError as error:
        raise SageMakerServiceError("ValidationException", str(error.kwargs["report"])) from error
    if constraints:
        problems: list[str] = []
        check_constraints(request, input_shape, "", problems)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            raise SageMakerServiceError(
                "ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems)
            )
