from __future__ import annotations

import hashlib

import pytest

from voice.sip.agent import digest_authorization
from voice.sip.message import (
    Headers,
    Limits,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    Via,
    canonical_name,
    make_response,
    parse_message,
    split_list,
)

BARESIP_INVITE = (
    b"INVITE sip:bot@127.0.0.1:15999 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bK38cac27712111cdd;rport\r\n"
    b"Contact: <sip:caller-0x5561699894a0@127.0.0.1:15060>\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:bot@127.0.0.1:15999>\r\n"
    b"From: <sip:caller@127.0.0.1>;tag=0a52185a7e466da3\r\n"
    b"Call-ID: f5fada490f1f2192\r\n"
    b"CSeq: 21871 INVITE\r\n"
    b"User-Agent: baresip v1.0.0 (x86_64/linux)\r\n"
    b"Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER\r\n"
    b"Supported:\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\ns=-\r\n"
)


def test_parses_a_real_invite() -> None:
    msg = parse_message(BARESIP_INVITE)
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri == "sip:bot@127.0.0.1:15999"
    assert msg.call_id == "f5fada490f1f2192"
    assert msg.cseq == (21871, "INVITE")
    assert msg.from_addr.tag == "0a52185a7e466da3"
    assert msg.to_addr.tag == ""
    assert msg.top_via.branch == "z9hG4bK38cac27712111cdd"
    assert msg.top_via.params["rport"] == ""
    assert msg.content_type == "application/sdp"
    assert msg.body == b"v=0\r\ns=-\r\n"
    assert msg.headers.get("supported") == ""
    assert msg.headers.get_all("Allow")[:2] == ["INVITE", "ACK"]


def test_compact_forms_folding_case_and_several_vias() -> None:
    raw = (
        b"BYE sip:bot@10.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP proxy.example.org;branch=z9hG4bKaaa, SIP/2.0/UDP 10.0.0.9:5080\r\n"
        b" ;branch=z9hG4bKbbb;received=192.0.2.1\r\n"
        b"VIA: SIP/2.0/UDP phone.example.org:5062;branch=z9hG4bKccc\r\n"
        b'f: "Mairie" <sip:accueil@example.org>;tag=abc\r\n'
        b"t: <sip:bot@example.org>;tag=def\r\n"
        b"i: xyz@example.org\r\n"
        b"cseq: 2\r\n"
        b"\tBYE\r\n"
        b"m: <sip:accueil@10.0.0.9:5080>\r\n"
        b"c: text/plain\r\n"
        b"l: 2\r\n"
        b"\r\n"
        b"hi and garbage after the length"
    )
    msg = parse_message(raw)
    assert isinstance(msg, SipRequest)
    vias = msg.headers.get_all("Via")
    assert [Via.parse(v).branch for v in vias] == ["z9hG4bKaaa", "z9hG4bKbbb", "z9hG4bKccc"]
    assert Via.parse(vias[1]).port == 5080
    assert Via.parse(vias[1]).params["received"] == "192.0.2.1"
    assert msg.top_via.host == "proxy.example.org" and msg.top_via.port is None
    assert msg.from_addr.display == "Mairie"
    assert msg.to_addr.tag == "def"
    assert msg.call_id == "xyz@example.org"
    assert msg.cseq == (2, "BYE")
    assert msg.headers.get("CONTACT") == "<sip:accueil@10.0.0.9:5080>"
    assert msg.content_type == "text/plain"
    assert msg.body == b"hi"


def test_odd_but_harmless_header_values_parse() -> None:
    raw = (
        b"NOTIFY sip:bot@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bK1;rport\r\n"
        b"From: <sip:caller@127.0.0.1>;tag=1\r\nTo: <sip:bot@127.0.0.1>;tag=2\r\n"
        b"Call-ID: c\r\nCSeq: 3 NOTIFY\r\n"
        b"Event: refer\r\n"
        b"Subscription-State: terminated;reason=reason=noresource\r\n"
        b"X-Weird:   \r\n"
        b"Content-Type: message/sipfrag\r\n\r\n"
        b"SIP/2.0 200 OK\r\n"
    )
    msg = parse_message(raw)
    assert msg.headers.get("subscription-state") == "terminated;reason=reason=noresource"
    assert msg.body == b"SIP/2.0 200 OK\r\n"  # no Content-Length: the rest of the datagram


