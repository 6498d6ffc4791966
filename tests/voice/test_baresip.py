"""Real calls on 127.0.0.1: baresip 1.0.0 calls our SIP agent; plus raw-UDP protocol checks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import subprocess
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.system import require_program
from tests.voice.baresip import Baresip, free_port, make_mic_wav
from voice.g711 import ulaw_encode
from voice.rtp import RtpPacket, TelephoneEvent
from voice.session import AudioFrame, DtmfDigit, HangupCause, PlaybackResult, VoiceSession
from voice.sip import SipAgent, SipCall, SipConfig
from voice.sip.message import SipRequest, SipResponse, parse_message

pytestmark = [pytest.mark.voice, pytest.mark.timeout(60)]

SPEECH = "Bonjour, je voudrais connaître les horaires d'ouverture de la mairie, s'il vous plaît."
TONE_HZ = 440.0


def tone(seconds: float, hz: float = TONE_HZ, amplitude: float = 0.3) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (amplitude * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def envelope(x: np.ndarray, block: int = 160) -> np.ndarray:
    n = len(x) // block
    return np.sqrt(np.mean(x[: n * block].reshape(n, block) ** 2, axis=1))


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return samples(w.readframes(w.getnframes()))


def tone_seconds(x: np.ndarray, hz: float = TONE_HZ) -> float:
    """Seconds of 20 ms blocks that are loud and whose FFT peak is at `hz` (±15 Hz)."""
    block = 160
    n = len(x) // block
    blocks = x[: n * block].reshape(n, block) * np.hanning(block)
    spectrum = np.abs(np.fft.rfft(blocks, n=1600, axis=1))  # 5 Hz bins
    peak = np.fft.rfftfreq(1600, 1 / 8000)[np.argmax(spectrum, axis=1)]
    loud = envelope(x) > 1000
    return float(np.sum(loud & (np.abs(peak - hz) <= 15)) * 0.02)


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller's microphone; every baresip test needs it, so it fails them all if need be."""
    for program, package in (("baresip", "baresip"), ("espeak-ng", "espeak-ng"), ("sox", "sox")):
        require_program(program, package)
    return make_mic_wav(tmp_path_factory.mktemp("mic") / "mic.wav", SPEECH, total_s=90)


@dataclass
class CallRecord:
    session: SipCall
    frames: list[AudioFrame] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    cause: HangupCause | None = None
    results: dict[str, Any] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    digit_seen: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # the handler returned

    async def consume(self) -> None:
        while True:
            event = await self.session.events.get()
            if isinstance(event, AudioFrame):
                self.frames.append(event)
            elif isinstance(event, DtmfDigit):
                self.digits.append(event.digit)
                self.digit_seen.set()
            else:
                self.cause = event
                self.ended.set()
                return

    def pcm(self) -> np.ndarray:
        return samples(b"".join(f.pcm for f in self.frames))


Script = Callable[[CallRecord], Awaitable[None]]


def idle(call: CallRecord) -> Awaitable[None]:
    return asyncio.sleep(0)


