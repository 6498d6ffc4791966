"""The SIP user agent against hostile and odd input, on 127.0.0.1 only.

RFC 4475's 49 torture messages (tests/voice/data/rfc4475.txt) and the attacks found on
the callbot (a 50 KB header line, header and transaction floods, an unusable Contact
that leaked RTP ports, SDP naming a host or an impossible port, "²" read as a digit,
INVITE floods, 200s never ACKed, answers sent where a message says rather than where
RFC 3261 says, media from a stranger). After each one the agent must still answer
OPTIONS; the first test ends with a real call from baresip on the same agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.voice.baresip import free_even_port
from tests.voice.rfc4475 import TortureCase, aimed_at, load
from tests.voice.test_baresip import (
    Bot,
    CallRecord,
    baresip,
    bot_uri,
    idle,
    mic_wav,  # noqa: F401 - the fixture
    read_wav,
    running,
    tone,
    tone_seconds,
)
from voice.g711 import ulaw_encode
from voice.rtp import RtpPacket, RtpSession, TelephoneEvent
from voice.session import AudioFrame, DtmfDigit, HangupCause
from voice.sip import SipAgent
from voice.sip.call import MAX_QUEUED_AUDIO, Dialog, SipCall
from voice.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from voice.sip.sdp import LocalSdp

pytestmark = [pytest.mark.voice, pytest.mark.timeout(120)]

# The torture agent answers quickly and keeps no call long: 200s nobody ACKs are given
# up after 1 s; its INVITE limit is out of the way (it has a test of its own).
FAST = {"t1": 0.05, "ack_timeout": 1.0, "invite_burst": 10_000, "invite_per_minute": 1e6}
SDP_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP {formats}\r\na=rtpmap:101 telephone-event/8000\r\n"
)


class Peer(asyncio.DatagramProtocol):
    """A raw UDP socket: sends datagrams, keeps everything it receives (parsed leniently)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.received: list[SipRequest | SipResponse] = []
        self.arrived = asyncio.Condition()
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(parse_message(data, strict=False))
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.arrived:
            self.arrived.notify_all()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def wait_for(
        self, match: Callable[[SipRequest | SipResponse], bool], within: float = 5.0
    ) -> SipRequest | SipResponse:
        async with asyncio.timeout(within), self.arrived:
            while True:
                for message in self.received:
                    if match(message):
                        return message
                await self.arrived.wait()

    def responses_to(self, request: SipRequest) -> list[SipResponse]:
        cseq = request.headers.get("CSeq")
        return [
            m
            for m in self.received
            if isinstance(m, SipResponse)
            and m.call_id == request.call_id
            and m.headers.get("CSeq") == cseq
        ]


@asynccontextmanager
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        yield protocol
    finally:
        transport.close()


def request(
    method: str,
    via_port: int,
    *,
    call_id: str | None = None,
    extra: str = "",
    body: str = "",
    to_tag: str = "",
    rport: bool = True,
) -> bytes:
    call_id = call_id or f"t-{time.monotonic_ns()}"
    lines = [
        f"{method} sip:bot@127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK{call_id}{';rport' if rport else ''}",
        "From: <sip:tester@127.0.0.1>;tag=tester",
        f"To: <sip:bot@127.0.0.1>{f';tag={to_tag}' if to_tag else ''}",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        "Max-Forwards: 70",
        f"Contact: <sip:tester@127.0.0.1:{via_port}>",
        *extra.splitlines(),
        f"Content-Length: {len(body.encode())}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def invite(
    via_port: int,
    contact: str = "",
    host: str = "127.0.0.1",
    port: int | str = 9,
    formats: str = "0 101",
    rport: bool = True,
) -> bytes:
    data = request(
        "INVITE",
        via_port,
        extra="Content-Type: application/sdp",
        body=SDP_OFFER.format(host=host, port=port, formats=formats),
        rport=rport,
    )
    if contact:
        ours = f"Contact: <sip:tester@127.0.0.1:{via_port}>"
        data = data.replace(ours.encode(), contact.encode())
    return data


