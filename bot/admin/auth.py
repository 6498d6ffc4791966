"""Staff sign-in, session cookie, CSRF and role checks, reusable by any staff area.

An area (the /admin editor today, a future /agent console) is an aiohttp
sub-application whose middleware list includes `StaffAuth.middleware`, and
whose handlers are each marked with `@public` or `@require_role(...)`:

    area = web.Application(middlewares=[auth.middleware])

    @require_role(Role.AGENT, Role.ADMIN)
    async def console(request: web.Request) -> web.Response:
        user = current_session(request).user
        ...

The middleware fails closed: a route whose handler carries neither mark is
refused. Before a handler runs it resolves the session cookie, sends anonymous
visitors to the sign-in page (pages) or answers 401 (API paths), answers 403
to a role that is not allowed, and checks the CSRF token of every unsafe
method (form field `csrf_token` or header `X-CSRF-Token`). The sign-in form
itself is protected by a double-submit token kept in a short-lived cookie.

One module (about 480 lines): the cookie, the session check, CSRF and the role marks
are one security boundary, read and reviewed together (docs/security.md); splitting
them would let a handler be reached with only part of the checks in view.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.admin.pages import ROLE_LABELS, Flash, error_page, render_page
from bot.admin.users import Role, StaffSession, UserStore, hash_token
from bot.security.limits import RateLimiter, client_address, networks
from bot.settings import RateLimit

log = logging.getLogger(__name__)

SESSION_COOKIE = "guichet_admin"
LOGIN_CSRF_COOKIE = "guichet_admin_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Staff forms carry whole articles (up to 100,000 characters, urlencoded);
# anonymous requests keep the public app's small limit.
STAFF_MAX_REQUEST_BYTES = 2 * 1024 * 1024

STAFF_SESSION = web.RequestKey("guichet_staff_session", StaffSession)

BAD_CREDENTIALS = "Identifiants incorrects."
TOO_MANY_ATTEMPTS = "Trop de tentatives de connexion. Patientez {seconds} avant de réessayer."
SIGN_IN_BUSY = "Le service de connexion est très sollicité. Réessayez dans quelques secondes."
# argon2 takes 64 MiB and a core for each verification: at most this many at
# once, and at most MAX_WAITING_HASHES waiting; the others are refused at once.
MAX_CONCURRENT_HASHES = 2
MAX_WAITING_HASHES = 8
CSRF_FAILED = (
    "Le formulaire a expiré ou ne provient pas de cette page. Rechargez la page et réessayez."
)

_ACCESS = "__guichet_access__"
P = ParamSpec("P")
R = TypeVar("R", bound=web.StreamResponse)
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])
_PUBLIC: frozenset[Role] = frozenset()


class NotAuthenticated(Exception):
    """No live staff session."""


class Forbidden(Exception):
    """The session's role may not use this route."""


def public(handler: H) -> H:
    """Mark a handler as reachable without signing in (sign-in page, static files)."""
    setattr(handler, _ACCESS, _PUBLIC)
    return handler


