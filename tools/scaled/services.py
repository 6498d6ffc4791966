"""The processes of the scaled stack: each one a `Service` in its own process group,
with start(), stop(), kill(), a readiness probe and the ports it uses; and the
directories they run in (other users' when run as root: postgres, nginx's workers).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools import ROOT

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def process_rss(pid: int) -> int:
    """Resident memory of a process and its descendants, in bytes (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1]) * 1024
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total


@dataclass
class Service:
    """One child process of the stack, in its own process group."""

    name: str
    command: list[str]
    log_file: Path
    ready: Callable[[], bool]
    ports: dict[str, int]
    env: dict[str, str] | None = None
    cwd: Path = ROOT
    user: str | None = None
    # SIGTERM for most; PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for clients).
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None
    startup_s: float | None = None
    _started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running():
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._started_at = time.monotonic()
        self.startup_s = None
        user = self.user if self.user and os.geteuid() == 0 else None
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
                group=user,
                extra_groups=[] if user else None,
            )

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds from start() to ready; raises RuntimeError with the log's tail."""
        deadline = self._started_at + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process else None
                raise RuntimeError(
                    f"{self.name} exited with code {code} during start-up; "
                    f"see {self.log_file}:\n{self.log_tail()}"
                )
            if self.ready():
                self.startup_s = time.monotonic() - self._started_at
                return self.startup_s
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready within {timeout_s:.0f} s; see {self.log_file}:\n"
            + self.log_tail()
        )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 20) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, self.stop_signal)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole process group (fault tests)."""
        proc = self.process
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def rss(self) -> int:
        return process_rss(self.process.pid) if self.running() and self.process else 0


def _traversable_by_others(path: Path) -> bool:
    for part in [path, *path.parents]:
        if part.exists() and not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def owned_dir(path: Path, user: str | None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if user and os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def scratch_dirs(data_dir: Path) -> list[Path]:
    """Directories outside `data_dir` the stack may have used (see _service_dir)."""
    found = []
    for name, key in (("postgres", "pg"), ("nginx", "nginx")):
        digest = hashlib.sha256(str(data_dir / name).encode()).hexdigest()[:10]
        path = Path(tempfile.gettempdir()) / f"guichet-{key}-{digest}"
        if path.exists():
            found.append(path)
    return found


def service_dir(preferred: Path, user: str | None, key: str) -> Path:
    """A directory another user (postgres, nginx's workers) can reach: the preferred
    one when its parents allow it, else one under /tmp, stable per data directory."""
    if user is None or os.geteuid() != 0 or _traversable_by_others(preferred.parent):
        return owned_dir(preferred, user)
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:10]
    base = Path(tempfile.gettempdir()) / f"guichet-{key}-{digest}"
    return owned_dir(base, user)
