"""What the user agent does before it reads a datagram: who may talk, how often, how loud.

- `PeerFilter`: the PBX or trunk addresses (`voice.allowed_peers`); others are ignored
  without an answer, so a scanner learns nothing and cannot make us send anything.
- `RateLimiter`: token buckets per source address (new INVITEs), bounded in memory.
- `LogThrottle`: one log line per kind and source a minute, so a flood of junk does not
  become a flood of log records.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PeerFilter:
    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks: list[Network] = list(networks)

    def add(self, address: str) -> None:
        self.networks.append(ipaddress.ip_network(address, strict=False))

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`burst` events at once per key, refilled at `per_minute`; 0 in either: no limit."""

    def __init__(self, burst: int, per_minute: float, max_keys: int = 4096) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.burst <= 0 or self.rate <= 0:
            return True
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after(self) -> int:
        """Seconds until a refused key has a token again (for Retry-After)."""
        return max(1, round(1 / self.rate)) if self.rate > 0 else 1

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they behave as new ones), else the oldest."""
        buckets = self._buckets
        full = [k for k, b in buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        oldest = sorted(buckets, key=lambda k: buckets[k].at)[: self.max_keys // 4]
        for key in full or oldest:
            del buckets[key]


class LogThrottle:
    def __init__(self, interval: float = 60.0, max_keys: int = 1024) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[tuple[str, str], float] = {}
        self.suppressed = 0

    def ready(self, kind: str, source: str) -> bool:
        """True at most once per `interval` for (`kind`, `source`)."""
        now = time.monotonic()
        key = (kind, source)
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self.suppressed += 1
            return False
        if len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = now
        return True