def test_lf_only_line_endings() -> None:
    msg = parse_message(BARESIP_INVITE.replace(b"\r\n", b"\n").replace(b"Length: 10", b"Length: 8"))
    assert isinstance(msg, SipRequest) and msg.body == b"v=0\ns=-\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n",  # no colon
        b"SIP/2.0 2000 OK\r\n\r\n",
        BARESIP_INVITE.replace(b"CSeq: 21871 INVITE", b"CSeq: many INVITE"),
        BARESIP_INVITE.replace(b"Call-ID: f5fada490f1f2192\r\n", b""),
        BARESIP_INVITE.replace(b"Content-Length: 10", b"Content-Length: 99"),
        b" folded-first: line\r\n" + BARESIP_INVITE,
    ],
)
def test_unparsable_messages_raise(raw: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(raw)


def test_lenient_mode_lets_missing_headers_through() -> None:
    raw = BARESIP_INVITE.replace(b"Call-ID: f5fada490f1f2192\r\n", b"")
    msg = parse_message(raw, strict=False)
    assert isinstance(msg, SipRequest) and msg.call_id == ""


def test_response_parse_and_serialise_round_trip() -> None:
    request = parse_message(BARESIP_INVITE)
    assert isinstance(request, SipRequest)
    response = make_response(request, 200, to_tag="ourtag", body=b"v=0\r\n")
    response.headers.add("Content-Type", "application/sdp")
    again = parse_message(response.to_bytes())
    assert isinstance(again, SipResponse)
    assert (again.status, again.reason) == (200, "OK")
    assert again.to_addr.tag == "ourtag"
    assert again.from_addr.tag == "0a52185a7e466da3"
    assert again.top_via.branch == request.top_via.branch
    assert again.cseq == (21871, "INVITE")
    assert again.headers.get("Content-Length") == "5"
    assert again.body == b"v=0\r\n"


def test_make_response_keeps_an_existing_to_tag_and_all_vias() -> None:
    raw = BARESIP_INVITE.replace(b"To: <sip:bot@127.0.0.1:15999>", b"To: <sip:bot@h>;tag=t1")
    raw = raw.replace(b"Max-Forwards", b"Via: SIP/2.0/UDP second;branch=z9hG4bK2\r\nMax-Forwards")
    request = parse_message(raw)
    assert isinstance(request, SipRequest)
    response = make_response(request, 481, to_tag="other")
    assert response.to_addr.tag == "t1"
    assert len(response.headers.get_all("Via")) == 2
    assert response.reason == "Call/Transaction Does Not Exist"


def test_headers_multimap() -> None:
    h = Headers([("via", "a"), ("From", "x"), ("V", "b")])
    assert h.get_all("VIA") == ["a", "b"]
    h.set("Via", "c")
    assert h.get_all("Via") == ["c"]
    assert next(iter(h)) == ("Via", "c")
    h.remove("from")
    assert "From" not in h
    assert canonical_name("call-id") == "Call-ID"
    assert canonical_name("x-my-header") == "X-My-Header"
    assert canonical_name("WWW-AUTHENTICATE") == "WWW-Authenticate"


def test_name_addr_and_uri() -> None:
    a = NameAddr.parse('"Dupont, Jean" <sip:+33123456789@pbx.example.org;user=phone>;tag=9')
    assert a.display == "Dupont, Jean"
    assert a.uri == "sip:+33123456789@pbx.example.org;user=phone"
    assert a.tag == "9"
    bare = NameAddr.parse("sip:bob@example.org;tag=z")
    assert (bare.uri, bare.tag) == ("sip:bob@example.org", "z")
    uri = SipUri.parse("sip:alice:secret@[2001:db8::1]:5070;transport=udp?subject=x")
    assert (uri.user, uri.host, uri.port) == ("alice", "2001:db8::1", 5070)
    assert uri.params == {"transport": "udp"}
    assert split_list('"a, b" <sip:x>, <sip:y;p=1,2>') == ['"a, b" <sip:x>', "<sip:y;p=1,2>"]
    with pytest.raises(SipParseError):
        SipUri.parse("http://example.org")


def test_digest_rfc2617_example() -> None:
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = digest_authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b"
    )
    assert value is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert "qop=auth," in value and "nc=00000001" in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value
    assert digest_authorization('Basic realm="x"', "GET", "/", "u", "p") is None


