"""Registration with the town's PBX as an extension (RFC 3261 §10), kept alive.

- REGISTER with digest authentication; refreshed before the granted expiry runs out.
- Between refreshes, every `register_check` seconds, a binding query (a REGISTER
  without Contact, §10.2.3) asks the registrar which contacts it holds for us: a
  registrar that restarted and forgot us (bindings in memory, as Kamailio's usrloc by
  default) is noticed within one interval and we register again at once.
- A refusal (401/403 after our credentials, 5xx), no answer, or a network error is
  retried after a back-off that doubles from `register_retry_min` to `register_retry_max`
  (a wrong password is not hammered); 423 Interval Too Brief is retried at once with
  the registrar's Min-Expires.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from voice.sip.config import SipConfig
from voice.sip.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    ascii_int,
    new_call_id,
    new_tag,
)

log = logging.getLogger(__name__)

Addr = tuple[str, int]


class RegistrationOwner(Protocol):
    """What the registration needs from the user agent."""

    @property
    def contact_uri(self) -> str: ...

    async def registrar_address(self) -> Addr: ...

    async def request_with_auth(
        self, build: Callable[[], SipRequest], destination: Addr
    ) -> SipResponse | None: ...


@dataclass(frozen=True)
class Attempt:
    """One REGISTER and what came of it (kept for operators' logs and for tests)."""

    kind: str  # "register" | "check" | "unregister"
    outcome: str  # "ok", "lost" (check: our binding is gone), "timeout", "error", or the status
    retry_in: float | None = None  # s before the next attempt, when it failed


class Registration:
    def __init__(self, owner: RegistrationOwner, config: SipConfig) -> None:
        assert config.registrar is not None
        self.owner = owner
        self.config = config
        self.registrar = config.registrar
        self.domain = config.domain or _host_of(config.registrar) or config.host
        self.aor = f"sip:{config.user}@{self.domain}"
        # R-URI of a REGISTER: the domain (§10.2); the registrar URI when no domain is set.
        self.request_uri = f"sip:{config.domain}" if config.domain else config.registrar
        self.registered = False
        self.successes = 0
        self.history: deque[Attempt] = deque(maxlen=100)
        self._changed = asyncio.Condition()
        self._call_id = new_call_id(config.advertised)
        self._cseq = 0
        self._failures = 0

    async def run(self) -> None:
        """Register, and stay registered until cancelled."""
        expires = self.config.register_expires
        while True:
            response, outcome = await self._send("register", expires)
            if outcome == "ok":
                assert response is not None
                await self._registered(True)
                self._failures = 0
                await self._hold(_granted_expiry(response, self.owner.contact_uri, expires))
                continue
            await self._registered(False)
            if response is not None and response.status == 423:
                minimum = ascii_int(response.headers.get("Min-Expires") or "")
                if minimum and minimum > expires:
                    expires = minimum
                    self._record("register", "423")
                    continue
            delay = self._backoff(response)
            self._record("register", outcome, delay)
            log.warning(
                "REGISTER to %s failed (%s): next attempt in %.0f s", self.registrar, outcome, delay
            )
            await asyncio.sleep(delay)

    async def unregister(self) -> None:
        if self.registered:
            await self._send("unregister", 0)
            await self._registered(False)

    async def wait_registered(self, beyond: int = 0) -> None:
        """Until more than `beyond` REGISTERs have succeeded (bound it with asyncio.timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.successes > beyond and self.registered)

    # --- internals ------------------------------------------------------------------

    async def _hold(self, granted: int) -> None:
        """Wait until the refresh is due, checking meanwhile that the registrar has us."""
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + max(1.0, granted - min(granted * 0.2, 60.0))
        check = self.config.register_check
        while (left := refresh_at - loop.time()) > 0:
            await asyncio.sleep(min(check, left) if check > 0 else left)
            if loop.time() >= refresh_at:
                return
            _, outcome = await self._send("check", None)
            if outcome == "ok":
                continue
            if outcome == "lost":
                log.warning("the registrar %s lost our binding: registering again", self.registrar)
            else:
                log.warning("binding check with %s failed (%s)", self.registrar, outcome)
            return

    async def _send(self, kind: str, expires: int | None) -> tuple[SipResponse | None, str]:
        tag = new_tag()
        contact = self.owner.contact_uri

        def build() -> SipRequest:
            self._cseq += 1
            request = SipRequest(Headers(), b"", "REGISTER", self.request_uri)
            h = request.headers
            h.add("Max-Forwards", "70")
            h.add("From", f'"{self.config.display_name}" <{self.aor}>;tag={tag}')
            h.add("To", f"<{self.aor}>")
            h.add("Call-ID", self._call_id)
            h.add("CSeq", f"{self._cseq} REGISTER")
            if expires is not None:  # none: a query of our bindings (§10.2.3)
                h.add("Contact", f"<{contact}>;expires={expires}")
                h.add("Expires", str(expires))
            h.add("User-Agent", self.config.user_agent)
            return request

        try:
            destination = await self.owner.registrar_address()
            response = await self.owner.request_with_auth(build, destination)
        except (OSError, SipParseError) as exc:
            log.warning("REGISTER to %s: %s", self.registrar, exc)
            return None, "error"
        if response is None:
            outcome = "timeout"
        elif not 200 <= response.status < 300:
            outcome = str(response.status)
        elif expires is None and not _has_binding(response, contact):
            outcome = "lost"
        else:
            outcome = "ok"
        if kind != "register" or outcome == "ok":
            self._record(kind, outcome)
        return response, outcome

    def _backoff(self, response: SipResponse | None) -> float:
        cfg = self.config
        delay = min(cfg.register_retry_max, cfg.register_retry_min * 2**self._failures)
        self._failures += 1
        header = response.headers.get("Retry-After") if response is not None else None
        retry_after = ascii_int((header or "").split(";")[0])
        if retry_after:
            delay = min(cfg.register_retry_max, max(delay, float(retry_after)))
        return delay

    def _record(self, kind: str, outcome: str, retry_in: float | None = None) -> None:
        self.history.append(Attempt(kind, outcome, retry_in))

    async def _registered(self, value: bool) -> None:
        async with self._changed:
            if value:
                self.successes += 1
                if not self.registered:
                    log.info("registered with %s as %s", self.registrar, self.aor)
            self.registered = value
            self._changed.notify_all()


def _same_contact(a: str, b: str) -> bool:
    try:
        x, y = SipUri.parse(a), SipUri.parse(b)
    except SipParseError:
        return False
    return (x.user, x.host.lower(), x.port or 5060) == (y.user, y.host.lower(), y.port or 5060)


def _has_binding(response: SipResponse, contact: str) -> bool:
    return any(
        _same_contact(NameAddr.parse(value).uri, contact)
        for value in response.headers.get_all("Contact")
    )


def _granted_expiry(response: SipResponse, contact: str, default: int) -> int:
    """The expiry the registrar granted our contact (its Contact parameter, else Expires)."""
    for value in response.headers.get_all("Contact"):
        address = NameAddr.parse(value)
        granted = ascii_int(address.params.get("expires", ""))
        if granted is not None and _same_contact(address.uri, contact):
            return granted
    granted = ascii_int(response.headers.get("Expires") or "")
    return default if granted is None else granted


def _host_of(uri: str) -> str | None:
    try:
        return SipUri.parse(uri).host
    except SipParseError:
        return None
