"""The SIP user agent (RFC 3261 over UDP): answers calls and hands each one to `on_call`.

Transactions are simplified: a server transaction remembers its last response and
replays it to retransmitted requests; a 2xx (or a final failure) to an INVITE is
retransmitted with timer G until the ACK comes, for at most 64·T1 (timer H). Our
requests are retransmitted with timer A/E (T1 doubling, capped at T2) until a final
response or 64·T1 (timer B/F). 401/407 challenges are answered with digest auth.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from voice.rtp import RtpSession, open_rtp_session
from voice.session import HangupCause, VoiceSession
from voice.sip.call import CallState, Dialog, SipCall
from voice.sip.config import SipConfig
from voice.sip.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    parse_params,
)
from voice.sip.sdp import LocalSdp

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
OnCall = Callable[[VoiceSession], Awaitable[None]]
Addr = tuple[str, int]
Trace = Callable[[str, bytes, Addr], None]  # ("in" | "out", datagram, peer address)


@dataclass
class _ServerTx:
    request: SipRequest
    addr: Addr
    last: bytes | None = None
    final: int = 0
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class _ClientTx:
    request: SipRequest
    done: asyncio.Future[SipResponse]
    provisional: bool = False


class SipAgent(asyncio.DatagramProtocol):
    """A SIP UA on one UDP socket; `await start()`, then calls reach `on_call`."""

    def __init__(self, config: SipConfig, on_call: OnCall, trace: Trace | None = None) -> None:
        self.config = config
        self.on_call = on_call
        self.trace = trace
        self.transport: asyncio.DatagramTransport | None = None
        self.port = config.port
        self.calls: dict[tuple[str, str, str], SipCall] = {}
        self.registered = False
        self._server_tx: dict[tuple[str, str], _ServerTx] = {}
        self._client_tx: dict[str, _ClientTx] = {}
        self._early: dict[str, SipCall] = {}  # INVITE branch → call not answered yet
        self._awaiting_ack: dict[tuple[str, int], _ServerTx] = {}  # (Call-ID, CSeq) → 2xx
        self._rtp_ports: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._register_call_id = new_call_id(config.advertised)
        self._register_cseq = 0
        self._register_task: asyncio.Task[None] | None = None

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.config.host, self.config.port)
        )
        if self.config.registrar:
            self._register_task = loop.create_task(self._register_loop())

    async def stop(self) -> None:
        """Hang up every call, unregister, close the socket."""
        for branch, early in list(self._early.items()):  # still ringing: refuse politely
            tx = self._server_tx.get((branch, "INVITE"))
            del self._early[branch]
            early.end(HangupCause.ERROR)
            if tx is not None:
                self._respond(tx.request, tx.addr, 503, to_tag=early.dialog.local_tag)
        calls = list(self.calls.values())
        await asyncio.gather(*(call.hangup() for call in calls), return_exceptions=True)
        byes = [call.bye_task for call in calls if call.bye_task and not call.bye_task.done()]
        if byes:  # give the peers a moment to answer our BYEs
            await asyncio.wait(byes, timeout=2.0)
        if self._register_task:
            self._register_task.cancel()
            if self.registered:
                with contextlib.suppress(OSError, TimeoutError, SipParseError):
                    await asyncio.wait_for(self._register(0), 5.0)
        for task in list(self._tasks):
            task.cancel()
        for tx in self._server_tx.values():
            if tx.task:
                tx.task.cancel()
        if self.transport:
            self.transport.close()

    @property
    def contact_uri(self) -> str:
        return f"sip:{self.config.user}@{_hostport(self.config.advertised, self.port)}"

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- transport --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        source = (str(addr[0]), int(addr[1]))
        if not data.strip():  # CRLF keep-alive
            return
        if self.trace:
            self.trace("in", data, source)
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self._bad_request(data, source, str(exc))
            return
        try:
            if isinstance(message, SipResponse):
                self._on_response(message)
            else:
                self._on_request(message, source)
        except Exception:
            log.exception("error handling SIP message from %s", source)

    def _bad_request(self, data: bytes, source: Addr, why: str) -> None:
        try:
            message = parse_message(data, strict=False)
        except SipParseError:
            log.info("dropped unparsable datagram from %s: %s", source, why)
            return
        if isinstance(message, SipRequest) and message.method != "ACK" and "Via" in message.headers:
            response = make_response(message, 400, f"Bad Request ({why[:60]})")
            self._send(response.to_bytes(), source)

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
        if not branch.startswith("z9hG4bK"):  # RFC 2543 peer: no unique branch
            branch = f"{request.call_id}/{request.cseq[0]}/{request.from_addr.tag}"
        return (f"{branch}/{via.host}:{via.port}", method)

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
        response = make_response(request, status, reason, to_tag, body)
        via = response.headers.get_all("Via")
        if via:  # RFC 3581 rport and received, so proxies route the answer back
            top = via[0]
            params = parse_params(top.partition(";")[2])
            if "rport" in params and not params["rport"]:
                top = top.replace(";rport", f";rport={source[1]}", 1)
            if "received" not in params:
                top += f";received={source[0]}"
            response.headers.set("Via", top)
            for extra in via[1:]:
                response.headers.add("Via", extra)
        if status > 100:
            response.headers.add("Contact", f"<{self.contact_uri}>")
        for name, value in headers or []:
            response.headers.add(name, value)
        response.headers.add("User-Agent", self.config.user_agent)
        if body:
            response.headers.add("Content-Type", content_type)
        data = response.to_bytes()
        tx = self._server_tx.get(self._tx_key(request))
        if tx is not None:
            tx.last = data
            if status >= 200:
                tx.final = status
        self._send(data, source)

    def _open_tx(self, request: SipRequest, source: Addr) -> _ServerTx:
        key = self._tx_key(request)
        tx = _ServerTx(request, source)
        self._server_tx[key] = tx
        asyncio.get_running_loop().call_later(
            64 * self.config.t1 + 5, lambda: self._server_tx.pop(key, None)
        )
        return tx

    def _on_request(self, request: SipRequest, source: Addr) -> None:
        if request.method == "ACK":
            self._on_ack(request)
            return
        existing = self._server_tx.get(self._tx_key(request))
        if existing is not None:  # retransmission: replay our last answer
            if existing.last:
                self._send(existing.last, source)
            return
        if request.method == "CANCEL":
            self._on_cancel(request, source)
            return
        self._open_tx(request, source)
        if request.to_addr.tag:
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
        required = {o.strip().lower() for o in invite.headers.get_all("Require") if o.strip()}
        if required:  # we support no extension that a peer may require (100rel, timer...)
            unsupported = [("Unsupported", ", ".join(sorted(required)))]
            self._final_failure(invite, source, 420, headers=unsupported)
            return
        live = sum(1 for call in self.calls.values() if call.state is not CallState.ENDED)
        if live >= self.config.max_calls:
            self._final_failure(invite, source, 486)
            return
        cfg = self.config

        def rtp_factory() -> RtpSession:
            return RtpSession(
                _ignore, _ignore, _nothing, cfg.media_timeout, cfg.idle_silence, reorder_depth=3
            )

        try:
            rtp_port, rtp = await open_rtp_session(
                cfg.host, cfg.rtp_port_min, cfg.rtp_port_max, self._rtp_ports, rtp_factory
            )
        except OSError:
            log.error("no free RTP port: refusing call %s", invite.call_id)
            self._final_failure(invite, source, 503)
            return
        local_tag = new_tag()
        dialog = Dialog.from_invite(invite, local_tag)
        domain = _domain_of(cfg.registrar) or SipUri.parse(dialog.remote_target).host
        local_sdp = LocalSdp(cfg.advertised, rtp_port)
        call = SipCall(self, dialog, rtp, rtp_port, local_sdp, domain, cfg.transfer_timeout)
        if invite.body:
            sdp = call.negotiate_offer(invite.body)
            if sdp is None:
                self._release(call)
                self._final_failure(invite, source, 488, to_tag=local_tag)
                return
        else:  # late offer: we offer in the 200, the answer comes in the ACK
            sdp = call.local_sdp.offer()
            call.awaiting_answer = True
        branch = self._tx_key(invite)[0]
        self._early[branch] = call
        self.calls[dialog.key] = call
        self._respond(invite, source, 180, to_tag=local_tag)
        if cfg.answer_delay > 0:
            await asyncio.sleep(cfg.answer_delay)
        if self._early.pop(branch, None) is None or call.state is not CallState.EARLY:
            return  # cancelled while ringing
        call.state = CallState.ANSWERED
        call.answered_at = asyncio.get_running_loop().time()
        self._respond(invite, source, 200, to_tag=local_tag, body=sdp.encode())
        self._wait_ack(invite, call)

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
        """Timer G (T1 doubling up to T2) until the ACK; timer H gives up after 64·T1."""
        interval, waited = self.config.t1, 0.0
        while waited < 64 * self.config.t1:
            try:
                await asyncio.wait_for(tx.acked.wait(), interval)
                return
            except TimeoutError:
                waited += interval
                interval = min(interval * 2, self.config.t2)
                if call is not None and call.state is CallState.ENDED:
                    return
                if tx.last:
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
        self._open_tx(cancel, source)
        if invite_tx is None:
            self._respond(cancel, source, 481)
            return
        self._respond(cancel, source, 200)
        call = self._early.pop(key[0], None)
        if call is not None and call.state is CallState.EARLY:
            call.end(HangupCause.CALLER)
            self._final_failure(invite_tx.request, invite_tx.addr, 487, call.dialog.local_tag)

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
        if cseq < call.dialog.remote_cseq and method != "ACK":
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
        destination = await self._resolve(dialog.next_hop())

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

    async def send_options(self, uri: str) -> SipResponse | None:
        """Out-of-dialog OPTIONS (a keep-alive or capability probe)."""
        destination = await self._resolve(uri)
        call_id = new_call_id(self.config.advertised)
        tag = new_tag()

        def build() -> SipRequest:
            request = SipRequest(Headers(), b"", "OPTIONS", uri)
            request.headers.add("Max-Forwards", "70")
            request.headers.add("From", f"<{self.contact_uri}>;tag={tag}")
            request.headers.add("To", f"<{uri}>")
            request.headers.add("Call-ID", call_id)
            request.headers.add("CSeq", "1 OPTIONS")
            return request

        return await self.send_request(build(), destination)

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

    # --- registration -----------------------------------------------------------------

    async def _register(self, expires: int) -> SipResponse | None:
        registrar = self.config.registrar
        assert registrar is not None
        domain = _domain_of(registrar) or self.config.host
        aor = f"sip:{self.config.user}@{domain}"
        tag = new_tag()

        def build() -> SipRequest:
            self._register_cseq += 1
            request = SipRequest(Headers(), b"", "REGISTER", registrar)
            h = request.headers
            h.add("Max-Forwards", "70")
            h.add("From", f'"{self.config.display_name}" <{aor}>;tag={tag}')
            h.add("To", f"<{aor}>")
            h.add("Call-ID", self._register_call_id)
            h.add("CSeq", f"{self._register_cseq} REGISTER")
            h.add("Contact", f"<{self.contact_uri}>;expires={expires}")
            h.add("Expires", str(expires))
            h.add("User-Agent", self.config.user_agent)
            return request

        response = await self.request_with_auth(build, await self._resolve(registrar))
        self.registered = bool(response and 200 <= response.status < 300 and expires > 0)
        return response

    async def _register_loop(self) -> None:
        while True:
            try:
                response = await self._register(self.config.register_expires)
            except (OSError, SipParseError) as exc:
                log.warning("REGISTER failed: %s", exc)
                response = None
            if response is not None and 200 <= response.status < 300:
                granted = _granted_expiry(response, self.config.register_expires)
                await asyncio.sleep(max(granted * 0.8, 5.0))
            else:
                log.warning("REGISTER refused: %s", response and response.status)
                await asyncio.sleep(30.0)


def digest_authorization(
    challenge: str, method: str, uri: str, user: str, password: str, cnonce: str | None = None
) -> str | None:
    """The Authorization value for a Digest challenge (RFC 2617 / RFC 7616, MD5 or SHA-256)."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for item in _split_commas(rest):
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    algorithm = params.get("algorithm", "MD5")
    algo = algorithm.upper().removesuffix("-SESS")
    hasher = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}.get(algo)
    if hasher is None:
        return None

    def h(text: str) -> str:
        return hasher(text.encode()).hexdigest()

    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = h(f"{user}:{realm}:{password}")
    cnonce = cnonce or secrets.token_hex(8)
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    fields = [
        f'username="{user}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f"algorithm={algorithm}",
    ]
    if "auth" in qops:
        nc = "00000001"
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def _split_commas(text: str) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return [item.strip() for item in out if item.strip()]


def _granted_expiry(response: SipResponse, default: int) -> int:
    for contact in response.headers.get_all("Contact"):
        value = NameAddr.parse(contact).params.get("expires", "")
        if value.isdigit():
            return int(value)
    header = response.headers.get("Expires") or ""
    return int(header) if header.strip().isdigit() else default


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
