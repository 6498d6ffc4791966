"""The app's process: where it listens (public port, Rasa's action endpoint), the
engines it shares when scaled out, logs, metrics and the public API's protections."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings.common import (
    RateLimit,
    SettingsError,
    networks,
    optional_section,
    rate_limit,
    require,
    required_section,
)


@dataclass(frozen=True)
class ListenSettings:
    host: str
    port: int


@dataclass(frozen=True)
class LoggingSettings:
    format: str = "text"  # text | json (one JSON object per line)
    level: str = "INFO"


@dataclass(frozen=True)
class MetricsSettings:
    # Networks whose clients may read /metrics on the public port.
    allow_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class SecuritySettings:
    # Reverse proxies (addresses or networks) whose X-Forwarded-For is believed.
    trusted_proxies: tuple[str, ...] = ()
    per_ip: RateLimit = field(default_factory=lambda: RateLimit(60, 60))
    per_session: RateLimit = field(default_factory=lambda: RateLimit(10, 20))
    # Sites (scheme://host[:port]) whose pages may embed the widget; "*" = any.
    allowed_origins: tuple[str, ...] = ()


_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")


def _origins(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SettingsError("settings: 'security.allowed_origins' must be a list of strings")
    origins = tuple(v.strip().lower().rstrip("/") for v in values)
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise SettingsError(
                f"settings: 'security.allowed_origins': {origin!r} is not an origin "
                "like https://www.example-town.fr (scheme, host, optional port) or '*'"
            )
    return origins


@dataclass(frozen=True)
class SharedServices:
    """Engines shared by several app instances (docs/operations.md); empty = one process.

    database_url: SQLAlchemy URL of the app database (default: SQLite in the data dir).
    redis_url: pub/sub, agents' presence and per-conversation locks across instances.
    chroma_url: a `chroma run` server instead of the local `chroma/` directory.
    rasa_tracker_url: Rasa's SQL tracker store, for purges and statistics (default:
        the SQLite file `rasa_tracker.db` in the data directory).
    """

    database_url: str = ""
    redis_url: str = ""
    chroma_url: str = ""
    rasa_tracker_url: str = ""


def sqlite_url(data_dir: Path) -> str:
    """The default app database: SQLite in the data directory."""
    return f"sqlite+aiosqlite:///{data_dir / 'guichet.db'}"


def parse_listen(raw: dict[str, Any], key: str) -> ListenSettings:
    section = required_section(raw, key)
    port = require(section, "port", int, key)
    if not 0 <= port <= 65535:
        raise SettingsError(f"settings: '{key}.port' out of range: {port}")
    return ListenSettings(host=require(section, "host", str, key), port=port)


def parse_shared(raw: dict[str, Any]) -> SharedServices:
    values: dict[str, str] = {}
    for section, key, name in (
        ("database", "url", "database_url"),
        ("redis", "url", "redis_url"),
        ("chroma", "url", "chroma_url"),
        ("rasa", "tracker_url", "rasa_tracker_url"),
    ):
        part = raw.get(section) or {}
        if not isinstance(part, dict):
            raise SettingsError(f"settings: section '{section}' must be a mapping")
        value = part.get(key) or ""
        if not isinstance(value, str):
            raise SettingsError(f"settings: '{section}.{key}' must be a string")
        values[name] = value.strip()
    if values["redis_url"] and not values["redis_url"].startswith(("redis://", "unix://")):
        raise SettingsError("settings: 'redis.url' must start with redis:// or unix://")
    if values["chroma_url"] and not values["chroma_url"].startswith(("http://", "https://")):
        raise SettingsError("settings: 'chroma.url' must be an http(s) URL")
    return SharedServices(**values)


def parse_observability(
    raw: dict[str, Any],
) -> tuple[LoggingSettings, MetricsSettings, SecuritySettings]:
    logs = optional_section(raw, "logging")
    fmt = str(logs.get("format", "text")).lower()
    if fmt not in ("text", "json"):
        raise SettingsError(f"settings: 'logging.format' must be text or json, not {fmt!r}")
    level = str(logs.get("level", "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"settings: 'logging.level' unknown: {level!r}")
    metrics = optional_section(raw, "metrics")
    allow = networks(
        metrics.get("allow_from", list(MetricsSettings.allow_from)), "metrics.allow_from"
    )
    security = optional_section(raw, "security")
    limits = security.get("rate_limits") or {}
    if not isinstance(limits, dict):
        raise SettingsError("settings: 'security.rate_limits' must be a mapping")
    defaults = SecuritySettings()
    return (
        LoggingSettings(fmt, level),
        MetricsSettings(allow),
        SecuritySettings(
            trusted_proxies=networks(
                security.get("trusted_proxies") or [], "security.trusted_proxies"
            ),
            per_ip=rate_limit(limits, "per_ip", defaults.per_ip),
            per_session=rate_limit(limits, "per_session", defaults.per_session),
            allowed_origins=_origins(security.get("allowed_origins") or []),
        ),
    )
