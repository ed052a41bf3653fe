"""``gtpipe:labelErrors``: label-error finding after training (README "Label-error finding"; schema
``gtpipe_shared.config.LabelErrorsConfig``, method ``gtpipe_shared.label_errors``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import LabelErrorsConfig, LabelingConfig, TuningConfig
from gtpipe_shared.label_errors import DEFAULT_MAX_SHARE
from gtpipe_shared.tasks import TaskType

from infra.config_reader import PREFIX, ConfigError, bool_setting, build_section, int_setting, parse_number

LABEL_ERRORS_KEYS = ("enabled", "folds", "maxShare")
NAME = f"{PREFIX}labelErrors"


def read_label_errors(
    raw: Mapping[str, Any], *, task_type: str, labeling: LabelingConfig, tuning: TuningConfig | None
) -> LabelErrorsConfig | None:
    """``{"enabled": true, "folds": 3, "maxShare": 0.1}``: off unless ``enabled`` is true; ``folds`` 2..5
    (default 3), ``maxShare`` 0.05..0.5 (default 0.1, the most of the training objects flagged). Every key
    is checked even when off (a misspelling would silently keep the default). Enabled, it needs what the
    step runs on, and each refusal names the setting to change:

    * image classification (the out-of-fold predictions are class probabilities per image);
    * the builtin labeling backend with its review stage (``gtpipe:labeling.review`` enabled): reviewers
      accept or fix each flagged object's label there;
    * no ``gtpipe:tuning``: the folds and the retrain train with Train's fixed hyperparameters, which would
      silently replace the tuned model.

    Returns None when off, so the key stays out of the execution input."""
    unknown = sorted(set(raw) - set(LABEL_ERRORS_KEYS))
    if unknown:
        raise ConfigError(
            f"{NAME} has unknown keys {', '.join(unknown)}; allowed: {', '.join(LABEL_ERRORS_KEYS)}"
        )
    enabled = bool_setting(raw, "labelErrors.enabled", False)
    folds = int_setting(raw, "labelErrors.folds", 3, 2, 5)
    max_share = (
        parse_number(raw["maxShare"], f"{NAME}.maxShare", 0.05, 0.5)
        if raw.get("maxShare") is not None
        else DEFAULT_MAX_SHARE
    )
    if not enabled:
        return None
    if task_type != TaskType.IMAGE_CLASSIFICATION:
        raise ConfigError(
            f"{NAME} supports gtpipe:taskType image-classification only (it compares class probabilities "
            f"per image); got {task_type}: remove {NAME} or set enabled false"
        )
    if labeling.backend != "builtin" or labeling.review is None:
        raise ConfigError(
            f"{NAME} sends the flagged objects to the builtin labeling service's review stage: set "
            f'gtpipe:labelingBackend builtin and gtpipe:labeling.review {{"enabled": true}} '
            f"(backend now {labeling.backend or 'ground-truth'}, review "
            f"{'on' if labeling.review is not None else 'off'})"
        )
    if tuning is not None:
        raise ConfigError(
            f"{NAME} trains the folds and the retrain with Train's fixed hyperparameters, which would "
            f"replace the tuned model: remove gtpipe:tuning or set {NAME}.enabled false"
        )
    return build_section(LabelErrorsConfig, "labelErrors", folds=folds, max_share=max_share)
