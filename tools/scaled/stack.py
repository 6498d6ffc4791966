"""The scaled stack itself: its ports, its services in start order and nginx's
configuration, rendered from the template `nginx.conf` beside this file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools import ROOT
from tools.launcher import seed_knowledge_base
from tools.processes import answers
from tools.rasa import rasa_command, rasa_env, rasa_token
from tools.scaled.postgres import (
    APP_DB,
    DB_USER,
    RASA_DB,
    create_databases,
    pg_bin,
    postgres_service,
)
from tools.scaled.services import (
    HOST,
    Service,
    free_port,
    owned_dir,
    redis_ping,
    service_dir,
    tcp_open,
)

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
CHROMA_BIN = ROOT / ".venv" / "bin" / "chroma"
NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf")
_PLACEHOLDER = re.compile(r"\{\{ *(\w+) *\}\}")


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


def render_nginx_conf(values: Mapping[str, object], template: Path = NGINX_TEMPLATE) -> str:
    """The template with each `{{ name }}` replaced by `values[name]` (KeyError when one
    is missing); everything else, nginx's own braces and variables, is left as written."""
    text = template.read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]), text)


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
        workdir = owned_dir(self.data_dir / "redis", None)
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
            lambda: redis_ping(port),
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
            lambda: answers(f"http://{HOST}:{port}/api/v2/heartbeat"),
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
            lambda: answers(f"http://{HOST}:{port}/"),
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
            lambda: answers(f"http://{HOST}:{public}/healthz"),
            {"http": public, "actions": actions},
            env=self.app_env(public, actions),
        )

    def _nginx(self) -> Service:
        user = "www-data" if os.geteuid() == 0 else None
        run = service_dir(self.data_dir / "nginx", user, "nginx")
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            owned_dir(run / sub, user)

        def servers(ports: list[int]) -> str:
            return "\n".join(
                f"        server {HOST}:{p} max_fails=1 fail_timeout=2s;" for p in ports
            )

        conf = run / "nginx.conf"
        conf.write_text(
            render_nginx_conf(
                {
                    "run": run,
                    "user_line": f"user {user};" if user else "",
                    "host": HOST,
                    "public": self.ports.public,
                    "rasa_lb": self.ports.rasa_lb,
                    "actions_lb": self.ports.actions_lb,
                    "apps": servers([public for public, _ in self.ports.apps]),
                    "rasas": servers(self.ports.rasas),
                    "actions": servers([actions for _, actions in self.ports.apps]),
                }
            )
        )
        public = self.ports.public
        return Service(
            "nginx",
            [NGINX_BIN, "-c", str(conf), "-p", str(run), "-e", str(run / "error.log")],
            self.logs / "nginx.out",
            lambda: tcp_open(public),
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
