"""Rasa for the launchers: the trained model, its API token, `rasa run`'s command
line and environment. Rasa runs from its own venv (.venv-rasa), never imported here.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from pathlib import Path

from tools import ROOT

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
# (tools/scaled/) or the operator's environment sets PostgreSQL and Redis.
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
