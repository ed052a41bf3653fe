"""``gtpipe:labeling.review``: the builtin labeling service's review stage (docs/labeling-service.md,
"Review"; rules in gtpipe_shared.labeling_review)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import LabelingBackend

from infra.config_reader import PREFIX, ConfigError, parse_number

REVIEW_KEYS = ("enabled", "confidenceThreshold", "qaSamplePercent", "maxRounds")


def review_settings(raw: Mapping[str, Any], backend: LabelingBackend) -> dict[str, Any]:
    """``labeling.review``: ``{"enabled": true, "confidenceThreshold": 0.8, "qaSamplePercent": 5,
    "maxRounds": 2}`` (off unless ``enabled`` is true; the others optional). Objects whose answers disagree
    or whose consolidated confidence is below ``confidenceThreshold`` (0.01..1), plus a seeded
    ``qaSamplePercent`` (0..100) of the others, wait for a reviewer (group ``labeling-reviewers``) who
    accepts, fixes or rejects the label; a reject asks for one more answer, at most ``maxRounds`` (0..5)
    times. Ground Truth's jobs have no such stage (its verification is a separate labeling job), so it is
    the builtin backend's only. Returns ``{"review": {...}}`` when on, else ``{}``."""
    value = raw.get("review")
    if value is None:
        return {}
    name = f"{PREFIX}labeling.review"
    if not isinstance(value, Mapping):
        raise ConfigError(
            f'{name} must be an object like {{"enabled": true, "confidenceThreshold": 0.8, '
            f'"qaSamplePercent": 5, "maxRounds": 2}}; got {value!r}'
        )
    unknown = sorted(set(value) - set(REVIEW_KEYS))
    if unknown:
        raise ConfigError(f"{name} has unknown keys {', '.join(unknown)}; allowed: {', '.join(REVIEW_KEYS)}")
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{name}.enabled must be true or false; got {enabled!r}")
    if not enabled:
        return {}
    if backend != "builtin":
        raise ConfigError(
            f"{name} is the builtin labeling service's (Ground Truth reviews labels with a separate "
            "verification job): remove it or use gtpipe:labelingBackend builtin"
        )
    rounds = value.get("maxRounds", 2)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 0 <= rounds <= 5:
        raise ConfigError(f"{name}.maxRounds must be a whole number between 0 and 5; got {rounds!r}")
    return {
        "review": {
            "confidence_threshold": parse_number(
                value.get("confidenceThreshold", 0.8), f"{name}.confidenceThreshold", 0.01, 1.0
            ),
            "qa_sample_percent": parse_number(
                value.get("qaSamplePercent", 5), f"{name}.qaSamplePercent", 0.0, 100.0
            ),
            "max_rounds": rounds,
        }
    }
