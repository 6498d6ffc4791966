from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_load_and_resolve_data_dir(tmp_path: Path) -> None:
    s = load_settings(env={"GUICHET_DATA_DIR": str(tmp_path / "d")})
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.database_url.endswith(str(tmp_path / "d" / "guichet.db"))
    assert s.town.phone and s.town.opening_hours
    assert s.chat.max_message_chars == 2000


def test_environment_overrides_nested_values() -> None:
    s = load_settings(
        env={
            "GUICHET__SERVER__PORT": "9090",
            "GUICHET__RASA__TIMEOUT_S": "1.5",
            "GUICHET__TOWN__PHONE": "01 99 00 00 01",
        }
    )
    assert s.server.port == 9090
    assert s.rasa.timeout_s == 1.5
    assert s.town.phone == "01 99 00 00 01"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GUICHET__SERVER__PORT": "http"}, "server.port' must be int"),
        ({"GUICHET__SERVER__PORT": "70000"}, "out of range"),
        ({"GUICHET__RASA__TIMEOUT_S": "0"}, "must be positive"),
        ({"GUICHET__TOWN__OPENING_HOURS": "[1, 2]"}, "opening_hours"),
        ({"GUICHET__SERVER": "3"}, "section 'server'"),
    ],
)
def test_invalid_values_are_reported_in_english(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.yml", env={})
    bad = tmp_path / "bad.yml"
    bad.write_text("server: [unclosed")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad, env={})
