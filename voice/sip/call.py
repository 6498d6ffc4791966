"""One answered call leg: its SIP dialog, its RTP session and the `VoiceSession` API."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from voice.rtp import MediaParams, RtpSession
from voice.session import (
    FRAME_BYTES,
    FRAME_MS,
    AudioFrame,
    DtmfDigit,
    HangupCause,
    PlaybackResult,
)
from voice.sip.message import NameAddr, SipParseError, SipRequest, SipResponse, SipUri
from voice.sip.sdp import LocalSdp, Negotiated, SdpError, negotiate, parse_sdp

log = logging.getLogger(__name__)

Event = AudioFrame | DtmfDigit | HangupCause
_SIPFRAG = re.compile(r"^\s*SIP/2\.0\s+(\d{3})", re.I)
_DTMF_CHARS = "0123456789*#ABCD"
# Events waiting for the call logic: 10 s of audio, then frames are dropped (the logic
# is stuck, or media floods in); a few digits more; the hang-up always gets in.
MAX_QUEUED_AUDIO = 500
MAX_QUEUED_DIGITS = 32


class CallState(Enum):
    EARLY = "early"  # INVITE received, not answered yet
    ANSWERED = "answered"  # 200 OK sent, waiting for ACK
    CONFIRMED = "confirmed"  # ACK received: media and call logic run
    ENDED = "ended"


@dataclass
class Dialog:
    """A UAS dialog (RFC 3261 §12.1.1), enough to send BYE, REFER and INFO in it."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str  # our From header value in requests we send (with our tag)
    remote_party: str  # their From header value (with their tag)
    remote_target: str  # their Contact URI
    source: tuple[str, int]  # where the INVITE came from: our next hop when theirs is not usable
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int = 0

    @classmethod
    def from_invite(cls, invite: SipRequest, local_tag: str, source: tuple[str, int]) -> Dialog:
        """Raises SipParseError when the remote target is not a SIP URI we could use."""
        contacts = invite.headers.get_all("Contact")
        target = NameAddr.parse(contacts[0]).uri if contacts else invite.from_addr.uri
        SipUri.parse(target)  # e.g. <tel:+33...> as Contact: refused before anything is taken
        to = invite.headers.get("To") or ""
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_addr.tag,
            local_party=to if NameAddr.parse(to).tag else f"{to};tag={local_tag}",
            remote_party=invite.headers.get("From") or "",
            remote_target=target,
            source=source,
            route_set=invite.headers.get_all("Record-Route"),
            remote_cseq=invite.cseq[0],
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    def next_hop(self) -> str:
        """URI the next in-dialog request is sent to (loose routing)."""
        return NameAddr.parse(self.route_set[0]).uri if self.route_set else self.remote_target


