"""The app objects actions use."""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversation.handoff import HandoffService
from bot.domain.reports import ReportService
from bot.settings import TownSettings
from knowledge_base.interface import KnowledgeSearch
from knowledge_base.life_events import LifeEvents


@dataclass(frozen=True)
class ActionDependencies:
    town: TownSettings
    reports: ReportService
    # None until a knowledge base is configured: questions then get an honest
    # "not found" with the town hall's contacts.
    knowledge: KnowledgeSearch | None = None
    # None when no handoff service runs: the citizen is then offered a callback.
    handoff: HandoffService | None = None
    # The life events of the base (KnowledgeBase.life_events()); None: not recognised.
    life_events: LifeEvents | None = None
