"""SDP (RFC 4566) offer/answer (RFC 3264) for one G.711 audio stream plus RFC 4733 events.

Connection addresses must be IP literals: a host name would have to be resolved before
every RTP packet (synchronously, on the event loop), and a media peer with a name is
not something a PBX or a phone sends. Ports and payload types are ASCII numbers in
their range, or the description is refused (the call gets 488).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

from voice.sip.message import ascii_int, clip

# Static payload types we can encode (RFC 3551).
G711 = {0: "PCMU", 8: "PCMA"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}


class SdpError(ValueError):
    """The SDP cannot be parsed."""


class NegotiationError(ValueError):
    """Nothing acceptable in the offer (answer 488 Not Acceptable Here)."""


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)  # pt → (name, rate)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str | None = None
    ptime: int | None = None


@dataclass
class SessionDescription:
    origin: str = ""
    connection: str | None = None
    direction: str = "sendrecv"
    media: list[MediaDescription] = field(default_factory=list)


def parse_sdp(text: str | bytes) -> SessionDescription:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    sdp = SessionDescription()
    current: MediaDescription | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "o":
            sdp.origin = value
        elif kind == "c":
            address = _connection_address(value)
            if current is None:
                sdp.connection = address
            else:
                current.connection = address
        elif kind == "m":
            parts = value.split()
            port = ascii_int(parts[1].split("/")[0], 5) if len(parts) >= 3 else None
            if port is None or port > 65535:  # 0 is legal: a refused stream
                raise SdpError(f"bad m= line: {clip(line)}")
            current = MediaDescription(parts[0], port, parts[2], parts[3:])
            sdp.media.append(current)
        elif kind == "a":
            _attribute(sdp, current, value)
    if not sdp.media:
        raise SdpError("no m= line")
    return sdp


def _connection_address(value: str) -> str:
    """`IN IP4 192.0.2.1` → "192.0.2.1"; refuses names and a family that does not match."""
    parts = value.split()
    if len(parts) < 3 or parts[0].upper() != "IN" or parts[1].upper() not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line: {clip(value)}")
    text = parts[2].split("/")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SdpError(f"c= address is not an IP address: {clip(text)}") from None
    if (address.version == 4) != (parts[1].upper() == "IP4"):
        raise SdpError(f"c= address family does not match: {clip(value)}")
    return str(address)


def _attribute(sdp: SessionDescription, media: MediaDescription | None, value: str) -> None:
    name, _, arg = value.partition(":")
    if name in DIRECTIONS:
        if media is None:
            sdp.direction = name
        else:
            media.direction = name
        return
    if media is None:
        return
    if name == "rtpmap":
        pt, _, enc = arg.strip().partition(" ")
        bits = enc.strip().split("/")
        number = _payload_type(pt)
        if number is not None and bits and bits[0]:
            rate = ascii_int(bits[1], 6) if len(bits) > 1 else None
            media.rtpmap[number] = (bits[0], rate or 8000)
    elif name == "fmtp":
        pt, _, params = arg.strip().partition(" ")
        number = _payload_type(pt)
        if number is not None:
            media.fmtp[number] = params.strip()
    elif name == "ptime":
        media.ptime = ascii_int(arg, 4)


def _payload_type(text: str) -> int | None:
    number = ascii_int(text, 3)
    return number if number is not None and number < 128 else None


@dataclass(frozen=True)
class Negotiated:
    """What both sides agreed on for the audio stream."""

    remote_host: str
    remote_port: int
    payload_type: int  # 0 (PCMU) or 8 (PCMA)
    codec: str
    dtmf_payload_type: int | None
    direction: str  # ours: sendrecv, sendonly, recvonly, inactive
    media_index: int = 0

    @property
    def on_hold(self) -> bool:
        return self.remote_host in ("0.0.0.0", "::") or self.direction in ("recvonly", "inactive")


def negotiate(offer: SessionDescription) -> Negotiated:
    """Pick the first G.711 codec in the offerer's order and its telephone-event PT."""
    for index, media in enumerate(offer.media):
        if media.media != "audio" or media.port == 0 or "RTP/AVP" not in media.proto.upper():
            continue
        host = media.connection or offer.connection
        if not host:
            raise NegotiationError("no connection address")
        codec_pt: int | None = None
        dtmf_pt: int | None = None
        for fmt in media.formats:
            pt = _payload_type(fmt)
            if pt is None:
                continue
            name, rate = media.rtpmap.get(pt, (G711.get(pt, ""), 8000))
            upper = name.upper()
            if codec_pt is None and rate == 8000 and upper in ("PCMU", "PCMA"):
                codec_pt = 0 if upper == "PCMU" else 8
            elif dtmf_pt is None and upper == "TELEPHONE-EVENT" and rate == 8000:
                dtmf_pt = pt
        if codec_pt is None:
            continue
        theirs = media.direction or offer.direction
        return Negotiated(
            host,
            media.port,
            codec_pt,
            G711[codec_pt],
            dtmf_pt,
            _REVERSE.get(theirs, "inactive"),
            index,
        )
    raise NegotiationError("no G.711 audio stream offered")


@dataclass
class LocalSdp:
    """Our side of the session: keeps the o= version growing across re-INVITEs."""

    address: str
    port: int
    session_id: int = field(default_factory=lambda: int(time.time()))
    version: int = 0

    def answer(self, offer: SessionDescription, chosen: Negotiated) -> str:
        media_lines: list[str] = []
        for index, media in enumerate(offer.media):
            if index != chosen.media_index:
                fmts = " ".join(media.formats) or "0"
                media_lines.append(f"m={media.media} 0 {media.proto} {fmts}")
                continue
            pts = [chosen.payload_type]
            attrs = [f"a=rtpmap:{chosen.payload_type} {chosen.codec}/8000"]
            if chosen.dtmf_payload_type is not None:
                pts.append(chosen.dtmf_payload_type)
                attrs.append(f"a=rtpmap:{chosen.dtmf_payload_type} telephone-event/8000")
                attrs.append(f"a=fmtp:{chosen.dtmf_payload_type} 0-15")
            attrs += ["a=ptime:20", f"a={chosen.direction}"]
            fmts = " ".join(str(pt) for pt in pts)
            media_lines += [f"m=audio {self.port} {media.proto} {fmts}", *attrs]
        return self._render(media_lines)

    def offer(self, dtmf_payload_type: int = 101) -> str:
        """An offer (for an INVITE without SDP): PCMU, PCMA, telephone-event."""
        return self._render(
            [
                f"m=audio {self.port} RTP/AVP 0 8 {dtmf_payload_type}",
                "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:8 PCMA/8000",
                f"a=rtpmap:{dtmf_payload_type} telephone-event/8000",
                f"a=fmtp:{dtmf_payload_type} 0-15",
                "a=ptime:20",
                "a=sendrecv",
            ]
        )

    def _render(self, media_lines: list[str]) -> str:
        self.version += 1
        family = "IP6" if ":" in self.address else "IP4"
        lines = [
            "v=0",
            f"o=guichet {self.session_id} {self.version} IN {family} {self.address}",
            "s=Guichet",
            f"c=IN {family} {self.address}",
            "t=0 0",
            *media_lines,
        ]
        return "\r\n".join(lines) + "\r\n"
