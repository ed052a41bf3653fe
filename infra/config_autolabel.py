"""``gtpipe:labeling.autoLabeling`` / ``reuseModel`` on the builtin labeling service, and the loop's settings
``autoLabelingBatchSize``, ``autoLabelingValidationSize``, ``autoLabelingMaxRounds``, ``autoLabelingEpochs``,
``autoLabelingHyperparameters`` (README, "Automated labeling on the builtin service"; the loop is
lambdas/labeling/auto.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gtpipe_shared.config import LabelingBackend

from infra.config_reader import PREFIX, ConfigError, int_setting

_LOOP_KEYS = (
    "autoLabelingBatchSize",
    "autoLabelingValidationSize",
    "autoLabelingMaxRounds",
    "autoLabelingEpochs",
    "autoLabelingHyperparameters",
)
# Step Functions keeps 25,000 events of an execution's history; each round is about 30 events.
MAX_ROUNDS = 20


def auto_labeling_settings(
    raw: Mapping[str, Any],
    backend: LabelingBackend,
    auto_labeling: bool,
    hyperparameters: Callable[[Mapping[str, Any], str], dict[str, str]],
) -> dict[str, Any]:
    """The builtin loop's settings (``auto_batch_size`` ... ``auto_hyperparameters``; unset ones are the
    loop's defaults: a tenth of the manifest per batch, at least 20, 5 rounds, the run's epochs and
    hyperparameters). ``hyperparameters`` reads ``autoLabelingHyperparameters`` (a mapping and its setting's
    name) as the run's algorithm's, as ``gtpipe:hyperparameters`` is read. Ground Truth sizes its own batches
    and trains its own model, so the keys are the builtin backend's with ``autoLabeling`` only. The builtin
    loop labels both task types, image classification and bounding boxes."""
    given = [key for key in _LOOP_KEYS if raw.get(key) is not None]
    if given and (backend != "builtin" or not auto_labeling):
        raise ConfigError(
            f"{PREFIX}labeling.{given[0]} configures the builtin labeling service's automated labeling: set "
            f'{PREFIX}labelingBackend "builtin" and {PREFIX}labeling.autoLabeling true, or remove it'
        )
    if backend != "builtin" or not auto_labeling:
        return {}
    values: dict[str, Any] = {
        "auto_batch_size": int_setting(raw, "labeling.autoLabelingBatchSize", 0, 1, 100_000),
        "auto_validation_size": int_setting(raw, "labeling.autoLabelingValidationSize", 0, 20, 100_000),
        "auto_max_rounds": int_setting(raw, "labeling.autoLabelingMaxRounds", 0, 1, MAX_ROUNDS),
        "auto_epochs": int_setting(raw, "labeling.autoLabelingEpochs", 0, 1, 1000),
    }
    overrides = raw.get("autoLabelingHyperparameters")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                f"{PREFIX}labeling.autoLabelingHyperparameters must be an object of hyperparameter names and "
                f"values; got {overrides!r}"
            )
        values["auto_hyperparameters"] = hyperparameters(overrides, "labeling.autoLabelingHyperparameters")
    return {key: value for key, value in values.items() if value}
