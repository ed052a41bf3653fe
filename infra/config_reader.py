"""Reading `cdk.json` context: the reader of ``gtpipe:<key>`` values and the checks of single settings.

Every check raises `ConfigError` naming the context key and what is allowed (see `infra/config.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

PREFIX = "gtpipe:"
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[0-9]*x?large$|^ml\.[a-z0-9]+\.(medium|large|xlarge)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A context value is missing or invalid; the message names the key and what is allowed."""


class ContextReader:
    """Reads ``gtpipe:<key>`` values through ``get`` (a context lookup returning None when unset); each
    method returns the default for an unset key and raises ConfigError for a value it refuses."""

    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get

    def raw(self, key: str) -> Any:
        value = self._get(PREFIX + key)
        # `cdk deploy -c key=value` delivers every value as a string: accept JSON lists and objects there.
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{PREFIX}{key} is not valid JSON ({exc.msg} at {exc.pos}): {value!r}"
                ) from None
        return value

    def choice(self, key: str, allowed: tuple[Any, ...], default: Any) -> Any:
        value = self.raw(key)
        if value is None:
            return default
        if value not in allowed:
            raise ConfigError(f"{PREFIX}{key} must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def pattern(self, key: str, regex: re.Pattern[str], default: str, what: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str) or not regex.match(value):
            raise ConfigError(f"{PREFIX}{key} must be {what} (pattern {regex.pattern}); got {value!r}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.raw(key)
        if value is None:
            return default
        return parse_number(value, PREFIX + key, low, high)

    def optional_number(self, key: str, low: float, high: float) -> float | None:
        value = self.raw(key)
        if value is None:
            return None
        return parse_number(value, PREFIX + key, low, high)

    def string_list(self, key: str, default: list[str]) -> list[str]:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str):
            # `cdk synth -c key=a,b` passes a string: accept a comma-separated list.
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ConfigError(f"{PREFIX}{key} must be a list of non-empty strings; got {value!r}")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{PREFIX}{key} must be an object; got {value!r}")
        return value


def parse_number(value: Any, name: str, low: float, high: float) -> float:
    """``value`` (a number or numeric string, not a bool) as a float within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name} must be a number between {low} and {high}; got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number between {low} and {high}; got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; got {value!r}")
    return number


def int_setting(raw: Mapping[str, Any], dotted: str, default: int, low: int, high: int) -> int:
    """The whole number under the last part of ``dotted`` in ``raw`` (a context object), within bounds."""
    value = raw.get(dotted.split(".")[-1])
    if value is None:
        return default
    number = parse_number(value, PREFIX + dotted, low, high)
    if number != int(number):
        raise ConfigError(f"{PREFIX}{dotted} must be a whole number; got {value!r}")
    return int(number)


def bool_setting(raw: Mapping[str, Any], dotted: str, default: bool) -> bool:
    """The boolean (or "true"/"false") under the last part of ``dotted`` in ``raw``."""
    value = raw.get(dotted.split(".")[-1])
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ConfigError(f"{PREFIX}{dotted} must be true or false; got {value!r}")


def str_setting(raw: Mapping[str, Any], dotted: str, default: str) -> str:
    """The non-empty string under the last part of ``dotted`` in ``raw``."""
    value = raw.get(dotted.split(".")[-1])
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{PREFIX}{dotted} must be a non-empty string; got {value!r}")
    return value


def share_setting(raw: Mapping[str, Any], dotted: str, default: float) -> float:
    """The share (0 to 1) under the last part of ``dotted`` in ``raw``."""
    value = raw.get(dotted.split(".")[-1])
    if value is None:
        return default
    return parse_number(value, PREFIX + dotted, 0.0, 1.0)


def instance_type_setting(raw: Mapping[str, Any], dotted: str, default: str) -> str:
    """The SageMaker instance type (``ml.<family>.<size>``) under the last part of ``dotted`` in ``raw``."""
    value = raw.get(dotted.split(".")[-1])
    if value is None:
        return default
    if not isinstance(value, str) or not _INSTANCE_TYPE.match(value):
        raise ConfigError(
            f"{PREFIX}{dotted} must be a SageMaker instance type like ml.m5.xlarge; got {value!r}"
        )
    return value


_Section = TypeVar("_Section", bound=BaseModel)


def build_section(model: type[_Section], key: str, **values: Any) -> _Section:
    """``model`` (a section of the one schema, gtpipe_shared.config) built from values the reader has
    checked; a rule only the model holds fails as a ConfigError naming ``gtpipe:<key>``."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise ConfigError(f"{PREFIX}{key}: {problems}") from None
