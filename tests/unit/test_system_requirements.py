"""A test that needs a file or program from Debian fails (never skips) when it is
missing, naming the package and scripts/setup.sh; and setup.sh installs every such
package. A fresh clone was red because the tests needed asterisk-core-sounds-fr (the
/usr/share/asterisk/sounds/fr link and the prompts' transcript) and setup.sh installed
only asterisk-core-sounds-fr-wav; the tests that skipped hid it elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import system
from tests.support.system import (
    needs_program,
    require_program,
    require_system_file,
    setup_packages,
)

TESTS = Path(__file__).resolve().parent.parent
# The helper and this file name packages in examples.
NOT_SCANNED = {Path(system.__file__).resolve(), Path(__file__).resolve()}
# require_program("sox", "sox"), needs_system_file(PATH, "package"), ...
REQUIREMENT = re.compile(
    r"(?:require|needs)_(?:program|system_file)\(\s*[^,()]+(?:\([^()]*\))?[^,()]*,\s*\"([^\"]+)\""
)


def test_a_missing_system_file_fails_naming_the_package_and_setup(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        require_system_file(tmp_path / "nope.wav", "asterisk-core-sounds-fr")
    message = str(failed.value)
    assert "nope.wav is missing" in message
    assert "Debian package asterisk-core-sounds-fr" in message
    assert "scripts/setup.sh" in message
    assert require_system_file(tmp_path, "sox") == tmp_path


def test_a_missing_program_fails_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match=r"program sox is missing.*package sox"):
        require_program("sox", "sox")

    @needs_program("sox", "sox")
    def needs_sox() -> None:
        raise AssertionError("must not run without sox")

    @needs_program("sox", "sox")
    async def needs_sox_async() -> None:
        raise AssertionError("must not run without sox")

    with pytest.raises(pytest.fail.Exception, match="Debian package sox"):
        needs_sox()
    coroutine = needs_sox_async()
    with pytest.raises(pytest.fail.Exception, match="Debian package sox"):
        coroutine.send(None)


def test_a_package_setup_does_not_install_is_an_error() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"not in DEB_PACKAGES of scripts/setup\.sh"):
        require_program("sh", "some-package-setup-does-not-know")


def test_setup_installs_every_package_the_tests_require() -> None:
    required = {system.FRENCH_PROMPTS_PACKAGE, "asterisk-core-sounds-fr-wav"}
    for path in TESTS.rglob("*.py"):
        if path in NOT_SCANNED:
            continue
        required |= set(REQUIREMENT.findall(path.read_text(encoding="utf-8")))
    assert {"asterisk-core-sounds-fr", "baresip", "sox", "espeak-ng", "kamailio"} <= required
    assert required - setup_packages() == set()


def test_no_test_skips_for_want_of_a_system_file() -> None:
    skips = re.compile(r"skipif\(|pytest\.skip\(")
    system_file = re.compile(r"which\(|/usr/|not installed|install|is_dir\(\)|exists\(\)")
    offenders = []
    for path in set(TESTS.rglob("*.py")) - NOT_SCANNED:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if skips.search(line) and system_file.search(" ".join(lines[i : i + 4])):
                offenders.append(f"{path.relative_to(TESTS)}:{i + 1}")
    assert offenders == [], "use tests/support/system.py (fail naming the package), not a skip"
