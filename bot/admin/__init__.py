"""The staff area at /admin: sign-in and the knowledge-base editor.

`register_admin(app, engine, knowledge, data_dir)` mounts it on the public app. The sign-in,
session and role machinery (`bot.admin.auth.StaffAuth`, stored under
`STAFF_AUTH` on the app) is meant to be reused by other staff areas.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin.auth import StaffAuth
from bot.admin.context import ADMIN_CONTEXT, AdminContext
from bot.admin.routes import area_middleware, setup_routes
from bot.admin.users import Role, UserStore
from knowledge_base.service import KnowledgeBase

__all__ = ["STAFF_AUTH", "Role", "StaffAuth", "register_admin"]

STAFF_AUTH = web.AppKey("guichet_staff_auth", StaffAuth)


def register_admin(
    app: web.Application,
    engine: AsyncEngine,
    knowledge: KnowledgeBase,
    data_dir: Path,
    trusted_proxies: tuple[str, ...] = (),
) -> StaffAuth:
    """Mount /admin on `app`; returns the StaffAuth other staff areas can share."""
    users = UserStore(engine)
    auth = StaffAuth(
        users,
        login_path="/admin/login",
        home_path="/admin/articles",
        api_prefixes=("/admin/api/",),
        trusted_proxies=trusted_proxies,
    )
    area = web.Application(middlewares=[area_middleware, auth.middleware])
    area[ADMIN_CONTEXT] = AdminContext(engine, knowledge, data_dir, users, auth)
    auth.register(area)
    setup_routes(area)
    app[STAFF_AUTH] = auth
    app.add_subapp("/admin", area)
    return auth
