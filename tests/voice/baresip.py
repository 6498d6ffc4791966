"""Drive Debian's baresip 1.0.0 as a test peer through its ctrl_tcp JSON interface.

Each `Baresip` gets its own config directory: loopback only, G.711 only, the caller's
microphone is a WAV file (`aufile`), and `sndfile` records what it hears (`*-dec.wav`)
and what it sends (`*-enc.wav`) into the directory. Pitfalls (see shared/FACTS.md):
`aufile` hangs up when its WAV ends, so pad the WAV longer than the call; the accounts
file needs `module_tmp account.so`; `dial`, `hangup`, `sndcode` and the handling of an
incoming REFER (transfer) come from `menu.so`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.system import require_program

BARESIP = shutil.which("baresip")
MODULES = Path("/usr/lib/baresip/modules")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (baresip binds SIP on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def free_sip_port() -> int:
    """A port for baresip's `sip_listen`: baresip also binds SIP/TLS on the next port
    (TCP), so both must be free, or baresip exits with "Address already in use"."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as tls:
            try:
                tls.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


def free_even_port() -> int:
    """An even UDP port free on 127.0.0.1 (RTP ports are even), outside any fixed range."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
        if port % 2 == 0:
            return port
    raise RuntimeError("no free even port")


def make_mic_wav(path: Path, text: str, total_s: float) -> Path:
    """French speech by espeak-ng, as 8 kHz mono s16, padded with silence to `total_s`."""
    require_program("espeak-ng", "espeak-ng")
    require_program("sox", "sox")  # sox and soxi
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(raw), text], check=True, timeout=60)
    speech = subprocess.run(["soxi", "-D", str(raw)], check=True, capture_output=True, text=True)
    pad = max(0.0, total_s - float(speech.stdout))
    subprocess.run(
        [
            *("sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"),
            *(str(path), "pad", "0", f"{pad:.2f}"),
        ],
        check=True,
        timeout=60,
    )
    raw.unlink()
    return path


class Baresip:
    """One baresip process with one account `<sip:NAME@127.0.0.1>`."""

    def __init__(
        self,
        workdir: Path,
        mic_wav: Path,
        name: str = "caller",
        answer: bool = False,
        account: str = ";regint=0",
    ) -> None:
        """`account`: parameters of the account line, e.g. a registration with a PBX:
        `;auth_pass=PW;outbound="sip:127.0.0.1:5070";regint=600`."""
        require_program("baresip", "baresip")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.sip_port = free_sip_port()  # a test may set its own before start()
        self._picked_sip_port = self.sip_port
        self.ctrl_port = free_port()
        self.rtp_base = 0
        self.mic_wav = mic_wav
        self.answer = answer
        self.account = account
        self.proc: asyncio.subprocess.Process | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._token = 0

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@127.0.0.1:{self.sip_port}"

    def write_config(self) -> None:
        modules = ["g711.so", "aufile.so", "sndfile.so"]
        lines = [
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "net_interface 127.0.0.1",
            f"audio_source aufile,{self.mic_wav}",
            "audio_player aubridge,nil",
            "audio_alert aubridge,nil",
            f"module_path {MODULES}",
            *(f"module {m}" for m in modules),
            "module aubridge.so",
            "module_tmp account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.dir}",
            "call_max_calls 8",
            "jitter_buffer_delay 1-4",
            "rtp_timeout 0",
            "statmode_default off",
        ]
        (self.dir / "config").write_text("\n".join(lines) + "\n")
        mode = ";answermode=auto" if self.answer else ""
        account = f"<sip:{self.name}@127.0.0.1>{self.account}{mode};audio_codecs=PCMU,PCMA\n"
        (self.dir / "accounts").write_text(account)
        (self.dir / "contacts").write_text("")

    async def start(self, within: float = 10.0, attempts: int = 3) -> None:
        """Start baresip; a port taken between our probe and baresip's bind (another
        test's process can take it in that window) means new ports and a new attempt."""
        for attempt in range(attempts):
            try:
                await self._start_once(within)
                return
            except RuntimeError as error:
                if "Address already in use" not in str(error) or attempt == attempts - 1:
                    raise
                if self.sip_port == self._picked_sip_port:  # never move a port the test set
                    self.sip_port = self._picked_sip_port = free_sip_port()
                self.ctrl_port = free_port()

    async def _start_once(self, within: float) -> None:
        assert BARESIP, "baresip is not installed"
        self.write_config()
        log = (self.dir / "baresip.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            BARESIP,
            "-f",
            str(self.dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if asyncio.get_running_loop().time() > deadline or self.proc.returncode is not None:
                    await stop_process(self.proc, 5.0)
                    raise RuntimeError(f"baresip did not start: {self.log()}") from None
                await asyncio.sleep(0.05)
        self._reader_task = asyncio.create_task(self._read(reader))

    def log(self) -> str:
        path = self.dir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def _read(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                payload = await reader.readexactly(length + 1)  # and the trailing ","
                message = json.loads(payload[:-1])
                if message.get("response"):
                    future = self._responses.pop(str(message.get("token")), None)
                    if future and not future.done():
                        future.set_result(message)
                elif message.get("event"):
                    self.seen.append(message)
                    await self.events.put(message)

    async def command(self, command: str, params: str = "", within: float = 5.0) -> dict[str, Any]:
        assert self._writer is not None
        self._token += 1
        token = str(self._token)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        return await asyncio.wait_for(future, within)

    async def wait_event(
        self, kind: str, within: float = 10.0, peer: str | None = None
    ) -> dict[str, Any]:
        """The next event of type `kind` (e.g. CALL_ESTABLISHED, CALL_CLOSED)."""
        async with asyncio.timeout(within):
            while True:
                event = await self.events.get()
                if event.get("type") == kind and (peer is None or peer in event.get("peeruri", "")):
                    return event

    async def wait_registered(self, within: float = 10.0) -> None:
        """Until the account is registered (polled with menu's `reginfo`: the REGISTER_OK
        event may come before our control connection does)."""
        async with asyncio.timeout(within):
            while "OK" not in (await self.command("reginfo")).get("data", ""):  # noqa: ASYNC110
                await asyncio.sleep(0.1)

    async def dial(self, uri: str) -> None:
        response = await self.command("dial", uri)
        assert response.get("ok"), response

    async def hangup(self) -> None:
        await self.command("hangup")

    async def send_dtmf(self, digits: str) -> None:
        """menu's `sndcode`: RFC 4733 telephone-events on the current call."""
        await self.command("sndcode", digits)

    def recordings(self, kind: str = "dec") -> list[Path]:
        return sorted(self.dir.glob(f"dump-*-{kind}.wav"))

    def heard_so_far(self) -> tuple[bytes, int]:
        """What the peer has received on its current call until now, as s16le PCM and its
        rate. sndfile writes the WAV sizes only when the call ends, so the samples are read
        from the data chunk of the file as it grows (empty before the first audio)."""
        recordings = self.recordings("dec")
        if not recordings:
            return b"", 8000
        return growing_wav(recordings[-1].read_bytes())

    async def wait_heard(
        self, seconds: float, voiced: Callable[[bytes, int], float], within: float = 60.0
    ) -> float:
        """Until `voiced(pcm, rate)` of what the peer heard so far reaches `seconds`
        (the bot's voice, not a fixed wait); returns the figure reached."""
        async with asyncio.timeout(within):
            while True:
                heard = voiced(*self.heard_so_far())
                if heard >= seconds:
                    return heard
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
        await stop_process(self.proc, 5.0)


def growing_wav(data: bytes) -> tuple[bytes, int]:
    """The samples and rate of a PCM WAV that may still be written (sizes not yet set)."""
    rate, pos = 8000, 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"fmt ":
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
        elif chunk == b"data":
            samples = data[pos + 8 :]
            return samples[: len(samples) // 2 * 2], rate
        pos += 8 + size
    return b"", rate


async def stop_process(proc: asyncio.subprocess.Process | None, within: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after `within` seconds."""
    if proc is not None and proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()
