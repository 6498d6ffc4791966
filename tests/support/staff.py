"""Staff accounts for browser tests, created the way an operator does: with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from tools import ROOT
from tools.launcher import Stack


def create_staff_user(stack: Stack, email: str, role: str, password: str) -> str:
    """`python -m bot.admin create-user EMAIL --role ROLE` in the running stack's database."""
    env = dict(os.environ)
    env.update({"GUICHET_DATA_DIR": str(stack.settings.data_dir), "GUICHET_NEW_PASSWORD": password})
    done = subprocess.run(
        [sys.executable, "-m", "bot.admin", "create-user", email, "--role", role],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return email
