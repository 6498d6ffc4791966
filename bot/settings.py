"""Application settings: one YAML file plus environment overrides.

Rasa's own configuration stays in Rasa's files; this covers what the app needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.domain.availability import WEEKDAYS, AgentHours, parse_ranges

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("settings.yml")
ENV_PREFIX = "GUICHET__"


class SettingsError(ValueError):
    """The settings file or an environment override is invalid."""


@dataclass(frozen=True)
class OpeningSlot:
    days: str
    hours: str


@dataclass(frozen=True)
class TownSettings:
    name: str
    mairie_name: str
    phone: str
    email: str
    address: str
    website: str
    opening_hours: tuple[OpeningSlot, ...]


@dataclass(frozen=True)
class ListenSettings:
    host: str
    port: int


@dataclass(frozen=True)
class RasaSettings:
    url: str
    timeout_s: float
    token: str = ""


@dataclass(frozen=True)
class HandoffSettings:
    hours: AgentHours = field(default_factory=AgentHours)
    grace_period_s: float = 30.0
    average_handling_s: float = 240.0
    phone_transfer_target: str = ""


@dataclass(frozen=True)
class ChatSettings:
    max_message_chars: int = 2000
    history_limit: int = 200


@dataclass(frozen=True)
class VoiceSettings:
    enabled: str = "auto"  # auto | true | false
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    public_address: str = ""
    rtp_port_min: int = 20000
    rtp_port_max: int = 20199
    max_calls: int = 10
    vosk_model: Path = Path("models/vosk-model-small-fr-0.22")
    silence_reprompt_s: float = 8.0
    max_silences: int = 3


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    server: ListenSettings
    actions: ListenSettings
    rasa: RasaSettings
    town: TownSettings
    chat: ChatSettings = field(default_factory=ChatSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    retention_days: int = 90

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / 'guichet.db'}"


def _merge_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = raw
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise SettingsError(f"{name}: '{key}' is not a section")
            node = child
        try:
            node[path[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise SettingsError(f"{name}: value is not valid YAML ({exc})") from exc


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise SettingsError(f"settings: section '{key}' is missing or not a mapping")
    return value


def _require(section: dict[str, Any], key: str, kind: type, where: str) -> Any:
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


def _listen(raw: dict[str, Any], key: str) -> ListenSettings:
    section = _section(raw, key)
    port = _require(section, "port", int, key)
    if not 0 <= port <= 65535:
        raise SettingsError(f"settings: '{key}.port' out of range: {port}")
    return ListenSettings(host=_require(section, "host", str, key), port=port)


def _handoff(raw: dict[str, Any]) -> HandoffSettings:
    section = raw.get("handoff") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: section 'handoff' must be a mapping")
    weekly_raw = section.get("agent_hours") or {}
    if not isinstance(weekly_raw, dict) or not set(weekly_raw) <= set(WEEKDAYS):
        raise SettingsError(f"settings: 'handoff.agent_hours' keys must be among {WEEKDAYS}")
    try:
        weekly = {
            day: parse_ranges(list(ranges or []), f"handoff.agent_hours.{day}")
            for day, ranges in weekly_raw.items()
        }
        closed = frozenset(
            date.fromisoformat(str(d)) if not isinstance(d, date) else d
            for d in section.get("closed_days") or []
        )
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"settings: {exc}") from exc
    timezone = str(section.get("timezone", "Europe/Paris"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"settings: 'handoff.timezone' unknown: {timezone!r}") from exc
    return HandoffSettings(
        hours=AgentHours(timezone=timezone, weekly=weekly, extra_closed_days=closed),
        grace_period_s=float(section.get("grace_period_s", 30)),
        average_handling_s=float(section.get("average_handling_s", 240)),
        phone_transfer_target=str(section.get("phone_transfer_target") or ""),
    )


def _voice(raw: dict[str, Any], data_dir: Path) -> VoiceSettings:
    section = raw.get("voice") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: section 'voice' must be a mapping")
    enabled = str(section.get("enabled", "auto")).lower()
    if enabled not in ("auto", "true", "false"):
        raise SettingsError(
            f"settings: 'voice.enabled' must be auto, true or false, not {enabled!r}"
        )
    model = Path(str(section.get("vosk_model") or VoiceSettings.vosk_model))
    try:
        return VoiceSettings(
            enabled=enabled,
            sip_host=str(section.get("sip_host", "127.0.0.1")),
            sip_port=int(section.get("sip_port", 5060)),
            public_address=str(section.get("public_address") or ""),
            rtp_port_min=int(section.get("rtp_port_min", 20000)),
            rtp_port_max=int(section.get("rtp_port_max", 20199)),
            max_calls=int(section.get("max_calls", 10)),
            vosk_model=model if model.is_absolute() else data_dir / model,
            silence_reprompt_s=float(section.get("silence_reprompt_s", 8)),
            max_silences=int(section.get("max_silences", 3)),
        )
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"settings: invalid 'voice' value: {exc}") from exc


def _retention(raw: dict[str, Any]) -> int:
    section = raw.get("privacy") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: section 'privacy' must be a mapping")
    days = section.get("retention_days", 90)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise SettingsError(
            f"settings: 'privacy.retention_days' must be a positive integer, got {days!r}"
        )
    return days


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file, apply environment overrides, validate."""
    env = os.environ if env is None else env
    path = path or Path(env.get("GUICHET_SETTINGS", DEFAULT_SETTINGS_FILE))
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"settings file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"settings file {path} must contain a mapping")
    _merge_env(raw, env)
    if "GUICHET_DATA_DIR" in env:
        raw["data_dir"] = env["GUICHET_DATA_DIR"]

    rasa = _section(raw, "rasa")
    timeout = _require(rasa, "timeout_s", float, "rasa")
    if timeout <= 0:
        raise SettingsError("settings: 'rasa.timeout_s' must be positive")
    chat_raw = raw.get("chat") or {}
    chat = ChatSettings(
        max_message_chars=int(chat_raw.get("max_message_chars", 2000)),
        history_limit=int(chat_raw.get("history_limit", 200)),
    )
    town = _section(raw, "town")
    slots = town.get("opening_hours") or []
    if not isinstance(slots, list) or not all(
        isinstance(s, dict) and {"days", "hours"} <= s.keys() for s in slots
    ):
        raise SettingsError("settings: 'town.opening_hours' must be a list of {days, hours}")
    data_dir = Path(str(raw.get("data_dir", "./data"))).resolve()
    return Settings(
        data_dir=data_dir,
        voice=_voice(raw, data_dir),
        retention_days=_retention(raw),
        server=_listen(raw, "server"),
        actions=_listen(raw, "actions"),
        rasa=RasaSettings(
            url=_require(rasa, "url", str, "rasa").rstrip("/"),
            timeout_s=timeout,
            token=str(rasa.get("token") or ""),
        ),
        handoff=_handoff(raw),
        chat=chat,
        town=TownSettings(
            name=_require(town, "name", str, "town"),
            mairie_name=_require(town, "mairie_name", str, "town"),
            phone=_require(town, "phone", str, "town"),
            email=_require(town, "email", str, "town"),
            address=_require(town, "address", str, "town"),
            website=_require(town, "website", str, "town"),
            opening_hours=tuple(
                OpeningSlot(days=str(s["days"]), hours=str(s["hours"])) for s in slots
            ),
        ),
    )
