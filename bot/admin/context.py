"""What the staff area uses of the app (and nothing more), stored on its sub-app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.auth import StaffAuth
from bot.admin.users import UserStore
from knowledge_base.service import KnowledgeBase


@dataclass(frozen=True)
class AdminContext:
    engine: AsyncEngine  # statistics and the editor's "modified by" column
    knowledge: KnowledgeBase
    data_dir: Path  # Rasa's tracker file, read by the statistics
    users: UserStore
    auth: StaffAuth


ADMIN_CONTEXT = web.AppKey("guichet_admin_context", AdminContext)


def admin_context(request: web.Request) -> AdminContext:
    return request.config_dict[ADMIN_CONTEXT]
