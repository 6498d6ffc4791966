"""Real servers on loopback for the notification tests: an SMTP server (aiosmtpd) and
Kannel (bearerbox + smsbox) with Kannel's own fake SMS centre (fakesmsc), whose log
says what reached the "phones"."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.conftest import free_port
from tests.support.system import require_system_file
from tests.support.waiting import wait_until

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"


# --- SMTP ---------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        return str(part.get_content())


class _Recorder:
    def __init__(self, mailbox: MailServer) -> None:
        self._mailbox = mailbox

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self._mailbox.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        self._mailbox.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), message)
        )
        hold = self._mailbox.hold_data
        if hold is not None:
            # The message is taken (as a relay queues it on the final dot) but the
            # reply is held: the client waits for its 250 until the test lets go.
            self._mailbox.holding.set()
            await asyncio.to_thread(hold.wait, 120)
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    """aiosmtpd on 127.0.0.1; stop() and start() again on the same port."""

    port: int = field(default_factory=free_port)
    credentials: tuple[str, str] | None = None
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    received: list[Received] = field(default_factory=list)
    hold_data: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    _controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.credentials:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,  # loopback only
            }
        self._controller = Controller(
            _Recorder(self), hostname="127.0.0.1", port=self.port, **kwargs
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


# --- Kannel -------------------------------------------------------------------


def require_kannel() -> None:
    for path, package in ((BEARERBOX, "kannel"), (SMSBOX, "kannel"), (FAKESMSC, "kannel-extras")):
        require_system_file(path, package)


@dataclass
class Sms:
    sender: str
    to: str
    text: str


_GOT = re.compile(r"Got message \d+: <(.*)>$")


def _decode(kind: str, payload: str) -> bytes:
    # fakesmsc prints 7-bit texts converted back to UTF-8, other payloads URL-encoded.
    if kind == "text":
        return payload.encode("utf-8")
    return unquote_to_bytes(payload.replace("+", " "))


def _text(data: bytes) -> str:
    # UCS-2 (coding 2) is big-endian 16-bit: French text has NUL high bytes.
    return data.decode("utf-16-be") if b"\x00" in data else data.decode("utf-8")


def parse_fakesmsc_log(text: str) -> list[Sms]:
    """What fakesmsc received, with concatenated parts joined (UDH 8-bit reference)."""
    out: list[Sms] = []
    parts: dict[tuple[str, str, int], dict[int, bytes]] = {}
    for line in text.splitlines():
        match = _GOT.search(line)
        if not match:
            continue
        fields = match.group(1).split(" ")
        sender, to, kind = fields[0], fields[1], fields[2]
        if kind == "udh":
            udh = unquote_to_bytes(fields[3])
            data = _decode(fields[4], " ".join(fields[5:]))
            ref, total, seq = udh[3], udh[4], udh[5]
            key = (sender, to, ref)
            parts.setdefault(key, {})[seq] = data
            if len(parts[key]) == total:
                chunks = parts.pop(key)
                joined = b"".join(chunks[i] for i in range(1, total + 1))
                out.append(Sms(sender, to, _text(joined)))
        else:
            out.append(Sms(sender, to, _text(_decode(kind, " ".join(fields[3:])))))
    return out


class KannelGateway:
    """bearerbox + smsbox with a `fake` SMSC, and fakesmsc connected to it."""

    def __init__(self, workdir: Path, username: str = "guichet", password: str = "s3cret") -> None:
        require_kannel()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.username, self.password = username, password
        self.admin_port, self.box_port = free_port(), free_port()
        self.smsc_port, self.sendsms_port = free_port(), free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.fakesmsc_log = self.dir / "fakesmsc.log"
        self._write_config()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def _write_config(self) -> None:
        d = self.dir
        (d / "kannel.conf").write_text(
            f"""group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = "{self.password}"
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.box_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{d / "bearerbox.log"}"
log-level = 1
store-type = file
store-location = "{d / "store"}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{d / "smsbox.log"}"
log-level = 1

group = sendsms-user
username = "{self.username}"
password = "{self.password}"
max-messages = 6
concatenation = true

group = sms-service
keyword = default
text = "Ce numero ne recoit pas de messages."
"""
        )

    def _spawn(self, name: str, args: list[str], log: Path) -> None:
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    async def start(self) -> None:
        """Start whichever of the three processes is not running."""
        conf = str(self.dir / "kannel.conf")
        if "bearerbox" not in self.procs:
            self._spawn("bearerbox", [BEARERBOX, conf], self.dir / "bearerbox.out")
            await self._wait_port(self.box_port, "bearerbox")
        if "smsbox" not in self.procs:
            self._spawn("smsbox", [SMSBOX, conf], self.dir / "smsbox.out")
            await self._wait_port(self.sendsms_port, "smsbox's sendsms interface")
        if "fakesmsc" not in self.procs:
            self._spawn(
                "fakesmsc",
                [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-m", "0", "x y text nop"],
                self.fakesmsc_log,
            )
        # fakesmsc is connected when bearerbox's SMSC is online.
        await wait_until(self._smsc_online, "fakesmsc to connect to bearerbox", 30)

    def _smsc_online(self) -> bool:
        import urllib.request

        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={self.password}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                status = resp.read().decode(errors="replace")
        except OSError:
            return False
        return bool(re.search(r"FAKE:\d+ \(online", status))

    async def _wait_port(self, port: int, what: str) -> None:
        async def connects() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        deadline = time.monotonic() + 30
        while not await connects():
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{what} did not listen on {port}"
            await asyncio.sleep(0.05)

    def stop(self, *names: str) -> None:
        """Stop the named processes (all by default), each by its own pid."""
        for name in names or ("smsbox", "bearerbox", "fakesmsc"):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def received(self) -> list[Sms]:
        if not self.fakesmsc_log.exists():
            return []
        return parse_fakesmsc_log(self.fakesmsc_log.read_bytes().decode("utf-8", "replace"))

    def to(self, number: str) -> list[Sms]:
        return [s for s in self.received() if s.to == number]


class HungServer:
    """Accepts TCP connections on a port and never answers: a relay or gateway that hangs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await reader.read()  # until the client goes

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
