"""aiohttp side of observability: request ids, HTTP metrics and `/metrics`.

`observe` is the outermost middleware of the public app. For each request it
takes the caller's `X-Request-Id` (when well formed) or makes one, keeps it in
a context variable for the log lines written while handling the request,
returns it in the response, counts the request by route template and status,
and turns an unhandled exception into a logged 500 that carries the id (French
`message` for the citizen, English `detail` for the operator).
"""

from __future__ import annotations

import ipaddress
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.observability import metrics
from bot.observability.logs import REQUEST_ID, request_id_from
from bot.security.limits import IPNetwork, client_address

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
# Not worth a log line each: probes and scrapes.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
INTERNAL_ERROR_FR = (
    "Une erreur technique est survenue. Réessayez dans un instant ; si elle persiste, "
    "contactez la mairie."
)


def route_of(request: web.BaseRequest) -> str:
    """The route template (`/api/chat/{session}/messages`), never the raw path."""
    match = getattr(request, "match_info", None)
    if match is None or match.http_exception is not None:
        return "unmatched"
    info = match.route.resource.get_info() if match.route.resource is not None else {}
    template = info.get("formatter") or info.get("path") or info.get("prefix")
    return str(template) if template else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        except Exception:
            log.exception("unhandled error on %s %s", request.method, route_of(request))
            response = web.json_response(
                {
                    "error": {
                        "code": "internal",
                        "message": INTERNAL_ERROR_FR,
                        "detail": f"internal server error (request id {request_id})",
                    }
                },
                status=500,
            )
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        route = route_of(request)
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        seconds = time.perf_counter() - started
        metrics.http_request(route, request.method, status, None if websocket else seconds)
        if route not in QUIET_ROUTES:
            log.info(
                "%s %s %d",
                request.method,
                route,
                status,
                extra={"status": status, "duration_ms": round(seconds * 1000, 1)},
            )
        REQUEST_ID.reset(token)


def metrics_handler(allow: tuple[IPNetwork, ...], trusted: tuple[IPNetwork, ...]) -> Handler:
    """`/metrics` for clients in `allow` only; others get a plain 404."""

    async def serve_metrics(request: web.Request) -> web.StreamResponse:
        client = client_address(request, trusted)
        allowed = not client.via_untrusted_proxy and _in(client.ip, allow)
        if not allowed:
            log.info("metrics refused to a client outside metrics.allow_from")
            raise web.HTTPNotFound()
        return web.Response(
            body=metrics.exposition(),
            headers={"Content-Type": metrics.CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )

    return serve_metrics


def _in(ip: str, nets: tuple[IPNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in n for n in nets)