class CallOwner(Protocol):
    """What a call needs from the user agent."""

    async def send_in_dialog(
        self,
        call: SipCall,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> SipResponse | None: ...

    def call_ended(self, call: SipCall) -> None: ...


class _Playback:
    def __init__(self, pcm: bytes) -> None:
        padded = pcm + bytes(-len(pcm) % FRAME_BYTES)
        self.frames = [padded[i : i + FRAME_BYTES] for i in range(0, len(padded), FRAME_BYTES)]
        self.sent = 0
        self.done: asyncio.Future[PlaybackResult] = asyncio.get_running_loop().create_future()

    def finish(self, interrupted: bool) -> None:
        if not self.done.done():
            self.done.set_result(PlaybackResult(interrupted, self.sent * FRAME_MS))


class SipCall:
    """One call as a `VoiceSession`."""

    def __init__(
        self,
        owner: CallOwner,
        dialog: Dialog,
        rtp: RtpSession,
        rtp_port: int,
        local_sdp: LocalSdp,
        default_domain: str,
        transfer_timeout: float = 10.0,
    ) -> None:
        self.owner = owner
        self.dialog = dialog
        self.call_id = dialog.call_id
        from_addr = NameAddr.parse(dialog.remote_party)
        self.caller = from_addr.display or _user_of(from_addr.uri)
        self.rtp = rtp
        self.rtp_port = rtp_port
        self.local_sdp = local_sdp
        self.default_domain = default_domain
        self.transfer_timeout = transfer_timeout
        self.state = CallState.EARLY
        self.cause: HangupCause | None = None
        self.negotiated: Negotiated | None = None
        self.answered_at: float | None = None
        self.awaiting_answer = False  # we sent an offer in a 2xx: the answer is in the ACK
        self.pending_sdp: str | None = None  # the SDP our 200 OK will carry
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self.dropped_events = 0
        self._playbacks: deque[_Playback] = deque()
        self._refer_outcome: asyncio.Future[int] | None = None
        self._transferring = False
        self._ended = asyncio.Event()
        self.bye_task: asyncio.Task[None] | None = None
        self._timeout_task: asyncio.Task[None] | None = None
        rtp.on_audio = self._on_audio
        rtp.on_digit = self._on_digit
        rtp.on_timeout = self._on_media_timeout

    # --- VoiceSession -----------------------------------------------------------------

    @property
    def events(self) -> asyncio.Queue[Event]:
        return self._events

    async def play(self, pcm: bytes) -> PlaybackResult:
        if self.state is CallState.ENDED or not pcm:
            return PlaybackResult(self.state is CallState.ENDED, 0)
        playback = _Playback(pcm)
        self._playbacks.append(playback)
        try:
            return await asyncio.shield(playback.done)
        except asyncio.CancelledError:  # the caller gave up on this playback: drop it
            playback.finish(interrupted=True)
            if playback in self._playbacks:
                self._playbacks.remove(playback)
            raise

    def clear_playback(self) -> None:
        while self._playbacks:
            self._playbacks.popleft().finish(interrupted=True)

    async def transfer(self, target: str) -> bool:
        """Blind transfer with REFER; on success we send BYE ourselves."""
        if self.state is not CallState.CONFIRMED or self._refer_outcome is not None:
            return False  # not answered yet, over, or a transfer already under way
        uri = self.target_uri(target)
        outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._refer_outcome = outcome
        self._transferring = True
        try:
            response = await self.owner.send_in_dialog(
                self,
                "REFER",
                [("Refer-To", f"<{uri}>"), ("Referred-By", f"<{self.local_uri}>")],
            )
            if response is None or response.status >= 300:
                log.info("call %s: REFER refused (%s)", self.call_id, response and response.status)
                return False
            try:
                status = await asyncio.wait_for(asyncio.shield(outcome), self.transfer_timeout)
            except TimeoutError:
                status = 200  # blind transfer: the REFER was accepted, no final NOTIFY seen
            if status >= 300:
                log.info("call %s: transfer to %s failed (%d)", self.call_id, uri, status)
                return False
        finally:
            self._refer_outcome = None
            if self.state is not CallState.ENDED:
                self._transferring = False
        if self.state is not CallState.ENDED:
            await self._send_bye(HangupCause.TRANSFERRED)
        return True

    async def hangup(self) -> None:
        if self.state in (CallState.ANSWERED, CallState.CONFIRMED):
            await self._send_bye(HangupCause.BOT)

    # --- agent side -------------------------------------------------------------------

    @property
    def local_uri(self) -> str:
        return NameAddr.parse(self.dialog.local_party).uri

    def target_uri(self, target: str) -> str:
        """A SIP URI for `target`: kept if it is one, else `target@domain`."""
        if target.lower().startswith(("sip:", "sips:", "tel:")):
            return target
        return f"sip:{target}@{self.default_domain}"

    def negotiate_offer(self, body: bytes) -> str | None:
        """Apply an SDP offer; returns our answer, or None if it is not acceptable."""
        try:
            offer = parse_sdp(body)
            chosen = negotiate(offer)
            self._apply(chosen)
        except (SdpError, ValueError) as exc:
            log.info("call %s: SDP offer refused: %s", self.call_id, exc)
            return None
        return self.local_sdp.answer(offer, chosen)

    def apply_answer(self, body: bytes) -> bool:
        try:
            self._apply(negotiate(parse_sdp(body)))
        except (SdpError, ValueError) as exc:
            log.info("call %s: SDP answer refused: %s", self.call_id, exc)
            return False
        return True

    def _apply(self, chosen: Negotiated) -> None:
        self.negotiated = chosen
        self.rtp.configure(
            MediaParams(
                (chosen.remote_host, chosen.remote_port),
                chosen.payload_type,
                chosen.dtmf_payload_type,
                send=not chosen.on_hold and chosen.direction in ("sendrecv", "sendonly"),
            )
        )

    def confirm(self) -> None:
        """ACK received for our 200 OK: start sending media."""
        if self.state is CallState.ANSWERED:
            self.state = CallState.CONFIRMED
            self.rtp.start(self._next_frame)

    def end(self, cause: HangupCause) -> None:
        """The call is over (whoever ended it): stop media, wake every waiter once."""
        if self.state is CallState.ENDED:
            return
        if self._transferring and cause is HangupCause.CALLER:
            cause = HangupCause.TRANSFERRED  # the transferee left after the REFER
        self.state = CallState.ENDED
        self.cause = cause
        self.clear_playback()
        self.rtp.close()
        if self._refer_outcome and not self._refer_outcome.done():
            self._refer_outcome.set_result(200 if cause is HangupCause.TRANSFERRED else 487)
        self._events.put_nowait(cause)
        self._ended.set()
        self.owner.call_ended(self)

    async def wait_ended(self) -> None:
        await self._ended.wait()

    def handle_info(self, request: SipRequest) -> int:
        """SIP INFO as DTMF fallback (application/dtmf-relay or application/dtmf)."""
        body = request.body.decode("utf-8", errors="replace")
        kind = request.content_type
        digit: str | None = None
        if kind == "application/dtmf-relay":
            m = re.search(r"^\s*signal\s*=\s*(\S+)", body, re.I | re.M)
            digit = m.group(1) if m else None
        elif kind == "application/dtmf":
            digit = body.strip() or None
        elif body.strip():
            return 415
        if digit is not None:
            digit = {"10": "*", "11": "#"}.get(digit, digit).upper()
            if digit in _DTMF_CHARS and len(digit) == 1:
                self._on_digit(digit)
            else:
                return 400
        return 200

    def handle_notify(self, request: SipRequest) -> int:
        """NOTIFY of the implicit REFER subscription (RFC 3515), body message/sipfrag."""
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return 489  # Bad Event
        m = _SIPFRAG.match(request.body.decode("utf-8", errors="replace"))
        status = int(m.group(1)) if m else 0
        if status >= 200 and self._refer_outcome and not self._refer_outcome.done():
            self._transferring = status < 300  # a BYE after a failure is the caller's
            self._refer_outcome.set_result(status)
        return 200

    # --- internals --------------------------------------------------------------------

    async def _send_bye(self, cause: HangupCause) -> None:
        """End the call now; the BYE (and its retransmissions) goes on in the background."""
        if self.state is CallState.ENDED:
            return
        self.end(cause)
        self.bye_task = asyncio.ensure_future(self._bye())
        await asyncio.sleep(0)  # its first transmission leaves before we return

    async def _bye(self) -> None:
        response = await self.owner.send_in_dialog(self, "BYE")
        if response is None or response.status >= 300:
            log.info("call %s: BYE answered %s", self.call_id, response and response.status)

    def _next_frame(self) -> bytes | None:
        while self._playbacks:
            current = self._playbacks[0]
            if current.done.done() or current.sent >= len(current.frames):
                self._playbacks.popleft().finish(interrupted=False)
                continue
            frame = current.frames[current.sent]
            current.sent += 1
            if current.sent == len(current.frames):
                self._playbacks.popleft().finish(interrupted=False)
            return frame
        return None

    def _on_audio(self, pcm: bytes) -> None:
        if self.state is not CallState.ENDED:
            self._queue(AudioFrame(pcm, asyncio.get_running_loop().time()), MAX_QUEUED_AUDIO)

    def _on_digit(self, digit: str) -> None:
        if self.state is not CallState.ENDED:
            limit = MAX_QUEUED_AUDIO + MAX_QUEUED_DIGITS
            self._queue(DtmfDigit(digit, asyncio.get_running_loop().time()), limit)

    def _queue(self, event: Event, limit: int) -> None:
        if self._events.qsize() >= limit:
            self.dropped_events += 1
            if self.dropped_events in (1, 100, 10_000):
                log.warning(
                    "call %s: %d events dropped (queue full)", self.call_id, self.dropped_events
                )
            return
        self._events.put_nowait(event)

    def _on_media_timeout(self) -> None:
        log.warning("call %s: no RTP for %.0f s, hanging up", self.call_id, self.rtp.media_timeout)
        self._timeout_task = asyncio.ensure_future(self._send_bye(HangupCause.ERROR))


def _user_of(uri: str) -> str:
    try:
        parsed = SipUri.parse(uri)
    except SipParseError:
        return uri
    return parsed.user or parsed.host
