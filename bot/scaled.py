"""The scaled-out stack on one machine: PostgreSQL, Redis, a Chroma server, N Rasa
servers, N app instances and nginx in front, all on 127.0.0.1 (docs/operations.md).

`python -m bot.scaled run` (what `make run-scaled` calls) starts everything, prints
the URLs and stops everything on Ctrl-C. Tests and benchmarks use `ScaledStack`:
each process is a `Service` with start(), stop(), kill() and the ports it uses, so
a fault test can kill one Rasa or restart PostgreSQL and start it again.

    stack = ScaledStack(data_dir, model, ports=Ports.free())
    stack.start()
    stack.services["rasa1"].kill(); stack.services["rasa1"].start(); ...
    stack.stop()
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.launcher import (
    ROOT,
    _answers,
    ensure_model,
    rasa_command,
    rasa_env,
    rasa_token,
    seed_knowledge_base,
)
from bot.settings import SettingsError, load_settings

PG_LIB = Path("/usr/lib/postgresql")  # Debian: one <version>/bin per installed server
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
CHROMA_BIN = ROOT / ".venv" / "bin" / "chroma"
DB_USER = "guichet"
APP_DB = "guichet"
RASA_DB = "rasa"
HOST = "127.0.0.1"


def _server_dir(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in ("postgres", "initdb"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())


def find_postgres_bindir(
    env: Mapping[str, str] | None = None,
    lib_root: Path = PG_LIB,
    pg_config: str | None = None,
) -> Path | None:
    """The directory of PostgreSQL's server programs (postgres, initdb), any version:

    1. $GUICHET_PG_BIN when set (taken as given);
    2. `pg_config --bindir`, if the server programs are there;
    3. the newest `<lib_root>/<version>/bin` holding them, as Debian's pg_wrapper and
       pg_lsclusters find the installed servers;
    4. the directory of `postgres` on PATH (other distributions).
    None when there is none."""
    if env is None:
        env = os.environ
    if env.get("GUICHET_PG_BIN"):
        return Path(env["GUICHET_PG_BIN"])
    config = pg_config if pg_config is not None else shutil.which("pg_config")
    if config:
        try:
            out = subprocess.run(
                [config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _server_dir(Path(out)):
            return Path(out)
    installed = [b for b in lib_root.glob("*/bin") if _server_dir(b)]
    if installed:
        return max(installed, key=_version_key)
    on_path = shutil.which("postgres", path=env.get("PATH"))
    if on_path and _server_dir(Path(on_path).parent):
        return Path(on_path).parent
    return None


@functools.cache
def pg_bin() -> Path:
    """The server programs' directory (see find_postgres_bindir); Debian's default
    location when none is found, so the error names a real place."""
    return find_postgres_bindir() or PG_LIB / "15" / "bin"


def missing_binaries() -> list[str]:
    """What the scaled stack needs and this machine lacks (empty: all there)."""
    bindir = pg_bin()
    needed = {
        f"postgres (a PostgreSQL server, e.g. postgresql-15; looked in {bindir})": bindir
        / "postgres",
        f"initdb (a PostgreSQL server; looked in {bindir})": bindir / "initdb",
        "redis-server": Path(REDIS_BIN),
        "nginx": Path(NGINX_BIN),
        "chroma (chromadb in .venv)": CHROMA_BIN,
        "rasa (.venv-rasa)": ROOT / ".venv-rasa" / "bin" / "rasa",
    }
    return [name for name, path in needed.items() if not os.access(path, os.X_OK)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _redis_ping(port: int) -> bool:
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


@dataclass
class Ports:
    public: int  # nginx, what citizens and staff reach
    rasa_lb: int  # nginx in front of the Rasa servers (the apps' rasa.url)
    actions_lb: int  # nginx in front of the apps' action endpoints (Rasa's action_endpoint)
    postgres: int
    redis: int
    chroma: int
    apps: list[tuple[int, int]]  # (public, actions) per app instance
    rasas: list[int]

    @classmethod
    def free(cls, apps: int = 2, rasas: int = 2) -> Ports:
        return cls(
            public=free_port(),
            rasa_lb=free_port(),
            actions_lb=free_port(),
            postgres=free_port(),
            redis=free_port(),
            chroma=free_port(),
            apps=[(free_port(), free_port()) for _ in range(apps)],
            rasas=[free_port() for _ in range(rasas)],
        )

    @classmethod
    def fixed(cls, public: int = 8080, apps: int = 2, rasas: int = 2) -> Ports:
        """Predictable ports for `make run-scaled`: the public one and the next ones."""
        p = public
        return cls(
            public=p,
            rasa_lb=p + 1,
            actions_lb=p + 2,
            postgres=p + 3,
            redis=p + 4,
            chroma=p + 5,
            apps=[(p + 10 + 2 * i, p + 11 + 2 * i) for i in range(apps)],
            rasas=[p + 30 + i for i in range(rasas)],
        )


def _traversable_by_others(path: Path) -> bool:
    for part in [path, *path.parents]:
        if part.exists() and not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _owned_dir(path: Path, user: str | None) -> Path:
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


def _service_dir(preferred: Path, user: str | None, key: str) -> Path:
    """A directory another user (postgres, nginx's workers) can reach: the preferred
    one when its parents allow it, else one under /tmp, stable per data directory."""
    if user is None or os.geteuid() != 0 or _traversable_by_others(preferred.parent):
        return _owned_dir(preferred, user)
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:10]
    base = Path(tempfile.gettempdir()) / f"guichet-{key}-{digest}"
    return _owned_dir(base, user)


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
{user_line}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}

    upstream guichet_apps {{
{apps}
    }}
    upstream guichet_rasa {{
{rasas}
        keepalive 32;
    }}
    upstream guichet_actions {{
{actions}
        keepalive 32;
    }}

    # Citizens and staff. No sticky sessions: pushes cross instances through Redis.
    server {{
        listen {host}:{public};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://guichet_apps;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_next_upstream error timeout http_502;
        }}
    }}
    # The apps' rasa.url: any Rasa server (shared tracker store and lock store).
    server {{
        listen {host}:{rasa_lb};
        client_max_body_size 32m;
        location / {{
            proxy_pass http://guichet_rasa;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
        }}
    }}
    # Rasa's action endpoint: any app instance (they share every store).
    server {{
        listen {host}:{actions_lb};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://guichet_actions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@dataclass
class ScaledStack:
    """PostgreSQL, Redis, Chroma, Rasa × N, app × N and nginx, in that order."""

    data_dir: Path
    model: Path
    ports: Ports = field(default_factory=Ports.free)
    # GUICHET__... overrides for every app instance (tests: agent hours...).
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    seed: bool = True

    # --- addresses ---
    @property
    def public_url(self) -> str:
        return f"http://{HOST}:{self.ports.public}"

    @property
    def app_urls(self) -> list[str]:
        return [f"http://{HOST}:{public}" for public, _ in self.ports.apps]

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://{HOST}:{port}" for port in self.ports.rasas]

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://{DB_USER}@{HOST}:{self.ports.postgres}/{APP_DB}"

    @property
    def rasa_tracker_url(self) -> str:
        return f"postgresql://{DB_USER}@{HOST}:{self.ports.postgres}/{RASA_DB}"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.ports.redis}/0"

    @property
    def chroma_url(self) -> str:
        return f"http://{HOST}:{self.ports.chroma}"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def token(self) -> str:
        return rasa_token(self.data_dir)

    # --- building the services ---
    def _postgres(self) -> Service:
        return postgres_service(self.data_dir, self.ports.postgres, self.logs)

    def _redis(self) -> Service:
        port = self.ports.redis
        workdir = _owned_dir(self.data_dir / "redis", None)
        return Service(
            "redis",
            [
                REDIS_BIN,
                "--port",
                str(port),
                "--bind",
                HOST,
                "--dir",
                str(workdir),
                # Only live state (pub/sub, presence, locks): nothing to persist.
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            self.logs / "redis.out",
            lambda: _redis_ping(port),
            {"redis": port},
        )

    def _chroma(self) -> Service:
        port = self.ports.chroma
        return Service(
            "chroma",
            [
                str(CHROMA_BIN),
                "run",
                "--path",
                str(self.data_dir / "chroma-server"),
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            self.logs / "chroma.out",
            lambda: _answers(f"http://{HOST}:{port}/api/v2/heartbeat"),
            {"chroma": port},
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )

    def _rasa(self, index: int, port: int) -> Service:
        env = rasa_env(self.data_dir, f"http://{HOST}:{self.ports.actions_lb}/webhook")
        env.update(
            {
                "GUICHET_RASA_TRACKER_URL": self.rasa_tracker_url,
                "GUICHET_RASA_LOCK_STORE": "redis",
                "GUICHET_RASA_REDIS_HOST": HOST,
                "GUICHET_RASA_REDIS_PORT": str(self.ports.redis),
                "GUICHET_RASA_REDIS_DB": "1",
            }
        )
        name = f"rasa{index}"
        return Service(
            name,
            rasa_command(self.model, port, self.token, self.logs / f"{name}.log"),
            self.logs / f"{name}.out",
            lambda: _answers(f"http://{HOST}:{port}/"),
            {"http": port},
            env=env,
        )

    def app_env(self, public: int, actions: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "GUICHET_DATA_DIR": str(self.data_dir),
                "GUICHET__SERVER__HOST": HOST,
                "GUICHET__SERVER__PORT": str(public),
                "GUICHET__ACTIONS__HOST": HOST,
                "GUICHET__ACTIONS__PORT": str(actions),
                "GUICHET__RASA__URL": f"http://{HOST}:{self.ports.rasa_lb}",
                # nginx spreads the turns over the Rasa servers (shared lock store).
                "GUICHET__RASA__SERVERS": "1",
                "GUICHET__RASA__TOKEN": self.token,
                "GUICHET__RASA__TRACKER_URL": self.rasa_tracker_url,
                "GUICHET__DATABASE__URL": self.database_url,
                "GUICHET__REDIS__URL": self.redis_url,
                "GUICHET__CHROMA__URL": self.chroma_url,
                # nginx is the client the apps see; the citizen's address is in X-Forwarded-For.
                "GUICHET__SECURITY__TRUSTED_PROXIES": f'["{HOST}/32"]',
                # One SIP listener per address: the phone stays on a single-process setup.
                "GUICHET__VOICE__ENABLED": "false",
            }
        )
        env.update(self.extra_env)
        return env

    def _app(self, index: int, public: int, actions: int) -> Service:
        name = f"app{index}"
        return Service(
            name,
            [sys.executable, "-m", "bot"],
            self.logs / f"{name}.out",
            lambda: _answers(f"http://{HOST}:{public}/healthz"),
            {"http": public, "actions": actions},
            env=self.app_env(public, actions),
        )

    def _nginx(self) -> Service:
        user = "www-data" if os.geteuid() == 0 else None
        run = _service_dir(self.data_dir / "nginx", user, "nginx")
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            _owned_dir(run / sub, user)

        def servers(ports: list[int]) -> str:
            return "\n".join(
                f"        server {HOST}:{p} max_fails=1 fail_timeout=2s;" for p in ports
            )

        conf = run / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                run=run,
                user_line=f"user {user};" if user else "",
                host=HOST,
                public=self.ports.public,
                rasa_lb=self.ports.rasa_lb,
                actions_lb=self.ports.actions_lb,
                apps=servers([public for public, _ in self.ports.apps]),
                rasas=servers(self.ports.rasas),
                actions=servers([actions for _, actions in self.ports.apps]),
            )
        )
        public = self.ports.public
        return Service(
            "nginx",
            [NGINX_BIN, "-c", str(conf), "-p", str(run), "-e", str(run / "error.log")],
            self.logs / "nginx.out",
            lambda: _tcp_open(public),
            {"public": public, "rasa_lb": self.ports.rasa_lb, "actions_lb": self.ports.actions_lb},
            stop_signal=signal.SIGQUIT,  # graceful: finish open requests
        )

    # --- life cycle ---
    def build(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        services = [self._postgres(), self._redis(), self._chroma()]
        services += [self._rasa(i, port) for i, port in enumerate(self.ports.rasas, 1)]
        services += [self._app(i, p, a) for i, (p, a) in enumerate(self.ports.apps, 1)]
        services.append(self._nginx())
        self.services = {s.name: s for s in services}

    def start(self, timeout_s: float = 300, progress: Callable[[str], None] | None = None) -> None:
        say = progress or (lambda _: None)
        missing = missing_binaries()
        if missing:
            raise RuntimeError("missing for the scaled stack: " + ", ".join(missing))
        if not self.services:
            self.build()
        t0 = time.monotonic()
        try:
            engines = [self.services[n] for n in ("postgres", "redis", "chroma")]
            for service in engines:
                service.start()
            # Rasa's SQL tracker store waits for PostgreSQL by itself: start it early.
            rasas = [s for n, s in self.services.items() if n.startswith("rasa")]
            for service in engines:
                service.wait_ready(timeout_s)
                say(f"{service.name} ready in {service.startup_s:.1f} s")
            create_databases(self.ports.postgres)
            for service in rasas:
                service.start()
            if self.seed:
                started = time.monotonic()
                seed_knowledge_base(
                    self.data_dir, database_url=self.database_url, chroma_url=self.chroma_url
                )
                seeded_s = time.monotonic() - started
                say(f"database migrated and knowledge base ready in {seeded_s:.1f} s")
            apps = [s for n, s in self.services.items() if n.startswith("app")]
            for service in [*apps, self.services["nginx"]]:
                service.start()
            for service in [*apps, self.services["nginx"], *rasas]:
                service.wait_ready(max(10.0, timeout_s - (time.monotonic() - t0)))
                say(f"{service.name} ready in {service.startup_s:.1f} s")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """nginx, the apps and the Rasa servers together, then the engines they use."""
        engines = ("postgres", "redis", "chroma")
        front = [s for n, s in self.services.items() if n not in engines]
        back = [s for n, s in self.services.items() if n in engines]
        for group in (front, back):
            with ThreadPoolExecutor(max_workers=max(1, len(group))) as pool:
                list(pool.map(lambda s: s.stop(), group))

    def report(self) -> dict[str, dict[str, float | int | None]]:
        """Start-up seconds, RSS and ports of each process (for benchmarks)."""
        return {
            name: {
                "startup_s": s.startup_s,
                "rss_mb": round(s.rss() / 2**20, 1),
                "pid": s.pid,
                **s.ports,
            }
            for name, s in self.services.items()
        }


def postgres_service(data_dir: Path, port: int, logs: Path) -> Service:
    """A PostgreSQL server of its own (initdb on first use), as the `postgres` user when
    run as root: it refuses to run as root."""
    user = "postgres" if os.geteuid() == 0 else None
    pgdata = _service_dir(data_dir / "postgres", user, "pg") / "data"
    logs.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        _owned_dir(pgdata, user)
        pgdata.chmod(0o700)
        with (logs / "postgres-initdb.out").open("ab") as initdb_log:
            subprocess.run(
                [
                    str(pg_bin() / "initdb"),
                    "-D",
                    str(pgdata),
                    "--username",
                    DB_USER,
                    # Loopback only, local stack: no password (docs/operations.md).
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                stdout=initdb_log,
                stderr=subprocess.STDOUT,
                timeout=120,
                user=user,
                group=user,
                extra_groups=[] if user else None,
            )
    return Service(
        "postgres",
        [
            str(pg_bin() / "postgres"),
            "-D",
            str(pgdata),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ],
        logs / "postgres.out",
        lambda: _tcp_open(port) and _pg_ready(port),
        {"postgres": port},
        user=user,
        stop_signal=signal.SIGINT,
    )


def _pg_ready(port: int) -> bool:
    isready = pg_bin() / "pg_isready"
    if not isready.exists():
        return True
    return (
        subprocess.run(
            [str(isready), "-h", HOST, "-p", str(port), "-U", DB_USER, "-d", "postgres", "-q"],
            timeout=10,
            check=False,
        ).returncode
        == 0
    )


def create_databases(port: int) -> None:
    """The app's and Rasa's databases, if missing."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(
            host=HOST, port=port, user=DB_USER, database="postgres", timeout=10
        )
        try:
            existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            for name in (APP_DB, RASA_DB):
                if name not in existing:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.scaled")
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
