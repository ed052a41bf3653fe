"""``gtpipe:championChallenger``: the champion/challenger quality gate (README "Quality gate:
champion/challenger"; schema ``gtpipe_shared.config.ChampionConfig``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import GOLDEN_MANIFEST_PATTERN, GOLDEN_PREFIX, ChampionConfig

from infra.config_reader import PREFIX, ConfigError, bool_setting, build_section, int_setting, parse_number

ALLOWED_KEYS = ("enabled", "marginPoints", "minImages", "goldenManifest")


def read_champion(raw: Mapping[str, Any]) -> ChampionConfig:
    """``enabled`` (default true), ``marginPoints`` (0..100 points of the gate metric, default 2) and
    ``minImages`` (default 20), ``goldenManifest`` (a key ``golden/<name>.manifest|.jsonl`` of the data bucket,
    default none); unknown keys are refused (a misspelling would silently keep the default)."""
    unknown = sorted(set(raw) - set(ALLOWED_KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}championChallenger has unknown keys {', '.join(unknown)}; "
            f"allowed: {', '.join(ALLOWED_KEYS)}"
        )
    defaults = ChampionConfig()
    margin = (
        parse_number(raw["marginPoints"], f"{PREFIX}championChallenger.marginPoints", 0.0, 100.0)
        if raw.get("marginPoints") is not None
        else defaults.margin_points
    )
    golden = raw.get("goldenManifest")
    if golden is not None and not (isinstance(golden, str) and re.match(GOLDEN_MANIFEST_PATTERN, golden)):
        raise ConfigError(
            f"{PREFIX}championChallenger.goldenManifest must be a key of the data bucket under {GOLDEN_PREFIX} "
            f"ending in .manifest or .jsonl (e.g. golden/digits.manifest): the golden images must never enter "
            f"training, and nothing under {GOLDEN_PREFIX} starts a run; got {golden!r}"
        )
    return build_section(
        ChampionConfig,
        "championChallenger",
        enabled=bool_setting(raw, "championChallenger.enabled", defaults.enabled),
        margin_points=margin,
        min_images=int_setting(raw, "championChallenger.minImages", defaults.min_images, 1, 100_000),
        golden_manifest=golden,
    )
