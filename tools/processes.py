"""Child processes that never outlive the process that started them.

Each child gets its own session (one process group to stop as a whole); `stop_group`
sends it SIGTERM, then SIGKILL after a grace period; with `bound_to_parent` the kernel
kills it if this process dies (PR_SET_PDEATHSIG). `stop_signals()` turns SIGTERM and
SIGHUP (what systemd, Docker and supervisors send) into an exception, as Ctrl-C is.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# prctl(2) option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1
# How long a stopped child's process group has between SIGTERM and SIGKILL.
STOP_GRACE_S = 15.0


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when this process dies.

    Covers what no signal handler can: the launcher SIGKILLed or crashing. It works
    with `start_new_session=True` (the new session is made first). Linux only (None
    elsewhere). The kernel ties it to the *thread* that forks: spawn from a thread
    that outlives the children (the main thread of `run`)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork() and prctl(): nobody would signal us.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def spawn(
    argv: list[str], *, cwd: Path, env: dict[str, str], log: Path, bound_to_parent: bool = False
) -> subprocess.Popen[bytes]:
    """A child in its own session (one process group to stop as a whole), its output
    appended to `log`; with `bound_to_parent` it dies with this process."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent() if bound_to_parent else None,
        )


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to the child's process group, SIGKILL if it is still there after `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except ProcessLookupError:
        proc.wait()
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


class StopRequested(Exception):
    """SIGTERM or SIGHUP arrived: stop the children and exit, as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """The state of `stop_signals()`: the first SIGTERM/SIGHUP raises `StopRequested`,
    unless `quiet` (the children are being stopped: nothing may interrupt that)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.quiet = False

    def handle(self, signum: int, _frame: object) -> None:
        if self.received is None and not self.quiet:
            self.received = signum
            raise StopRequested(signum)


@contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """Within the block the first SIGTERM/SIGHUP raises `StopRequested`; later ones are
    ignored so they cannot interrupt the children's shutdown. Handlers restored after."""
    state = StopSignals()
    previous = {sig: signal.signal(sig, state.handle) for sig in STOP_SIGNALS}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def answers(url: str) -> bool:
    """Whether `url` answers 200 within 2 s (a readiness probe)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