class Bot:
    """A test-only call handler: records events while `script` drives the call."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[CallRecord] = []
        self.answered = asyncio.Event()
        self.trace: list[tuple[str, bytes]] = []

    async def on_call(self, session: VoiceSession) -> None:
        assert isinstance(session, SipCall)
        record = CallRecord(session)
        self.calls.append(record)
        self.answered.set()
        consumer = asyncio.create_task(record.consume())
        try:
            await self.script(record)
            await asyncio.wait_for(record.ended.wait(), 30)
        finally:
            consumer.cancel()
            record.finished.set()

    def on_trace(self, direction: str, data: bytes, addr: tuple[str, int]) -> None:
        self.trace.append((direction, data))

    def traced(self, direction: str, pattern: str) -> list[bytes]:
        regex = re.compile(pattern.encode(), re.M)
        return [data for d, data in self.trace if d == direction and regex.search(data)]


@asynccontextmanager
async def running(bot: Bot, **config: Any) -> AsyncIterator[SipAgent]:
    base = 40000 + (free_port() % 200) * 100
    options: dict[str, Any] = {"rtp_port_min": base, "rtp_port_max": base + 99, **config}
    settings = SipConfig(host="127.0.0.1", port=0, **options)
    agent = SipAgent(settings, bot.on_call, bot.on_trace)
    await agent.start()
    try:
        yield agent
    finally:
        handlers = [call.finished.wait() for call in bot.calls]
        with contextlib.suppress(TimeoutError):  # let the handlers record their results
            await asyncio.wait_for(asyncio.gather(*handlers), 10)
        await agent.stop()


@asynccontextmanager
async def baresip(
    tmp_path: Path, mic: Path, name: str = "caller", answer: bool = False
) -> AsyncIterator[Baresip]:
    peer = Baresip(tmp_path / name, mic, name, answer)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


def bot_uri(agent: SipAgent) -> str:
    return f"sip:bot@127.0.0.1:{agent.port}"


async def wait_hangup(record: CallRecord) -> None:
    await asyncio.wait_for(record.ended.wait(), 20)


# --- calls with baresip ------------------------------------------------------------------


async def test_call_is_answered_and_caller_speech_reaches_the_handler(
    tmp_path: Path, mic_wav: Path
) -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.sleep(5.0)
        await call.session.hangup()

    bot = Bot(script)
    async with running(bot) as agent, baresip(tmp_path, mic_wav) as caller:
        started = time.monotonic()
        await caller.dial(bot_uri(agent))
        await caller.wait_event("CALL_ESTABLISHED")
        setup_ms = (time.monotonic() - started) * 1000
        closed = await caller.wait_event("CALL_CLOSED", within=15)
    (call,) = bot.calls
    assert call.cause is HangupCause.BOT
    assert closed["type"] == "CALL_CLOSED"
    # A figure to read, not a pass/fail bound: timings belong in benchmarks/.
    print(f"call setup (dial → CALL_ESTABLISHED): {setup_ms:.1f} ms")
    heard = call.pcm()
    assert len(call.frames) >= 200  # 4 s at least
    assert all(len(f.pcm) == 320 for f in call.frames)
    sent = read_wav(mic_wav)[: 8000 * 5]
    heard_env, sent_env = envelope(heard), envelope(sent)
    n = 150  # compare 3 s of 20 ms loudness, allowing for up to 1 s of offset
    best = max(np.corrcoef(heard_env[lag : lag + n], sent_env[:n])[0, 1] for lag in range(0, 50))
    assert best > 0.9, best
    loud = sent_env[:n] > 300
    ratio = heard_env[: len(sent_env)].max() / sent_env.max()
    assert 0.7 < ratio < 1.4 and loud.sum() > 30


async def test_bot_tone_is_heard_by_baresip(tmp_path: Path, mic_wav: Path) -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.sleep(0.3)
        call.results["play"] = await call.session.play(tone(1.0))
        await asyncio.sleep(0.5)
        await call.session.hangup()

    bot = Bot(script)
    async with running(bot) as agent:
        async with baresip(tmp_path, mic_wav) as caller:
            await caller.dial(bot_uri(agent))
            await caller.wait_event("CALL_CLOSED", within=15)
        (call,) = bot.calls
        assert call.results["play"] == PlaybackResult(interrupted=False, played_ms=1000)
        (recording,) = caller.recordings("dec")
    heard = read_wav(recording)
    assert 0.9 <= tone_seconds(heard) <= 1.1, tone_seconds(heard)
    spectrum = np.abs(np.fft.rfft(heard))
    assert abs(np.fft.rfftfreq(len(heard), 1 / 8000)[np.argmax(spectrum)] - TONE_HZ) < 2
    stat = await asyncio.to_thread(
        subprocess.run, ["sox", str(recording), "-n", "stat"], capture_output=True, text=True
    )
    print(stat.stderr)
    rough = re.search(r"Rough\s+frequency:\s+(\d+)", stat.stderr)
    assert rough and abs(int(rough.group(1)) - TONE_HZ) < 20


async def test_rfc4733_digit_from_baresip(tmp_path: Path, mic_wav: Path) -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.wait_for(call.digit_seen.wait(), 10)
        await asyncio.sleep(0.5)  # any duplicate would arrive by now
        await call.session.hangup()

    bot = Bot(script)
    async with running(bot) as agent, baresip(tmp_path, mic_wav) as caller:
        await caller.dial(bot_uri(agent))
        await caller.wait_event("CALL_ESTABLISHED")
        await asyncio.sleep(0.5)
        await caller.send_dtmf("0")
        await caller.wait_event("CALL_CLOSED", within=15)
    (call,) = bot.calls
    assert call.digits == ["0"]


async def test_blind_transfer_with_refer(tmp_path: Path, mic_wav: Path) -> None:
    async with baresip(tmp_path, mic_wav, "agent", answer=True) as human:

        async def script(call: CallRecord) -> None:
            await asyncio.sleep(0.5)
            started = time.monotonic()
            call.results["ok"] = await call.session.transfer(human.uri)
            call.results["ms"] = (time.monotonic() - started) * 1000

        bot = Bot(script)
        async with running(bot) as agent, baresip(tmp_path, mic_wav) as caller:
            await caller.dial(bot_uri(agent))
            await human.wait_event("CALL_ESTABLISHED", within=15)
            (call,) = bot.calls
            await wait_hangup(call)
            await caller.hangup()
    assert call.results["ok"] is True
    assert call.cause is HangupCause.TRANSFERRED
    print(f"transfer (REFER → BYE): {call.results['ms']:.0f} ms")
    (refer,) = bot.traced("out", r"^REFER ")
    assert f"Refer-To: <{human.uri}>".encode() in refer
    assert bot.traced("in", r"^SIP/2\.0 202 .*\r\n(.*\r\n)*CSeq: \d+ REFER")
    assert bot.traced("in", r"^NOTIFY (.*\r\n)*\r\nSIP/2\.0 200")
    assert bot.traced("out", r"^BYE ")


async def test_reinvite_then_caller_hangs_up(tmp_path: Path, mic_wav: Path) -> None:
    bot = Bot(idle)
    async with running(bot) as agent, baresip(tmp_path, mic_wav) as caller:
        await caller.dial(bot_uri(agent))
        await caller.wait_event("CALL_ESTABLISHED")
        await asyncio.wait_for(bot.answered.wait(), 5)
        (call,) = bot.calls
        await asyncio.sleep(0.3)
        await caller.command("reinvite")  # menu's "Send re-INVITE"
        await asyncio.sleep(0.5)
        frames_before = len(call.frames)
        await asyncio.sleep(0.4)
        assert len(call.frames) - frames_before >= 15  # audio still flows after it
        await caller.hangup()
        await wait_hangup(call)
    assert call.cause is HangupCause.CALLER
    invites = bot.traced("in", r"^INVITE ")
    assert len(invites) == 2 and b";tag=" in invites[1].split(b"\r\nTo:")[1].split(b"\r\n")[0]
    assert len(bot.traced("out", r"^SIP/2\.0 200 .*\r\n(.*\r\n)*CSeq: \d+ INVITE")) == 2
    assert bot.traced("in", r"^BYE ") and bot.traced(
        "out", r"^SIP/2\.0 200 .*\r\n(.*\r\n)*CSeq: \d+ BYE"
    )


async def test_bot_hangs_up(tmp_path: Path, mic_wav: Path) -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.sleep(0.5)
        await call.session.hangup()
        call.results["after"] = await call.session.play(tone(0.2))

    bot = Bot(script)
    async with running(bot) as agent, baresip(tmp_path, mic_wav) as caller:
        await caller.dial(bot_uri(agent))
        event = await caller.wait_event("CALL_CLOSED", within=10)
    (call,) = bot.calls
    assert call.cause is HangupCause.BOT
    assert call.results["after"] == PlaybackResult(interrupted=True, played_ms=0)
    assert "Connection reset by peer" in event.get("param", "")  # baresip's words for a BYE


async def test_five_simultaneous_calls(tmp_path: Path, mic_wav: Path) -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.sleep(0.3)
        call.results["play"] = await call.session.play(tone(1.0))
        await asyncio.sleep(1.0)
        call.results["send_times"] = list(call.session.rtp.send_times)
        await call.session.hangup()

    bot = Bot(script)
    peers = [Baresip(tmp_path / f"caller{i}", mic_wav, f"caller{i}") for i in range(5)]
    async with running(bot) as agent:
        try:
            await asyncio.gather(*(peer.start() for peer in peers))
            await asyncio.gather(*(peer.dial(bot_uri(agent)) for peer in peers))
            await asyncio.gather(*(peer.wait_event("CALL_CLOSED", within=20) for peer in peers))
        finally:
            await asyncio.gather(*(peer.stop() for peer in peers))
    assert len(bot.calls) == 5
    assert len({c.session.call_id for c in bot.calls}) == 5
    assert len({c.session.rtp_port for c in bot.calls}) == 5
    for call in bot.calls:
        assert call.results["play"].played_ms == 1000
        assert len(call.frames) > 60 and envelope(call.pcm()).max() > 1000  # speech arrived
    for peer in peers:
        (recording,) = peer.recordings("dec")
        assert 0.9 <= tone_seconds(read_wav(recording)) <= 1.1
    gaps = np.concatenate([np.diff(c.results["send_times"]) for c in bot.calls]) * 1000
    print(
        f"RTP send interval over 5 calls: mean {gaps.mean():.3f} ms, sd {gaps.std():.3f} ms,"
        f" p99 |dev| {np.percentile(np.abs(gaps - 20), 99):.2f} ms, max {gaps.max():.2f} ms"
    )
    assert abs(gaps.mean() - 20) < 0.5


async def test_cancel_while_ringing(tmp_path: Path, mic_wav: Path) -> None:
    bot = Bot(idle)
    async with running(bot, answer_delay=5.0) as agent, baresip(tmp_path, mic_wav) as caller:
        await caller.dial(bot_uri(agent))
        await caller.wait_event("CALL_RINGING")
        await caller.hangup()
        await caller.wait_event("CALL_CLOSED", within=10)
        await asyncio.sleep(0.3)
        assert not bot.calls  # the handler never ran
        assert bot.traced("in", r"^CANCEL ")
        assert bot.traced("out", r"^SIP/2\.0 487 ")
        assert bot.traced("in", r"^ACK ")
        assert not [c for c in agent.calls.values() if c.state.value != "ended"]


# --- raw UDP checks --------------------------------------------------------------------


class RawPeer(asyncio.DatagramProtocol):
    """A bare UDP SIP peer for protocol details baresip does not exercise."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[SipRequest | SipResponse] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.call_id = f"raw-{time.monotonic_ns()}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait(parse_message(data, strict=False))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(
        self,
        to: int,
        method: str,
        cseq: int | str,
        branch: str,
        to_tag: str = "",
        extra: str = "",
        body: str = "",
    ) -> None:
        """Send `method` to 127.0.0.1:`to` in our one dialog (From tag `rawtag`)."""
        assert self.transport is not None
        tag = f";tag={to_tag}" if to_tag else ""
        lines = [
            f"{method} sip:bot@127.0.0.1:{to} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{branch};rport",
            "From: <sip:raw@127.0.0.1>;tag=rawtag",
            f"To: <sip:bot@127.0.0.1>{tag}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:raw@127.0.0.1:{self.port}>",
            "Max-Forwards: 70",
            *extra.splitlines(),
            f"Content-Length: {len(body.encode())}",
        ]
        data = "\r\n".join(lines) + "\r\n\r\n" + body
        self.transport.sendto(data.encode(), ("127.0.0.1", to))

    def reply(self, request: SipRequest, to: int, status: int, reason: str = "X") -> None:
        assert self.transport is not None
        names = ("Via", "From", "To", "Call-ID", "CSeq")
        lines = [f"SIP/2.0 {status} {reason}", *(f"{n}: {request.headers.get(n)}" for n in names)]
        data = "\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n"
        self.transport.sendto(data.encode(), ("127.0.0.1", to))

    async def request(self, method: str, within: float = 5.0) -> SipRequest:
        msg = await self.expect(lambda m: isinstance(m, SipRequest) and m.method == method, within)
        assert isinstance(msg, SipRequest)
        return msg

    async def expect(
        self, predicate: Callable[[SipRequest | SipResponse], bool], within: float = 5.0
    ) -> SipRequest | SipResponse:
        async with asyncio.timeout(within):
            while True:
                msg = await self.inbox.get()
                if predicate(msg):
                    return msg

    async def response(self, status: int, method: str, within: float = 5.0) -> SipResponse:
        msg = await self.expect(
            lambda m: isinstance(m, SipResponse) and m.status == status and m.cseq[1] == method,
            within,
        )
        assert isinstance(msg, SipResponse)
        return msg


