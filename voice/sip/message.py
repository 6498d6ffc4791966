"""SIP messages (RFC 3261 §7): bounded, linear-time parsing and serialisation.

Parsing accepts folded headers, compact header names, any header-name case, several
values on one line for list headers (Via, Contact, Route...) and odd parameter values.
It raises `SipParseError` only when the start line, a header line or a mandatory header
cannot be made sense of; the agent answers 400 to those when it can.

Every step is linear in the size of the datagram, and `Limits` bounds that size, the
number of header fields and the length of each one, so a hostile datagram costs at most
a few milliseconds. Error texts quote at most `QUOTE_CHARS` of the input (they end up in
log records and in reason phrases).

Why one module of this size: it is RFC 3261's message grammar (§7, §20, §25). The
parser, the header model (`Headers`, `Via`, `NameAddr`, `SipUri`) and the building of
messages (`make_response`, branches, tags) share the canonical header names, the
compact forms, the list headers and the limits; split, each part would reach into the
others' tables.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

COMPACT = {
    "i": "Call-ID",
    "f": "From",
    "t": "To",
    "v": "Via",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        *COMPACT.values(),
        "CSeq",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Record-Route",
        "Max-Forwards",
        "User-Agent",
        "Subscription-State",
        "Content-Disposition",
        "Refer-Sub",
        "Call-Info",
        "Alert-Info",
        "Min-SE",
        "Session-Expires",
        "RSeq",
        "RAck",
    )
}
# Headers whose values may be comma-joined on one line (RFC 3261 §7.3.1).
LIST_HEADERS = frozenset({"via", "contact", "route", "record-route", "allow", "supported"})
MAGIC_COOKIE = "z9hG4bK"
REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")
# Headers that may appear once only (RFC 3261 §7.3.1; RFC 4475 §3.3.8-9).
SINGLE = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type")
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_VERSION = re.compile(r"^SIP/(\d{1,3})\.(\d{1,3})$", re.I)
_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):\S+$")
QUOTE_CHARS = 60
MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: the sequence number is below 2**31


class SipParseError(ValueError):
    """The datagram is not a SIP message we can make sense of."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one datagram may contain (anything larger is refused unparsed)."""

    max_datagram: int = 8192  # bytes; RFC 4475's longest message is about 4 KB
    max_headers: int = 128  # header fields (RFC 4475 "longreq" has 43)
    max_header_bytes: int = 4096  # one header field, folded lines joined


DEFAULT_LIMITS = Limits()


