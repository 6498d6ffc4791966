"""PostgreSQL for the scaled stack: finding the server programs, a server of its own
(initdb on first use) and the app's and Rasa's databases.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tools.scaled.services import HOST, Service, owned_dir, service_dir, tcp_open

PG_LIB = Path("/usr/lib/postgresql")  # Debian: one <version>/bin per installed server
DB_USER = "guichet"
APP_DB = "guichet"
RASA_DB = "rasa"


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


def postgres_service(data_dir: Path, port: int, logs: Path) -> Service:
    """A PostgreSQL server of its own (initdb on first use), as the `postgres` user when
    run as root: it refuses to run as root."""
    user = "postgres" if os.geteuid() == 0 else None
    pgdata = service_dir(data_dir / "postgres", user, "pg") / "data"
    logs.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        owned_dir(pgdata, user)
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
        lambda: tcp_open(port) and _pg_ready(port),
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