async def final_status(peer: Peer, data: bytes, within: float = 5.0) -> int:
    sent = parse_message(data, strict=False)
    assert isinstance(sent, SipRequest)
    response = await peer.wait_for(
        lambda m: (
            isinstance(m, SipResponse)
            and m.status >= 200
            and m.call_id == sent.call_id
            and m.headers.get("CSeq") == sent.headers.get("CSeq")
        ),
        within,
    )
    assert isinstance(response, SipResponse)
    return response.status


async def still_answers(peer: Peer, agent: SipAgent) -> None:
    """An OPTIONS gets its 200: the agent is alive and has handled what came before."""
    probe = request("OPTIONS", peer.port)
    peer.send(probe, agent.port)
    assert await final_status(peer, probe) == 200


# --- RFC 4475, then a real call ------------------------------------------------------------


async def torture(agent: SipAgent, tester: Peer, case: TortureCase) -> int | None:
    """Send one torture message; the final status it got (None: no answer). The agent
    must answer an OPTIONS after it."""
    data = aimed_at(case.message, tester.port) if case.is_request else case.message
    tester.send(data, agent.port)
    got: int | None = None
    if case.expected is not None:
        try:
            got = await final_status(tester, data, within=5.0)
        except TimeoutError:
            got = None
    await still_answers(tester, agent)
    if case.expected is None and case.is_request:
        sent = parse_message(data, strict=False)
        assert isinstance(sent, SipRequest)
        got = next((r.status for r in tester.responses_to(sent) if r.status >= 200), None)
    if not case.is_request:  # a response matching nothing of ours: nothing is sent back
        answers = [m.status for m in tester.received if isinstance(m, SipResponse)]
        got = None if answers == [200] else answers[0]
    return got


async def test_rfc4475_torture_messages_then_a_real_call(tmp_path: Path, mic_wav: Path) -> None:  # noqa: F811
    cases = load()
    assert len(cases) == 49
    bot = Bot(idle)
    mismatches: list[str] = []
    async with running(bot, **FAST) as agent:
        for case in cases:
            # A socket of its own per message: several reuse a branch and a sent-by, which
            # RFC 3261 §17.2.3 would take for one transaction; its port becomes theirs.
            async with peer() as tester:
                got = await torture(agent, tester, case)
            if got != case.expected:
                mismatches.append(f"{case.name} ({case.section}): {got}, expected {case.expected}")
        assert not mismatches, "\n".join(mismatches)
        assert agent.counters.errors == 0
        # and a real caller is still answered and heard
        async with baresip(tmp_path, mic_wav) as caller:
            await caller.dial(bot_uri(agent))
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            await asyncio.wait_for(bot.answered.wait(), 5)
            call = bot.calls[-1]
            while len(call.frames) < 50:  # noqa: ASYNC110 - 1 s of the caller's audio
                await asyncio.sleep(0.05)
            await call.session.hangup()
            await caller.wait_event("CALL_CLOSED", within=10)
    assert call.cause is HangupCause.BOT


# --- the attacks found on the callbot ------------------------------------------------------


def _headers(n: int) -> str:
    return "\r\n".join(f"X-H{i}: v" for i in range(n))


def options_with(old: str, new: str) -> Callable[[int], bytes]:
    """An OPTIONS where `old` is replaced by `new`."""
    return lambda port: request("OPTIONS", port).replace(old.encode(), new.encode())


