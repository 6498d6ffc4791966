"""A minimal SIP/RTP caller for benchmarks, timing every packet itself.

One `SipCaller` holds one UDP SIP socket (a bare UAC: INVITE with a PCMU offer, ACK,
BYE, and 200 to the peer's BYE) and any number of calls. Each call has its own RTP
socket; one `Pacer` task sends the next 20 ms frame of every call on absolute
deadlines. Received packets are stamped by the kernel (SO_TIMESTAMPNS, converted to the
monotonic clock), so the caller's own event-loop delays do not enter the figures.

What a call sends comes from a `Mic`: `FixedMic` plays a prepared buffer (the same as a
WAV given to a phone), `TurnTakingMic` behaves like a patient person: it waits for the
greeting to end, speaks, waits for the answer to end, speaks again...

Built on the project's own codecs and parsers (voice.g711, voice.rtp, voice.sip.message,
voice.sip.sdp).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.g711 import PCMU, ULAW_DECODE, ulaw_encode
from voice.session import FRAME_BYTES
from voice.sip.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    new_branch,
    new_tag,
    parse_message,
)
from voice.sip.sdp import negotiate, parse_sdp

FRAME_S = 0.020
SO_TIMESTAMPNS = 35  # linux/asm-generic/socket.h (SO_TIMESTAMPNS_OLD); not in `socket`
VOICED_DB = -40.0  # a 20 ms frame at or above this RMS level is speech
SOUND_DB = -70.0  # above this the frame is not digital silence (idle RTP is all zeros)
SILENT_PAYLOAD = ulaw_encode(bytes(FRAME_BYTES))
# Mean of squares of each µ-law byte's sample, to get a frame's level cheaply.
_ULAW_SQUARES = ULAW_DECODE.astype(np.float64) ** 2


def level_db(pcm: bytes) -> float:
    """RMS level of s16le PCM in dBFS (-120 for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if not samples.size:
        return -120.0
    rms = math.sqrt(float((samples**2).mean()))
    return 20 * math.log10(rms / 32768) if rms > 0 else -120.0


def ulaw_level_db(payload: bytes) -> float:
    mean = float(_ULAW_SQUARES[np.frombuffer(payload, dtype=np.uint8)].mean())
    return 10 * math.log10(mean / 32768**2) if mean > 0 else -120.0


class MonotonicFromRealtime:
    """Kernel packet stamps are CLOCK_REALTIME: map them onto time.monotonic()."""

    def __init__(self) -> None:
        self.offset_ns = self._measure()

    @staticmethod
    def _measure() -> int:
        best: tuple[int, int] | None = None
        for _ in range(20):
            a = time.monotonic_ns()
            r = time.time_ns()
            b = time.monotonic_ns()
            if best is None or b - a < best[0]:
                best = (b - a, r - (a + b) // 2)
        assert best is not None
        return best[1]

    def refresh(self) -> None:
        self.offset_ns = self._measure()

    def __call__(self, realtime_ns: int) -> float:
        return (realtime_ns - self.offset_ns) / 1e9


# --- what a caller says -------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """A sentence as 20 ms µ-law payloads, with its speech limits."""

    name: str
    payloads: tuple[bytes, ...]
    first_voiced: int  # index of the first frame >= VOICED_DB
    last_voiced: int  # index of the last frame >= VOICED_DB

    @classmethod
    def from_pcm(cls, name: str, pcm: bytes) -> Utterance:
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
        voiced = [i for i, f in enumerate(frames) if level_db(f) >= VOICED_DB]
        if not voiced:
            raise ValueError(f"utterance {name!r} has no voiced frame")
        return cls(name, tuple(ulaw_encode(f) for f in frames), voiced[0], voiced[-1])

    @property
    def speech_s(self) -> float:
        return (self.last_voiced - self.first_voiced + 1) * FRAME_S


@dataclass
class UtteranceRecord:
    """One utterance as the caller lived it (monotonic seconds)."""

    name: str
    speech_start: float = math.nan  # first voiced frame sent
    speech_end: float = math.nan  # last voiced frame sent
    speech_end_wall: float = math.nan  # time.time() at speech_end (to match app records)
    bot_voiced_during_speech: bool = False  # the bot talked over us (early end-point...)
    reply_sound: float = math.nan  # first non-silent packet received after speech_end
    reply_voiced: float = math.nan  # first voiced packet received after speech_end
    reply_end: float = math.nan  # last voiced packet of the answer
    reply_spurts: int = 0  # playbacks the bot started before our next utterance (RTP marker)

    @property
    def latency_ms(self) -> float:
        return (self.reply_voiced - self.speech_end) * 1000

    @property
    def playback_start_ms(self) -> float:
        return (self.reply_sound - self.speech_end) * 1000

    @property
    def reply_s(self) -> float:
        return self.reply_end - self.reply_voiced


class Mic:
    """Frame source of one call; told what is heard. Subclasses decide what to say."""

    def __init__(self) -> None:
        self.records: list[UtteranceRecord] = []
        self.done = asyncio.Event()
        self.last_voiced_rx = math.nan  # arrival time of the last voiced packet heard
        self.first_voiced_rx = math.nan
        self._speaking: tuple[Utterance, int, UtteranceRecord] | None = None
        self._awaiting: UtteranceRecord | None = None

    def next_frame(self, now: float) -> bytes:
        raise NotImplementedError

    def _speak_frame(self) -> bytes | None:
        """The next frame of the utterance being spoken, None when it is over."""
        if self._speaking is None:
            return None
        utt, index, record = self._speaking
        if index >= len(utt.payloads):
            self._speaking = None
            return None
        self._speaking = (utt, index + 1, record)
        return utt.payloads[index]

    def frame_sent(self, t: float) -> None:
        """Called right after the frame returned by next_frame left."""
        if self._speaking is None:
            return
        utt, index, record = self._speaking
        sent = index - 1
        if sent == utt.first_voiced:
            record.speech_start = t
        if sent == utt.last_voiced:
            record.speech_end = t
            record.speech_end_wall = time.time()
            self._awaiting = record

    def start_utterance(self, utt: Utterance) -> None:
        record = UtteranceRecord(utt.name)
        self.records.append(record)
        self._speaking = (utt, 0, record)

    def heard(self, t: float, db: float, marker: bool = False) -> None:
        """One packet of the bot, arrival time `t`, level `db`, RTP marker (new playback)."""
        voiced = db >= VOICED_DB
        if voiced:
            if math.isnan(self.first_voiced_rx):
                self.first_voiced_rx = t
            self.last_voiced_rx = t
            if self._speaking is not None:
                self._speaking[2].bot_voiced_during_speech = True
        record = self._awaiting
        if record is None or t <= record.speech_end:
            return
        if marker:
            record.reply_spurts += 1
        if db > SOUND_DB and math.isnan(record.reply_sound):
            record.reply_sound = t
        if voiced:
            if math.isnan(record.reply_voiced):
                record.reply_voiced = t
            record.reply_end = t


class FixedMic(Mic):
    """Plays `lead_s` of silence, then each utterance followed by its silence; then silence.

    Like a WAV file given to a phone: it does not listen. `done` is set after `total_s`.
    """

    def __init__(self, lead_s: float, script: list[tuple[Utterance, float]], total_s: float):
        super().__init__()
        self._plan: list[tuple[int, Utterance]] = []
        tick = round(lead_s / FRAME_S)
        for utt, silence_s in script:
            self._plan.append((tick, utt))
            tick += len(utt.payloads) + round(silence_s / FRAME_S)
        self._total = round(total_s / FRAME_S)
        self._tick = 0

    def next_frame(self, now: float) -> bytes:
        if self._plan and self._plan[0][0] <= self._tick:
            self.start_utterance(self._plan.pop(0)[1])
        self._tick += 1
        if self._tick >= self._total:
            self.done.set()
        frame = self._speak_frame()
        return frame if frame is not None else SILENT_PAYLOAD


class TurnTakingMic(Mic):
    """Waits for the greeting to end, then says each utterance after the bot's answer ends.

    The bot's turn is over after `gap_s` without a voiced packet. No answer starting
    within `reply_timeout_s`: the next utterance comes anyway. Before speaking, a pause
    of `pause_s` (or drawn from the (low, high) range with `rng`: callers then drift
    apart instead of all speaking at the same instant). With `loop_until`, utterances
    repeat until that monotonic time; `done` is set when the plan is over.
    """

    def __init__(
        self,
        utterances: list[Utterance],
        count: int,
        gap_s: float = 1.0,
        pause_s: float | tuple[float, float] = 0.4,
        greeting_timeout_s: float = 20.0,
        reply_timeout_s: float = 12.0,
        loop_until: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.utterances = utterances
        self.count = count
        self.gap_s = gap_s
        self.pause_range = pause_s if isinstance(pause_s, tuple) else (pause_s, pause_s)
        self.rng = rng or random.Random(0)
        self.greeting_timeout_s, self.reply_timeout_s = greeting_timeout_s, reply_timeout_s
        self.loop_until = loop_until
        self.started = math.nan
        self.greeting_end = math.nan
        self.no_reply = 0
        self._turn_over_at = math.nan  # when the bot's last turn was judged over
        self._pause = 0.0
        self._said = 0

    def _bot_turn_over(self, now: float, since: float, timeout: float) -> bool:
        """No answer `timeout` s after `since`, or `gap_s` of silence after it (cap 60 s)."""
        heard_since = not math.isnan(self.last_voiced_rx) and self.last_voiced_rx > since
        if not heard_since:
            return now - since > timeout
        return now - self.last_voiced_rx >= self.gap_s or now - since > 60.0

    def next_frame(self, now: float) -> bytes:
        if math.isnan(self.started):
            self.started = now
        frame = self._speak_frame()
        if frame is not None:
            return frame
        if self.done.is_set():
            return SILENT_PAYLOAD
        if math.isnan(self._turn_over_at):
            waiting_since = self.records[-1].speech_end if self.records else self.started
            timeout = self.reply_timeout_s if self.records else self.greeting_timeout_s
            if math.isnan(waiting_since) or not self._bot_turn_over(now, waiting_since, timeout):
                return SILENT_PAYLOAD
            if self.records and math.isnan(self.records[-1].reply_voiced):
                self.no_reply += 1
            if not self.records:
                self.greeting_end = self.last_voiced_rx
            self._turn_over_at = now
            self._pause = self.rng.uniform(*self.pause_range)
        if now - self._turn_over_at < self._pause:
            return SILENT_PAYLOAD
        more = self._said < self.count if self.loop_until is None else now < self.loop_until
        if not more:
            self.done.set()
            return SILENT_PAYLOAD
        self.start_utterance(self.utterances[self._said % len(self.utterances)])
        self._said += 1
        self._turn_over_at = math.nan
        return self._speak_frame() or SILENT_PAYLOAD


# --- RTP ------------------------------------------------------------------------------------


class RtpLeg:
    """One call's RTP socket: kernel-stamped reception, sending driven by the `Pacer`."""

    def __init__(self, mic: Mic, clock: MonotonicFromRealtime) -> None:
        self.mic = mic
        self.clock = clock
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self.remote: tuple[str, int] | None = None
        self.payload_type = PCMU
        self.ssrc = int.from_bytes(np.random.bytes(4), "big")
        self.seq = int.from_bytes(np.random.bytes(2), "big")
        self.ts = 0
        # Reception, one entry per packet (parallel lists: cheap appends).
        self.rx_t: list[float] = []
        self.rx_seq: list[int] = []
        self.rx_ts: list[int] = []
        self.rx_db: list[float] = []
        self.rx_marker: list[bool] = []  # the bot's sender marks the start of each playback
        self.rx_late_stamps = 0  # packets without a usable kernel stamp
        self.sent = 0
        self.closed = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        space = socket.CMSG_SPACE(16)
        while True:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(2048, space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            now = time.monotonic()
            t = now
            for level, kind, raw in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    stamped = self.clock(sec * 1_000_000_000 + nsec)
                    if stamped <= now + 0.001:
                        t = stamped
                    else:
                        self.rx_late_stamps += 1
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            pt = data[1] & 0x7F
            if pt in (72, 73, 200, 201) or pt != self.payload_type:
                continue
            cc = data[0] & 0x0F
            seq, ts = struct.unpack_from("!HI", data, 2)
            db = ulaw_level_db(data[12 + 4 * cc :])
            self.rx_t.append(t)
            self.rx_seq.append(seq)
            self.rx_ts.append(ts)
            self.rx_db.append(db)
            marker = bool(data[1] & 0x80)
            self.rx_marker.append(marker)
            self.mic.heard(t, db, marker)

    def send_tick(self, now: float) -> None:
        if self.closed or self.remote is None:
            return
        payload = self.mic.next_frame(now)
        marker = 0x80 if self.sent == 0 else 0
        header = struct.pack(
            "!BBHII", 0x80, marker | self.payload_type, self.seq & 0xFFFF, self.ts, self.ssrc
        )
        try:
            self.sock.sendto(header + payload, self.remote)
        except OSError:
            return
        self.mic.frame_sent(time.monotonic())
        self.seq += 1
        self.ts = (self.ts + 160) & 0xFFFFFFFF
        self.sent += 1

    def talkspurts(self) -> list[tuple[float, float]]:
        """The bot's playbacks as heard: (first, last) voiced packet of each marked run."""
        out: list[tuple[float, float]] = []
        current: list[float] = []
        for t, db, marker in zip(self.rx_t, self.rx_db, self.rx_marker, strict=True):
            if marker and current:
                out.append((current[0], current[-1]))
                current = []
            if db >= VOICED_DB:
                current.append(t)
        if current:
            out.append((current[0], current[-1]))
        return out

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(self.sock.fileno())
        self.sock.close()


class Pacer:
    """Sends one frame per leg every 20 ms, on absolute deadlines (no drift)."""

    def __init__(self) -> None:
        self.legs: list[RtpLeg] = []
        self.lateness: list[float] = []  # s after each tick's deadline the tick ran
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        t0 = time.monotonic()
        tick = 0
        while True:
            deadline = t0 + tick * FRAME_S
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            if now - deadline > 0.2:  # stalled: skip ahead rather than burst
                tick = int((now - t0) / FRAME_S)
                continue
            self.lateness.append(now - deadline)
            if len(self.lateness) > 200_000:
                del self.lateness[:100_000]
            for leg in list(self.legs):
                leg.send_tick(now)
            tick += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# --- SIP ------------------------------------------------------------------------------------


@dataclass
class CallResult:
    call_id: str
    status: int = 0  # final response to the INVITE
    invite_sent: float = math.nan
    answered: float = math.nan  # 200 OK received (ACK leaves right after)
    ended: float = math.nan
    ended_by: str = ""  # "caller" | "bot" | "timeout"
    leg: RtpLeg | None = None
    error: str = ""
    refers_declined: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def mic(self) -> Mic | None:
        return self.leg.mic if self.leg else None


@dataclass
class _Dialog:
    call_id: str
    local_tag: str
    from_header: str
    to_header: str = ""
    remote_target: str = ""
    cseq: int = 1
    invite_branch: str = ""
    answered: asyncio.Future[SipResponse] | None = None
    bye_answer: asyncio.Future[SipResponse] | None = None
    bye_branch: str = ""
    remote_bye: asyncio.Event = field(default_factory=asyncio.Event)
    ack: bytes = b""
    provisional: bool = False
    refers: int = 0


class SipCaller(asyncio.DatagramProtocol):
    """A bare SIP UAC on 127.0.0.1 placing calls to `target` (host, port)."""

    def __init__(self, target: tuple[str, int], user: str = "bench") -> None:
        self.target = target
        self.user = user
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.clock = MonotonicFromRealtime()
        self.pacer = Pacer()
        self.dialogs: dict[str, _Dialog] = {}
        self._counter = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.pacer.start()

    async def stop(self) -> None:
        await self.pacer.stop()
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = int(transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            message = parse_message(data)
        except SipParseError:
            return
        dialog = self.dialogs.get(message.call_id)
        if isinstance(message, SipResponse):
            if dialog is not None:
                self._on_response(dialog, message)
            return
        if message.method == "ACK":
            return
        if dialog is None:
            status = 481
        elif message.method == "REFER":
            # A phone that declines transfers: the bot keeps the call (and offers a
            # callback), so a benchmark call never leaves for an extension nobody answers.
            status = 603
            dialog.refers += 1
        else:
            status = 200
        response = make_response(message, status, to_tag="" if dialog else new_tag())
        self._send(response.to_bytes(), (str(addr[0]), int(addr[1])))
        if dialog is not None and message.method == "BYE":
            dialog.remote_bye.set()

    def _on_response(self, dialog: _Dialog, response: SipResponse) -> None:
        method = response.cseq[1]
        if method == "INVITE" and response.status >= 200:
            if response.status < 300:
                dialog.to_header = response.headers.get("To") or dialog.to_header
                contacts = response.headers.get_all("Contact")
                if contacts:
                    dialog.remote_target = NameAddr.parse(contacts[0]).uri
                dialog.ack = self._ack(dialog, new_branch())
            else:  # non-2xx: the ACK is part of the INVITE transaction (same branch)
                dialog.to_header = response.headers.get("To") or dialog.to_header
                dialog.ack = self._ack(dialog, dialog.invite_branch)
            self._send(dialog.ack, self.target)  # also answers retransmitted finals
            if dialog.answered is not None and not dialog.answered.done():
                dialog.answered.set_result(response)
        elif method == "INVITE":
            dialog.provisional = True  # the peer got the INVITE: stop retransmitting
        elif method == "BYE" and dialog.bye_answer is not None and not dialog.bye_answer.done():
            dialog.bye_answer.set_result(response)

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def _request(
        self, dialog: _Dialog, method: str, cseq: int, branch: str, uri: str, body: bytes = b""
    ) -> bytes:
        request = SipRequest(Headers(), body, method, uri)
        h = request.headers
        h.add("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport")
        h.add("Max-Forwards", "70")
        h.add("From", dialog.from_header)
        h.add("To", dialog.to_header)
        h.add("Call-ID", dialog.call_id)
        h.add("CSeq", f"{cseq} {method}")
        h.add("Contact", f"<sip:{self.user}@127.0.0.1:{self.port}>")
        h.add("User-Agent", "guichet-bench")
        if body:
            h.add("Content-Type", "application/sdp")
        return request.to_bytes()

    def _ack(self, dialog: _Dialog, branch: str) -> bytes:
        uri = dialog.remote_target or f"sip:guichet@{self.target[0]}:{self.target[1]}"
        return self._request(dialog, "ACK", 1, branch, uri)

    @staticmethod
    def _offer(rtp_port: int) -> bytes:
        session = int(time.time())
        return (
            "v=0\r\n"
            f"o=bench {session} 1 IN IP4 127.0.0.1\r\n"
            "s=bench\r\n"
            "c=IN IP4 127.0.0.1\r\n"
            "t=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-15\r\n"
            "a=ptime:20\r\n"
            "a=sendrecv\r\n"
        ).encode()

    async def call(
        self, mic: Mic, max_s: float, answer_timeout_s: float = 10.0, name: str = ""
    ) -> CallResult:
        """Place one call; returns when the mic is done, the bot hangs up, or after max_s."""
        loop = asyncio.get_running_loop()
        self._counter += 1
        call_id = f"bench-{name or self._counter}-{new_tag()}@127.0.0.1"
        result = CallResult(call_id)
        leg = RtpLeg(mic, self.clock)
        result.leg = leg
        tag = new_tag()
        dialog = _Dialog(
            call_id,
            tag,
            f'"Bench" <sip:{self.user}-{self._counter}@127.0.0.1>;tag={tag}',
            f"<sip:guichet@{self.target[0]}:{self.target[1]}>",
        )
        dialog.answered = loop.create_future()
        dialog.invite_branch = new_branch()
        self.dialogs[call_id] = dialog
        uri = f"sip:guichet@{self.target[0]}:{self.target[1]}"
        invite = self._request(
            dialog, "INVITE", 1, dialog.invite_branch, uri, self._offer(leg.port)
        )
        leg.attach(loop)
        try:
            result.invite_sent = time.monotonic()
            response = await self._transact(
                invite, dialog.answered, answer_timeout_s, lambda: dialog.provisional
            )
            if response is None:
                result.error = "no final answer to INVITE"
                return result
            result.status = response.status
            if response.status >= 300:
                result.error = f"INVITE answered {response.status} {response.reason}"
                return result
            result.answered = time.monotonic()
            try:
                chosen = negotiate(parse_sdp(response.body))
            except ValueError as exc:
                result.error = f"bad SDP answer: {exc}"
                await self._bye(dialog)
                return result
            leg.payload_type = chosen.payload_type
            leg.remote = (chosen.remote_host, chosen.remote_port)
            self.pacer.legs.append(leg)
            done = asyncio.ensure_future(mic.done.wait())
            bye = asyncio.ensure_future(dialog.remote_bye.wait())
            finished, _ = await asyncio.wait(
                {done, bye}, timeout=max_s, return_when="FIRST_COMPLETED"
            )
            for task in (done, bye):
                task.cancel()
            if dialog.remote_bye.is_set():
                result.ended_by = "bot"
            else:
                result.ended_by = "caller" if finished else "timeout"
            result.ended = time.monotonic()
            if leg in self.pacer.legs:
                self.pacer.legs.remove(leg)
            if result.ended_by != "bot":
                if not await self._bye(dialog):
                    result.notes.append("BYE not answered")
            return result
        finally:
            if leg in self.pacer.legs:
                self.pacer.legs.remove(leg)
            leg.close(loop)
            result.refers_declined = dialog.refers
            self.dialogs.pop(call_id, None)

    async def _transact(
        self,
        data: bytes,
        future: asyncio.Future[SipResponse],
        timeout_s: float,
        proceeding: Callable[[], bool] = lambda: False,
    ) -> SipResponse | None:
        """Send with timer-A style retransmissions (0.5 s doubling) until answered."""
        interval, waited = 0.5, 0.0
        self._send(data, self.target)
        while waited < timeout_s:
            try:
                return await asyncio.wait_for(asyncio.shield(future), interval)
            except TimeoutError:
                waited += interval
                interval = min(interval * 2, 4.0)
                if not proceeding():
                    self._send(data, self.target)
        return None

    async def _bye(self, dialog: _Dialog) -> bool:
        loop = asyncio.get_running_loop()
        dialog.cseq += 1
        dialog.bye_branch = new_branch()
        dialog.bye_answer = loop.create_future()
        uri = dialog.remote_target or f"sip:guichet@{self.target[0]}:{self.target[1]}"
        bye = self._request(dialog, "BYE", dialog.cseq, dialog.bye_branch, uri)
        return await self._transact(bye, dialog.bye_answer, 4.0) is not None
