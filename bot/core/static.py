"""The one way the app serves static files: a fixed list of files from one folder.

Each surface mounts its own list where its pages load them (the widget's at /static/,
the staff area's at /admin/static/, the agent console's at /agent/static/, behind the
console's roles). Only the listed names are served: no directory listing, no other
file, no path outside the folder. Security headers come from bot/security/headers.py
like on every response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

CSS = "text/css"
JS = "text/javascript"
HTML = "text/html"
SVG = "image/svg+xml"


@dataclass(frozen=True)
class StaticFiles:
    directory: Path
    files: Mapping[str, str]  # name -> content type
    # "no-cache": revalidated with the ETag on each use (staff files change with the app).
    cache_control: str | None = "no-cache"

    async def handler(self, request: web.Request) -> web.StreamResponse:
        """GET /…/{name}: one of the listed files, or 404."""
        name = request.match_info["name"]
        content_type = self.files.get(name)
        if content_type is None:
            raise web.HTTPNotFound()
        response = web.FileResponse(self.directory / name)
        response.content_type = content_type
        response.charset = "utf-8"
        if self.cache_control:
            response.headers["Cache-Control"] = self.cache_control
        return response