HOSTILE: list[tuple[str, Callable[[int], bytes], int | None]] = [
    # one 50 KB header line of "a.a.a…" without a colon stalled the agent for 5 s
    ("50 KB header line", lambda p: request("OPTIONS", p, extra="a." * 25_000), None),
    # inside the datagram limit but over the 4 KB limit of a header field: dropped
    ("7 KB header line", lambda p: request("OPTIONS", p, extra="a." * 3_500), None),
    # inside both: answered 400 at once, with a short reason
    ("3 KB line without colon", lambda p: request("OPTIONS", p, extra="a." * 1_500), 400),
    ("129 header fields", lambda p: request("OPTIONS", p, extra=_headers(129)), None),
    ("100 header fields", lambda p: request("OPTIONS", p, extra=_headers(100)), 200),
    (
        "a header folded 1,500 times",
        lambda p: request("OPTIONS", p, extra="X-Fold: a" + "\r\n b" * 1_500),
        200,
    ),
    ("'²' as CSeq", options_with("CSeq: 1 ", "CSeq: ² "), 400),
    ("'²' as Content-Length", options_with("Content-Length: 0", "Content-Length: ²"), 400),
    (
        "'²' as the Via port",  # no port to answer to: dropped
        lambda p: request("OPTIONS", p).replace(f":{p};branch".encode(), ":²;branch".encode()),
        None,
    ),
    ("CSeq of 2**31", options_with("CSeq: 1 ", "CSeq: 2147483648 "), 400),
    ("12-digit Content-Length", options_with("Length: 0", "Length: 999999999999"), 400),
    ("SDP naming a host", lambda p: invite(p, host="attacker.example"), 488),
    ("SDP port 70000", lambda p: invite(p, port=70000), 488),
    ("SDP port '²'", lambda p: invite(p, port="²"), 488),
    ("Contact <tel:...>", lambda p: invite(p, contact="Contact: <tel:+33123456789>"), 400),
]


async def test_hostile_datagrams_are_refused_cheaply_and_the_agent_keeps_answering(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="voice")
    async with running(Bot(idle), **FAST) as agent, peer() as tester:
        for name, build, expected in HOSTILE:
            data = build(tester.port)
            tester.send(data, agent.port)
            await still_answers(tester, agent)
            try:
                sent: SipRequest | None = parse_message(data, strict=False)  # type: ignore[assignment]
            except SipParseError:
                sent = None  # beyond the limits: it cannot have been answered either
            statuses = [r.status for r in tester.responses_to(sent)] if sent else []
            finals = [s for s in statuses if s >= 200]
            if expected is None:
                assert not finals, (name, finals)
            else:
                if not finals:  # INVITE answers come from a task: wait for them
                    finals = [await final_status(tester, data)]
                assert finals[0] == expected, (name, finals)
        assert agent.counters.errors == 0
        assert agent.counters.oversized == 1
        assert not agent._rtp_ports  # no refused INVITE kept a port
        bad = [r for r in tester.received if isinstance(r, SipResponse) and r.status == 400]
        assert bad and max(len(r.reason) for r in bad) < 200  # quotes of the input are clipped
    longest = max(len(r.getMessage()) for r in caplog.records if r.name.startswith("voice"))
    assert longest < 400


async def test_invites_with_an_unusable_contact_leak_no_rtp_port() -> None:
    """~100 such INVITEs used to exhaust the default 200-port range (503 for everyone)."""
    port = free_even_port()  # a range of one port: one leak would show
    async with (
        running(Bot(idle), **FAST, rtp_port_min=port, rtp_port_max=port) as agent,
        peer() as tester,
    ):
        for _ in range(120):
            data = invite(tester.port, contact="Contact: <tel:+33123456789>")
            tester.send(data, agent.port)
            assert await final_status(tester, data) == 400
        assert not agent._rtp_ports
        good = invite(tester.port)
        tester.send(good, agent.port)
        assert await final_status(tester, good) == 200


async def test_invites_beyond_the_per_source_limit_get_503() -> None:
    limit = {**FAST, "invite_burst": 3, "invite_per_minute": 6}
    async with running(Bot(idle), **limit) as agent, peer() as tester:
        statuses = []
        for _ in range(4):
            data = invite(tester.port)
            tester.send(data, agent.port)
            statuses.append(await final_status(tester, data))
        await still_answers(tester, agent)  # OPTIONS are not INVITEs: not limited
    assert statuses == [200, 200, 200, 503]
    refused = [r for r in tester.received if isinstance(r, SipResponse) and r.status == 503]
    assert refused[0].headers.get("Retry-After") == "10"
    assert agent.counters.rate_limited == 1


