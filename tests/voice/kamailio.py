"""Debian's Kamailio as the town's registrar and proxy, on 127.0.0.1 (tests/voice/kamailio/).

Extensions and their passwords go into a db_text `subscriber` table in the work
directory; registrations stay in memory, so `restart()` gives a registrar that has
forgotten every binding, as a PBX restart does.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

from tests.voice.baresip import free_port, stop_process

KAMAILIO = shutil.which("kamailio")
CONFIG = Path(__file__).with_name("kamailio") / "kamailio.cfg"
REALM = "mairie.test"


class _Probe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answered = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"SIP/2.0 200"):
            self.answered.set()


class Kamailio:
    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        self.dir = workdir
        self.users = users
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def uri(self) -> str:
        """The registrar and outbound proxy, as a SIP URI."""
        return f"sip:127.0.0.1:{self.port}"

    def write_tables(self) -> None:
        db = self.dir / "db"
        db.mkdir(parents=True, exist_ok=True)
        (db / "version").write_text("table_name(string) table_version(int)\nsubscriber:7\n")
        rows = [
            "id(int,auto) username(string) domain(string,null) password(string) "
            "ha1(string,null) ha1b(string,null)"
        ]
        rows += [
            f"{i}:{user}:{REALM}:{password}::"
            for i, (user, password) in enumerate(self.users.items(), 1)
        ]
        (db / "subscriber").write_text("\n".join(rows) + "\n")

    async def start(self, within: float = 15.0) -> None:
        assert KAMAILIO, "kamailio is missing: install the Debian package kamailio"
        self.write_tables()
        log = (self.dir / "kamailio.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            KAMAILIO,
            *("-f", str(CONFIG), "-DD", "-E", "-m", "32", "-M", "8"),
            *("-w", str(self.dir), "-Y", str(self.dir)),
            *("-A", f"SIP_PORT={self.port}", "-A", f'DB_URL="text://{self.dir / "db"}"'),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        await self._wait_ready(within)

    async def _wait_ready(self, within: float) -> None:
        """Until it answers an OPTIONS (the config answers 200 to one for no user)."""
        loop = asyncio.get_running_loop()
        transport, probe = await loop.create_datagram_endpoint(_Probe, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        deadline = time.monotonic() + within
        try:
            while not probe.answered.is_set():
                assert self.proc is not None
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"kamailio did not start: {self.log()[-2000:]}")
                branch = f"z9hG4bKprobe{time.monotonic_ns()}"
                options = (
                    f"OPTIONS {self.uri} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
                    f"From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <{self.uri}>\r\n"
                    f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    "Content-Length: 0\r\n\r\n"
                )
                transport.sendto(options.encode(), ("127.0.0.1", self.port))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(probe.answered.wait(), 0.2)
        finally:
            transport.close()

    def log(self) -> str:
        path = self.dir / "kamailio.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def stop(self) -> None:
        await stop_process(self.proc, 10.0)

    async def restart(self) -> None:
        """A new process on the same port: every registration is forgotten."""
        await self.stop()
        await self.start()

    def account(self, user: str, register: bool) -> str:
        """baresip account parameters for `user`, through this proxy."""
        regint = 600 if register else 0
        return f';auth_pass={self.users[user]};outbound="{self.uri}";regint={regint}'
