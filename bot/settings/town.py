"""The town: its name, contacts and opening hours, as the bot says them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.settings.common import SettingsError, require, required_section


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


def parse_town(raw: dict[str, Any]) -> TownSettings:
    town = required_section(raw, "town")
    slots = town.get("opening_hours") or []
    if not isinstance(slots, list) or not all(
        isinstance(s, dict) and {"days", "hours"} <= s.keys() for s in slots
    ):
        raise SettingsError("settings: 'town.opening_hours' must be a list of {days, hours}")
    return TownSettings(
        name=require(town, "name", str, "town"),
        mairie_name=require(town, "mairie_name", str, "town"),
        phone=require(town, "phone", str, "town"),
        email=require(town, "email", str, "town"),
        address=require(town, "address", str, "town"),
        website=require(town, "website", str, "town"),
        opening_hours=tuple(OpeningSlot(days=str(s["days"]), hours=str(s["hours"])) for s in slots),
    )
