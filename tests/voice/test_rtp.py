from __future__ import annotations

import asyncio
import struct
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from tests.voice.baresip import free_even_port
from voice.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voice.rtp import (
    DtmfTracker,
    MediaParams,
    PacingClock,
    Reframer,
    ReorderBuffer,
    RtpError,
    RtpPacket,
    RtpSender,
    RtpSession,
    TelephoneEvent,
    open_rtp_session,
)

ALL = np.arange(-32768, 32768, dtype=np.int64)
ALL_PCM = ALL.astype("<i2").tobytes()


# --- G.711 references written from the standard's segment formulas ---------------------


def ref_ulaw_encode(x: int) -> int:
    v = x >> 2  # 14-bit
    sign = 0x80 if v >= 0 else 0
    mag = min(abs(v), 8159) + 33
    seg = mag.bit_length() - 6
    code = 0x7F if seg >= 8 else (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    return sign | (~code & 0x7F)  # bit 7 set: positive; the rest inverted


def ref_ulaw_decode(code: int) -> int:
    c = ~code & 0xFF
    seg, q = (c >> 4) & 7, c & 0x0F
    mag = (((2 * q + 33) << seg) - 33) * 4
    return -mag if c & 0x80 else mag


def ref_alaw_encode(x: int) -> int:
    v = x >> 3  # 13-bit
    sign, mag = (0x80, v) if v >= 0 else (0, -v - 1)
    seg = 0 if mag < 32 else mag.bit_length() - 5
    q = (mag >> 1) & 0x0F if seg < 2 else (mag >> seg) & 0x0F
    return (sign | (seg << 4) | q) ^ 0x55


def ref_alaw_decode(code: int) -> int:
    c = code ^ 0x55
    seg, q = (c >> 4) & 7, c & 0x0F
    mag = (2 * q + 1) * 8 if seg == 0 else ((2 * q + 33) << (seg - 1)) * 8
    return mag if c & 0x80 else -mag


def decoded(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.int64)


def test_g711_tables_match_the_formulas_for_every_input() -> None:
    codes = bytes(range(256))
    assert list(decoded(ulaw_decode(codes))) == [ref_ulaw_decode(c) for c in range(256)]
    assert list(decoded(alaw_decode(codes))) == [ref_alaw_decode(c) for c in range(256)]
    assert list(ulaw_encode(ALL_PCM)) == [ref_ulaw_encode(int(x)) for x in ALL]
    assert list(alaw_encode(ALL_PCM)) == [ref_alaw_encode(int(x)) for x in ALL]


def test_g711_well_known_values() -> None:
    assert decoded(ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00]))).tolist() == [0, 0, 32124, -32124]
    assert decoded(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))).tolist() == [8, -8, 32256, -32256]
    silence = struct.pack("<h", 0)
    assert ulaw_encode(silence) == b"\xff" and alaw_encode(silence) == b"\xd5"


def test_g711_matches_audioop_when_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    assert ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes) == audioop.alaw2lin(codes, 2)


@pytest.mark.parametrize(
    ("encode", "decode", "clip", "trunc"),
    [(ulaw_encode, ulaw_decode, 32124, 4), (alaw_encode, alaw_decode, 32256, 8)],
)
def test_g711_round_trip_within_quantisation_error(
    encode: Callable[[bytes], bytes], decode: Callable[[bytes], bytes], clip: int, trunc: int
) -> None:
    back = decoded(decode(encode(ALL_PCM)))
    # step of each code's segment: neighbouring reconstruction levels
    levels = np.sort(np.unique(decoded(decode(bytes(range(256))))))
    idx = np.searchsorted(levels, back)
    lower = levels[np.maximum(idx - 1, 0)]
    upper = levels[np.minimum(idx + 1, len(levels) - 1)]
    step = np.maximum(back - lower, upper - back)
    inside = np.abs(ALL) <= clip
    error = np.abs(back - ALL)
    assert np.all(error[inside] <= step[inside] / 2 + trunc)
    assert np.all(error[~inside] <= np.abs(ALL[~inside]) - clip + step[~inside])
    assert np.all(np.diff(back) >= 0)  # monotonic


