"""The SIP user agent (RFC 3261 over UDP): answers calls and hands each one to `on_call`.

Transactions are simplified: a server transaction remembers its last response and
replays it to retransmitted requests; a 2xx (or a final failure) to an INVITE is
retransmitted with timer G until the ACK comes, for at most `ack_timeout` (shorter than
RFC 3261's 64·T1, so that an INVITE nobody ACKs frees its call slot quickly). Our
requests are retransmitted with timer A/E (T1 doubling, capped at T2) until a final
response or 64·T1 (timer B/F). 401/407 challenges are answered with digest auth.

Hostile input: datagrams from outside `allowed_peers` are ignored; one larger than the
parser's limits is dropped unread; responses go where RFC 3261 §18.2.2 / RFC 3581 say
(the source address, the Via's port unless `rport` asks for the source port), never to
an address a message names; requests we send in a dialog go to its next hop only when
that is an allowed IP address, else back to where the dialog came from (no name is
ever resolved for a peer); new INVITEs are rate-limited per source, server transactions
are capped, and one datagram's failure never escapes the handler.

Why one module of this size: `SipAgent` is one asyncio `DatagramProtocol`, and its
server transactions (requests in: INVITE, ACK, CANCEL, BYE...) and client transactions
(requests out: BYE, REFER, REGISTER, with digest auth) share the socket, the transaction
tables and the peer checks; what has no such state already lives beside it (`call`
dialogs, `checks`, `digest`, `guard`, `message`, `registration`, `sdp`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from voice.rtp import RtpSession, media_address, open_rtp_session
from voice.session import HangupCause, VoiceSession
from voice.sip.call import CallState, Dialog, SipCall
from voice.sip.checks import describe, request_problem
from voice.sip.config import SipConfig
from voice.sip.digest import digest_authorization
from voice.sip.guard import LogThrottle, PeerFilter, RateLimiter
from voice.sip.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    clip,
    make_response,
    new_branch,
    new_tag,
    parse_message,
    split_list,
)
from voice.sip.registration import Registration
from voice.sip.sdp import LocalSdp, SdpError, negotiate, parse_sdp

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
OnCall = Callable[[VoiceSession], Awaitable[None]]
Addr = tuple[str, int]
Trace = Callable[[str, bytes, Addr], None]  # ("in" | "out", datagram, peer address)

__all__ = ["ALLOW", "SipAgent", "digest_authorization"]


@dataclass
class _ServerTx:
    request: SipRequest
    source: Addr  # where the request came from
    addr: Addr  # where its responses go
    last: bytes | None = None
    final: int = 0
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class _ClientTx:
    request: SipRequest
    done: asyncio.Future[SipResponse]
    provisional: bool = False


@dataclass
class Counters:
    """What the agent refused, for operators (and tests)."""

    foreign: int = 0  # datagrams from outside allowed_peers
    oversized: int = 0  # datagrams over the parser's limits
    unparsable: int = 0
    rejected: int = 0  # well-formed requests answered with an error by `request_problem`
    rate_limited: int = 0  # INVITEs answered 503 by the per-source limit
    overloaded: int = 0  # requests dropped because the transaction table was full
    errors: int = 0  # exceptions while handling a datagram


class SipAgent(asyncio.DatagramProtocol):
    """A SIP UA on one UDP socket; `await start()`, then calls reach `on_call`."""

    def __init__(self, config: SipConfig, on_call: OnCall, trace: Trace | None = None) -> None:
        self.config = config
        self.on_call = on_call
        self.trace = trace
        self.transport: asyncio.DatagramTransport | None = None
        self.port = config.port
        self.calls: dict[tuple[str, str, str], SipCall] = {}
        self.counters = Counters()
        self.peers = PeerFilter(config.peer_networks)
        self.registration = Registration(self, config) if config.registrar else None
        self._invites = RateLimiter(config.invite_burst, config.invite_per_minute)
        self._quiet = LogThrottle()
        self._server_tx: dict[tuple[str, str], _ServerTx] = {}
        self._client_tx: dict[str, _ClientTx] = {}
        self._early: dict[str, SipCall] = {}  # INVITE branch → call not answered yet
        self._awaiting_ack: dict[tuple[str, int], _ServerTx] = {}  # (Call-ID, CSeq) → 2xx
        self._rtp_ports: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._register_task: asyncio.Task[None] | None = None
        self._registrar_addr: Addr | None = None

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.config.host, self.config.port)
        )
        if self.registration is not None:
            registrar = await self.registrar_address()
            self.peers.add(registrar[0])  # its answers and the calls it routes to us
            self._register_task = loop.create_task(self.registration.run())

    async def stop(self) -> None:
        """Hang up every call, unregister, close the socket."""
        for branch, early in list(self._early.items()):  # still ringing: refuse politely
            tx = self._server_tx.get((branch, "INVITE"))
            del self._early[branch]
            early.end(HangupCause.ERROR)
            if tx is not None:
                self._respond(tx.request, tx.source, 503, to_tag=early.dialog.local_tag)
        calls = list(self.calls.values())
        await asyncio.gather(*(call.hangup() for call in calls), return_exceptions=True)
        byes = [call.bye_task for call in calls if call.bye_task and not call.bye_task.done()]
        if byes:  # give the peers a moment to answer our BYEs
            await asyncio.wait(byes, timeout=2.0)
        if self._register_task:
            self._register_task.cancel()
            if self.registration is not None:
                with contextlib.suppress(OSError, TimeoutError, SipParseError):
                    await asyncio.wait_for(self.registration.unregister(), 5.0)
        for task in list(self._tasks):
            task.cancel()
        for tx in self._server_tx.values():
            if tx.task:
                tx.task.cancel()
        for call in list(self.calls.values()):
            self._release(call)
        if self.transport:
            self.transport.close()

    @property
    def registered(self) -> bool:
        return self.registration is not None and self.registration.registered

    @property
    def contact_uri(self) -> str:
        return f"sip:{self.config.user}@{_hostport(self.config.advertised, self.port)}"

    @property
    def live_calls(self) -> int:
        return sum(1 for call in self.calls.values() if call.state is not CallState.ENDED)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counters.errors += 1
            exc = task.exception()
            log.error("SIP task failed: %s: %s", type(exc).__name__, clip(str(exc)))

    # --- transport --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        source = (str(addr[0]), int(addr[1]))
        if not self.peers.allows(source[0]):
            self.counters.foreign += 1
            if self._quiet.ready("foreign", source[0]):
                log.warning("ignoring SIP from %s: not in voice.allowed_peers", source[0])
            return
        if len(data) > self.config.limits.max_datagram:
            self.counters.oversized += 1
            if self._quiet.ready("oversized", source[0]):
                log.warning("dropped a %d-byte SIP datagram from %s", len(data), source[0])
            return
        if not data.strip():  # CRLF keep-alive
            return
        if self.trace:
            self.trace("in", data, source)
        try:
            try:
                message = parse_message(data, limits=self.config.limits)
            except SipParseError as exc:
                self.counters.unparsable += 1
                self._bad_request(data, source, str(exc))
                return
            if isinstance(message, SipResponse):
                self._on_response(message)
            else:
                self._on_request(message, source)
        except Exception as exc:  # one datagram must never break the agent
            self.counters.errors += 1
            kind = type(exc).__name__
            log.error("error handling SIP from %s: %s: %s", source, kind, clip(str(exc)))
            log.debug("traceback", exc_info=True)

    def _bad_request(self, data: bytes, source: Addr, why: str) -> None:
        try:
            message = parse_message(data, strict=False, limits=self.config.limits)
        except SipParseError:
            if self._quiet.ready("unparsable", source[0]):
                log.info("dropped unparsable datagram from %s: %s", source, why)
            return
        if isinstance(message, SipRequest) and message.method != "ACK":
            if self._quiet.ready("bad-request", source[0]):
                log.info("400 to %s from %s: %s", describe(message), source, why)
            destination = self._response_destination(message, source)
            if destination is not None:
                response = make_response(message, 400, f"Bad Request ({why[:80]})")
                self._stamp_via(response, source)
                self._send(response.to_bytes(), destination)

    def _send(self, data: bytes, addr: Addr) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.trace:
                self.trace("out", data, addr)
            self.transport.sendto(data, addr)

    # --- server side ------------------------------------------------------------------

    def _tx_key(self, request: SipRequest) -> tuple[str, str]:
        via = request.top_via
        method = "INVITE" if request.method == "ACK" else request.method
        branch = via.branch
        if not branch.startswith("z9hG4bK") or branch == "z9hG4bK":  # RFC 2543 peer
            branch = f"{request.call_id}/{request.cseq[0]}/{request.from_addr.tag}"
        return (f"{branch}/{via.host}:{via.port}", method)

    @staticmethod
    def _response_destination(request: SipRequest, source: Addr) -> Addr | None:
        """RFC 3261 §18.2.2 for UDP: the request's source address (`received`), at the
        Via's port (5060 by default), or at the source port when it asked with `rport`."""
        try:
            via = request.top_via
        except SipParseError:
            return None
        if "rport" in via.params:
            return source
        return (source[0], via.port or 5060)

    @staticmethod
    def _stamp_via(response: SipResponse, source: Addr) -> None:
        """`received` and `rport` on the top Via (RFC 3261 §18.2.1, RFC 3581), replacing
        whatever the sender put there itself."""
        vias = response.headers.get_all("Via")
        if not vias:
            return
        items = split_list(vias[0], ";")
        kept = [items[0]]
        rport = False
        for item in items[1:]:
            key = item.partition("=")[0].strip().lower()
            if key == "rport":
                rport = True
            elif key != "received":
                kept.append(item)
        kept.append(f"received={source[0]}")
        if rport:
            kept.append(f"rport={source[1]}")
        response.headers.set("Via", ";".join(kept))
        for extra in vias[1:]:
            response.headers.add("Via", extra)

    def _respond(
        self,
        request: SipRequest,
        source: Addr,
        status: int,
        reason: str = "",
        to_tag: str = "",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str = "application/sdp",
    ) -> None:
        tx = self._server_tx.get(self._tx_key(request))
        destination = tx.addr if tx is not None else self._response_destination(request, source)
        if destination is None:
            return
        response = make_response(request, status, reason, to_tag, body)
        self._stamp_via(response, tx.source if tx is not None else source)
        if status > 100:
            response.headers.add("Contact", f"<{self.contact_uri}>")
        for name, value in headers or []:
            response.headers.add(name, value)
        response.headers.add("User-Agent", self.config.user_agent)
        if body:
            response.headers.add("Content-Type", content_type)
        data = response.to_bytes()
        if tx is not None:
            tx.last = data
            if status >= 200:
                tx.final = status
        self._send(data, destination)

    def _open_tx(self, request: SipRequest, source: Addr) -> _ServerTx | None:
        destination = self._response_destination(request, source)
        if destination is None:
            return None
        key = self._tx_key(request)
        tx = _ServerTx(request, source, destination)
        self._server_tx[key] = tx
        # Kept while retransmissions of the request may come (timer J: 64·T1) and our
        # final answer may still be waiting for its ACK.
        lifetime = max(64 * self.config.t1, self.config.ack_timeout) + 1.0
        asyncio.get_running_loop().call_later(lifetime, lambda: self._server_tx.pop(key, None))
        return tx

    def _on_request(self, request: SipRequest, source: Addr) -> None:
        if request.method == "ACK":
            self._on_ack(request)
            return
        existing = self._server_tx.get(self._tx_key(request))
        if existing is not None:  # retransmission: replay our last answer
            if existing.last:
                self._send(existing.last, existing.addr)
            return
        if len(self._server_tx) >= self.config.max_server_transactions:
            self.counters.overloaded += 1
            if self._quiet.ready("overloaded", source[0]):
                log.warning("SIP transaction table full: dropping %s", describe(request))
            return
        if self._open_tx(request, source) is None:
            return
        problem = request_problem(request)
        if problem is not None:
            self.counters.rejected += 1
            if self._quiet.ready(f"rejected-{problem.status}", source[0]):
                log.info("%d to %s from %s", problem.status, describe(request), source[0])
            if request.method == "INVITE":
                self._final_failure(request, source, problem.status, headers=problem.headers)
            else:
                self._respond(
                    request, source, problem.status, problem.reason, headers=problem.headers
                )
            return
        if request.method == "CANCEL":
            self._on_cancel(request, source)
        elif request.to_addr.tag:
            self._in_dialog(request, source)
        elif request.method == "INVITE":
            self._spawn(self._on_invite(request, source))
        elif request.method == "OPTIONS":
            self._respond(request, source, 200, headers=self._capabilities())
        elif request.method in ("BYE", "INFO", "NOTIFY"):
            self._respond(request, source, 481)
        elif request.method in ("REGISTER", "SUBSCRIBE", "MESSAGE", "REFER", "PUBLISH"):
            self._respond(request, source, 405, headers=[("Allow", ALLOW)])
        else:
            self._respond(request, source, 501, headers=[("Allow", ALLOW)])

    def _capabilities(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ALLOW),
            ("Accept", "application/sdp, message/sipfrag, application/dtmf-relay"),
        ]

    async def _on_invite(self, invite: SipRequest, source: Addr) -> None:
        self._respond(invite, source, 100)
        cfg = self.config
        if self.live_calls >= cfg.max_calls:
            self._final_failure(invite, source, 486)
            return
        if not self._invites.allow(source[0]):
            self.counters.rate_limited += 1
            if self._quiet.ready("rate", source[0]):
                log.warning("too many INVITEs from %s: answering 503", source[0])
            retry = [("Retry-After", str(self._invites.retry_after()))]
            self._final_failure(invite, source, 503, headers=retry)
            return
        # Everything that can refuse the call is decided before a port is taken.
        local_tag = new_tag()
        try:
            dialog = Dialog.from_invite(invite, local_tag, source)
            target_host = SipUri.parse(dialog.remote_target).host
            domain = cfg.domain or _domain_of(cfg.registrar) or target_host
        except SipParseError as exc:
            log.info("INVITE %s refused: %s", clip(invite.call_id, 40), exc)
            self._final_failure(invite, source, 400, to_tag=local_tag)
            return
        if invite.body and not _acceptable_offer(invite.body):
            self._final_failure(invite, source, 488, to_tag=local_tag)
            return
        try:
            rtp_port, rtp = await open_rtp_session(
                cfg.host, cfg.rtp_port_min, cfg.rtp_port_max, self._rtp_ports, self._new_rtp
            )
        except OSError:
            log.error("no free RTP port: refusing call %s", clip(invite.call_id, 40))
            self._final_failure(invite, source, 503, to_tag=local_tag)
            return
        call = SipCall(
            self,
            dialog,
            rtp,
            rtp_port,
            LocalSdp(cfg.advertised, rtp_port),
            domain,
            cfg.transfer_timeout,
        )
        try:
            self._answer(invite, source, call)
        except Exception:
            self._release(call)
            self._final_failure(invite, source, 500, to_tag=local_tag)
            raise
        if cfg.answer_delay > 0:
            await asyncio.sleep(cfg.answer_delay)
        branch = self._tx_key(invite)[0]
        if self._early.pop(branch, None) is None or call.state is not CallState.EARLY:
            return  # cancelled while ringing
        call.state = CallState.ANSWERED
        call.answered_at = asyncio.get_running_loop().time()
        sdp = call.pending_sdp or ""
        self._respond(invite, source, 200, to_tag=local_tag, body=sdp.encode())
        self._wait_ack(invite, call)

    def _answer(self, invite: SipRequest, source: Addr, call: SipCall) -> None:
        """Apply the offer (or prepare ours), register the call, ring."""
        if invite.body:
            sdp = call.negotiate_offer(invite.body)
            if sdp is None:
                raise ValueError("SDP offer refused after it was accepted")
        else:  # late offer: we offer in the 200, the answer comes in the ACK
            sdp = call.local_sdp.offer()
            call.awaiting_answer = True
        call.pending_sdp = sdp
        self._early[self._tx_key(invite)[0]] = call
        self.calls[call.dialog.key] = call
        self._respond(invite, source, 180, to_tag=call.dialog.local_tag)

    def _new_rtp(self) -> RtpSession:
        cfg = self.config
        return RtpSession(
            _ignore,
            _ignore,
            _nothing,
            cfg.media_timeout,
            cfg.idle_silence,
            source_policy=cfg.rtp_source,
        )

    def _wait_ack(self, invite: SipRequest, call: SipCall | None) -> None:
        tx = self._server_tx.get(self._tx_key(invite))
        if tx is not None:
            if tx.final < 300:
                self._awaiting_ack[(invite.call_id, invite.cseq[0])] = tx
            tx.task = self._spawn(self._retransmit_until_ack(tx, call))

    def _final_failure(
        self,
        invite: SipRequest,
        source: Addr,
        status: int,
        to_tag: str = "",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self._respond(invite, source, status, to_tag=to_tag or new_tag(), headers=headers)
        self._wait_ack(invite, None)

    async def _retransmit_until_ack(self, tx: _ServerTx, call: SipCall | None) -> None:
        """Timer G (T1 doubling up to T2) until the ACK, for at most `ack_timeout`."""
        cfg = self.config
        interval, waited = cfg.t1, 0.0
        limit = min(64 * cfg.t1, cfg.ack_timeout)
        while waited < limit:
            try:
                await asyncio.wait_for(tx.acked.wait(), min(interval, limit - waited))
                return
            except TimeoutError:
                waited += min(interval, limit - waited)
                interval = min(interval * 2, cfg.t2)
                if call is not None and call.state is CallState.ENDED:
                    return
                if tx.last and waited < limit:
                    self._send(tx.last, tx.addr)
        self._awaiting_ack = {k: v for k, v in self._awaiting_ack.items() if v is not tx}
        if call is not None and call.state is not CallState.ENDED:
            log.warning("call %s: no ACK for our 200 OK, hanging up", call.call_id)
            await call.hangup()

    def _on_ack(self, ack: SipRequest) -> None:
        tx = self._server_tx.get(self._tx_key(ack))
        if tx is not None and tx.final >= 300:  # ACK of our failure answer
            tx.acked.set()
            return
        invite_tx = self._awaiting_ack.pop((ack.call_id, ack.cseq[0]), None)
        if invite_tx is not None:
            invite_tx.acked.set()
        call = self.calls.get((ack.call_id, ack.to_addr.tag, ack.from_addr.tag))
        if call is None:
            return
        if call.awaiting_answer and ack.body:
            call.awaiting_answer = False
            if not call.apply_answer(ack.body):
                self._spawn(call.hangup())
                return
        if call.state is CallState.ANSWERED:
            call.confirm()
            log.info(
                "call %s answered (%s)", call.call_id, call.negotiated and call.negotiated.codec
            )
            self._spawn(self._run(call))

    async def _run(self, call: SipCall) -> None:
        try:
            await self.on_call(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call handler failed for %s", call.call_id)
        if call.state is not CallState.ENDED:
            await call.hangup()

    def _on_cancel(self, cancel: SipRequest, source: Addr) -> None:
        key = self._tx_key(cancel)
        invite_tx = self._server_tx.get((key[0], "INVITE"))
        if invite_tx is None:
            self._respond(cancel, source, 481)
            return
        self._respond(cancel, source, 200)
        call = self._early.pop(key[0], None)
        if call is not None and call.state is CallState.EARLY:
            call.end(HangupCause.CALLER)
            self._final_failure(invite_tx.request, invite_tx.source, 487, call.dialog.local_tag)

    def _in_dialog(self, request: SipRequest, source: Addr) -> None:
        key = (request.call_id, request.to_addr.tag, request.from_addr.tag)
        call = self.calls.get(key)
        method = request.method
        if call is None or call.state is CallState.ENDED:
            if method == "OPTIONS":
                self._respond(request, source, 200, headers=self._capabilities())
            else:
                self._respond(request, source, 481)
            return
        cseq = request.cseq[0]
        if cseq < call.dialog.remote_cseq:
            self._respond(request, source, 500, "CSeq Out of Order")
            return
        call.dialog.remote_cseq = cseq
        if method == "BYE":
            self._respond(request, source, 200)
            call.end(HangupCause.CALLER)
        elif method == "INVITE":
            self._on_reinvite(call, request, source)
        elif method == "INFO":
            self._respond(request, source, call.handle_info(request))
        elif method == "NOTIFY":
            self._respond(request, source, call.handle_notify(request))
        elif method == "OPTIONS":
            self._respond(request, source, 200, headers=self._capabilities())
        elif method in ("UPDATE", "PRACK"):
            self._respond(request, source, 501, headers=[("Allow", ALLOW)])
        else:
            self._respond(request, source, 405, headers=[("Allow", ALLOW)])

    def _on_reinvite(self, call: SipCall, request: SipRequest, source: Addr) -> None:
        if request.body:
            sdp = call.negotiate_offer(request.body)
            if sdp is None:
                self._final_failure(request, source, 488, call.dialog.local_tag)
                return
        else:
            sdp = call.local_sdp.offer()
            call.awaiting_answer = True
        contacts = request.headers.get_all("Contact")
        if contacts:  # a re-INVITE may change the remote target
            call.dialog.remote_target = NameAddr.parse(contacts[0]).uri
        self._respond(request, source, 200, to_tag=call.dialog.local_tag, body=sdp.encode())
        self._wait_ack(request, None)

    # --- client side ------------------------------------------------------------------

    def _on_response(self, response: SipResponse) -> None:
        tx = self._client_tx.get(response.top_via.branch)
        if tx is None or response.cseq[1] != tx.request.method:
            return
        if response.status < 200:
            tx.provisional = True
        elif not tx.done.done():
            tx.done.set_result(response)

    async def send_request(self, request: SipRequest, destination: Addr) -> SipResponse | None:
        """Send a non-INVITE request with retransmissions; None on timeout (timer F)."""
        branch = new_branch()
        via = f"SIP/2.0/UDP {_hostport(self.config.advertised, self.port)};branch={branch};rport"
        request.headers.remove("Via")
        headers = Headers([("Via", via), *request.headers])
        request.headers = headers
        data = request.to_bytes()
        done: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._client_tx[branch] = _ClientTx(request, done)
        interval, waited = self.config.t1, 0.0
        try:
            self._send(data, destination)
            while waited < 64 * self.config.t1:
                try:
                    return await asyncio.wait_for(asyncio.shield(done), interval)
                except TimeoutError:
                    waited += interval
                    tx = self._client_tx[branch]
                    interval = (
                        self.config.t2 if tx.provisional else min(2 * interval, self.config.t2)
                    )
                    self._send(data, destination)
            return None
        finally:
            self._client_tx.pop(branch, None)

    async def request_with_auth(
        self, build: Callable[[], SipRequest], destination: Addr
    ) -> SipResponse | None:
        """Send, and once more with credentials if challenged (401/407)."""
        request = build()
        response = await self.send_request(request, destination)
        if response is None or response.status not in (401, 407) or not self.config.password:
            return response
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = response.headers.get(header)
        if not challenge:
            return response
        retry = build()
        value = digest_authorization(
            challenge,
            retry.method,
            retry.uri,
            self.config.auth_user or self.config.user,
            self.config.password,
        )
        if value is None:
            return response
        retry.headers.add(
            "Authorization" if response.status == 401 else "Proxy-Authorization", value
        )
        return await self.send_request(retry, destination)

    async def send_in_dialog(
        self,
        call: SipCall,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> SipResponse | None:
        dialog = call.dialog
        destination = self._next_hop(dialog)

        def build() -> SipRequest:
            dialog.local_cseq += 1
            request = SipRequest(Headers(), body, method, dialog.remote_target)
            h = request.headers
            for route in dialog.route_set:
                h.add("Route", route)
            h.add("Max-Forwards", "70")
            h.add("From", dialog.local_party)
            h.add("To", dialog.remote_party)
            h.add("Call-ID", dialog.call_id)
            h.add("CSeq", f"{dialog.local_cseq} {method}")
            h.add("Contact", f"<{self.contact_uri}>")
            h.add("User-Agent", self.config.user_agent)
            for name, value in headers or []:
                h.add(name, value)
            return request

        return await self.request_with_auth(build, destination)

    def _next_hop(self, dialog: Dialog) -> Addr:
        """The dialog's next hop when it is an allowed IP address, else where the dialog
        came from: a Contact or Record-Route never makes us resolve a name or send to a
        stranger (and a phone behind NAT, whose Contact is private, is still reached)."""
        try:
            uri = SipUri.parse(dialog.next_hop())
            host = uri.params.get("maddr") or uri.host
            ipaddress.ip_address(host)
        except (SipParseError, ValueError):
            return dialog.source
        if not self.peers.allows(host):
            return dialog.source
        return (host, uri.port or 5060)

    async def registrar_address(self) -> Addr:
        """The registrar's address (its name is resolved off the loop, once)."""
        if self._registrar_addr is None:
            assert self.config.registrar is not None
            self._registrar_addr = await self._resolve(self.config.registrar)
        return self._registrar_addr

    def call_ended(self, call: SipCall) -> None:
        """Forget the call a little later (late retransmissions still find the dialog)."""
        log.info("call %s ended: %s", call.call_id, call.cause)
        for branch, early in list(self._early.items()):
            if early is call:
                del self._early[branch]
        asyncio.get_running_loop().call_later(5.0, self._release, call)

    def _release(self, call: SipCall) -> None:
        if self.calls.get(call.dialog.key) is call:
            del self.calls[call.dialog.key]
        call.rtp.close()
        self._rtp_ports.discard(call.rtp_port)

    async def _resolve(self, uri: str) -> Addr:
        parsed = SipUri.parse(uri)
        port = int(parsed.params.get("port", "") or parsed.port or 5060)
        host = parsed.params.get("maddr") or parsed.host
        try:
            ipaddress.ip_address(host)
            return (host, port)
        except ValueError:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            return (str(infos[0][4][0]), port)


def _acceptable_offer(body: bytes) -> bool:
    """Whether an SDP offer has a G.711 stream we can send to (checked before a port is
    taken, so that a refused call costs nothing)."""
    try:
        chosen = negotiate(parse_sdp(body))
        media_address((chosen.remote_host, chosen.remote_port))
    except (SdpError, ValueError):
        return False
    return True


def _domain_of(uri: str | None) -> str | None:
    if not uri:
        return None
    try:
        return SipUri.parse(uri).host
    except SipParseError:
        return None


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ignore(_: Any) -> None:
    return None


def _nothing() -> None:
    return None
