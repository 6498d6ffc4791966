"""`python -m tools.launcher run` stops its children (Rasa and the app) whatever stops
it: Ctrl-C, SIGTERM and SIGHUP (systemd, Docker, a closed terminal) stop their
process groups; if the launcher is SIGKILLed, the kernel kills them (PDEATHSIG).
Before, `kill PID` left both running, orphaned, holding their ports.

The launcher's own code runs with `sleep` as stand-in children
(tests/support/standin_launcher.py); nothing here asserts a duration, the waits only
bound how long a broken launcher can hang the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tools import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

BOUND_S = 30.0


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that does not reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(check: Callable[[], bool], what: str | Callable[[], str]) -> None:
    deadline = time.monotonic() + BOUND_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what() if callable(what) else what} (waited up to {BOUND_S:.0f} s)")
        time.sleep(0.05)


@contextmanager
def start_launcher(
    tmp_path: Path, *options: str
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standin_launcher", str(tmp_path), *options],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids_file = tmp_path / "pids.json"
    children: dict[str, int] = {}
    try:
        wait_until(lambda: pids_file.exists() or proc.poll() is not None, "no children started")
        assert pids_file.exists(), f"stand-in launcher exited with {proc.returncode}"
        children = json.loads(pids_file.read_text())
        yield proc, children
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pid in children.values():  # what a broken launcher left behind
            if alive(pid):
                with suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int]]]:
    with start_launcher(tmp_path) as (proc, children):
        assert proc.poll() is None and all(alive(pid) for pid in children.values())
        yield proc, children


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_children_do_not_outlive_the_launcher(
    launcher: tuple[subprocess.Popen[bytes], dict[str, int]], sig: signal.Signals
) -> None:
    proc, children = launcher
    proc.send_signal(sig)
    wait_until(lambda: proc.poll() is not None, f"the launcher ignored {sig.name}")
    wait_until(
        lambda: not any(alive(pid) for pid in children.values()),
        lambda: (
            f"children still running after {sig.name} to the launcher: "
            + ", ".join(f"{n} {p}" for n, p in children.items() if alive(p))
        ),
    )
    if sig != signal.SIGKILL:  # a clean stop, as after Ctrl-C
        assert proc.returncode == 0


def test_a_child_that_exits_stops_the_other_and_the_launcher_fails(tmp_path: Path) -> None:
    # Rasa or the app crashed: the launcher must not linger half-up; exit code 1 lets
    # systemd's Restart=on-failure start the whole stack again.
    with start_launcher(tmp_path, "--app-exits") as (proc, children):
        wait_until(lambda: proc.poll() is not None, "the launcher kept running without the app")
        assert proc.returncode == 1
        wait_until(lambda: not alive(children["rasa"]), "the Rasa stand-in outlived the launcher")


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_sigterm_while_training_stops_rasa_train_and_main_returns(tmp_path: Path) -> None:
    """The real `main()` (`python -m tools.launcher train --force`): a SIGTERM while
    `rasa train` runs stops it too, and the launcher says so and exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.launcher", "train", "--force"],
        cwd=ROOT,
        env={**os.environ, "GUICHET_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group, so that a failure here can clean it all
    )
    try:
        wait_until(
            lambda: bool(children_of(proc.pid)) or proc.poll() is not None,
            "the launcher started no rasa train",
        )
        (trainer,) = children_of(proc.pid)
        assert "rasa" in Path(f"/proc/{trainer}/cmdline").read_bytes().decode(errors="replace")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=BOUND_S)
        assert proc.returncode == 0, err
        assert b"guichet: stopped" in err
        wait_until(lambda: not alive(trainer), "rasa train outlived the launcher")
        assert not (tmp_path / "models" / "guichet.tar.gz").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
