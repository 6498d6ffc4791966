"""Who is calling, and how often: client addresses and in-process token buckets.

Limits are per app instance (several instances behind a proxy each apply them,
which multiplies the effective limit by the number of instances; the proxy's
own limits are the place for a global cap).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from bot.observability import metrics
from bot.settings import RateLimit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
log = logging.getLogger(__name__)

# Beyond this many keys, full (idle) buckets are forgotten.
MAX_KEYS = 50_000


def networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _within(text: str | None, nets: tuple[IPNetwork, ...]) -> bool:
    address = _address(text or "")
    return address is not None and any(address in n for n in nets)


@dataclass(frozen=True)
class ClientAddress:
    ip: str
    # The request went through a proxy this app does not trust: the real
    # client is unknown (its X-Forwarded-For could be anything).
    via_untrusted_proxy: bool = False


def client_address(request: web.BaseRequest, trusted: tuple[IPNetwork, ...]) -> ClientAddress:
    """The calling client's address, reading X-Forwarded-For only from trusted proxies.

    The rightmost forwarded address that is not a trusted proxy is the client
    (what comes before it was written by the client itself).
    """
    peer = request.remote or ""
    forwarded = any(h in request.headers for h in FORWARDING_HEADERS)
    if not _within(peer, trusted):
        return ClientAddress(peer or "?", via_untrusted_proxy=forwarded)
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, trusted):
            return ClientAddress(hop if _address(hop) else "?")
    return ClientAddress(peer)


class RateLimiter:
    """Token buckets by key: `burst` tokens, refilled at `per_minute` per minute."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._rate = limit.per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + (now - at) * self._rate)

    def allow(self, key: str) -> bool:
        """Take one token for `key`; False when its bucket is empty."""
        if not self.limit.enabled:
            return True
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_KEYS:
            self._forget_full(now)
        return True

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key` has a token again (at least 1)."""
        if not self._rate:
            return 60
        missing = 1.0 - self._tokens(key, self._clock())
        return max(1, int(missing / self._rate + 0.999))

    def _forget_full(self, now: float) -> None:
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.limit.burst]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


RATE_LIMITED_FR = (
    "Vous envoyez beaucoup de messages en peu de temps. "
    "Patientez quelques secondes avant de réessayer."
)


def _prefix(ip: str) -> str:
    """The client's network (/24 or /48), enough for an operator, less than an address."""
    address = _address(ip)
    if address is None:
        return "?"
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


@dataclass(frozen=True)
class Refusal:
    scope: str  # ip | session
    retry_after_s: int


class PublicLimits:
    """Per-IP and per-session limits of the public chat endpoints."""

    def __init__(
        self,
        per_ip: RateLimit,
        per_session: RateLimit,
        trusted_proxies: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ip = RateLimiter(per_ip, clock)
        self.session = RateLimiter(per_session, clock)
        # Typing indicators: at most one every 3 s from the widget; extra ones
        # are dropped without a word.
        self.typing = RateLimiter(RateLimit(10, 30), clock)
        self.trusted = networks(trusted_proxies)
        self._clock = clock
        self._logged: dict[str, float] = {}

    def client(self, request: web.BaseRequest) -> str:
        return client_address(request, self.trusted).ip

    def check(
        self, request: web.BaseRequest, session_id: str | None, endpoint: str
    ) -> Refusal | None:
        """Take a token from the client's and the session's buckets; a Refusal when one is empty."""
        ip = self.client(request)
        refusal = None
        if not self.ip.allow(ip):
            refusal = Refusal("ip", self.ip.retry_after(ip))
        elif session_id is not None and not self.session.allow(session_id):
            refusal = Refusal("session", self.session.retry_after(session_id))
        if refusal is not None:
            metrics.rate_limited(refusal.scope, endpoint)
            self._log(refusal, ip, endpoint)
        return refusal

    def _log(self, refusal: Refusal, ip: str, endpoint: str) -> None:
        # One line per client and minute, not one per refused request.
        now, key = self._clock(), f"{refusal.scope}:{ip}"
        if now - self._logged.get(key, -1e9) < 60:
            return
        if len(self._logged) > MAX_KEYS:
            self._logged.clear()
        self._logged[key] = now
        log.warning(
            "rate limit: %s bucket empty on %s for a client in %s; answering 429",
            refusal.scope,
            endpoint,
            _prefix(ip),
        )