def test_digest_without_qop_and_sha256() -> None:
    md5 = digest_authorization('Digest realm="r", nonce="n"', "REGISTER", "sip:x", "u", "p")
    assert md5 is not None and "qop" not in md5
    ha1, ha2 = hashlib.md5(b"u:r:p").hexdigest(), hashlib.md5(b"REGISTER:sip:x").hexdigest()
    assert f'response="{hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()}"' in md5
    sha = digest_authorization(
        'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"', "INVITE", "sip:x", "u", "p"
    )
    assert sha is not None and "algorithm=SHA-256" in sha
    assert len(sha.split('response="')[1].split('"')[0]) == 64


# --- bounds and hostile input ------------------------------------------------------------


def test_limits_refuse_oversized_datagrams_headers_and_header_counts() -> None:
    small = Limits(max_datagram=2000, max_headers=20, max_header_bytes=300)
    with pytest.raises(SipParseError, match="datagram of"):
        parse_message(BARESIP_INVITE + b"x" * 2000, limits=small)
    many = BARESIP_INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" * 20)
    with pytest.raises(SipParseError, match="more than 20 header fields"):
        parse_message(many, limits=small)
    folded = BARESIP_INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" + b" a\r\n" * 200)
    for strict in (True, False):  # a folded field is measured whole, in both modes
        with pytest.raises(SipParseError, match="over 300 bytes"):
            parse_message(folded, strict=strict, limits=small)
    assert parse_message(BARESIP_INVITE, limits=small).headers.get("Max-Forwards") == "70"


def test_a_header_line_without_colon_is_quoted_short_and_skipped_leniently() -> None:
    line = b"a." * 2000
    raw = BARESIP_INVITE.replace(b"Max-Forwards: 70\r\n", line + b"\r\n")
    with pytest.raises(SipParseError) as caught:
        parse_message(raw)
    assert len(str(caught.value)) < 120 and "4000 chars" in str(caught.value)
    lenient = parse_message(raw, strict=False)  # enough to answer 400
    assert isinstance(lenient, SipRequest) and lenient.call_id == "f5fada490f1f2192"


@pytest.mark.parametrize(
    "raw",
    [
        BARESIP_INVITE.replace(b"CSeq: 21871", "CSeq: ²".encode()),
        BARESIP_INVITE.replace(b"CSeq: 21871", b"CSeq: 2147483648"),  # RFC 3261: < 2**31
        BARESIP_INVITE.replace(b"Content-Length: 10", "Content-Length: ²".encode()),
        BARESIP_INVITE.replace(b"Content-Length: 10", b"Content-Length: " + b"9" * 5000),
        BARESIP_INVITE.replace(b"127.0.0.1:15060;branch", "127.0.0.1:²;branch".encode()),
        BARESIP_INVITE.replace(b"127.0.0.1:15060;branch", b"127.0.0.1:70000;branch"),
        BARESIP_INVITE.replace(b"CSeq: 21871 INVITE", b"CSeq: 21871 BYE"),
        BARESIP_INVITE.replace(b"Call-ID: f5fada490f1f2192\r\n", b"Call-ID: a\r\nCall-ID: b\r\n"),
        BARESIP_INVITE.replace(b"Content-Length: 10\r\n", b"Content-Length: 10\r\nl: 4\r\n"),
        b"SIP/2.0 4294967301 big\r\n\r\n",
    ],
)
def test_numbers_that_are_not_ascii_or_out_of_range_raise_parse_errors(raw: bytes) -> None:
    """`"²".isdigit()` is True and `int("²")` raises ValueError: neither may leak out."""
    with pytest.raises(SipParseError):
        msg = parse_message(raw)
        msg.top_via  # noqa: B018 - ports are read when the Via is


def test_lenient_parse_keeps_requests_answerable() -> None:
    for raw in (
        BARESIP_INVITE.replace(b"Content-Length: 10", b"Content-Length: 9999"),  # RFC 4475 clerr
        BARESIP_INVITE.replace(b"Content-Length: 10", b"Content-Length: -999"),  # ncl
        BARESIP_INVITE.replace(b"INVITE sip:bot@127.0.0.1:15999", b"INVITE sip:bot@h; lr"),
    ):
        with pytest.raises(SipParseError):
            parse_message(raw)
        msg = parse_message(raw, strict=False)
        assert isinstance(msg, SipRequest) and msg.top_via.branch == "z9hG4bK38cac27712111cdd"
