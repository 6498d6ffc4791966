"""The conversation: the Rasa servers, the web chat's limits and the handoff to the
town hall's agents (their hours, the grace period, where a call is transferred)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.availability import WEEKDAYS, AgentHours, parse_ranges
from bot.settings.common import SettingsError, require, required_section


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
class ChatSettings:
    max_message_chars: int = 2000
    history_limit: int = 200


@dataclass(frozen=True)
class HandoffSettings:
    hours: AgentHours = field(default_factory=AgentHours)
    grace_period_s: float = 30.0
    average_handling_s: float = 240.0
    phone_transfer_target: str = ""


def _rasa_servers(rasa: dict[str, Any]) -> int:
    servers = rasa.get("servers", 1)
    if isinstance(servers, bool) or not isinstance(servers, int) or not 1 <= servers <= 8:
        raise SettingsError("settings: 'rasa.servers' must be an integer from 1 to 8")
    if servers > 1 and not re.search(r":\d+$", str(rasa.get("url", "")).rstrip("/")):
        raise SettingsError("settings: 'rasa.servers' above 1 needs a port in 'rasa.url'")
    return servers


def parse_handoff(raw: dict[str, Any]) -> HandoffSettings:
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


def parse_rasa(raw: dict[str, Any]) -> RasaSettings:
    rasa = required_section(raw, "rasa")
    timeout = require(rasa, "timeout_s", float, "rasa")
    if timeout <= 0:
        raise SettingsError("settings: 'rasa.timeout_s' must be positive")
    return RasaSettings(
        url=require(rasa, "url", str, "rasa").rstrip("/"),
        timeout_s=timeout,
        token=str(rasa.get("token") or ""),
        servers=_rasa_servers(rasa),
    )


def parse_chat(raw: dict[str, Any]) -> ChatSettings:
    chat_raw = raw.get("chat") or {}
    return ChatSettings(
        max_message_chars=int(chat_raw.get("max_message_chars", 2000)),
        history_limit=int(chat_raw.get("history_limit", 200)),
    )
