"""What every area's settings share: the error, a rate limit, and the checks of a
raw YAML section (the messages name the setting, in English, for operators)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    """The settings file or an environment override is invalid."""


@dataclass(frozen=True)
class RateLimit:
    burst: int
    per_minute: float

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.per_minute > 0


def required_section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise SettingsError(f"settings: section '{key}' is missing or not a mapping")
    return value


def optional_section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    section = raw.get(key) or {}
    if not isinstance(section, dict):
        raise SettingsError(f"settings: section '{key}' must be a mapping")
    return section


def require(section: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in section:
        raise SettingsError(f"settings: '{where}.{key}' is missing")
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SettingsError(f"settings: '{where}.{key}' must be {kind.__name__}, got {value!r}")
    return value


def flag(section: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"settings: '{where}.{key}' must be true or false, got {value!r}")
    return value


def networks(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SettingsError(f"settings: '{where}' must be a list of addresses or networks")
    try:
        return tuple(str(ipaddress.ip_network(str(v), strict=False)) for v in value)
    except ValueError as exc:
        raise SettingsError(f"settings: '{where}': {exc}") from exc


def rate_limit(section: dict[str, Any], key: str, default: RateLimit, where: str = "") -> RateLimit:
    where = where or f"security.rate_limits.{key}"
    value = section.get(key) or {}
    if not isinstance(value, dict):
        raise SettingsError(f"settings: '{where}' must be a mapping")
    burst = value.get("burst", default.burst)
    per_minute = value.get("per_minute", default.per_minute)
    if (
        not isinstance(burst, int)
        or isinstance(burst, bool)
        or burst < 0
        or not isinstance(per_minute, (int, float))
        or isinstance(per_minute, bool)
        or per_minute < 0
    ):
        raise SettingsError(
            f"settings: '{where}' needs burst (integer >= 0) and "
            f"per_minute (number >= 0; 0 turns the limit off), got {value!r}"
        )
    return RateLimit(burst, float(per_minute))
