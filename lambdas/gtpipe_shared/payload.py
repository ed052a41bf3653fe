"""Validation of the JSON payloads the state machine sends to the pipeline Lambdas."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_payload(model: type[ModelT], event: Any, error: type[Exception], what: str) -> ModelT:
    """`event` validated as `model`; on failure raise `error` naming the first bad field.

    `what` names the payload in the message (e.g. "split payload"), so the state machine's Catch records
    a reason a person can act on instead of pydantic's full report.
    """
    if not isinstance(event, dict):
        raise error(f"{what} must be a JSON object")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise error(f"invalid {what}: {location}: {first['msg']}") from exc