@asynccontextmanager
async def raw_peer() -> AsyncIterator[RawPeer]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
    try:
        yield peer
    finally:
        transport.close()


SDP = "application/sdp"


def offer(rtp_port: int, direction: str = "sendrecv") -> str:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP 8 0 101",
        "a=rtpmap:101 telephone-event/8000",
        f"a={direction}",
    ]
    return "\r\n".join(lines) + "\r\n"


async def raw_call(peer: RawPeer, agent: SipAgent, rtp_port: int = 9, ack: bool = True) -> str:
    """INVITE (and ACK) from the raw peer; returns the bot's To tag."""
    peer.send(agent.port, "INVITE", 1, "i1", extra=f"Content-Type: {SDP}", body=offer(rtp_port))
    await peer.response(100, "INVITE")
    ok = await peer.response(200, "INVITE")
    assert b"m=audio" in ok.body and b"RTP/AVP 8 101" in ok.body  # PCMA: our peer's first choice
    if ack:
        peer.send(agent.port, "ACK", 1, "a1", ok.to_addr.tag)
    return ok.to_addr.tag


async def test_options_answered_200() -> None:
    async with running(Bot(idle)) as agent, raw_peer() as peer:
        peer.send(agent.port, "OPTIONS", 7, "o1")
        response = await peer.response(200, "OPTIONS")
    allow = response.headers.get_all("Allow")
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY"} <= set(allow)
    assert response.top_via.params["rport"] == str(peer.port)
    assert response.top_via.params["received"] == "127.0.0.1"


