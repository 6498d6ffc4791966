"""Which sites' pages may call the chat API: the app's own, and the towns' sites.

The widget is loaded from the app's origin but runs inside the town's page, so
its requests carry the town site's `Origin`. Browsers on any other site get a
403 (and no CORS permission), on HTTP and on the WebSocket handshake alike. A
request without `Origin` is not from a page (curl, a test, the load scripts):
it is let through, since for them the session id is what protects a
conversation; `Origin` checks stop other sites' pages from using a visitor's
browser, which is the part a browser can be made to do.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

CHAT_PREFIXES = ("/api/chat/", "/ws")
CORS_METHODS = "GET, POST, OPTIONS"
ORIGIN_REFUSED_FR = "Ce site n'est pas autorisé à utiliser l'assistant de la mairie."


class OriginPolicy:
    def __init__(self, allowed: Iterable[str] = ()) -> None:
        origins = {o.lower().rstrip("/") for o in allowed}
        self.any = "*" in origins
        self.allowed = frozenset(origins - {"*"})

    @staticmethod
    def same_origin(request: web.BaseRequest, origin: str) -> bool:
        host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
        return origin.split("://", 1)[-1] == host.lower()

    def allows(self, request: web.BaseRequest) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        origin = origin.lower().rstrip("/")
        return self.any or origin in self.allowed or self.same_origin(request, origin)

    def middleware(self) -> Middleware:
        @web.middleware
        async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith(CHAT_PREFIXES):
                return await handler(request)
            origin = request.headers.get("Origin")
            if not self.allows(request):
                return web.json_response(
                    {
                        "error": {
                            "code": "origin_refused",
                            "message": ORIGIN_REFUSED_FR,
                            "detail": "this site's origin is not in security.allowed_origins",
                        }
                    },
                    status=403,
                    headers={"Vary": "Origin"},
                )
            response = await handler(request)
            if (
                origin is not None
                and request.path.startswith("/api/chat/")
                and not (response.prepared)
            ):
                # The calling site only (never "*"): another site's page reading a
                # conversation with a visitor's browser gets nothing.
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                response.headers["Access-Control-Allow-Headers"] = "Content-Type"
                response.headers["Access-Control-Max-Age"] = "86400"
            if not response.prepared:  # a WebSocket has sent its headers already
                response.headers["Vary"] = "Origin"
            return response

        return check_origin
