from __future__ import annotations

import pytest

from voice.sip.sdp import LocalSdp, NegotiationError, SdpError, negotiate, parse_sdp

BARESIP_OFFER = """v=0
o=- 3750259662 2128037684 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
a=tool:baresip 1.0.0
m=audio 20078 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=rtcp-rsize
a=ssrc:1318625219 cname:sip:caller@127.0.0.1
a=minptime:20
a=ptime:20
""".replace("\n", "\r\n")


def test_parse_baresip_offer() -> None:
    sdp = parse_sdp(BARESIP_OFFER)
    assert sdp.connection == "127.0.0.1"
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 20078, "RTP/AVP")
    assert audio.formats == ["0", "8", "101"]
    assert audio.rtpmap[101] == ("telephone-event", 8000)
    assert audio.fmtp[101] == "0-15"
    assert audio.direction == "sendrecv"
    assert audio.ptime == 20


def test_negotiate_prefers_offerer_order() -> None:
    chosen = negotiate(parse_sdp(BARESIP_OFFER))
    assert (chosen.payload_type, chosen.codec, chosen.dtmf_payload_type) == (0, "PCMU", 101)
    assert (chosen.remote_host, chosen.remote_port, chosen.direction) == (
        "127.0.0.1",
        20078,
        "sendrecv",
    )
    pcma_first = BARESIP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 8 0 101")
    assert negotiate(parse_sdp(pcma_first)).codec == "PCMA"


def test_negotiate_skips_unsupported_codecs_and_finds_dynamic_event_pt() -> None:
    offer = (
        "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 9 111 8 96\r\n"
        "a=rtpmap:9 G722/8000\r\na=rtpmap:111 opus/48000/2\r\n"
        "a=rtpmap:96 telephone-event/8000\r\n"
    )  # PCMA (8) has no rtpmap: static payload types need none
    chosen = negotiate(parse_sdp(offer))
    assert (chosen.codec, chosen.dtmf_payload_type) == ("PCMA", 96)


def test_no_g711_is_not_acceptable() -> None:
    offer = (
        "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 9 111\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    with pytest.raises(NegotiationError):
        negotiate(parse_sdp(offer))
    with pytest.raises(NegotiationError):  # a video stream does not help
        negotiate(parse_sdp(offer + "m=video 5000 RTP/AVP 96\r\n"))
    wideband = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n"
    with pytest.raises(NegotiationError):  # G.711 means 8 kHz
        negotiate(parse_sdp(wideband))
    disabled = BARESIP_OFFER.replace("m=audio 20078", "m=audio 0")
    with pytest.raises(NegotiationError):  # port 0: the stream is refused
        negotiate(parse_sdp(disabled))


def test_hold_and_directions() -> None:
    held = negotiate(parse_sdp(BARESIP_OFFER.replace("a=sendrecv", "a=sendonly")))
    assert held.direction == "recvonly" and held.on_hold
    inactive = negotiate(parse_sdp(BARESIP_OFFER.replace("a=sendrecv", "a=inactive")))
    assert inactive.direction == "inactive" and inactive.on_hold
    old_style = negotiate(
        parse_sdp(BARESIP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"))
    )
    assert old_style.on_hold
    assert not negotiate(parse_sdp(BARESIP_OFFER)).on_hold


def test_answer_mirrors_m_lines_and_round_trips() -> None:
    offer = parse_sdp(
        "v=0\r\nc=IN IP4 192.0.2.10\r\n"
        "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
        "m=audio 4000 RTP/AVP 8 0 101\r\nc=IN IP4 192.0.2.11\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
    )
    chosen = negotiate(offer)
    assert chosen.media_index == 1 and chosen.remote_host == "192.0.2.11"
    local = LocalSdp("198.51.100.7", 30000, session_id=42)
    answer = parse_sdp(local.answer(offer, chosen))
    assert [m.port for m in answer.media] == [0, 30000]  # video refused, same order
    audio = answer.media[1]
    assert audio.formats == ["8", "101"]
    assert audio.rtpmap[8] == ("PCMA", 8000)
    assert audio.direction == "recvonly"
    assert answer.connection == "198.51.100.7"
    assert answer.origin.split()[1:3] == ["42", "1"]
    again = parse_sdp(local.answer(offer, chosen))
    assert again.origin.split()[2] == "2"  # version grows with each new description


def test_our_offer_negotiates_with_itself() -> None:
    offer = LocalSdp("127.0.0.1", 30002).offer()
    chosen = negotiate(parse_sdp(offer))
    assert (chosen.codec, chosen.dtmf_payload_type, chosen.remote_port) == ("PCMU", 101, 30002)


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        # a name would be resolved, synchronously, for every packet sent
        ("c=IN IP4 127.0.0.1", "c=IN IP4 media.attacker.example", "not an IP address"),
        ("c=IN IP4 127.0.0.1", "c=IN IP6 127.0.0.1", "family does not match"),
        ("c=IN IP4 127.0.0.1", "c=IN IP4", "bad c= line"),
        # ports outside 0-65535 closed the RTP transport with an OverflowError
        ("m=audio 20078", "m=audio 70000", "bad m= line"),
        ("m=audio 20078", "m=audio -5", "bad m= line"),
        ("m=audio 20078", "m=audio ²", "bad m= line"),
    ],
)
def test_connection_addresses_must_be_ip_literals_and_ports_in_range(
    old: str, new: str, why: str
) -> None:
    with pytest.raises(SdpError, match=why):
        parse_sdp(BARESIP_OFFER.replace(old, new))


def test_odd_numbers_in_attributes_are_ignored_not_raised() -> None:
    odd = BARESIP_OFFER.replace("a=ptime:20", "a=ptime:²").replace(
        "a=rtpmap:101 telephone-event/8000", "a=rtpmap:²01 telephone-event/8000"
    )
    audio = parse_sdp(odd).media[0]
    assert audio.ptime is None and 101 not in audio.rtpmap
    ipv6 = parse_sdp(BARESIP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP6 ::1"))
    assert ipv6.connection == "::1"