async def test_garbage_gets_400_unknown_dialog_481_unknown_method_501() -> None:
    async with running(Bot(idle)) as agent, raw_peer() as peer:
        peer.send(agent.port, "OPTIONS", "one", "b1")
        bad = await peer.expect(lambda m: isinstance(m, SipResponse))
        assert isinstance(bad, SipResponse) and bad.status == 400
        peer.send(agent.port, "BYE", 2, "b2", to_tag="nope")
        await peer.response(481, "BYE")
        peer.send(agent.port, "FOO", 3, "b3")
        await peer.response(501, "FOO")
        peer.send(agent.port, "INVITE", 4, "b4", extra="Require: 100rel", body=offer(9))
        unsupported = await peer.response(420, "INVITE")
        assert unsupported.headers.get("Unsupported") == "100rel"


async def test_200_retransmitted_until_ack_then_info_dtmf_reinvite_and_bye() -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.wait_for(call.ended.wait(), 20)

    bot = Bot(script)
    async with running(bot, t1=0.05, t2=0.4) as agent, raw_peer() as peer:
        tag = await raw_call(peer, agent, ack=False)
        await peer.response(200, "INVITE", within=1)  # retransmitted after T1
        await peer.response(200, "INVITE", within=1)  # and after 2·T1
        assert not bot.calls
        peer.send(agent.port, "ACK", 1, "a1", tag)
        await asyncio.wait_for(bot.answered.wait(), 2)
        (call,) = bot.calls
        # a retransmitted INVITE after the ACK gets the same 200 again, no new call
        peer.send(agent.port, "INVITE", 1, "i1", extra=f"Content-Type: {SDP}", body=offer(9))
        again = await peer.response(200, "INVITE")
        assert again.to_addr.tag == tag and len(bot.calls) == 1
        relay = "Content-Type: application/dtmf-relay"
        peer.send(agent.port, "INFO", 2, "n1", tag, relay, "Signal=5\r\nDuration=160\r\n")
        await peer.response(200, "INFO")
        peer.send(agent.port, "INFO", 3, "n2", tag, "Content-Type: application/dtmf", "#")
        await peer.response(200, "INFO")
        await asyncio.sleep(0.1)
        assert call.digits == ["5", "#"]
        # re-INVITE putting the call on hold
        peer.send(agent.port, "INVITE", 4, "r1", tag, f"Content-Type: {SDP}", offer(9, "sendonly"))
        answer = await peer.response(200, "INVITE")
        assert b"a=recvonly" in answer.body
        peer.send(agent.port, "ACK", 4, "r2", tag)
        assert call.session.rtp.params is not None and not call.session.rtp.params.send
        peer.send(agent.port, "BYE", 5, "y1", tag)
        await peer.response(200, "BYE")
        await wait_hangup(call)
    assert call.cause is HangupCause.CALLER


