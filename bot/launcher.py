"""Local stack: train the Rasa model when needed, run Rasa and the app together.

`python -m bot.launcher train` trains only when the dialogue files changed;
`python -m bot.launcher run` starts both processes, waits until both answer,
prints the URLs and stops both on Ctrl-C, SIGTERM or SIGHUP (what systemd, Docker
and supervisors send); the children also die if the launcher is killed outright
(SIGKILL), so none is left holding its port. The test suite uses `Stack` too.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL_NAME = "guichet"
# Files whose content defines the trained model.
TRAINING_INPUTS = ("config.yml", "domain.yml", "training_data", "requirements/rasa.lock")


def training_fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(root)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def rasa_token(data_dir: Path) -> str:
    """The Rasa HTTP API token of this data directory, created on first use."""
    path = data_dir / "rasa_token"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


# endpoints.yml's variables for one Rasa server on its own; the scaled stack
# (bot/scaled.py) or the operator's environment sets PostgreSQL and Redis.
RASA_STORE_DEFAULTS = {
    "GUICHET_RASA_TRACKER_STORE": "bot.rasa_plugins.tracker_store.TrackerStore",
    "GUICHET_RASA_TRACKER_URL": "",
    "GUICHET_RASA_LOCK_STORE": "in_memory",
    "GUICHET_RASA_REDIS_HOST": "127.0.0.1",
    "GUICHET_RASA_REDIS_PORT": "6379",
    "GUICHET_RASA_REDIS_DB": "1",
}


def rasa_env(data_dir: Path, actions_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in RASA_STORE_DEFAULTS.items():
        env.setdefault(name, value)
    env.update(
        {
            "GUICHET_DATA_DIR": str(data_dir),
            "GUICHET_ACTIONS_URL": actions_url,
            # No network here, and no data should leave a town hall's server.
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


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


def ensure_model(data_dir: Path, root: Path = ROOT, force: bool = False) -> Path:
    """Path of a model trained on the current files; trains only if they changed."""
    models = data_dir / "models"
    model = models / f"{MODEL_NAME}.tar.gz"
    stamp = models / f"{MODEL_NAME}.sha256"
    fingerprint = training_fingerprint(root)
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == fingerprint:
        return model
    models.mkdir(parents=True, exist_ok=True)
    print(f"guichet: training the Rasa model into {model} …", flush=True)
    started = time.monotonic()
    subprocess.run(
        [
            str(RASA_BIN),
            "train",
            "--config",
            "config.yml",
            "--domain",
            "domain.yml",
            "--data",
            "training_data",
            "--out",
            str(models),
            "--fixed-model-name",
            MODEL_NAME,
        ],
        cwd=root,
        env=rasa_env(data_dir, "http://127.0.0.1:1/webhook"),
        check=True,
    )
    stamp.write_text(fingerprint + "\n")
    print(f"guichet: model trained in {time.monotonic() - started:.0f} s", flush=True)
    return model


DEMO_BASE = ROOT / "knowledge_base" / "demo"


async def _seed(data_dir: Path, source: Path, database_url: str = "", chroma_url: str = "") -> int:
    from bot.core.db import create_engine
    from bot.schema import create_schema
    from bot.settings import sqlite_url
    from knowledge_base.service import KnowledgeBase

    engine = create_engine(database_url or sqlite_url(data_dir))
    try:
        await create_schema(engine)
        kb = KnowledgeBase(engine, data_dir, chroma_url=chroma_url)
        await kb.start()
        if await kb.store.revision():
            return 0
        report = await kb.import_dir(source, "demo")
        for name, reason in report.errors:
            print(f"guichet: demo article {name} not imported: {reason}", file=sys.stderr)
        return len(report.created)
    finally:
        await engine.dispose()


def seed_knowledge_base(
    data_dir: Path, source: Path = DEMO_BASE, *, database_url: str = "", chroma_url: str = ""
) -> int:
    """Import the demo articles into an empty base (first start); returns how many.

    The base is the data directory's (SQLite, chroma/) unless URLs say otherwise."""
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    created = asyncio.run(_seed(data_dir, source, database_url, chroma_url))
    if created:
        print(f"guichet: imported {created} demo articles in {time.monotonic() - started:.0f} s")
    return created


