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

ALLOWED_KEYS = (
    "enabled",
    "schedule",
    "budget",
    "uncertainShare",
    "sampleShare",
    "nearDuplicateBits",
    "warmStart",
)
# A harvest drops incoming/feedback-<yyyy-mm-dd>.manifest, one a day, so the schedule is a whole number of
# days. EventBridge rate expressions: "rate(value unit)", unit minute(s) | hour(s) | day(s), singular for 1
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html).
DAILY_RATE = re.compile(r"^rate\((1 day|([2-9]|[1-9][0-9]{1,2}) days)\)$")


def read_harvest(raw: Mapping[str, Any]) -> HarvestConfig:
    """``enabled`` (default false), ``schedule`` (``rate(N days)``, default ``rate(1 day)``), ``budget``
    (most images a harvest picks, 1..100000, default 200), ``uncertainShare`` / ``sampleShare`` (shares of
    the budget corrections leave, together at most 1; defaults 0.8 / 0.2), ``nearDuplicateBits`` (0..64,
    default 4), ``warmStart`` (a feedback run trains from the serving model, default on where it can:
    :func:`warm_start_on`); unknown keys are refused."""
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
        warm_start=None if raw.get("warmStart") is None else bool_setting(raw, "harvest.warmStart", False),
    )


def _warm_start_obstacle(*, pytorch: bool, tuning: bool) -> str | None:
    """Why a feedback run cannot warm-start from the serving model in this configuration, or None."""
    if pytorch:
        # The pytorch algorithm serves with the inference image, not the training image, so the serving
        # model's algorithm cannot be matched to the training job's, and training/ in SageMaker's PyTorch
        # containers is only run with the streamed train and validation channels (training/pipe_channels.py).
        return "gtpipe:trainingAlgorithm pytorch (incremental training is the built-in algorithms')"
    if tuning:
        # ChooseTraining tunes first: a tuning job's trials start from its own search, not a model channel.
        return "gtpipe:tuning (the trials of a tuning job do not take the serving model)"
    return None


def warm_start_on(harvest: HarvestConfig, *, pytorch: bool, tuning: bool) -> bool:
    """Whether a feedback run warm-starts: ``warmStart`` as set, else on unless pytorch or tuning is on.

    On by default: a harvest adds a few hundred labels to a dataset the serving model already learned, and
    starting from its weights saves training time (https://docs.aws.amazon.com/sagemaker/latest/dg/
    incremental-training.html); the split only warm-starts from a model of the same label set, algorithm
    and network, and the gate and champion/challenger judge the result as any run's."""
    if harvest.warm_start is not None:
        return harvest.warm_start
    return _warm_start_obstacle(pytorch=pytorch, tuning=tuning) is None


def check_warm_start(harvest: HarvestConfig, *, pytorch: bool, tuning: bool) -> None:
    """ConfigError for ``warmStart: true`` where a run cannot warm-start (:func:`_warm_start_obstacle`)."""
    obstacle = _warm_start_obstacle(pytorch=pytorch, tuning=tuning)
    if harvest.warm_start and obstacle:
        raise ConfigError(
            f"{PREFIX}harvest.warmStart cannot be used with {obstacle}; remove warmStart (it is then off) "
            "or set it false"
        )
