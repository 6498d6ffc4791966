"""What a well-formed request must also satisfy before the user agent acts on it.

`parse_message` accepts what is syntactically SIP; `request_problem` then says which
error response, if any, a user agent server owes it (RFC 3261 §8.2; the expected
answers to RFC 4475's torture messages): 505 for another protocol version, 416 for a
Request-URI scheme we do not serve, 420 for an extension it requires, 415 and 406 for
bodies we cannot read or answer with, 400 for the rest. The checks are cheap and
linear; nothing here resolves names or allocates resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.sip.message import (
    NameAddr,
    SipParseError,
    SipRequest,
    SipUri,
    clip,
    split_list,
)

SCHEMES = ("sip", "sips", "tel")
SDP = "application/sdp"


@dataclass(frozen=True)
class Rejection:
    status: int
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)


def request_problem(request: SipRequest) -> Rejection | None:
    """The error response `request` deserves, or None if the user agent may act on it."""
    if request.version != "SIP/2.0":
        return Rejection(505)
    try:
        top = request.top_via
    except SipParseError:
        return Rejection(400, "Bad Via")
    if top.version != "2.0" or top.empty_params:
        return Rejection(400, "Bad Via")
    scheme = request.uri.partition(":")[0].lower()
    if scheme not in SCHEMES:
        return Rejection(416)
    if scheme != "tel":
        try:
            SipUri.parse(request.uri)
        except SipParseError:
            return Rejection(400, "Bad Request-URI")
        if "?" in request.uri.rpartition("@")[2]:  # headers: not here (RFC 4475 §3.1.2.11)
            return Rejection(400, "Bad Request-URI")
    for name in ("From", "To"):
        if not name_addr_ok(request.headers.get(name) or ""):
            return Rejection(400, f"Bad {name}")
    if request.method not in ("ACK", "CANCEL"):
        required = sorted({o.strip() for o in request.headers.get_all("Require")} - {""})
        if required:  # we support no extension a peer may require (100rel, timer...)
            return Rejection(420, headers=[("Unsupported", ", ".join(required))])
    if request.method == "INVITE":
        return _invite_problem(request)
    return None


def _invite_problem(invite: SipRequest) -> Rejection | None:
    contacts = invite.headers.get_all("Contact")
    if len(contacts) > 1 or (contacts and not contact_ok(contacts[0])):
        return Rejection(400, "Bad Contact")
    if invite.body:
        kind = invite.content_type
        encoding = (invite.headers.get("Content-Encoding") or "identity").strip().lower()
        if kind != SDP or encoding != "identity":
            return Rejection(415, headers=[("Accept", SDP), ("Accept-Encoding", "identity")])
    accept = invite.headers.get_all("Accept")
    if accept and not _accepts_sdp(accept):  # our answer would be a body it cannot read
        return Rejection(406, headers=[("Accept", SDP)])
    return None


def name_addr_ok(value: str) -> bool:
    """Quotes and angle brackets balanced, a URI with a scheme inside (RFC 4475 §3.1.2.6)."""
    quoted = escaped = False
    opened = closed = 0
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            opened += 1
        elif not quoted and ch == ">":
            closed += 1
    if quoted or opened != closed or opened > 1:
        return False
    uri = NameAddr.parse(value).uri
    return bool(uri) and ":" in uri


def contact_ok(value: str) -> bool:
    """One SIP or SIPS URI we can send requests to, without empty parameters."""
    if value.strip() == "*" or not name_addr_ok(value):
        return False
    address = NameAddr.parse(value)
    tail = value[value.rindex(">") + 1 :] if ">" in value else value.partition(";")[2]
    if any(not item.strip() for item in tail.split(";")[1:]):
        return False
    try:
        uri = SipUri.parse(address.uri)
    except SipParseError:
        return False
    return bool(uri.host) and not any(ch in uri.host for ch in ' \t"<>')


def _accepts_sdp(values: list[str]) -> bool:
    for value in values:
        for item in split_list(value):
            kind = item.split(";")[0].strip().lower()
            if kind in (SDP, "application/*", "*/*"):
                return True
    return False


def describe(request: SipRequest) -> str:
    """A short English description of a request for log lines."""
    return f"{request.method} {clip(request.uri, 40)}"
