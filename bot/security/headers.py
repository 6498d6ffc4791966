"""Security headers on every response of the public app (pages, API, errors, WebSockets):
the one place that writes them, the Content-Security-Policy included.

Sent from `on_response_prepare`, so responses made from exceptions (404, 405,
413...), file responses and the staff areas' sub-apps (/admin, /agent) get them
too. A header a handler set itself is kept.
"""

from __future__ import annotations

from aiohttp import web

# Every page (the demo page, the staff pages, the agent console) and the files they load:
# own scripts and styles only, no inline code, network to this origin only (CSP Level 3
# lets 'self' cover ws:/wss: to the page's own host), no framing.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
# JSON, YAML, text: nothing in them may load or run anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
API_PREFIXES = ("/api/", "/ws", "/healthz", "/readyz", "/metrics")
# The widget's script and stylesheet are loaded by the towns' own sites.
CROSS_ORIGIN_PREFIXES = ("/static/", "/api/chat/")
# The staff areas: pages and answers are never stored by a browser or a proxy (their
# static files say "no-cache" themselves: revalidated, not stored stale).
STAFF_PREFIXES = ("/admin", "/agent")
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def _is_https(request: web.BaseRequest) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def _is_staff(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in STAFF_PREFIXES)


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    headers = response.headers
    # By path, not by content type: a 304 revalidating the demo page has no body,
    # and browsers apply the 304's CSP to the cached page.
    api = request.path.startswith(API_PREFIXES)
    page = not api or (response.content_type or "").startswith("text/html")
    headers.setdefault("Content-Security-Policy", PAGE_CSP if page else API_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault(
        "Cross-Origin-Resource-Policy",
        "cross-origin" if request.path.startswith(CROSS_ORIGIN_PREFIXES) else "same-origin",
    )
    if _is_staff(request.path):
        headers.setdefault("Cache-Control", "no-store")
    if _is_https(request):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
