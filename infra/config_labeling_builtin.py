"""The builtin labeling service's own settings of ``gtpipe:labeling`` (adaptive redundancy, the labeler cost
model, hotkeys): each refused with a clear message for Ground Truth, whose labeling job has no such knob.
Wired into ``infra.config``'s labeling section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.adaptive_redundancy import DEFAULT_CONFIDENCE_THRESHOLD
from gtpipe_shared.config import LabelingBackend

from infra.config_reader import PREFIX, ConfigError, parse_number


def adaptive_redundancy_settings(raw: Mapping[str, Any], backend: LabelingBackend) -> dict[str, Any]:
    """``labeling.adaptiveRedundancy``: absent or false, off (every object gets ``workersPerObject``
    answers); true or ``{"confidenceThreshold": 0..1}`` (default 0.8), the builtin service asks for a second
    and third answer only while answers disagree or their confidence is below the threshold
    (gtpipe_shared.adaptive_redundancy). Ground Truth asks every object for the same number of workers
    (NumberOfHumanWorkersPerDataObject), so it is the builtin backend's only."""
    value = raw.get("adaptiveRedundancy")
    if value is None or value is False:
        return {}
    name = f"{PREFIX}labeling.adaptiveRedundancy"
    if backend != "builtin":
        raise ConfigError(
            f"{name} is the builtin labeling service's (Ground Truth asks every object for "
            "workersPerObject answers): remove it or use gtpipe:labelingBackend builtin"
        )
    if value is True:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f'{name} must be true, false or {{"confidenceThreshold": 0.8}}; got {value!r}')
    unknown = sorted(set(value) - {"confidenceThreshold"})
    if unknown:
        raise ConfigError(f"{name} has unknown keys {', '.join(unknown)}; allowed: confidenceThreshold")
    threshold = value.get("confidenceThreshold", DEFAULT_CONFIDENCE_THRESHOLD)
    return {
        "adaptive_confidence_threshold": parse_number(threshold, f"{name}.confidenceThreshold", 0.01, 1.0)
    }


def builtin_cost_settings(raw: Mapping[str, Any], backend: LabelingBackend) -> dict[str, Any]:
    """``labeling.labelerHourlyRate`` (USD) and ``labeling.secondsPerTask``: the builtin service's cost model
    (Ground Truth's per-answer prices already pay its workers); each only when set, so unset settings leave
    the functions' configuration as it was."""
    settings = {
        "labeler_hourly_rate_usd": ("labelerHourlyRate", 0.0, 10_000.0),
        "seconds_per_task": ("secondsPerTask", 0.1, 28_800.0),
    }
    chosen: dict[str, float] = {}
    for name, (key, low, high) in settings.items():
        if raw.get(key) is None:
            continue
        if backend != "builtin":
            raise ConfigError(
                f"{PREFIX}labeling.{key} prices the builtin labeling service (Ground Truth's per-answer "
                "prices, gtpipe:labelingPrices, pay its workers): remove it or use gtpipe:labelingBackend builtin"
            )
        chosen[name] = parse_number(raw[key], f"{PREFIX}labeling.{key}", low, high)
    return chosen


def hotkeys_setting(raw: Mapping[str, Any], backend: LabelingBackend) -> Any:
    """``labeling.hotkeys`` (class name -> key; the schema checks the keys): the builtin app's only."""
    if backend != "builtin":
        raise ConfigError(
            f"{PREFIX}labeling.hotkeys sets keys in the builtin labeling app "
            "(Ground Truth's worker UI has its own): remove it or use gtpipe:labelingBackend builtin"
        )
    value = raw["hotkeys"]
    if not isinstance(value, Mapping):
        raise ConfigError(f"{PREFIX}labeling.hotkeys must be an object of class name -> key; got {value!r}")
    return dict(value)