async def test_a_200_never_acked_frees_its_call_slot_quickly() -> None:
    """RFC 3261 lets a UAS retransmit its 200 for 64·T1 (32 s); the slot comes back after
    `ack_timeout`, with a BYE to the caller."""
    async with running(Bot(idle), max_calls=1, ack_timeout=1.0) as agent, peer() as tester:
        first = invite(tester.port)
        tester.send(first, agent.port)
        assert await final_status(tester, first) == 200
        second = invite(tester.port)
        tester.send(second, agent.port)
        assert await final_status(tester, second) == 486  # the slot is taken
        sent = parse_message(first, strict=False)
        bye = await tester.wait_for(
            lambda m: isinstance(m, SipRequest) and m.method == "BYE" and m.call_id == sent.call_id,
            within=5.0,  # well under 32 s
        )
        assert isinstance(bye, SipRequest)
        third = invite(tester.port)
        tester.send(third, agent.port)
        assert await final_status(tester, third) == 200


async def test_answers_go_where_rfc3261_says_not_back_to_the_source() -> None:
    """Without rport, an answer goes to the source address at the Via's port (§18.2.2)."""
    async with running(Bot(idle), **FAST) as agent, peer() as sender, peer() as via:
        bye = request("BYE", via.port, to_tag="nope", rport=False)  # no such dialog: 481
        sender.send(bye, agent.port)
        assert await final_status(via, bye) == 481
        broken = request("OPTIONS", via.port, rport=False).replace(b"CSeq: 1 OPTIONS", b"CSeq: x")
        sender.send(broken, agent.port)
        assert await final_status(via, broken) == 400
        unsupported = invite(via.port, formats="31", rport=False)  # H.261 only
        sender.send(unsupported, agent.port)
        assert await final_status(via, unsupported) == 488
        await still_answers(sender, agent)  # with rport: back to the sender's own port
        statuses = [m.status for m in sender.received if isinstance(m, SipResponse)]
        assert statuses == [200]  # the sender got nothing else


async def test_the_transaction_table_is_bounded() -> None:
    config = {**FAST, "max_server_transactions": 8, "t1": 0.01, "ack_timeout": 0.05}
    async with running(Bot(idle), **config) as agent, peer() as tester:
        for i in range(12):
            tester.send(request("OPTIONS", tester.port, call_id=f"flood-{i}"), agent.port)
        await tester.wait_for(lambda m: isinstance(m, SipResponse) and m.call_id == "flood-7")
        async with asyncio.timeout(5):  # the transactions expire, then OPTIONS work again
            while True:
                probe = request("OPTIONS", tester.port)
                tester.send(probe, agent.port)
                try:
                    await final_status(tester, probe, within=0.5)
                    break
                except TimeoutError:
                    continue
    answered = {m.call_id for m in tester.received if m.call_id.startswith("flood-")}
    assert answered == {f"flood-{i}" for i in range(8)}
    assert agent.counters.overloaded >= 4


async def test_peers_outside_allowed_peers_get_no_answer() -> None:
    async with running(Bot(idle), allowed_peers=("192.0.2.0/24",)) as closed, peer() as tester:
        tester.send(request("OPTIONS", tester.port), closed.port)
        async with asyncio.timeout(5):
            while closed.counters.foreign < 1:  # noqa: ASYNC110 - the datagram was seen
                await asyncio.sleep(0.01)
    assert not tester.received
    async with running(Bot(idle), allowed_peers=("127.0.0.1",)) as opened, peer() as tester:
        await still_answers(tester, opened)


async def test_a_calls_event_queue_is_bounded() -> None:
    """Frames are dropped when the call logic does not keep up; digits and the hang-up
    still get in."""

    class Owner:
        async def send_in_dialog(self, *args: Any, **kwargs: Any) -> None:
            return None

        def call_ended(self, call: SipCall) -> None:
            return None

    parties = ("<sip:a@h>;tag=l", "<sip:b@h>;tag=r")
    dialog = Dialog("c", "l", "r", *parties, "sip:b@h", ("127.0.0.1", 1))
    rtp = RtpSession(lambda _: None, lambda _: None, lambda: None)
    call = SipCall(Owner(), dialog, rtp, 0, LocalSdp("127.0.0.1", 0), "h")
    for _ in range(MAX_QUEUED_AUDIO + 300):
        call._on_audio(bytes(320))
    call._on_digit("5")
    call.end(HangupCause.CALLER)
    events = [call.events.get_nowait() for _ in range(call.events.qsize())]
    assert len(events) == MAX_QUEUED_AUDIO + 2
    assert sum(isinstance(e, AudioFrame) for e in events) == MAX_QUEUED_AUDIO
    assert events[-2] == DtmfDigit("5", events[-2].received_at)  # type: ignore[union-attr]
    assert events[-1] is HangupCause.CALLER
    assert call.dropped_events == 300


