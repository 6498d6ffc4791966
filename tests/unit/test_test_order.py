"""Tests that restart a shared stack's processes run after all the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest

from tests.conftest import pytest_collection_modifyitems


@dataclass
class FakeItem:
    name: str
    disruptive: bool = False

    def get_closest_marker(self, name: str) -> Any:
        return pytest.mark.disruptive if name == "disruptive" and self.disruptive else None


def test_disruptive_tests_run_last_in_their_own_order() -> None:
    items = [
        FakeItem("a"),
        FakeItem("resilience", disruptive=True),
        FakeItem("b"),
        FakeItem("zz_recovery", disruptive=True),
        FakeItem("c"),
    ]
    pytest_collection_modifyitems(cast(list[pytest.Item], items))
    assert [i.name for i in items] == ["a", "b", "c", "resilience", "zz_recovery"]


@pytest.mark.parametrize(
    "path",
    [
        "tests/integration/test_resilience.py",
        "tests/scaled/test_zz_recovery.py",
        "tests/scaled/test_faults.py",
        "tests/fault/test_rasa_kill.py",
    ],
)
def test_stack_restarting_modules_are_marked(path: str) -> None:
    from tools import ROOT

    source = (ROOT / path).read_text(encoding="utf-8")
    assert "pytest.mark.disruptive" in source.split("pytestmark", 1)[1].split("\n", 1)[0]