def test_g711_sine_snr() -> None:
    t = np.arange(8000) / 8000
    sine = (0.3 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        back = decoded(decode(encode(sine.tobytes())))
        noise = back - sine.astype(np.int64)
        snr = 10 * np.log10(np.sum(sine.astype(np.float64) ** 2) / np.sum(noise**2.0))
        assert snr > 35  # G.711 gives about 38 dB


# --- RTP header ------------------------------------------------------------------------


def test_rtp_header_fields() -> None:
    packet = RtpPacket(0, 0xFFFF, 0xFFFFFFF0, 0xDEADBEEF, b"\xff" * 160, marker=True)
    data = packet.encode()
    assert len(data) == 172
    assert data[0] == 0x80  # V=2, no padding, no extension, CC=0
    assert data[1] == 0x80  # marker, PT 0
    assert data[2:4] == b"\xff\xff"
    assert data[4:8] == b"\xff\xff\xff\xf0"
    assert data[8:12] == b"\xde\xad\xbe\xef"
    assert RtpPacket.decode(data) == packet
    with_csrc = RtpPacket(8, 1, 2, 3, b"ab", csrc=(7, 9))
    assert RtpPacket.decode(with_csrc.encode()) == with_csrc


def test_rtp_decode_skips_extension_and_padding() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10, 101, 5, 6, 7)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x01\x02\x03\x04"
    data = header + extension + b"\x05\x80\x00\xa0" + b"\x00\x00\x03"
    packet = RtpPacket.decode(data)
    assert packet.payload == b"\x05\x80\x00\xa0"
    assert TelephoneEvent.decode(packet.payload) == TelephoneEvent(5, True, 0, 160)


@pytest.mark.parametrize(
    "data",
    [b"\x80\x00", b"\x40" + bytes(15), b"\x8f" + bytes(15), b"\xa0" + bytes(11) + b"\x09"],
)
def test_rtp_decode_rejects_garbage(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.decode(data)


# --- RFC 4733 --------------------------------------------------------------------------


def events(*items: tuple[int, int, bool]) -> list[str]:
    tracker = DtmfTracker()
    out: list[str] = []
    for timestamp, event, end in items:
        out += tracker.feed(timestamp, TelephoneEvent(event, end, 10, 400))
    return out


def test_telephone_event_round_trip() -> None:
    ev = TelephoneEvent(11, True, 10, 1280)
    assert ev.encode() == b"\x0b\x8a\x05\x00"
    assert TelephoneEvent.decode(ev.encode()) == ev
    assert ev.digit == "#" and TelephoneEvent(16, False, 0, 0).digit is None
    with pytest.raises(RtpError):
        TelephoneEvent.decode(b"\x01")


def test_dtmf_one_digit_per_event_despite_repeated_end_packets() -> None:
    # "0" then "5": updates, then the end packet sent three times (RFC 4733 §2.5.1.4)
    stream = [(1000, 0, False)] * 3 + [(1000, 0, True)] * 3
    stream += [(3000, 5, False), (3000, 5, True), (3000, 5, True), (3000, 5, True)]
    assert events(*stream) == ["0", "5"]


def test_dtmf_same_digit_twice_and_lost_end() -> None:
    assert events((1, 7, True), (1, 7, True), (2, 7, False), (2, 7, True)) == ["7", "7"]
    # the end of the first event is lost: reported when the next event starts
    assert events((1, 4, False), (1, 4, False), (900, 9, False), (900, 9, True)) == ["4", "9"]
    assert events((1, 200, True)) == []  # not a DTMF event


# --- pacing and sending ----------------------------------------------------------------


def test_pacing_schedule_has_no_drift() -> None:
    clock = PacingClock(t0=1000.0)
    assert clock.deadline(0) == 1000.0
    assert clock.deadline(50) == pytest.approx(1001.0, abs=1e-9)
    # 1 hour of frames: still exactly n·20 ms, no accumulated float error
    assert clock.deadline(180_000) == pytest.approx(4600.0, abs=1e-6)
    assert clock.index_at(1000.0399) == 1
    assert clock.index_at(1000.04) == 2
    assert clock.index_at(999.0) == 0


def test_sender_sequence_timestamp_and_marker() -> None:
    sender = RtpSender(0, ssrc=42, first_sequence=0xFFFE, first_timestamp=0xFFFFFF00)
    p0 = sender.packet(0, b"a", voice=False)  # first packet of the stream
    p1 = sender.packet(1, b"b", voice=True)  # talkspurt after silence
    p2 = sender.packet(2, b"c", voice=True)
    sender.skip()  # tick 3: nothing sent
    p4 = sender.packet(4, b"d", voice=True)  # new talkspurt, timestamp jumps over tick 3
    assert [p.sequence for p in (p0, p1, p2, p4)] == [0xFFFE, 0xFFFF, 0, 1]
    assert [p.timestamp for p in (p0, p1, p2, p4)] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0x180]
    assert [p.marker for p in (p0, p1, p2, p4)] == [True, True, False, True]
    assert {p.ssrc for p in (p0, p1, p2, p4)} == {42}