def rasa_command(model: Path, port: int, token: str, log_file: Path) -> list[str]:
    """`rasa run` on 127.0.0.1 with the project's endpoints and credentials (cwd: ROOT)."""
    return [
        str(RASA_BIN),
        "run",
        "--model",
        str(model),
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        # The API (tracker events for handoffs) is token-protected, on loopback.
        "--enable-api",
        # One argument: a token_urlsafe token may start with "-", which argparse would
        # take for an option ("--auth-token: expected one argument").
        f"--auth-token={token}",
        "--log-file",
        str(log_file),
    ]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Stack:
    """Rasa server + app as child processes, on the ports the settings give."""

    settings: Settings
    model: Path
    root: Path = ROOT
    # Extra environment for the app (e.g. GUICHET__... overrides in tests).
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_s: dict[str, float] = field(default_factory=dict)
    # The children die with this process (`run`); off for tests that start a child
    # from a worker thread, whose end would kill it (see die_with_parent).
    bound_to_parent: bool = False

    @property
    def app_url(self) -> str:
        return f"http://{self.settings.server.host}:{self.settings.server.port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.settings.actions.host}:{self.settings.actions.port}/webhook"

    def app_env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "GUICHET_DATA_DIR": str(s.data_dir),
                "GUICHET__SERVER__HOST": s.server.host,
                "GUICHET__SERVER__PORT": str(s.server.port),
                "GUICHET__ACTIONS__HOST": s.actions.host,
                "GUICHET__ACTIONS__PORT": str(s.actions.port),
                "GUICHET__RASA__URL": s.rasa.url,
                "GUICHET__RASA__SERVERS": str(s.rasa.servers),
                "GUICHET__RASA__TOKEN": s.rasa.token or rasa_token(s.data_dir),
                # The phone channel binds a SIP port: it follows the settings the stack
                # was built from (tests turn it off unless they test calls).
                "GUICHET__VOICE__ENABLED": s.voice.enabled,
            }
        )
        env.update(self.extra_env)
        return env

    @property
    def rasa_names(self) -> list[str]:
        """ "rasa", then "rasa2"… for `rasa.servers` > 1 (one process each)."""
        return ["rasa" if i == 0 else f"rasa{i + 1}" for i in range(self.settings.rasa.servers)]

    def start_rasa(self) -> None:
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, url in zip(self.rasa_names, self.settings.rasa.urls, strict=True):
            port = url.rsplit(":", 1)[-1].split("/")[0]
            self.processes[name] = spawn(
                rasa_command(
                    self.model,
                    int(port),
                    self.settings.rasa.token or rasa_token(self.settings.data_dir),
                    logs / f"{name}.log",
                ),
                cwd=self.root,
                env=rasa_env(self.settings.data_dir, self.actions_url),
                log=logs / f"{name}.out",
                bound_to_parent=self.bound_to_parent,
            )

    def start_app(self) -> None:
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.processes["app"] = spawn(
            [sys.executable, "-m", "bot"],
            cwd=self.root,
            env=self.app_env(),
            log=logs / "app.out",
            bound_to_parent=self.bound_to_parent,
        )

    def wait_ready(self, name: str, url: str, started: float, timeout_s: float) -> None:
        while time.monotonic() - started < timeout_s:
            proc = self.processes[name]
            if proc.poll() is not None:
                log = self.settings.data_dir / "logs" / f"{name}.out"
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode} during start-up; see {log}"
                )
            if _answers(url):
                self.startup_s[name] = time.monotonic() - started
                return
            time.sleep(0.25)
        raise RuntimeError(f"{name} did not answer {url} within {timeout_s:.0f} s")

    def start(self, timeout_s: float = 180) -> None:
        t0 = time.monotonic()
        self.start_rasa()
        self.start_app()
        self.wait_ready("app", f"{self.app_url}/healthz", t0, timeout_s)
        for name, url in zip(self.rasa_names, self.settings.rasa.urls, strict=True):
            self.wait_ready(name, f"{url}/", t0, timeout_s)

    def stop(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.processes):
            proc = self.processes.pop(key, None)
            if proc is not None:
                stop_group(proc)

    def ready_message(self) -> str:
        return (
            f"guichet: ready — app {self.startup_s['app']:.1f} s, "
            f"Rasa {self.startup_s['rasa']:.1f} s\n"
            f"  Site de démonstration et chat : {self.app_url}/\n"
            f"  Santé : {self.app_url}/readyz\n"
            f"  Administration : {self.app_url}/admin — agents : {self.app_url}/agent\n"
            "    (premier compte : GUICHET_NEW_PASSWORD=… .venv/bin/python -m bot.admin "
            "create-user EMAIL --role admin)\n"
            f"  Logs : {self.settings.data_dir / 'logs'}\n"
            "Ctrl-C pour arrêter."
        )


def serve(stack: Stack, poll_s: float = 0.5) -> int:
    """Start the stack, wait until a child exits or Ctrl-C/SIGTERM/SIGHUP arrives, stop
    every child (process group: SIGTERM, then SIGKILL after a grace period). Exit code:
    0 when asked to stop, 1 on a failure."""
    with stop_signals() as signals:
        try:
            print("guichet: starting Rasa and the app (Rasa takes 20 to 60 s) …", flush=True)
            stack.start()
            print(stack.ready_message(), flush=True)
            while all(p.poll() is None for p in stack.processes.values()):
                time.sleep(poll_s)
            dead = [n for n, p in stack.processes.items() if p.poll() is not None]
            print(
                f"guichet: {', '.join(dead)} stopped unexpectedly; "
                f"see {stack.settings.data_dir / 'logs'}",
                file=sys.stderr,
            )
            return 1
        except (KeyboardInterrupt, StopRequested) as exc:
            why = f" ({exc})" if isinstance(exc, StopRequested) else ""
            print(f"\nguichet: stopping{why} …", flush=True)
            return 0
        except RuntimeError as exc:
            print(f"guichet: {exc}", file=sys.stderr)
            return 1
        finally:
            signals.quiet = True
            stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.launcher")
    parser.add_argument("command", choices=["train", "run"])
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    args = parser.parse_args(argv)
    # SIGTERM/SIGHUP stop everything as Ctrl-C does, also while training (subprocess.run
    # kills `rasa train` when interrupted).
    with stop_signals():
        try:
            return _main(args)
        except StopRequested as exc:
            print(f"guichet: stopped ({exc})", file=sys.stderr)
            return 0


def _main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"guichet: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        model = ensure_model(settings.data_dir, force=args.force)
    except subprocess.CalledProcessError as exc:
        print(f"guichet: rasa train failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    if args.command == "train":
        return 0
    seed_knowledge_base(settings.data_dir)
    return serve(Stack(settings, model, bound_to_parent=True))


if __name__ == "__main__":
    sys.exit(main())
