"""Local stack: train the Rasa model when needed, run Rasa and the app together.

`python -m tools.launcher train` trains only when the dialogue files changed;
`python -m tools.launcher run` starts both processes, waits until both answer,
prints the URLs and stops both on Ctrl-C, SIGTERM or SIGHUP (what systemd, Docker
and supervisors send); the children also die if the launcher is killed outright
(SIGKILL), so none is left holding its port. The test suite uses `Stack` too.
Rasa's side (model, token, command line) is in tools/rasa.py, the child processes'
life in tools/processes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings
from tools import ROOT
from tools.processes import StopRequested, answers, spawn, stop_group, stop_signals
from tools.rasa import ensure_model, rasa_command, rasa_env, rasa_token

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
            if answers(url):
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
    parser = argparse.ArgumentParser(prog="python -m tools.launcher")
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