# --- receiving -------------------------------------------------------------------------


def pkt(seq: int, ts: int = 0, pt: int = 0, payload: bytes = b"\xff" * 160) -> RtpPacket:
    return RtpPacket(pt, seq & 0xFFFF, ts, 1, payload)


def seqs(released: list[tuple[int, RtpPacket]]) -> list[tuple[int, int]]:
    return [(lost, p.sequence) for lost, p in released]


def test_reorder_buffer_in_order_reordered_duplicate_and_wrap() -> None:
    buf = ReorderBuffer(depth=3)
    assert seqs(buf.push(pkt(65534))) == [(0, 65534)]
    assert seqs(buf.push(pkt(0))) == []  # 65535 missing: hold
    assert seqs(buf.push(pkt(65535))) == [(0, 65535), (0, 0)]
    assert seqs(buf.push(pkt(65535))) == []  # duplicate
    assert seqs(buf.push(pkt(1))) == [(0, 1)]
    assert buf.dropped == 1 and buf.lost == 0


def test_reorder_buffer_gives_up_on_lost_packets() -> None:
    buf = ReorderBuffer(depth=2)
    buf.push(pkt(10))
    assert seqs(buf.push(pkt(12))) == []
    assert seqs(buf.push(pkt(13))) == []
    assert seqs(buf.push(pkt(14))) == [(1, 12), (0, 13), (0, 14)]
    assert seqs(buf.push(pkt(11))) == []  # too late now
    buf.push(pkt(16))
    assert seqs(buf.flush()) == [(1, 16)]
    assert buf.lost == 2


def test_reorder_buffer_follows_a_sequence_restart() -> None:
    buf = ReorderBuffer()
    buf.push(pkt(100))
    assert seqs(buf.push(pkt(40000))) == [(0, 40000)]
    assert seqs(buf.push(pkt(40001))) == [(0, 40001)]


def test_reframer_cuts_any_ptime_into_20_ms() -> None:
    r = Reframer()
    assert r.push(b"\x01\x00" * 80) == []  # 10 ms
    frames = r.push(b"\x01\x00" * 240)  # 30 ms: 40 ms in all
    assert [len(f) for f in frames] == [320, 320]
    assert r.push(b"\x00\x00" * 80) == []
    assert len(r.push(b"\x00\x00" * 80)) == 1


async def test_rtp_session_loopback_audio_dtmf_and_pacing() -> None:
    loop = asyncio.get_running_loop()
    frames: list[bytes] = []
    digits: list[str] = []
    timeouts: list[bool] = []
    free = free_even_port()  # not the stack's range (31000-31199) nor any fixed one
    port, session = await open_rtp_session(
        "127.0.0.1",
        free,
        free,
        set(),
        lambda: RtpSession(frames.append, digits.append, lambda: timeouts.append(True), 0.5),
    )
    assert port % 2 == 0
    peer_packets: list[RtpPacket] = []

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            peer_packets.append(RtpPacket.decode(data))

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    peer_port = transport.get_extra_info("sockname")[1]
    session.configure(MediaParams(("127.0.0.1", peer_port), 0, 101))
    tone = (8000 * np.sin(np.arange(1600) / 8000 * 2 * np.pi * 440)).astype("<i2").tobytes()
    chunks = [tone[i : i + 320] for i in range(0, len(tone), 320)]
    session.start(lambda: chunks.pop(0) if chunks else None)
    # the peer sends 10 packets out of order, and a digit
    for seq in (0, 2, 1, 3, 4, 5, 7, 6, 8, 9):
        data = RtpPacket(8, seq, seq * 160, 77, alaw_encode(tone[:320])).encode()
        transport.sendto(data, ("127.0.0.1", port))
    for seq, end in ((10, False), (11, True), (12, True), (13, True)):
        ev = TelephoneEvent(0, end, 10, 800).encode()
        transport.sendto(RtpPacket(101, seq, 1600, 77, ev).encode(), ("127.0.0.1", port))
    await asyncio.sleep(0.5)
    assert len(frames) == 10 and digits == ["0"]
    assert np.abs(decoded(frames[0]) - decoded(tone[:320])).max() < 300
    voice = [p for p in peer_packets if p.payload != b"\xff" * 160]
    assert len(voice) == 10 and voice[0].marker and not voice[1].marker
    seq0 = peer_packets[0].sequence
    assert [p.sequence for p in peer_packets] == [
        (seq0 + i) & 0xFFFF for i in range(len(peer_packets))
    ]
    gaps = np.diff(session.send_times)
    assert abs(gaps.mean() - 0.02) < 0.002
    await asyncio.sleep(1.0)  # nothing more from the peer: media timeout
    assert timeouts == [True]
    session.close()
    transport.close()


