"""RTP (RFC 3550) for one G.711 audio stream: packets, codecs, RFC 4733 events, pacing.

- `RtpPacket`: header encode/decode (CSRC, extension and padding tolerated on input).
- G.711 µ-law/A-law: voice/g711.py (`CODECS` by payload type).
- `TelephoneEvent` and `DtmfTracker`: one digit per event, duplicate end packets ignored.
- `PacingClock` and `RtpSender`: frame n leaves at t0 + n·20 ms, timestamp ts0 + n·160.
- `ReorderBuffer`: releases packets in sequence order, tolerating a little reordering.
- `RtpSession`: the UDP endpoint of one call tying these together, with a media timeout.

Media is accepted from one source only (no "RTP bleed"): with `source_policy="sdp"`
the address and port the SDP names; with `"latch"` (peers behind NAT, whose SDP names
a private address) that address (it always wins), or else the first source that sends
`latch_packets` consecutive packets of one SSRC within the first `latch_window` packets
after the SDP (re-INVITEs with a new address open a new window). Packets from any other
source are dropped and counted; they never change where the bot's speech goes.

One module (the codecs apart): every piece here exists for `RtpSession`, and a call whose
audio misbehaves is read through all of them at once (packet, pacing, reordering, which
source is latched); nothing outside voice/sip uses them apart from tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from voice.g711 import CODECS
from voice.session import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES

log = logging.getLogger(__name__)

RTP_VERSION = 2
DIGITS = "0123456789*#ABCD"
SOURCE_POLICIES = ("sdp", "latch")
MAX_CONCEALED_PACKETS = 3  # silence put in for lost packets: at most 3 × 20 ms


class RtpError(ValueError):
    """Not an RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()

    def encode(self) -> bytes:
        first = (RTP_VERSION << 6) | len(self.csrc)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        header = struct.pack(
            "!BBHII",
            first,
            second,
            self.sequence & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        return header + b"".join(struct.pack("!I", c) for c in self.csrc) + self.payload

    @classmethod
    def decode(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise RtpError("short packet")
        first, second, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
        if first >> 6 != RTP_VERSION:
            raise RtpError("not RTP version 2")
        cc = first & 0x0F
        offset = 12 + 4 * cc
        if len(data) < offset:
            raise RtpError("truncated CSRC list")
        csrc = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
        if first & 0x10:  # header extension
            if len(data) < offset + 4:
                raise RtpError("truncated extension")
            (words,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4 + 4 * words
        end = len(data)
        if first & 0x20:  # padding
            pad = data[-1]
            if pad == 0 or offset + pad > end:
                raise RtpError("bad padding")
            end -= pad
        if offset > end:
            raise RtpError("truncated packet")
        return cls(second & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(second & 0x80), csrc)


# --- RFC 4733 telephone-event -----------------------------------------------------------


@dataclass(frozen=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None

    @classmethod
    def decode(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise RtpError("short telephone-event payload")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def encode(self) -> bytes:
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return struct.pack("!BBH", self.event, flags, self.duration & 0xFFFF)


class DtmfTracker:
    """Turns a stream of telephone-event packets into digits.

    An event is identified by its RTP timestamp. A digit is reported on the first packet
    with the end bit; the (usually three) repeated end packets are ignored. If an event
    never shows its end (lost packets) it is reported when the next event starts.
    """

    def __init__(self) -> None:
        self._timestamp: int | None = None
        self._digit: str | None = None
        self._ended = True

    def feed(self, timestamp: int, event: TelephoneEvent) -> list[str]:
        out: list[str] = []
        if timestamp != self._timestamp:
            if not self._ended and self._digit:
                out.append(self._digit)
            self._timestamp, self._digit, self._ended = timestamp, event.digit, False
        if event.end and not self._ended:
            self._ended = True
            if self._digit:
                out.append(self._digit)
        return out


# --- sending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PacingClock:
    """Frame n is due at t0 + n·period: errors never accumulate."""

    t0: float
    period: float = FRAME_MS / 1000

    def deadline(self, n: int) -> float:
        return self.t0 + n * self.period

    def index_at(self, now: float) -> int:
        """The frame due at or just before `now`."""
        return max(0, int((now - self.t0) / self.period + 1e-9))


@dataclass
class RtpSender:
    """Builds outgoing packets: sequence +1 a packet, timestamp from the tick index."""

    payload_type: int
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    first_sequence: int = field(default_factory=lambda: secrets.randbits(16))
    first_timestamp: int = field(default_factory=lambda: secrets.randbits(32))
    samples_per_tick: int = FRAME_SAMPLES
    sent: int = 0
    _talking: bool = False

    def packet(self, tick: int, payload: bytes, voice: bool = True) -> RtpPacket:
        """The packet for tick `tick`; the marker starts each talkspurt."""
        marker = (voice and not self._talking) or self.sent == 0
        self._talking = voice
        seq = (self.first_sequence + self.sent) & 0xFFFF
        ts = (self.first_timestamp + tick * self.samples_per_tick) & 0xFFFFFFFF
        self.sent += 1
        return RtpPacket(self.payload_type, seq, ts, self.ssrc, payload, marker)

    def skip(self) -> None:
        """Nothing sent on this tick: the next voice packet starts a talkspurt."""
        self._talking = False


# --- receiving --------------------------------------------------------------------------


class ReorderBuffer:
    """Releases packets in sequence order; holds at most `depth` packets waiting for a gap.

    `push` returns (lost_before, packet) pairs; packets older than the last released one
    (late or duplicate) are dropped.
    """

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self._pending: dict[int, RtpPacket] = {}
        self._expected: int | None = None
        self._highest = 0
        self.lost = 0
        self.dropped = 0

    def _extend(self, seq: int) -> int:
        if self._expected is None:
            return seq
        base = self._highest - (self._highest & 0xFFFF)
        candidates = (base + seq - 0x10000, base + seq, base + seq + 0x10000)
        return min(candidates, key=lambda c: abs(c - self._highest))

    def reset(self) -> None:
        self._pending.clear()
        self._expected = None

    def push(self, packet: RtpPacket) -> list[tuple[int, RtpPacket]]:
        ext = self._extend(packet.sequence)
        if self._expected is None:
            self._expected = self._highest = ext
        elif abs(ext - self._expected) > 3000:  # the sender restarted its sequence
            released = self.flush()
            self._expected = self._highest = ext
            self._pending[ext] = packet
            return released + self._release(False)
        if ext < self._expected or ext in self._pending:
            self.dropped += 1
            return []
        self._highest = max(self._highest, ext)
        self._pending[ext] = packet
        return self._release(False)

    def flush(self) -> list[tuple[int, RtpPacket]]:
        return self._release(True)

    @property
    def holding(self) -> int:
        return len(self._pending)

    def _release(self, force: bool) -> list[tuple[int, RtpPacket]]:
        out: list[tuple[int, RtpPacket]] = []
        lost = 0
        while self._pending and self._expected is not None:
            if self._expected in self._pending:
                out.append((lost, self._pending.pop(self._expected)))
                self._expected += 1
                lost = 0
            elif force or len(self._pending) > self.depth:
                nxt = min(self._pending)
                lost += nxt - self._expected
                self.lost += nxt - self._expected
                self._expected = nxt
            else:
                break
        return out


class Reframer:
    """Cuts decoded PCM of any packet size into 20 ms frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def push(self, pcm: bytes) -> list[bytes]:
        self._buf += pcm
        frames = []
        while len(self._buf) >= FRAME_BYTES:
            frames.append(bytes(self._buf[:FRAME_BYTES]))
            del self._buf[:FRAME_BYTES]
        return frames


@dataclass
class MediaParams:
    remote: tuple[str, int]
    payload_type: int
    dtmf_payload_type: int | None
    send: bool = True  # False while the peer holds the call


@dataclass
class _Candidate:
    """A source on probation for the symmetric-RTP latch."""

    source: tuple[str, int]
    ssrc: int
    sequence: int
    count: int = 1


def media_address(remote: tuple[str, int]) -> tuple[str, int]:
    """`remote` checked: an IP literal (never a name to resolve) and a port in 1-65535."""
    host, port = remote
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"RTP peer is not an IP address: {host[:60]!r}") from None
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"RTP peer port out of range: {port!r}")
    return (host, port)


FrameSource = Callable[[], bytes | None]


class RtpSession(asyncio.DatagramProtocol):
    """The RTP endpoint of one call.

    Received audio is decoded, re-framed to 20 ms and given to `on_audio`; RFC 4733 digits
    to `on_digit`; `on_timeout` runs once when no packet arrived for `media_timeout` s.
    `start(source)` runs the paced sender: each tick takes a frame from `source` (None
    when idle: silence is sent if `idle_silence`, else nothing).
    """

    def __init__(
        self,
        on_audio: Callable[[bytes], None],
        on_digit: Callable[[str], None],
        on_timeout: Callable[[], None],
        media_timeout: float = 30.0,
        idle_silence: bool = True,
        source_policy: str = "sdp",
        reorder_depth: int = 3,
        latch_packets: int = 3,
        latch_window: int = 50,
    ) -> None:
        if source_policy not in SOURCE_POLICIES:
            raise ValueError(f"RTP source policy must be one of {SOURCE_POLICIES}")
        self.on_audio, self.on_digit, self.on_timeout = on_audio, on_digit, on_timeout
        self.media_timeout = media_timeout
        self.idle_silence = idle_silence
        self.source_policy = source_policy
        self.latch_packets = latch_packets
        self.latch_window = latch_window
        self.params: MediaParams | None = None
        self.sender: RtpSender | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.reorder = ReorderBuffer(reorder_depth)
        self.dtmf = DtmfTracker()
        self.reframer = Reframer()
        self.received = 0
        self.foreign = 0  # packets dropped because of their source
        self.rtcp = 0  # RTCP packets received on the RTP port (RFC 5761), ignored
        self.ssrc_changes = 0
        self.late_ticks = 0
        self.send_times: list[float] = []  # monotonic send time of the last packets (jitter)
        self._ssrc: int | None = None
        self._sdp_remote: tuple[str, int] | None = None
        self._accepted: tuple[str, int] | None = None  # the one source media is taken from
        self._candidate: _Candidate | None = None
        self._window = 0
        self._last_rx = 0.0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # asyncio.DatagramProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._last_rx = asyncio.get_running_loop().time()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self._closed or self.params is None:
            return
        if len(data) >= 2 and 192 <= data[1] <= 223:  # RTCP multiplexed on the RTP port
            self.rtcp += 1
            return
        try:
            packet = RtpPacket.decode(data)
        except RtpError:
            return
        if not self._from_peer((str(addr[0]), int(addr[1])), packet):
            self.foreign += 1
            return
        self.received += 1
        self._last_rx = asyncio.get_running_loop().time()
        if packet.ssrc != self._ssrc:  # the peer restarted or switched its media source
            if self._ssrc is not None:
                self.ssrc_changes += 1
                self._dispatch(self.reorder.flush())
                self.dtmf = DtmfTracker()
            self._ssrc = packet.ssrc
            self.reorder.reset()
        self._dispatch(self.reorder.push(packet))
        if self.reorder.holding and self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(0.06, self._flush)

    def _from_peer(self, source: tuple[str, int], packet: RtpPacket) -> bool:
        """Whether media from `source` is the call's; may latch onto it (policy "latch")."""
        if source == self._sdp_remote:  # what signalling agreed on always wins
            if self._accepted != source and self.params is not None:
                self._accepted = self.params.remote = source
            return True
        if self._accepted is not None:
            return source == self._accepted
        if self._window <= 0:  # "latch": the learning window is over
            return False
        self._window -= 1
        candidate = self._candidate
        if (
            candidate is not None
            and candidate.source == source
            and candidate.ssrc == packet.ssrc
            and packet.sequence == (candidate.sequence + 1) & 0xFFFF
        ):
            candidate.count += 1
            candidate.sequence = packet.sequence
            if candidate.count >= self.latch_packets and self.params is not None:
                self._accepted = self.params.remote = source
                log.info("RTP latched to %s:%s (the SDP named %s)", *source, self._sdp_remote)
                return True
            return False
        self._candidate = _Candidate(source, packet.ssrc, packet.sequence)
        return False

    def _flush(self) -> None:
        self._flush_handle = None
        self._dispatch(self.reorder.flush())

    def _dispatch(self, released: list[tuple[int, RtpPacket]]) -> None:
        params = self.params
        if params is None:
            return
        for lost, packet in released:
            if packet.payload_type == params.dtmf_payload_type:
                try:
                    event = TelephoneEvent.decode(packet.payload)
                except RtpError:
                    continue
                for digit in self.dtmf.feed(packet.timestamp, event):
                    self.on_digit(digit)
                continue
            codec = CODECS.get(packet.payload_type)
            if codec is None:  # comfort noise, unknown payloads
                continue
            if lost:  # conceal losses with silence: a few 20 ms frames at most
                samples = min(len(packet.payload), FRAME_SAMPLES)
                self._emit(b"\x00\x00" * samples * min(lost, MAX_CONCEALED_PACKETS))
            self._emit(codec.decode(packet.payload))

    def _emit(self, pcm: bytes) -> None:
        for frame in self.reframer.push(pcm):
            self.on_audio(frame)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        log.debug("RTP socket error: %s", exc)

    # control
    def configure(self, params: MediaParams) -> None:
        """Set or change (re-INVITE) the negotiated stream. Raises ValueError on a bad peer."""
        offered = params.remote = media_address(params.remote)
        if offered != self._sdp_remote:  # a new peer address: accept it, or learn anew
            self._accepted = offered if self.source_policy == "sdp" else None
            self._candidate = None
            self._window = self.latch_window if self.source_policy == "latch" else 0
        elif self._accepted is not None:
            params.remote = self._accepted  # same SDP address: keep the latched source
        self._sdp_remote = offered
        self.params = params
        if self.sender is None or self.sender.payload_type != params.payload_type:
            self.sender = RtpSender(params.payload_type)

    def start(self, source: FrameSource) -> None:
        self._tasks.append(asyncio.create_task(self._send_loop(source)))
        if self.media_timeout > 0:
            self._tasks.append(asyncio.create_task(self._watchdog()))

    async def _send_loop(self, source: FrameSource) -> None:
        loop = asyncio.get_running_loop()
        clock = PacingClock(loop.time())
        tick = 0
        while not self._closed:
            delay = clock.deadline(tick) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:  # the loop stalled: do not burst 10+ frames, jump ahead
                self.late_ticks += 1
                tick = clock.index_at(loop.time())
                if self.sender:
                    self.sender.skip()
                continue
            self._send_tick(tick, source())
            tick += 1

    def _send_tick(self, tick: int, pcm: bytes | None) -> None:
        params, sender, transport = self.params, self.sender, self.transport
        if params is None or sender is None or transport is None or self._closed:
            return
        if not params.send or (pcm is None and not self.idle_silence):
            sender.skip()
            return
        voice = pcm is not None
        frame = pcm if pcm is not None else bytes(FRAME_BYTES)
        payload = CODECS[params.payload_type].encode(frame)
        transport.sendto(sender.packet(tick, payload, voice).encode(), params.remote)
        self.send_times.append(asyncio.get_running_loop().time())
        if len(self.send_times) > 3000:
            del self.send_times[:1000]

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(min(1.0, self.media_timeout / 4))
            held = self.params is not None and not self.params.send
            if held:
                self._last_rx = loop.time()
            elif loop.time() - self._last_rx > self.media_timeout and not self._closed:
                self.on_timeout()
                return

    def close(self) -> None:
        self._closed = True
        if self._flush_handle:
            self._flush_handle.cancel()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if self.transport:
            self.transport.close()


async def open_rtp_session(
    host: str, port_min: int, port_max: int, used: set[int], factory: Callable[[], RtpSession]
) -> tuple[int, RtpSession]:
    """Bind a free even port of [port_min, port_max] not in `used`, tried in random order
    (a stranger cannot guess the next call's port from the last one)."""
    loop = asyncio.get_running_loop()
    start = port_min + (port_min & 1)
    ports = list(range(start, port_max + 1, 2))
    secrets.SystemRandom().shuffle(ports)
    for port in ports:
        if port in used:
            continue
        try:
            _, protocol = await loop.create_datagram_endpoint(factory, local_addr=(host, port))
        except OSError:
            continue
        used.add(port)
        return port, protocol
    raise OSError(f"no free RTP port in {port_min}-{port_max}")
