"""``gtpipe:harvest``: the scheduled harvest of captured predictions for relabeling (README "Model lifecycle:
harvest, relabel, retrain"; schema ``gtpipe_shared.config.HarvestConfig``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import HarvestConfig

from infra.config_reader import (
    PREFIX,
    ConfigError,
    bool_setting,
    build_section,
    int_setting,
    share_setting,
    str_setting,
)

ALLOWED_KEYS = ("enabled", "schedule", "budget", "uncertainShare", "sampleShare", "nearDuplicateBits")
# A harvest drops incoming/feedback-<yyyy-mm-dd>.manifest, one a day, so the schedule is a whole number of
# days. EventBridge rate expressions: "rate(value unit)", unit minute(s) | hour(s) | day(s), singular for 1
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html).
DAILY_RATE = re.compile(r"^rate\((1 day|([2-9]|[1-9][0-9]{1,2}) days)\)$")


def read_harvest(raw: Mapping[str, Any]) -> HarvestConfig:
    """``enabled`` (default false), ``schedule`` (``rate(N days)``, default ``rate(1 day)``), ``budget``
    (most images a harvest picks, 1..100000, default 200), ``uncertainShare`` / ``sampleShare`` (shares of
    the budget corrections leave, together at most 1; defaults 0.8 / 0.2), ``nearDuplicateBits`` (0..64,
    default 4); unknown keys are refused."""
    unknown = sorted(set(raw) - set(ALLOWED_KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}harvest has unknown keys {', '.join(unknown)}; allowed: {', '.join(ALLOWED_KEYS)}"
        )
    defaults = HarvestConfig()
    schedule = str_setting(raw, "harvest.schedule", defaults.schedule).strip()
    if not DAILY_RATE.match(schedule):
        raise ConfigError(
            f"{PREFIX}harvest.schedule must be rate(1 day) or rate(N days) (N up to 999): a harvest drops one "
            f"incoming/feedback-<yyyy-mm-dd>.manifest a day at most; got {schedule!r}"
        )
    uncertain = share_setting(raw, "harvest.uncertainShare", defaults.uncertain_share)
    sample = share_setting(raw, "harvest.sampleShare", defaults.sample_share)
    if uncertain + sample > 1.0 + 1e-9:
        raise ConfigError(
            f"{PREFIX}harvest.uncertainShare + sampleShare must be at most 1 (shares of one budget); "
            f"got {uncertain} + {sample}"
        )
    return build_section(
        HarvestConfig,
        "harvest",
        enabled=bool_setting(raw, "harvest.enabled", defaults.enabled),
        schedule=schedule,
        budget=int_setting(raw, "harvest.budget", defaults.budget, 1, 100_000),
        uncertain_share=uncertain,
        sample_share=sample,
        near_duplicate_bits=int_setting(
            raw, "harvest.nearDuplicateBits", defaults.near_duplicate_bits, 0, 64
        ),
    )