# --- where media may come from ---------------------------------------------------------


class Endpoint(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 that keeps the RTP packets it receives."""

    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append(RtpPacket.decode(data))

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        return ("127.0.0.1", int(self.transport.get_extra_info("sockname")[1]))

    def send(self, packet: RtpPacket, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(packet.encode(), ("127.0.0.1", port))


class Media:
    """An RtpSession on a free port, with what it delivered."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.digits: list[str] = []
        self.session: RtpSession | None = None
        self.port = 0

    async def open(self, policy: str = "sdp") -> RtpSession:
        free = free_even_port()
        self.port, self.session = await open_rtp_session(
            "127.0.0.1",
            free,
            free,
            set(),
            lambda: RtpSession(
                self.frames.append, self.digits.append, lambda: None, 0, source_policy=policy
            ),
        )
        return self.session

    async def settle(self, received: int, foreign: int = 0) -> None:
        """Until the session has seen that many packets from its peer and from others, and
        released everything its reorder buffer held."""
        session = self.session
        assert session is not None
        await until(
            lambda: (
                session.received >= received
                and session.foreign >= foreign
                and session.reorder.holding == 0
            )
        )


async def until(condition: Callable[[], bool]) -> None:
    """Poll a condition on the session's state (bounded: 5 s)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - plain counters, no event to wait on
            await asyncio.sleep(0.005)


async def endpoint() -> Endpoint:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Endpoint, local_addr=("127.0.0.1", 0))
    return protocol


TONE = alaw_encode((8000 * np.sin(np.arange(160) / 8000 * 2 * np.pi * 440)).astype("<i2").tobytes())


def audio(seq: int, ssrc: int = 7, payload: bytes = TONE) -> RtpPacket:
    return RtpPacket(8, seq & 0xFFFF, seq * 160, ssrc, payload)


def digit(seq: int, ssrc: int, end: bool, timestamp: int = 48000) -> RtpPacket:
    return RtpPacket(101, seq, timestamp, ssrc, TelephoneEvent(3, end, 10, 800).encode())


async def test_a_stranger_neither_reaches_the_call_nor_redirects_its_media() -> None:
    """ "RTP bleed": the old session latched onto the first packet from anywhere."""
    media = Media()
    session = await media.open("sdp")
    caller, stranger = await endpoint(), await endpoint()
    session.configure(MediaParams(caller.addr, 8, 101))
    session.start(lambda: None)  # silence every 20 ms, to wherever the session sends
    for seq in range(10):  # the stranger is first, with audio and a digit
        stranger.send(audio(seq, ssrc=666), media.port)
    for seq, end in ((10, False), (11, True), (12, True)):
        stranger.send(digit(seq, 666, end), media.port)
    await media.settle(0, foreign=13)
    assert media.frames == [] and media.digits == []
    for seq in range(5):
        caller.send(audio(seq), media.port)
    await media.settle(5, foreign=13)
    assert len(media.frames) == 5 and session.foreign == 13
    await until(lambda: len(caller.packets) >= 5)
    assert not stranger.packets  # the bot speaks to the caller only
    session.close()


async def test_latch_follows_a_caller_behind_nat_and_only_it() -> None:
    """The SDP names an address the caller does not send from (NAT): three packets in
    sequence from one source latch onto it; strangers before and after do not."""
    media = Media()
    session = await media.open("latch")
    nat, stranger = await endpoint(), await endpoint()
    session.configure(MediaParams(("127.0.0.1", 9), 8, 101))  # the "private" address
    session.start(lambda: None)
    for seq in (0, 5, 9):  # out of sequence: never a candidate for the latch
        stranger.send(audio(seq, ssrc=666), media.port)
    for seq in range(100, 104):
        nat.send(audio(seq), media.port)
    await media.settle(2, foreign=5)
    assert session.params is not None and session.params.remote == nat.addr
    assert len(media.frames) == 2  # from the third in-sequence packet on
    for seq in range(10, 20):  # in sequence, but after the latch
        stranger.send(audio(seq, ssrc=666), media.port)
    await media.settle(2, foreign=15)
    assert len(media.frames) == 2
    await until(lambda: len(nat.packets) >= 5)
    assert not stranger.packets
    session.close()


async def test_a_reinvite_to_a_new_address_moves_the_media() -> None:
    for policy in ("sdp", "latch"):
        await reinvite_moves_the_media(policy)


async def reinvite_moves_the_media(policy: str) -> None:
    media = Media()
    session = await media.open(policy)
    first, second = await endpoint(), await endpoint()
    session.configure(MediaParams(first.addr, 8, 101))
    session.start(lambda: None)
    for seq in range(3):
        first.send(audio(seq), media.port)
    await media.settle(3)
    session.configure(MediaParams(second.addr, 8, 101))  # re-INVITE: a new SDP address
    sent_to_first = len(first.packets)
    for seq in range(100, 103):  # the new peer: its own SSRC and sequence
        second.send(audio(seq, ssrc=8), media.port)
    for seq in range(3, 6):
        first.send(audio(seq), media.port)  # the old address is now a stranger
    await media.settle(6, foreign=3)
    assert len(media.frames) == 6, policy
    await until(lambda: len(second.packets) >= 5)
    assert len(first.packets) <= sent_to_first + 1, policy
    session.configure(MediaParams(second.addr, 8, 101))  # same SDP again: nothing moves
    for seq in range(103, 106):
        second.send(audio(seq, ssrc=8), media.port)
    await media.settle(9, foreign=3)
    assert len(media.frames) == 9, policy
    session.close()


async def test_a_new_ssrc_from_the_caller_keeps_the_audio_flowing() -> None:
    """A PBX that re-anchors media restarts SSRC and sequence numbers: no loss, no gap."""
    media = Media()
    session = await media.open()
    caller = await endpoint()
    session.configure(MediaParams(caller.addr, 8, 101))
    for seq in range(5):
        caller.send(audio(seq, ssrc=1), media.port)
    for seq in range(40000, 40005):
        caller.send(audio(seq, ssrc=2), media.port)
    await media.settle(10)
    assert len(media.frames) == 10 and session.ssrc_changes == 1
    assert session.reorder.lost == 0
    # A new source whose numbers restart just behind the old ones: neither late
    # duplicates of the old stream nor a loss, but new audio.
    for seq in range(39990, 39995):
        caller.send(audio(seq, ssrc=3), media.port)
    await media.settle(15)
    assert len(media.frames) == 15 and session.ssrc_changes == 2
    session.close()


async def test_rtcp_on_the_rtp_port_is_not_taken_for_audio() -> None:
    """RFC 5761: second octet 192-223 is RTCP (SR 200, RR 201, SDES 202, BYE 203...); read
    as RTP its "SSRC" is random and used to reset the stream."""
    media = Media()
    session = await media.open()
    caller = await endpoint()
    session.configure(MediaParams(caller.addr, 8, 101))
    assert caller.transport is not None
    rtcp = {
        200: struct.pack("!BBHI", 0x80, 200, 6, 1) + bytes(20),  # sender report
        203: struct.pack("!BBHI", 0x81, 203, 1, 1),  # BYE
        201: struct.pack("!BBHI", 0x80, 201, 1, 1),  # empty receiver report
    }
    after = {1: rtcp[200], 3: rtcp[203], 4: rtcp[201]}
    for seq in range(6):
        caller.send(audio(seq), media.port)
        if seq in after:
            caller.transport.sendto(after[seq], ("127.0.0.1", media.port))
    await media.settle(6)
    await until(lambda: session.rtcp == 3)
    assert len(media.frames) == 6
    assert session.ssrc_changes == 0 and session.reorder.lost == 0
    session.close()


async def test_lost_packets_are_concealed_with_a_bounded_silence() -> None:
    """Silence for lost packets: at most three 20 ms frames, whatever the gap and the
    payload size (it used to be up to 10 × the payload)."""
    media = Media()
    session = await media.open()
    caller = await endpoint()
    session.configure(MediaParams(caller.addr, 8, 101))
    big = TONE * 10  # 200 ms in one packet
    caller.send(audio(0), media.port)
    caller.send(audio(50, payload=big), media.port)  # 49 packets lost
    await media.settle(2)
    samples = sum(len(f) for f in media.frames) // 2
    assert samples == 160 + 3 * 160 + 1600
    silent = [f for f in media.frames if not any(f)]
    assert len(silent) == 3
    session.close()


async def test_rtp_ports_are_chosen_at_random() -> None:
    """A stranger cannot aim at the next call's port from the last one's."""
    base = 42000 + free_even_port() % 50 * 400  # 400 ports, most of them free
    used: set[int] = set()
    sessions = []
    for _ in range(8):
        _, session = await open_rtp_session(
            "127.0.0.1", base, base + 399, used, lambda: RtpSession(print, print, print)
        )
        sessions.append(session)
    ports = sorted(used)
    for session in sessions:
        session.close()
    assert len(ports) == 8 and all(p % 2 == 0 for p in ports)
    assert ports != list(range(base, base + 16, 2))  # the lowest free ones, in order
