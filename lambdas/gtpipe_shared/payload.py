"""Validation of the JSON payloads the state machine sends to the pipeline Lambdas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from gtpipe_shared.tasks import TaskSpec, task_spec

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

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


def payload_task(task_type: str, error: type[Exception], what: str, consequence: str = "") -> TaskSpec:
    """The spec of a payload's ``task_type``; for an unknown one raise `error` naming `what` (as
    :func:`parse_payload` does) followed by `consequence` (e.g. "; evaluation is not supported for it")."""
    try:
        return task_spec(task_type)
    except ValueError as exc:
        raise error(f"{what}: {exc}{consequence}") from None


def payload_action(event: Any, logger: Logger, error: type[Exception], what: str) -> Any:
    """The ``action`` of a payload a handler dispatches on; raise `error` ("`what` must be a JSON object")
    unless it is an object. A string ``run_id`` names the run in the log (:func:`log_run`)."""
    if not isinstance(event, dict):
        raise error(f"{what} must be a JSON object")
    if isinstance(event.get("run_id"), str):
        log_run(logger, event["run_id"])
    return event.get("action")


def log_run(logger: Logger, run_id: str, **keys: Any) -> None:
    """Name the run in every line `logger` writes in this invocation: ``run_id`` becomes its correlation id
    and, with `keys`, an appended key."""
    logger.set_correlation_id(run_id)
    logger.append_keys(run_id=run_id, **keys)
