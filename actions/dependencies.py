"""The app objects actions use."""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversation.handoff import HandoffService
from bot.domain.reports import ReportService
from bot.settings import TownSettings
from knowledge_base.interface import KnowledgeSearch


@dataclass(frozen=True)
class ActionDependencies:
    town: TownSettings
    reports: ReportService
    # None until a knowledge base is configured: questions then get an honest
    # "not found" with the town hall's contacts.
    knowledge: KnowledgeSearch | None = None
    # None when no handoff service runs: the citizen is then offered a callback.
    handoff: HandoffService | None = None
