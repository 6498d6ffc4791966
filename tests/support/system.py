"""What tests need from the Debian system: a missing file or program FAILS the test
(never skips it), naming the Debian package and scripts/setup.sh, which installs it.

A skip would leave `make test` green on a machine that lacks what the tests check
(CI was green only because a machine had asterisk-core-sounds-fr by hand).

    require_system_file(PROMPTS / "vm-goodbye.wav", "asterisk-core-sounds-fr")
    require_program("sox", "sox")

    @needs_system_file(PROMPTS, "asterisk-core-sounds-fr")
    def test_...(...): ...

Each package must be in scripts/setup.sh's DEB_PACKAGES, or the test fails saying so.
"""

from __future__ import annotations

import functools
import inspect
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SETUP_SH = ROOT / "scripts" / "setup.sh"
# Debian's French Asterisk prompts: the files come from asterisk-core-sounds-fr-wav
# (fr_CA_f_June/); the `fr` link (an alternative) and the transcript from
# asterisk-core-sounds-fr.
FRENCH_PROMPTS = Path("/usr/share/asterisk/sounds/fr")
FRENCH_PROMPTS_TRANSCRIPT = Path("/usr/share/doc/asterisk-core-sounds-fr/core-sounds-fr.txt.gz")
FRENCH_PROMPTS_PACKAGE = "asterisk-core-sounds-fr"

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def setup_packages() -> frozenset[str]:
    """The Debian packages scripts/setup.sh installs (its DEB_PACKAGES array)."""
    match = re.search(r"^DEB_PACKAGES=\(([^)]*)\)", SETUP_SH.read_text(), re.MULTILINE)
    assert match, f"no DEB_PACKAGES=(...) line in {SETUP_SH}"
    return frozenset(match.group(1).split())


def _missing(what: str, package: str) -> str:
    return (
        f"{what} is missing: install the Debian package {package} "
        "(scripts/setup.sh installs it: `make setup` as root, or the apt-get line it prints)"
    )


def _check_listed(package: str) -> None:
    if package not in setup_packages():
        pytest.fail(
            f"the Debian package {package} is not in DEB_PACKAGES of scripts/setup.sh: "
            "add it there, so that a fresh machine has what the tests need",
            pytrace=False,
        )


def require_system_file(path: Path | str, package: str) -> Path:
    """`path`, which the Debian `package` installs; fails the test if it is missing."""
    _check_listed(package)
    path = Path(path)
    if not path.exists():
        pytest.fail(_missing(str(path), package), pytrace=False)
    return path


def require_program(name: str, package: str) -> str:
    """The path of program `name` (on PATH), from the Debian `package`; fails if missing."""
    _check_listed(package)
    found = shutil.which(name)
    if found is None:
        pytest.fail(_missing(f"the program {name}", package), pytrace=False)
    return found


def needs_system_file(path: Path | str, package: str) -> Callable[[F], F]:
    """Decorator: the test fails first thing if `path` is missing (sync or async test)."""
    return _needs(lambda: require_system_file(path, package))


def needs_program(name: str, package: str) -> Callable[[F], F]:
    """Decorator: the test fails first thing if program `name` is missing."""
    return _needs(lambda: require_program(name, package))


def _needs(check: Callable[[], object]) -> Callable[[F], F]:
    def decorate(test: F) -> F:
        if inspect.iscoroutinefunction(test):

            @functools.wraps(test)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                check()
                return await test(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            check()
            return test(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def require_french_prompts() -> Path:
    """Debian's French Asterisk prompts (/usr/share/asterisk/sounds/fr) with their
    transcript; fails naming the package that provides whatever is missing."""
    if not FRENCH_PROMPTS.is_symlink() and not FRENCH_PROMPTS.exists():
        require_system_file(FRENCH_PROMPTS, FRENCH_PROMPTS_PACKAGE)
    require_system_file(FRENCH_PROMPTS_TRANSCRIPT, FRENCH_PROMPTS_PACKAGE)
    # The link (an alternative) exists; its target holds the WAV files.
    require_system_file(FRENCH_PROMPTS / "vm-goodbye.wav", "asterisk-core-sounds-fr-wav")
    return FRENCH_PROMPTS


needs_french_prompts = _needs(require_french_prompts)