async def test_stopping_the_agent_refuses_a_ringing_call() -> None:
    bot = Bot(idle)
    async with raw_peer() as peer:
        async with running(bot, answer_delay=10.0) as agent:
            peer.send(agent.port, "INVITE", 1, "s1", extra=f"Content-Type: {SDP}", body=offer(9))
            ringing = await peer.response(180, "INVITE")
        refused = await peer.response(503, "INVITE")
    assert refused.to_addr.tag == ringing.to_addr.tag
    assert not bot.calls


async def test_invite_without_sdp_gets_our_offer_and_the_answer_comes_in_the_ack() -> None:
    bot = Bot(idle)
    async with running(bot) as agent, raw_peer() as peer:
        peer.send(agent.port, "INVITE", 1, "l1")
        ok = await peer.response(200, "INVITE")
        assert b"RTP/AVP 0 8 101" in ok.body and b"a=sendrecv" in ok.body
        answer = offer(4000).replace("RTP/AVP 8 0 101", "RTP/AVP 8 101")
        peer.send(agent.port, "ACK", 1, "l2", ok.to_addr.tag, f"Content-Type: {SDP}", answer)
        await asyncio.wait_for(bot.answered.wait(), 2)
        (call,) = bot.calls
        params = call.session.rtp.params
        assert params is not None and (params.payload_type, params.remote) == (
            8,
            ("127.0.0.1", 4000),
        )
        await call.session.hangup()
        bye = await peer.request("BYE")
        peer.reply(bye, agent.port, 200, "OK")


