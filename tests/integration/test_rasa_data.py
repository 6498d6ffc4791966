import subprocess

import pytest

from tools import ROOT
from tools.rasa import RASA_BIN

pytestmark = pytest.mark.integration


def test_rasa_data_validate_passes() -> None:
    result = subprocess.run(
        [
            str(RASA_BIN),
            "data",
            "validate",
            "--domain",
            "domain.yml",
            "--data",
            "training_data",
            "--config",
            "config.yml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
