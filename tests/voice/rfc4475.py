"""Load RFC 4475's torture messages from `data/rfc4475.txt` (the RFC's own notation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).with_name("data") / "rfc4475.txt"
_HEX = re.compile(r"<hex>([0-9A-Fa-f]*)</hex>")
_REPEAT = re.compile(r"<repeat count=(\d+)>(.*?)</repeat>")
# The top Via's sent-by (host and optional port), across folded lines.
_TOP_VIA = re.compile(
    rb"(?im)^(?:via|v)[ \t]*:[ \t\r\n]*SIP[ \t\r\n]*/[ \t\r\n]*\d+\.\d+[ \t\r\n]*/"
    rb"[ \t\r\n]*[A-Za-z]+[ \t\r\n]+([^\s;:,]+)(:\d+)?"
)


@dataclass(frozen=True)
class TortureCase:
    name: str
    section: str
    expected: int | None  # final status we answer; None: no answer
    message: bytes

    @property
    def is_request(self) -> bool:
        return not self.message.startswith(b"SIP/")


def decode_line(line: str) -> bytes:
    """One line of the file as octets: <repeat> expanded, <hex> decoded."""
    line = _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), line)
    out = bytearray()
    pos = 0
    for m in _HEX.finditer(line):
        out += line[pos : m.start()].encode("utf-8")
        out += bytes.fromhex(m.group(1))
        pos = m.end()
    out += line[pos:].encode("utf-8")
    return bytes(out)


def load(path: Path = DATA) -> list[TortureCase]:
    cases: list[TortureCase] = []
    header: list[str] | None = None
    lines: list[bytes] = []

    def flush() -> None:
        if header is not None:
            name, section, expected = header
            message = b"".join(line + b"\r\n" for line in lines)
            status = None if expected == "none" else int(expected)
            cases.append(TortureCase(name, section, status, message))

    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#"):
            continue
        if raw.startswith("=== "):
            flush()
            header, lines = raw[4:].split(), []
            continue
        if header is not None:
            lines.append(decode_line(raw))
    flush()
    return cases


def aimed_at(message: bytes, port: int) -> bytes:
    """`message` with its top Via's sent-by port set to `port`.

    Our answers go to the source address at the Via's port (RFC 3261 §18.2.2), 5060 when
    it has none; the test's socket plays the sender, so its port is written there (as
    SIPp and pjsip's torture runs write theirs). Nothing else in the message changes.
    """
    m = _TOP_VIA.search(message)
    if m is None:
        return message
    start, end = m.span(1)[0], m.span(2)[1] if m.group(2) else m.span(1)[1]
    return message[:start] + m.group(1) + b":" + str(port).encode() + message[end:]