# --- media from a stranger during a real call ---------------------------------------------


class Stranger(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1


async def test_a_strangers_rtp_changes_nothing_in_a_real_call(
    tmp_path: Path,
    mic_wav: Path,  # noqa: F811
) -> None:
    """RTP bleed: a third party's audio and digits must not reach the call, and the
    bot's speech must keep going to the caller."""
    loop = asyncio.get_running_loop()
    transport, stranger = await loop.create_datagram_endpoint(Stranger, local_addr=("127.0.0.1", 0))

    async def script(call: CallRecord) -> None:
        rtp = call.session.rtp
        target = ("127.0.0.1", call.session.rtp_port)
        loud = ulaw_encode(tone(0.02, hz=1000.0, amplitude=0.6))
        for seq in range(60):  # 1.2 s of a 1 kHz tone, in sequence, one SSRC
            transport.sendto(RtpPacket(0, seq, seq * 160, 0xBAD, loud).encode(), target)
        for seq, end in ((60, False), (61, True), (62, True), (63, True)):
            event = TelephoneEvent(5, end, 10, 800).encode()
            transport.sendto(RtpPacket(101, seq, 9600, 0xBAD, event).encode(), target)
        async with asyncio.timeout(5):
            while rtp.foreign < 64:  # noqa: ASYNC110 - every stranger packet was seen
                await asyncio.sleep(0.01)
        call.results["play"] = await call.session.play(tone(1.0))
        await asyncio.sleep(0.3)
        await call.session.hangup()

    bot = Bot(script)
    try:
        async with running(bot) as agent, baresip(tmp_path, mic_wav) as caller:
            await caller.dial(bot_uri(agent))
            await caller.wait_event("CALL_CLOSED", within=20)
            (call,) = bot.calls
            await asyncio.wait_for(call.finished.wait(), 5)
            (recording,) = caller.recordings("dec")
    finally:
        transport.close()
    assert call.digits == []
    assert tone_seconds(call.pcm(), hz=1000.0) == 0.0  # none of the stranger's tone
    assert call.results["play"].played_ms == 1000
    assert 0.9 <= tone_seconds(read_wav(recording)) <= 1.1  # the caller heard the bot
    assert stranger.received == 0  # and the bot never spoke to the stranger


async def test_in_dialog_requests_never_go_where_a_contact_points_outside_the_peers() -> None:
    """A Contact naming a host (a DNS query per request) or an address outside
    `allowed_peers` must not make the bot send there: its BYE goes back to the peer."""

    async def hang_up(call: CallRecord) -> None:
        await call.session.hangup()

    for contact in ("<sip:x@127.0.0.2:5062>", "<sip:x@pbx.attacker.example>"):
        bot = Bot(hang_up)
        allowed = ("127.0.0.1/32",)  # 127.0.0.2 is this machine too, but not a peer
        async with running(bot, **FAST, allowed_peers=allowed) as agent, peer() as tester:
            data = invite(tester.port, contact=f"Contact: {contact}")
            tester.send(data, agent.port)
            assert await final_status(tester, data) == 200
            ok = next(m for m in tester.received if isinstance(m, SipResponse) and m.status == 200)
            ack = request("ACK", tester.port, call_id=ok.call_id, to_tag=ok.to_addr.tag)
            tester.send(ack, agent.port)
            bye = await tester.wait_for(lambda m: isinstance(m, SipRequest) and m.method == "BYE")
            assert bye.call_id == ok.call_id, contact