async def test_rtp_dtmf_and_audio_from_raw_peer_and_media_timeout() -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.wait_for(call.ended.wait(), 20)

    bot = Bot(script)
    loop = asyncio.get_running_loop()
    rtp, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        async with running(bot, media_timeout=1.0) as agent, raw_peer() as peer:
            await raw_call(peer, agent, rtp.get_extra_info("sockname")[1])
            await asyncio.wait_for(bot.answered.wait(), 2)
            (call,) = bot.calls
            port = call.session.rtp_port
            for seq in range(5):
                packet = RtpPacket(0, seq, seq * 160, 5, ulaw_encode(tone(0.02)))
                rtp.sendto(packet.encode(), ("127.0.0.1", port))
            for seq, end in ((5, False), (6, True), (7, True), (8, True)):
                packet = RtpPacket(101, seq, 800, 5, TelephoneEvent(9, end, 10, 480).encode())
                rtp.sendto(packet.encode(), ("127.0.0.1", port))
            bye = await peer.request("BYE")
            peer.reply(bye, agent.port, 200, "OK")
            await wait_hangup(call)
    finally:
        rtp.close()
    assert call.digits == ["9"] and len(call.frames) == 5
    assert call.cause is HangupCause.ERROR
    assert bye.to_addr.tag == "rawtag"


async def test_refer_refused_keeps_the_call_then_accepted_ends_it() -> None:
    async def script(call: CallRecord) -> None:
        call.results["refused"] = await call.session.transfer("1234")
        call.results["play"] = await call.session.play(tone(0.1))
        call.results["accepted"] = await call.session.transfer("sip:accueil@192.0.2.1")

    bot = Bot(script)
    async with running(bot) as agent, raw_peer() as peer:
        tag = await raw_call(peer, agent)
        refer = await peer.request("REFER")
        assert refer.headers.get("Refer-To") == "<sip:1234@127.0.0.1>"  # extension@peer's domain
        assert refer.to_addr.tag == "rawtag" and refer.from_addr.tag == tag
        peer.reply(refer, agent.port, 403, "Forbidden")
        refer = await peer.request("REFER")
        peer.reply(refer, agent.port, 202, "Accepted")
        notify = "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
        notify += "Content-Type: message/sipfrag;version=2.0"
        peer.send(agent.port, "NOTIFY", 2, "n1", tag, notify, "SIP/2.0 200 OK\r\n")
        await peer.response(200, "NOTIFY")
        bye = await peer.request("BYE")
        peer.reply(bye, agent.port, 200, "OK")
        (call,) = bot.calls
        await asyncio.wait_for(call.finished.wait(), 5)
    assert call.results["refused"] is False
    assert call.results["play"] == PlaybackResult(interrupted=False, played_ms=100)
    assert call.results["accepted"] is True
    assert call.cause is HangupCause.TRANSFERRED


