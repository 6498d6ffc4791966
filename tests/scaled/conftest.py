"""The scaled-out stack, once per session: real PostgreSQL, Redis, Chroma server,
two Rasa servers, two app instances and nginx, all on 127.0.0.1 (tools/scaled/).

A missing program FAILS these tests (never skips them), naming what to install;
`scripts/setup.sh` installs them. PostgreSQL is found in any version, where
`pg_config --bindir` or Debian's /usr/lib/postgresql/<version>/bin say.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.admin.users import Role, UserStore
from bot.core.db import create_engine
from tests.conftest import ALWAYS_OPEN
from tests.support.system import require_program, require_system_file
from tools.scaled import (
    Ports,
    ScaledStack,
    find_postgres_bindir,
    missing_binaries,
    scratch_dirs,
)

# Start-up takes 2–4 minutes on 2 cores (two Rasa servers load their model at once).
START_TIMEOUT_S = 540


def require_scaled_binaries() -> None:
    """Fails (never skips) when a program of the scaled stack is missing."""
    require_program("redis-server", "redis-server")
    require_program("nginx", "nginx")
    bindir = find_postgres_bindir()
    if bindir is None:
        require_system_file("/usr/lib/postgresql/<version>/bin/postgres", "postgresql-15")
    else:
        require_system_file(bindir / "postgres", "postgresql-15")
        require_system_file(bindir / "initdb", "postgresql-15")
    missing = missing_binaries()  # the Python environments: chroma, rasa
    if missing:
        pytest.fail(
            "scaled stack not installed here: missing "
            + ", ".join(missing)
            + " (bash scripts/setup.sh installs them)"
        )


@pytest.fixture(scope="session")
def scaled(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaledStack]:
    require_scaled_binaries()
    data_dir = tmp_path_factory.mktemp("scaled")
    stack = ScaledStack(
        data_dir,
        trained_model,
        Ports.free(),
        extra_env={
            # Agents "work" around the clock in tests, so results do not depend on the hour.
            "GUICHET__HANDOFF__AGENT_HOURS": ALWAYS_OPEN,
        },
    )
    try:
        stack.start(timeout_s=START_TIMEOUT_S)
        yield stack
    finally:
        stack.stop()
        for leftover in scratch_dirs(data_dir):
            shutil.rmtree(leftover, ignore_errors=True)


@dataclass
class Staff:
    email: str
    token: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"guichet_admin={self.token}"}


async def staff_member(stack: ScaledStack, role: Role) -> Staff:
    """An account and a signed-in session, written to the shared PostgreSQL."""
    engine = create_engine(stack.database_url)
    try:
        users = UserStore(engine)
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@mairie.example"
        user = await users.create(email, "correct horse battery staple", role)
        token, session = await users.open_session(user)
    finally:
        await engine.dispose()
    return Staff(email, token, session.csrf_token)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