def require_role(
    *roles: Role,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Allow a handler to these roles only; checked by the middleware and here again.

    Works on functions `(request)` and on methods `(self, request)`: the request
    is the last positional argument.
    """
    if not roles:
        raise ValueError("require_role needs at least one role")
    allowed = frozenset(roles)

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(handler)
        async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            request = args[-1] if args else None
            if not isinstance(request, web.BaseRequest):
                raise TypeError(f"{handler.__qualname__}: the last argument must be the request")
            session = request.get(STAFF_SESSION)
            if session is None:
                raise NotAuthenticated
            if not session.user.has_role(allowed):
                raise Forbidden
            return await handler(*args, **kwargs)

        setattr(checked, _ACCESS, allowed)
        return checked

    return decorate


def current_session(request: web.Request) -> StaffSession:
    session = request.get(STAFF_SESSION)
    if session is None:
        raise NotAuthenticated
    return session


def is_https(request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the app sees http; trusting the header can
    # only make the cookie stricter, never weaker.
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to after sign-in; anything else gives `default`."""
    if not value or len(value) > 2000 or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    return value


@dataclass
class _Failures:
    count: int
    last_at: float


def _growing_delay(count: int, free: int, cap: float) -> float:
    """The wait after `count` failures: none for the first `free`, then 1 s, 2 s,
    4 s... up to `cap`."""
    if count < free:
        return 0.0
    return float(min(cap, 2 ** min(count - free, 30)))


class LoginThrottle:
    """Sign-in attempts, checked before any password is hashed.

    - Per client address, a token bucket of attempts (`per_client`): parallel
      POSTs from one address cannot all reach argon2.
    - Failures make the next attempt wait, the wait doubling with each failure,
      rather than a lock: per e-mail and address (after `free_failures`, up to
      `max_delay_s`), and per e-mail over all addresses (after
      `email_free_failures`, up to `email_max_delay_s`), so someone guessing an
      account's password from elsewhere holds its owner up a minute at most.
    - An attempt counts as a failure from the moment it is let through until it
      succeeds, so attempts in flight together are counted too.
    """

    def __init__(
        self,
        per_client: RateLimit | None = None,
        free_failures: int = 3,
        max_delay_s: float = 300,
        email_free_failures: int = 20,
        email_max_delay_s: float = 60,
        window_s: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_attempts = RateLimiter(per_client or RateLimit(10, 10), clock)
        self._free, self._cap = free_failures, max_delay_s
        self._email_free, self._email_cap = email_free_failures, email_max_delay_s
        self._window = window_s
        self._clock = clock
        self._failures: dict[tuple[str, ...], _Failures] = {}

    def _wait(self, key: tuple[str, ...], free: int, cap: float, now: float) -> float:
        failures = self._failures.get(key)
        if failures is None or now - failures.last_at > self._window:
            self._failures.pop(key, None)
            return 0.0
        return max(0.0, failures.last_at + _growing_delay(failures.count, free, cap) - now)

    def check(self, email: str, client: str) -> float:
        """0 when the attempt may go on (it is then counted), else seconds to wait."""
        now = self._clock()
        if not self.client_attempts.allow(client):
            return float(self.client_attempts.retry_after(client))
        wait = max(
            self._wait(("pair", email, client), self._free, self._cap, now),
            self._wait(("email", email), self._email_free, self._email_cap, now),
        )
        if wait > 0:
            return wait
        keys: tuple[tuple[str, ...], ...] = (("pair", email, client), ("email", email))
        for key in keys:
            failures = self._failures.setdefault(key, _Failures(0, now))
            failures.count += 1
            failures.last_at = now
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            for old in [k for k, f in self._failures.items() if now - f.last_at > self._window]:
                del self._failures[old]
        return 0.0

    def succeeded(self, email: str, client: str) -> None:
        self._failures.pop(("pair", email, client), None)
        email_failures = self._failures.get(("email", email))
        if email_failures is not None:
            email_failures.count = max(0, email_failures.count - 1)


class ErrorRenderer(Protocol):
    def __call__(
        self, request: web.Request, status: int, title: str, message: str
    ) -> web.Response: ...


def default_error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return web.Response(
        text=error_page(status, title, message, request.get(STAFF_SESSION)),
        status=status,
        content_type="text/html",
    )


def _form_str(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


class StaffAuth:
    def __init__(
        self,
        users: UserStore,
        *,
        login_path: str = "/admin/login",
        home_path: str = "/admin/articles",
        api_prefixes: Iterable[str] = ("/admin/api/",),
        render_error: ErrorRenderer = default_error_page,
        throttle: LoginThrottle | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self.users = users
        self.login_path = login_path
        self.home_path = home_path
        self.api_prefixes = tuple(api_prefixes)
        self.render_error = render_error
        self.throttle = throttle or LoginThrottle()
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._waiting_hashes = 0
        # Told the token hash of every session signed out here (open agent
        # consoles close at once; sessions ended elsewhere are found by re-checks).
        self.on_session_closed: list[Callable[[str], Awaitable[None]]] = []
        # Behind a proxy, failures are counted per citizen address, not per proxy.
        self.trusted_proxies = networks(trusted_proxies)

    # --- middleware ---
    def is_api(self, request: web.Request) -> bool:
        return request.path.startswith(self.api_prefixes)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        session = await self.users.session(request.cookies.get(SESSION_COOKIE, ""))
        if session is not None:
            request[STAFF_SESSION] = session
        match = request.match_info
        if match.http_exception is not None:
            return await handler(request)  # the router's own 404 or 405
        # (a bound method forwards the attribute read to its function)
        allowed: frozenset[Role] | None = getattr(match.handler, _ACCESS, None)
        if allowed is None:
            log.error("staff route %s has no access rule; refused", request.path)
            return self._forbidden(request)
        if allowed is not _PUBLIC:
            if session is None:
                return self._unauthenticated(request)
            if not session.user.has_role(allowed):
                return self._forbidden(request)
        if request.method not in SAFE_METHODS:
            if session is not None:
                request = request.clone(client_max_size=STAFF_MAX_REQUEST_BYTES)
            if not await self._csrf_ok(request, session):
                log.info("CSRF check failed on %s %s", request.method, request.path)
                return self._error(request, 403, "Action refusée", CSRF_FAILED, "csrf")
        try:
            return await handler(request)
        except NotAuthenticated:
            return self._unauthenticated(request)
        except Forbidden:
            return self._forbidden(request)

    async def _csrf_ok(self, request: web.Request, session: StaffSession | None) -> bool:
        expected = session.csrf_token if session else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        given = request.headers.get(CSRF_HEADER, "")
        if not given and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = _form_str(await request.post(), CSRF_FIELD)
        return bool(expected and given) and hmac.compare_digest(
            expected.encode("utf-8"), given.encode("utf-8")
        )

    def _error(
        self, request: web.Request, status: int, title: str, message: str, code: str
    ) -> web.Response:
        if self.is_api(request):
            return web.json_response({"error": {"code": code, "message": message}}, status=status)
        return self.render_error(request, status, title, message)

    def _unauthenticated(self, request: web.Request) -> web.Response:
        if self.is_api(request):
            return self._error(
                request, 401, "Connexion requise", "Session expirée : reconnectez-vous.", "login"
            )
        target = request.path_qs if request.method == "GET" else request.path
        location = f"{self.login_path}?{urlencode({'next': target})}"
        return web.Response(status=303, headers={"Location": location})

    def _forbidden(self, request: web.Request) -> web.Response:
        session = request.get(STAFF_SESSION)
        role = ROLE_LABELS[session.user.role] if session else ""
        message = (
            f"Votre rôle ({role}) ne permet pas d’accéder à cette page ou de faire cette action."
            if role
            else "Vous n’avez pas accès à cette page."
        )
        return self._error(request, 403, "Accès refusé", message, "forbidden")

    # --- cookies ---
    def _set_cookie(
        self,
        request: web.Request,
        response: web.StreamResponse,
        name: str,
        value: str,
        path: str,
        max_age: int | None = None,
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=path,
            max_age=max_age,
            httponly=True,
            samesite="Strict",
            secure=is_https(request),
        )

    def _login_csrf(self, request: web.Request, response: web.StreamResponse) -> str:
        token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not (20 <= len(token) <= 100):
            token = secrets.token_urlsafe(32)
        self._set_cookie(request, response, LOGIN_CSRF_COOKIE, token, self.login_path, 3600)
        return token

    # --- handlers ---
    def _login_response(
        self,
        request: web.Request,
        *,
        next_url: str,
        email: str = "",
        error: str = "",
        status: int = 200,
        notice: Flash | None = None,
    ) -> web.Response:
        response = web.Response(status=status, content_type="text/html")
        token = self._login_csrf(request, response)
        response.text = render_page(
            "login.html",
            session=None,
            title="Connexion",
            flash=notice,
            csrf=token,
            next_url=next_url,
            email=email,
            error=error,
        )
        return response

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        next_url = safe_next(request.query.get("next"), self.home_path)
        if request.get(STAFF_SESSION) is not None:
            return web.Response(status=303, headers={"Location": next_url})
        notice = None
        if request.query.get("msg") == "logout":
            notice = Flash("info", "Vous êtes déconnecté.")
        return self._login_response(request, next_url=next_url, notice=notice)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        email = _form_str(form, "email").strip()[:254]
        password = _form_str(form, "password")
        next_url = safe_next(_form_str(form, "next"), self.home_path)
        client = client_address(request, self.trusted_proxies).ip
        key = email.lower()
        if self._waiting_hashes >= MAX_WAITING_HASHES:
            log.warning("sign-in refused: %d password checks already waiting", MAX_WAITING_HASHES)
            return self._login_response(
                request, next_url=next_url, email=email, error=SIGN_IN_BUSY, status=503
            )
        wait = self.throttle.check(key, client)
        if wait > 0:
            log.warning("sign-in throttled for a client after repeated attempts")
            seconds = max(1, int(wait + 0.999))
            response = self._login_response(
                request,
                next_url=next_url,
                email=email,
                error=TOO_MANY_ATTEMPTS.format(
                    seconds="1 seconde" if seconds == 1 else f"{seconds} secondes"
                ),
                status=429,
            )
            response.headers["Retry-After"] = str(seconds)
            return response
        self._waiting_hashes += 1
        try:
            async with self._hashing:
                user = await self.users.authenticate(email, password)
        finally:
            self._waiting_hashes -= 1
        if user is None:
            log.info("failed staff sign-in")
            return self._login_response(
                request, next_url=next_url, email=email, error=BAD_CREDENTIALS, status=401
            )
        self.throttle.succeeded(key, client)
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:
            await self.users.close_session(previous)
        token, _ = await self.users.open_session(user)
        log.info("staff user %s signed in (%s)", user.id, user.role.value)
        response = web.Response(status=303, headers={"Location": next_url})
        self._set_cookie(request, response, SESSION_COOKIE, token, "/")
        response.del_cookie(LOGIN_CSRF_COOKIE, path=self.login_path)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await self.users.close_session(token)
            for listener in self.on_session_closed:
                await listener(hash_token(token))
        response = web.Response(status=303, headers={"Location": f"{self.login_path}?msg=logout"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    def register(self, app: web.Application, prefix: str = "") -> None:
        """Add the sign-in and sign-out routes to an area (relative to its prefix)."""
        app.router.add_get(f"{prefix}/login", public(_bound(self.login_page)))
        app.router.add_post(f"{prefix}/login", public(_bound(self.login)))
        # Signing out needs a session: an expired one is simply sent to sign in.
        app.router.add_post(f"{prefix}/logout", require_role(*Role)(_bound(self.logout)))


def _bound(method: Handler) -> Handler:
    """A plain function around a bound method, so it can carry the access mark."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await method(request)

    handler.__name__ = getattr(method, "__name__", "handler")
    return handler
