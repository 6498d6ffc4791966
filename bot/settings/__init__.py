"""Application settings: one YAML file (bot/settings.yml) plus environment overrides.

Rasa's own configuration stays in Rasa's files; this covers what the app needs. Each
area's settings, and how they are read from their section, sit in one module:

    app.py           where the app listens, shared engines (scaled out), logs, metrics, security
    conversation.py  the Rasa servers, the web chat's limits, the handoff to agents
    town.py          the town's name, contacts and opening hours
    knowledge.py     the Service-Public.fr volumes a town imports
    voice.py         the phone channel (SIP, PBX registration, speech recognition)
    retention.py     how long personal data is kept (the `privacy` section)
    common.py        the error, RateLimit, and the checks every section uses

The notifications' settings are in their own area, bot/notifications/config.py.
This module holds the root `Settings` and `load_settings`, and names every area's
classes so that `from bot.settings import TownSettings` reads from one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.notifications.config import (
    NotificationSettings,
    NotificationSettingsError,
    parse_notifications,
)
from bot.settings.app import (
    ListenSettings,
    LoggingSettings,
    MetricsSettings,
    SecuritySettings,
    SharedServices,
    parse_listen,
    parse_observability,
    parse_shared,
    sqlite_url,
)
from bot.settings.common import RateLimit, SettingsError
from bot.settings.conversation import (
    ChatSettings,
    HandoffSettings,
    RasaSettings,
    parse_chat,
    parse_handoff,
    parse_rasa,
)
from bot.settings.knowledge import SERVICE_PUBLIC_VOLUMES, KnowledgeSettings, parse_knowledge
from bot.settings.retention import parse_retention
from bot.settings.town import OpeningSlot, TownSettings, parse_town
from bot.settings.voice import SIP_PASSWORD_ENV, VoiceSettings, parse_voice

__all__ = [
    "DEFAULT_SETTINGS_FILE",
    "ENV_PREFIX",
    "SERVICE_PUBLIC_VOLUMES",
    "SIP_PASSWORD_ENV",
    "ChatSettings",
    "HandoffSettings",
    "KnowledgeSettings",
    "ListenSettings",
    "LoggingSettings",
    "MetricsSettings",
    "OpeningSlot",
    "RasaSettings",
    "RateLimit",
    "SecuritySettings",
    "Settings",
    "SettingsError",
    "SharedServices",
    "TownSettings",
    "VoiceSettings",
    "load_settings",
    "sqlite_url",
]

DEFAULT_SETTINGS_FILE = Path(__file__).parent.with_name("settings.yml")
ENV_PREFIX = "GUICHET__"


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

    rasa = parse_rasa(raw)
    chat = parse_chat(raw)
    town = parse_town(raw)
    data_dir = Path(str(raw.get("data_dir", "./data"))).resolve()
    logging_settings, metrics_settings, security_settings = parse_observability(raw)
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
        voice=parse_voice(raw, data_dir, env),
        retention_days=parse_retention(raw),
        shared=parse_shared(raw),
        server=parse_listen(raw, "server"),
        actions=parse_listen(raw, "actions"),
        rasa=rasa,
        handoff=parse_handoff(raw),
        chat=chat,
        knowledge=parse_knowledge(raw),
        town=town,
    )
