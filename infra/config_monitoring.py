"""``gtpipe:monitoring``: drift monitoring of the serving endpoint (README "Monitoring"; schema
``gtpipe_shared.config.MonitoringConfig``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import DriftThresholds, MonitoringConfig

from infra.config_reader import PREFIX, ConfigError, bool_setting, build_section, int_setting, parse_number

ALLOWED_KEYS = ("enabled", "windowMinutes", "minRequests", "minLabeled", "accuracyHours", "thresholds")
# Context name -> (schema field, upper bound); live accuracy is a share (0..1).
THRESHOLD_KEYS = {
    "inputShift": ("input_shift", 1000.0),
    "embeddingDistance": ("embedding_distance", 1000.0),
    "classPsi": ("class_psi", 100.0),
    "confidencePsi": ("confidence_psi", 100.0),
    "liveAccuracy": ("live_accuracy", 1.0),
}
# One window is one alarm period: CloudWatch wants a multiple of 60 s, and the alarm's whole evaluation
# range (period x periods) at most one day for these alarms.
#   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
MAX_WINDOW_MINUTES = 1440


def _unknown(raw: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{PREFIX}{where} has unknown keys {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )


def read_monitoring(raw: Mapping[str, Any]) -> MonitoringConfig:
    """``enabled`` (default false), ``windowMinutes`` (1..1440, default 60), ``minRequests`` (20),
    ``minLabeled`` (20), ``accuracyHours`` (1..720, default 24) and ``thresholds`` (``inputShift``,
    ``embeddingDistance``, ``classPsi``, ``confidencePsi``, ``liveAccuracy``); unknown keys are refused (a
    misspelling would silently keep the default)."""
    _unknown(raw, ALLOWED_KEYS, "monitoring")
    defaults = MonitoringConfig()
    thresholds_raw = raw.get("thresholds") or {}
    if not isinstance(thresholds_raw, Mapping):
        raise ConfigError(f"{PREFIX}monitoring.thresholds must be an object; got {thresholds_raw!r}")
    _unknown(thresholds_raw, tuple(THRESHOLD_KEYS), "monitoring.thresholds")
    thresholds = build_section(
        DriftThresholds,
        "monitoring.thresholds",
        **{
            field: parse_number(thresholds_raw[name], f"{PREFIX}monitoring.thresholds.{name}", 0.0, high)
            for name, (field, high) in THRESHOLD_KEYS.items()
            if thresholds_raw.get(name) is not None
        },
    )
    return build_section(
        MonitoringConfig,
        "monitoring",
        enabled=bool_setting(raw, "monitoring.enabled", defaults.enabled),
        window_minutes=int_setting(
            raw, "monitoring.windowMinutes", defaults.window_minutes, 1, MAX_WINDOW_MINUTES
        ),
        min_requests=int_setting(raw, "monitoring.minRequests", defaults.min_requests, 1, 100_000),
        min_labeled=int_setting(raw, "monitoring.minLabeled", defaults.min_labeled, 1, 100_000),
        accuracy_hours=int_setting(raw, "monitoring.accuracyHours", defaults.accuracy_hours, 1, 720),
        thresholds=thresholds,
    )
