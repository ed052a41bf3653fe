"""The EventBridge events the local SageMaker emits, shaped like SageMaker's.

The backend calls ``emit_event(detail_type, detail, resources)`` on every status change; the local cloud
publishes it to EventBridge with ``source: aws.sagemaker``. ``detail`` mirrors the Describe* response
(times as epoch milliseconds, ``Tags`` as a ``{key: value}`` map) as SageMaker's events do; endpoint
events spell ``EndpointStatus`` in upper snake case (``IN_SERVICE``, ``CREATING``, ``UPDATING``,
``ROLLING_BACK``, ``FAILED``, ``DELETING``) like AWS's endpoint events, while job events keep the API's
spelling (``InProgress``, ``Completed``). ``resources`` is ``[<resource ARN>]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from .api import json_safe
from .faults import Faults

LOG = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any], list[str]], None]
"""``emit_event(detail_type, detail, resources)``."""

TRAINING_JOB_STATE_CHANGE: Final = "SageMaker Training Job State Change"
TRANSFORM_JOB_STATE_CHANGE: Final = "SageMaker Transform Job State Change"
ENDPOINT_STATE_CHANGE: Final = "SageMaker Endpoint State Change"
LABELING_JOB_STATE_CHANGE: Final = "SageMaker Ground Truth Labeling Job State Change"
MODEL_STATE_CHANGE: Final = "SageMaker Model State Change"
ENDPOINT_CONFIG_STATE_CHANGE: Final = "SageMaker Endpoint Config State Change"
MODEL_PACKAGE_STATE_CHANGE: Final = "SageMaker Model Package State Change"


def event_status(status: str) -> str:
    """AWS's endpoint-event spelling of an API status: ``InService`` -> ``IN_SERVICE``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def tag_map(tags: list[Mapping[str, str]] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` -> ``{k: v}`` (the events' form)."""
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags or []}


def event_detail(describe: Mapping[str, Any], tags: list[Mapping[str, str]] | None) -> dict[str, Any]:
    """A JSON-safe event detail from a Describe* response plus the resource's tags."""
    detail = json_safe(dict(describe))
    detail["Tags"] = tag_map(tags)
    return detail


class Emitter:
    """Calls the sink, honouring ``faults.drop_next_event``; a failing sink is logged, never raised
    (a job must not fail because its event could not be delivered)."""

    def __init__(self, sink: EventSink | None, faults: Faults) -> None:
        self._sink = sink
        self._faults = faults

    def emit(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        """Deliver one event (or drop it when a fault says so)."""
        if self._faults.take_dropped_event(detail_type):
            LOG.info("dropped %s event for %s (fault injection)", detail_type, resources)
            return
        if self._sink is None:
            return
        try:
            self._sink(detail_type, detail, resources)
        except Exception:
            LOG.exception("emit_event failed for %s %s", detail_type, resources)
