"""Retention: how long conversations and what they left are kept (the `privacy`
section); the app purges them every few hours (bot/retention.py)."""

from __future__ import annotations

from typing import Any

from bot.settings.common import SettingsError


def parse_retention(raw: dict[str, Any]) -> int:
    section = raw.get("privacy") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: section 'privacy' must be a mapping")
    days = section.get("retention_days", 90)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise SettingsError(
            f"settings: 'privacy.retention_days' must be a positive integer, got {days!r}"
        )
    return days