def clip(text: str | bytes, limit: int = QUOTE_CHARS) -> str:
    """`text` quoted for a log line or an error: at most `limit` characters, then its size."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} chars)"


def ascii_int(text: str, max_digits: int = 10) -> int | None:
    """The value of a decimal number made of ASCII digits only ("²" is no digit), or None."""
    text = text.strip()
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def canonical_name(name: str) -> str:
    """`v` → `Via`, `call-id` → `Call-ID`, `x-foo` → `X-Foo`."""
    key = name.strip().lower()
    if key in COMPACT:
        return COMPACT[key]
    if key in _CANONICAL:
        return _CANONICAL[key]
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


def split_list(value: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside quotes and angle brackets."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    angle = 0
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
            continue
        if ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle += 1
        elif ch == ">" and not quoted and angle:
            angle -= 1
        elif ch == sep and not quoted and not angle:
            parts.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf).strip())
    return [p for p in parts if p]


def parse_params(text: str) -> dict[str, str]:
    """`;a=1;b;c="x"` → {"a": "1", "b": "", "c": "x"}; keys lower-cased, lenient on values."""
    params: dict[str, str] = {}
    for item in split_list(text, ";"):
        key, _, val = item.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        params.setdefault(key, val)
    return params


class Headers:
    """Ordered, case-insensitive multi-map of header fields."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value.strip()))

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name).lower()
        for n, v in self._items:
            if n.lower() == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """All values; list headers are also split on commas."""
        key = canonical_name(name).lower()
        out: list[str] = []
        for n, v in self._items:
            if n.lower() == key:
                out.extend(split_list(v) if key in LIST_HEADERS else [v])
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` with one (kept at the first one's position)."""
        canon = canonical_name(name)
        key = canon.lower()
        for i, (n, _) in enumerate(self._items):
            if n.lower() == key:
                self._items[i] = (canon, value)
                self._items = [
                    item for j, item in enumerate(self._items) if j <= i or item[0].lower() != key
                ]
                return
        self._items.append((canon, value))

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._items = [item for item in self._items if item[0].lower() != key]

    def extend_last(self, text: str) -> None:
        """Header folding: append a continuation line to the last field."""
        name, value = self._items[-1]
        self._items[-1] = (name, f"{value} {text}".strip())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def copy(self) -> Headers:
        return Headers(self._items)


@dataclass
class SipMessage:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        raw = (self.headers.get("CSeq") or "").split()
        number = ascii_int(raw[0]) if len(raw) == 2 else None
        if number is None or number > MAX_CSEQ:
            raise SipParseError(f"bad CSeq: {clip(self.headers.get('CSeq') or '')}")
        return number, raw[1].upper()

    @property
    def from_addr(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("From") or "")

    @property
    def to_addr(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("To") or "")

    @property
    def top_via(self) -> Via:
        vias = self.headers.get_all("Via")
        if not vias:
            raise SipParseError("no Via")
        return Via.parse(vias[0])

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        headers = self.headers.copy()
        headers.set("Content-Length", str(len(self.body)))
        lines = [self.start_line(), *(f"{n}: {v}" for n, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: str = ""
    version: str = "SIP/2.0"

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass
class SipResponse(SipMessage):
    status: int = 0
    reason: str = ""

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]
    version: str = "2.0"
    empty_params: bool = False  # `;;` or a trailing `;` (RFC 4475 §3.1.2.1)

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")

    @classmethod
    def parse(cls, value: str) -> Via:
        # No alternation or nested repetition: one pass over the value at most.
        m = re.match(r"\s*SIP\s*/\s*(\d{1,3}\.\d{1,3})\s*/\s*(\S+)\s+([^;]+)(.*)$", value, re.S)
        if not m:
            raise SipParseError(f"bad Via: {clip(value)}")
        host, port = split_hostport(m.group(3).strip())
        if not host or any(ch in host for ch in ' \t,"<>'):
            raise SipParseError(f"bad Via host: {clip(host)}")
        rest = m.group(4)
        empty = any(not item.strip() for item in rest.split(";")[1:])
        return cls(m.group(2).upper(), host, port, parse_params(rest), m.group(1), empty)


@dataclass(frozen=True)
class NameAddr:
    """`"Name" <sip:user@host>;tag=x` (also bare `sip:user@host;tag=x`)."""

    display: str
    uri: str
    params: dict[str, str]

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")

    @classmethod
    def parse(cls, value: str) -> NameAddr:
        """Lenient: what cannot be a display name or a URI is kept as it is."""
        value = value.strip()
        if "<" in value and ">" in value[value.index("<") :]:
            start = value.index("<")
            end = value.index(">", start)
            display = value[:start].strip().strip('"')
            return cls(display, value[start + 1 : end].strip(), parse_params(value[end + 1 :]))
        uri, _, rest = value.partition(";")
        return cls("", uri.strip(), parse_params(rest))

    def __str__(self) -> str:
        shown = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{shown}<{self.uri}>{params}"


@dataclass(frozen=True)
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, uri: str) -> SipUri:
        m = re.match(r"\s*(sips?):(?:([^@]*)@)?([^;?]+)([^?]*)", uri, re.I)
        if not m:
            raise SipParseError(f"bad SIP URI: {clip(uri)}")
        host, port = split_hostport(m.group(3))
        user = (m.group(2) or "").split(":")[0]
        return cls(m.group(1).lower(), user, host, port, parse_params(m.group(4)))


def split_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.partition(":")
    if not port:
        return host, None
    number = ascii_int(port, 5)
    if number is None or not 0 < number < 65536:
        raise SipParseError(f"bad port in {clip(text)}")
    return host, number


def parse_message(
    data: bytes, strict: bool = True, limits: Limits = DEFAULT_LIMITS
) -> SipRequest | SipResponse:
    """Parse one UDP datagram. Raises `SipParseError`.

    With `strict=False` what the strict parse refuses for its content (a header line
    without a colon, a missing or repeated mandatory header, a bad CSeq or
    Content-Length, a body shorter than announced) is let through as well as it can be,
    so that the agent can still answer 400 to a request it can route back. `limits`
    apply in both modes; the start line must make sense in both.
    """
    if len(data) > limits.max_datagram:
        raise SipParseError(f"datagram of {len(data)} bytes (limit {limits.max_datagram})")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    text = head.decode("utf-8", errors="replace").lstrip("\r\n")
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].strip():
        raise SipParseError("empty message")
    headers = _parse_headers(lines[1:], strict, limits)
    body = _body(headers, body, strict)
    msg = _start_line(lines[0], headers, body, strict)
    if strict:
        _check_mandatory(msg)
    return msg


def _parse_headers(lines: list[str], strict: bool, limits: Limits) -> Headers:
    """Header fields, folded lines joined (each field's pieces are joined once: linear)."""
    headers = Headers()
    name: str | None = None
    parts: list[str] = []
    size = count = 0

    def flush() -> None:
        if name is not None:
            headers.add(name, " ".join(p for p in parts if p))

    for line in lines:
        if line[:1] in (" ", "\t"):
            if name is None:
                if strict or count == 0:
                    raise SipParseError("continuation line before any header")
                continue  # lenient: the continuation of a line we skipped
            size += len(line)
            if size > limits.max_header_bytes:
                raise SipParseError(f"header field over {limits.max_header_bytes} bytes")
            parts.append(line.strip())
            continue
        if not line.strip():
            continue
        flush()
        name, parts = None, []
        count += 1
        size = len(line)
        if count > limits.max_headers:
            raise SipParseError(f"more than {limits.max_headers} header fields")
        if size > limits.max_header_bytes:
            raise SipParseError(f"header field over {limits.max_header_bytes} bytes")
        field_name, colon, value = line.partition(":")
        if not colon or len(field_name) > 128 or not _TOKEN.match(field_name.strip()):
            if strict:
                raise SipParseError(f"bad header line: {clip(line)}")
            continue
        name, parts = field_name, [value.strip()]
    flush()
    return headers


def _body(headers: Headers, rest: bytes, strict: bool) -> bytes:
    lengths = [v for n, v in headers if n == "Content-Length"]
    if not lengths:
        return rest  # UDP: the rest of the datagram (RFC 3261 §18.3)
    length = ascii_int(lengths[0], 6)
    if strict:
        if len(lengths) > 1:
            raise SipParseError("several Content-Length values")
        if length is None:
            raise SipParseError(f"bad Content-Length: {clip(lengths[0])}")
        if length > len(rest):
            raise SipParseError("Content-Length larger than the datagram")
    if length is None:
        return rest
    return rest[:length]


def _start_line(
    start: str, headers: Headers, body: bytes, strict: bool
) -> SipRequest | SipResponse:
    if start.upper().startswith("SIP/"):
        parts = start.split(None, 2)
        code = ascii_int(parts[1], 3) if len(parts) >= 2 and len(parts[1]) == 3 else None
        if not _VERSION.match(parts[0]) or code is None or not 100 <= code <= 699:
            raise SipParseError(f"bad status line: {clip(start)}")
        return SipResponse(headers, body, code, parts[2].strip() if len(parts) > 2 else "")
    parts = start.split()  # several SP between the elements are tolerated (RFC 4475 §3.1.2.9)
    if not strict and len(parts) > 3:  # spaces inside the URI: enough to answer 400
        parts = [parts[0], " ".join(parts[1:-1]), parts[-1]]
    if (
        len(parts) != 3
        or not _VERSION.match(parts[2])
        or not _TOKEN.match(parts[0])
        or (strict and not _URI_SCHEME.match(parts[1]))
    ):
        raise SipParseError(f"bad request line: {clip(start)}")
    return SipRequest(headers, body, parts[0].upper(), parts[1], parts[2].upper())


def _check_mandatory(msg: SipRequest | SipResponse) -> None:
    for name in REQUIRED:
        if name not in msg.headers:
            raise SipParseError(f"missing {name}")
    names = [n for n, _ in msg.headers]
    for name in SINGLE:
        if names.count(name) > 1:
            raise SipParseError(f"several {name} header fields")
    _, method = msg.cseq
    if isinstance(msg, SipRequest) and method != msg.method:
        raise SipParseError(f"CSeq method {clip(method)} is not the request's")
    for value in msg.headers.get_all("Via"):
        Via.parse(value)


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(10)}@{host}"


REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    406: "Not Acceptable",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    489: "Bad Event",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
}


def make_response(
    request: SipRequest, status: int, reason: str = "", to_tag: str = "", body: bytes = b""
) -> SipResponse:
    """A response copying Via, From, To (adding `to_tag` if it has none), Call-ID, CSeq."""
    headers = Headers()
    for name in ("Via", "Record-Route", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name) if name != "To" else []:
            headers.add(name, value)
        if name == "To":
            to = request.headers.get("To") or ""
            if to_tag and not NameAddr.parse(to).tag:
                to = f"{to};tag={to_tag}"
            headers.add("To", to)
    if status == 100 or status >= 300:
        headers.remove("Record-Route")
    return SipResponse(headers, body, status, reason or REASONS.get(status, "Unknown"))
