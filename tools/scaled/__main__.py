"""`python -m tools.scaled run` (what `make run-scaled` calls): the scaled stack on
this machine's fixed ports (server.port and the 40 ports above), until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from bot.settings import SettingsError, load_settings
from tools.rasa import ensure_model
from tools.scaled.stack import Ports, ScaledStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.scaled")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--apps", type=int, default=2)
    parser.add_argument("--rasas", type=int, default=2)
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="public port (default: server.port); the stack uses the 40 ports above it",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"guichet: invalid configuration: {exc}", file=sys.stderr)
        return 2
    model = ensure_model(settings.data_dir)
    data_dir = settings.data_dir / "scaled"
    ports = Ports.fixed(args.port or settings.server.port, args.apps, args.rasas)
    stack = ScaledStack(data_dir, model, ports)

    def interrupted(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        print(
            f"guichet: starting PostgreSQL, Redis, Chroma, {args.rasas} Rasa, {args.apps} apps "
            "and nginx (Rasa takes 30 to 90 s) …",
            flush=True,
        )
        stack.start(progress=lambda line: print(f"  {line}", flush=True))
        print(
            f"guichet: ready (scaled) — {stack.public_url}/\n"
            f"  Santé : {stack.public_url}/readyz (chaque instance : "
            + ", ".join(f"{u}/readyz" for u in stack.app_urls)
            + ")\n"
            f"  PostgreSQL : {stack.database_url}\n"
            f"  Redis : {stack.redis_url} — Chroma : {stack.chroma_url}\n"
            f"  Logs : {stack.logs}\n"
            "Ctrl-C pour arrêter.",
            flush=True,
        )
        while all(s.running() for s in stack.services.values()):
            time.sleep(0.5)
        dead = [n for n, s in stack.services.items() if not s.running()]
        print(f"guichet: {', '.join(dead)} stopped unexpectedly; see {stack.logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nguichet: stopping …", flush=True)
        return 0
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"guichet: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