class Registrar(asyncio.DatagramProtocol):
    """A tiny registrar: challenges with 401, checks the MD5 digest, grants 60 s."""

    realm, nonce, user, password = "mairie.test", "abc123", "mairie", "s3cret"

    def __init__(self) -> None:
        self.seen: list[SipRequest] = []
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def valid(self, request: SipRequest, auth: str) -> bool:
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1 = md5(f"{self.user}:{self.realm}:{self.password}")
        ha2 = md5(f"{request.method}:{p['uri']}")
        expected = md5(f"{ha1}:{self.nonce}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        return p["response"] == expected and p["username"] == self.user

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse_message(data)
        assert isinstance(request, SipRequest)
        self.seen.append(request)
        auth = request.headers.get("Authorization")
        names = ("Via", "From", "To", "Call-ID", "CSeq")
        lines = [f"{n}: {request.headers.get(n)}" for n in names]
        if auth is None:
            lines[:0] = [
                "SIP/2.0 401 Unauthorized",
                f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self.nonce}", '
                'qop="auth", algorithm=MD5',
            ]
        elif self.valid(request, auth):
            contact = (request.headers.get("Contact") or "").split(";")[0]
            lines[:0] = ["SIP/2.0 200 OK", f"Contact: {contact};expires=60"]
        else:
            lines[:0] = ["SIP/2.0 403 Forbidden"]
        reply = "\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n"
        self.transport.sendto(reply.encode(), addr)


async def test_register_with_digest_auth() -> None:
    loop = asyncio.get_running_loop()
    transport, registrar = await loop.create_datagram_endpoint(
        Registrar, local_addr=("127.0.0.1", 0)
    )
    uri = f"sip:127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    try:
        async with running(
            Bot(idle), registrar=uri, user="accueil", auth_user="mairie", password="s3cret"
        ) as agent:
            async with asyncio.timeout(5):
                while not agent.registered:  # noqa: ASYNC110 - polling a plain flag
                    await asyncio.sleep(0.05)
        # leaving `running` stopped the agent, which unregistered
    finally:
        transport.close()
    seen = registrar.seen
    assert [r.headers.get("Expires") for r in seen] == ["600", "600", "0", "0"]
    assert "Authorization" not in seen[0].headers and "Authorization" in seen[1].headers
    assert seen[0].call_id == seen[1].call_id and seen[1].cseq[0] == seen[0].cseq[0] + 1
    assert seen[1].headers.get("To") == "<sip:accueil@127.0.0.1>"
    assert not agent.registered


async def test_transfer_refused_by_the_target_keeps_the_call(tmp_path: Path, mic_wav: Path) -> None:
    busy = Bot(idle)  # a second agent that takes no call: it answers 486 Busy Here

    async def script(call: CallRecord) -> None:
        call.results["ok"] = await call.session.transfer(f"sip:agent@127.0.0.1:{target.port}")
        call.results["after"] = await call.session.play(tone(0.5))
        await call.session.hangup()

    bot = Bot(script)
    async with running(busy, max_calls=0) as target, running(bot) as agent:
        async with baresip(tmp_path, mic_wav) as caller:
            await caller.dial(bot_uri(agent))
            await caller.wait_event("CALL_CLOSED", within=20, peer=f":{target.port}")
            await caller.wait_event("CALL_CLOSED", within=20, peer=f":{agent.port}")
    (call,) = bot.calls
    assert call.results["ok"] is False
    assert busy.traced("out", r"^SIP/2\.0 486 ")
    assert bot.traced("in", r"^NOTIFY (.*\r\n)*\r\nSIP/2\.0 486")
    # the call went on: the tone was played in full, and the bot hung up
    assert call.results["after"] == PlaybackResult(interrupted=False, played_ms=500)
    assert call.cause is HangupCause.BOT
    (recording,) = caller.recordings("dec")
    assert 0.4 <= tone_seconds(read_wav(recording)) <= 0.6
