"""``gtpipe:endpoint.idleMinutes``: park the serving endpoint after that many minutes without invocations
(README "Idle endpoints"; schema ``gtpipe_shared.config.EndpointConfig.idle_minutes``, behaviour
``gtpipe_shared.idle``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.config_reader import int_setting

# The parker runs every IDLE_CHECK_MINUTES (infra/constructs/idle.py). SageMaker publishes Invocations once a
# minute and a datapoint may arrive a few minutes late
# (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html), so a shorter idle time could
# park an endpoint whose last requests are not counted yet; a week is the longest window one GetMetricData
# query at 60-second periods covers well within its 100,800 datapoints.
MIN_IDLE_MINUTES = 15
MAX_IDLE_MINUTES = 7 * 24 * 60


def idle_minutes_setting(raw: Mapping[str, Any]) -> int | None:
    """``endpoint.idleMinutes``: a whole number of minutes from MIN_IDLE_MINUTES to MAX_IDLE_MINUTES, or
    None (the default: never park)."""
    if raw.get("idleMinutes") is None:
        return None
    return int_setting(raw, "endpoint.idleMinutes", 0, MIN_IDLE_MINUTES, MAX_IDLE_MINUTES)
