"""What the chat benchmarks share: a scratch single-node stack, percentiles, memory.

Used by chat_latency.py and load_chat.py (and importable by others), so starting
the stack the way `make run` does and computing the figures live in one place.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.security.limits import RATE_LIMITED_FR
from bot.settings import load_settings
from tools import ROOT
from tools.launcher import DEMO_BASE, Stack, seed_knowledge_base
from tools.rasa import ensure_model

# Ports of the benchmark's own stack, away from `make run`'s defaults.
APP_PORT, ACTIONS_PORT, RASA_PORT = 18080, 15056, 15005
RATE_LIMITS_VAR = "GUICHET__SECURITY__RATE_LIMITS"


def rate_limits_off(*buckets: str) -> dict[str, str]:
    """The app environment that turns the chat's named rate-limit buckets off
    (`per_ip`, `per_session`; the others keep bot/settings.yml's values), for a
    benchmark's own stack: all its sessions come from 127.0.0.1, and a closed loop
    sends faster than any citizen."""
    off = ", ".join(f"{name}: {{burst: 0, per_minute: 0}}" for name in buckets)
    return {RATE_LIMITS_VAR: "{" + off + "}"}


class Refused(Exception):
    """The app refused a request (rate limit): a benchmark that counted it as a turn
    would report refusals as throughput and latency."""


def refusal(frame: object) -> str | None:
    """Why a WebSocket frame is a refusal (the `rate_limited` error frame or its French
    message), or None."""
    if not isinstance(frame, dict) or frame.get("type") != "error":
        return None
    if frame.get("code") == "rate_limited" or frame.get("message") == RATE_LIMITED_FR:
        return f"error frame {frame.get('code')!r}: {frame.get('message')!r}"
    return None


# For a loopback run of an own stack: every session comes from 127.0.0.1, so only the
# public chat's per-IP bucket is lifted; the per-session bucket keeps its default from
# bot/settings.yml (one session never sends more than a person would).
NO_PER_IP_LIMIT_ENV = rate_limits_off("per_ip")


def start_own_stack(
    prefix: str = "guichet-bench-",
    extra_env: dict[str, str] | None = None,
    ports: tuple[int, int, int] = (APP_PORT, ACTIONS_PORT, RASA_PORT),
    timeout_s: float = 240,
    data_dir: Path | None = None,
    kb: Path = DEMO_BASE,
    rasa_servers: int = 1,
) -> Stack:
    """Rasa + app on a scratch data directory holding the demo articles (with
    `rasa_servers` Rasa processes on the Rasa port and the next ones).

    With `data_dir`, that directory instead (kept afterwards, so a large base is
    imported once); with `kb`, the articles of that directory instead of the demo
    ones. Either way the articles are imported only into an empty base."""
    model = ensure_model(load_settings().data_dir)
    scratch = data_dir if data_dir is not None else Path(tempfile.mkdtemp(prefix=prefix))
    app_port, actions_port, rasa_port = ports
    settings = load_settings(
        env={
            "GUICHET_DATA_DIR": str(scratch),
            "GUICHET__SERVER__PORT": str(app_port),
            "GUICHET__ACTIONS__PORT": str(actions_port),
            "GUICHET__RASA__URL": f"http://127.0.0.1:{rasa_port}",
            "GUICHET__RASA__SERVERS": str(rasa_servers),
        }
    )
    seed_knowledge_base(scratch, kb)  # the project's importer, as `make run` does
    stack = Stack(settings, model, ROOT, extra_env=dict(extra_env or {}))
    try:
        stack.start(timeout_s=timeout_s)
    except BaseException:
        stack.stop()
        raise
    return stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1 (several Rasa servers)."""
    for _ in range(100):
        first = free_port()
        try:
            for port in range(first + 1, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports found")


@contextmanager
def own_stack_or_url(
    url: str | None,
    prefix: str = "guichet-bench-",
    extra_env: dict[str, str] | None = None,
    free_ports: bool = False,
    data_dir: Path | None = None,
    kb: Path = DEMO_BASE,
) -> Iterator[tuple[str, Stack | None]]:
    """The URL to benchmark: the one given, or that of a stack started (and stopped) here
    (on free ports with `free_ports`, so it can run beside another stack; `data_dir` and
    `kb` as for start_own_stack)."""
    if url is not None:
        yield url.rstrip("/"), None
        return
    ports = (
        (free_port(), free_port(), free_port())
        if free_ports
        else (APP_PORT, ACTIONS_PORT, RASA_PORT)
    )
    stack = start_own_stack(prefix, extra_env, ports, data_dir=data_dir, kb=kb)
    try:
        yield stack.app_url, stack
    finally:
        stack.stop()


def ws_url(base_url: str, session_id: str) -> str:
    """The web chat WebSocket of a session (http→ws, https→wss)."""
    return base_url.replace("http", "ws", 1) + f"/ws?session={session_id}"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(
                next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
            )
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            pids += [int(c) for c in children]
        except (OSError, StopIteration):
            continue
    return total / 1024


def stack_rss(stack: Stack | None) -> dict[str, float]:
    if stack is None:
        return {}
    return {name: round(rss_mb(p.pid), 1) for name, p in stack.processes.items()}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
