"""Town-hall facts as citizens read them, built from settings (never hard-coded)."""

from __future__ import annotations

from typing import Any

from bot.settings import TownSettings


def opening_hours_text(town: TownSettings) -> str:
    if not town.opening_hours:
        return f"Je n'ai pas les horaires de la {town.mairie_name} : appelez le {town.phone}."
    lines = [f"La {town.mairie_name} vous accueille :"]
    lines += [f"• {slot.days}, {slot.hours}" for slot in town.opening_hours]
    return "\n".join(lines)


def contact_text(town: TownSettings) -> str:
    return "\n".join(
        [
            f"{town.mairie_name}",
            f"• Adresse : {town.address}",
            f"• Téléphone : {town.phone}",
            f"• Courriel : {town.email}",
            f"• Site : {town.website}",
        ]
    )


def town_info(town: TownSettings) -> dict[str, Any]:
    """Public JSON for the demo page's practical information block."""
    return {
        "name": town.mairie_name,
        "phone": town.phone,
        "email": town.email,
        "address": town.address,
        "website": town.website,
        "opening_hours": [{"days": s.days, "hours": s.hours} for s in town.opening_hours],
    }
