"""Hyperparameter parsing both algorithms share: value parsers, the name check and the JSON decoding.

SageMaker passes every value as a string (``hyperparameters.json``); the training toolkit's ``SM_HPS``
holds the JSON-decoded values. Both forms are accepted (:func:`as_text`). Each algorithm declares its
table of parsers and typed result: :mod:`training.classification.hyperparameters`,
:mod:`training.detection.hyperparameters`.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from training.errors import HyperparameterError

KV_STORES = ("dist_sync", "dist_async")

# Names SageMaker itself may add (script mode, tuning jobs); accepted and ignored, as the built-in does.
RESERVED_PREFIXES = ("sagemaker_", "_tuning_objective_metric")


Parser = Callable[[str, str], Any]


def int_parser(
    minimum: int | None = None, maximum: int | None = None, allowed: tuple[int, ...] = ()
) -> Parser:
    """A parser of integers within bounds (or among ``allowed``); ``"10.0"`` counts as 10."""

    def parse(name: str, text: str) -> int:
        try:
            # "10.0" is how some tools write an integer; accept it, but never "10.5".
            value = float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise HyperparameterError(f"hyperparameter {name}={text!r} is not an integer") from None
        if isinstance(value, float):
            if not value.is_integer():
                raise HyperparameterError(f"hyperparameter {name}={text!r} is not an integer")
            value = int(value)
        if allowed and value not in allowed:
            choices = ", ".join(str(v) for v in allowed)
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be one of {choices}")
        if minimum is not None and value < minimum:
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be <= {maximum}")
        return value

    return parse


def float_parser(minimum: float, maximum: float, *, exclusive_minimum: bool = False) -> Parser:
    """A parser of finite numbers in ``[minimum, maximum]`` (``(minimum, maximum]`` if exclusive)."""

    def parse(name: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise HyperparameterError(f"hyperparameter {name}={text!r} is not a number") from None
        if not math.isfinite(value):
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be a finite number")
        low_ok = value > minimum if exclusive_minimum else value >= minimum
        if not low_ok or value > maximum:
            bracket = "(" if exclusive_minimum else "["
            raise HyperparameterError(
                f"hyperparameter {name}={text!r} must be in {bracket}{minimum:g}, {maximum:g}]"
            )
        return value

    return parse


def parse_bool(name: str, text: str) -> bool:
    """``1``/``true`` or ``0``/``false`` (any case), as the built-ins accept them."""
    lowered = text.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise HyperparameterError(f"hyperparameter {name}={text!r} must be one of 0, 1, True, False")


def choice_parser(*choices: str) -> Parser:
    """A parser accepting exactly one of ``choices``."""

    def parse(name: str, text: str) -> str:
        if text not in choices:
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be one of {', '.join(choices)}")
        return text

    return parse


def parse_steps(name: str, text: str) -> tuple[int, ...]:
    """``lr_scheduler_step``: increasing positive epoch numbers, comma-separated (``"10,20"``)."""
    try:
        steps = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be comma-separated epoch numbers, e.g. '10,20'"
        ) from None
    if not steps or any(s <= 0 for s in steps) or list(steps) != sorted(set(steps)):
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be increasing positive epoch numbers, e.g. '10,20'"
        )
    return steps


SHARED_PARSERS: dict[str, Parser] = {
    "kv_store": choice_parser(*KV_STORES),
    "seed": int_parser(minimum=0, maximum=2**32 - 1),
    "skip_bad_records": parse_bool,
}
"""The entries both algorithms' tables end with: the built-ins' ``kv_store`` and the project's ``seed``
(reproducible runs) and ``skip_bad_records`` (drop unreadable records instead of failing the job)."""
REQUIRED_HYPERPARAMETERS = ("num_classes", "num_training_samples")
"""What SageMaker's built-in algorithms require of every job (the split step computes both)."""


def as_text(name: str, value: object) -> str:
    """SM_HPS holds JSON-decoded values; bring them back to SageMaker's string form."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise HyperparameterError(f"hyperparameter {name} is empty")
        return text
    raise HyperparameterError(f"hyperparameter {name}={value!r} must be a string, got {type(value).__name__}")


def parse_known(
    raw: Mapping[str, object],
    parsers: Mapping[str, Parser],
    required: Sequence[str],
    algorithm: str,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Check names and parse values against an algorithm's table of parsers.

    Returns ``(values, ignored)``: the parsed values of the names given, and the SageMaker-reserved
    names (``sagemaker_*``, ``_tuning_objective_metric``) that were skipped. Raises
    :class:`HyperparameterError` for unknown names (suggesting the nearest known one and listing what
    ``algorithm`` accepts), missing required names, and the first unparsable or out-of-range value.
    """
    ignored = sorted(name for name in raw if name.startswith(RESERVED_PREFIXES))
    unknown = sorted(name for name in raw if name not in parsers and name not in ignored)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(parsers), n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise HyperparameterError(
            "unknown hyperparameter(s): " + ", ".join(hints) + f". The {algorithm} algorithm "
            "accepts: " + ", ".join(sorted(parsers))
        )
    missing = [name for name in required if name not in raw]
    if missing:
        raise HyperparameterError("missing required hyperparameter(s): " + ", ".join(missing))
    values = {
        name: parsers[name](name, as_text(name, value)) for name, value in raw.items() if name not in ignored
    }
    return values, tuple(ignored)


def load_hyperparameters_json(text: str, source: str) -> dict[str, object]:
    """Decode a hyperparameters JSON object (``SM_HPS`` or ``hyperparameters.json``)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise HyperparameterError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HyperparameterError(f"{source} must hold a JSON object, got {type(data).__name__}")
    return data
