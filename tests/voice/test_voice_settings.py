"""The SIP/RTP part of the `voice` settings and how it reaches the user agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_SETTINGS_FILE, SettingsError, load_settings
from bot.settings.voice import END_POINT_MS, PAUSE_MS
from voice.channel import sip_config
from voice.vad import VoiceActivityDetector


def test_defaults_answer_this_machine_only_and_register_nowhere() -> None:
    config = sip_config(load_settings(env={}).voice)
    assert config.allowed_peers == () and [str(n) for n in config.peer_networks] == [
        "127.0.0.0/8",
        "::1/128",
    ]
    assert config.registrar is None and config.password is None
    assert (config.invite_burst, config.invite_per_minute) == (10, 60.0)
    assert config.rtp_source == "sdp"


def test_a_pbx_extension_with_its_password_from_the_environment() -> None:
    env = {
        "GUICHET__VOICE__REGISTRAR": "sip:192.0.2.10:5060",
        "GUICHET__VOICE__SIP_DOMAIN": "mairie.example",
        "GUICHET__VOICE__EXTENSION": "'2001'",
        "GUICHET__VOICE__AUTH_USER": "bot2001",
        "GUICHET__VOICE__ALLOWED_PEERS": "['192.0.2.10', '198.51.100.0/24']",
        "GUICHET__VOICE__INVITE_LIMIT": "{burst: 4, per_minute: 30}",
        "GUICHET__VOICE__RTP_SOURCE": "latch",
        "GUICHET_SIP_PASSWORD": "s3cret-from-env",
    }
    voice = load_settings(env=env).voice
    assert "s3cret" not in repr(voice)  # settings may be logged
    config = sip_config(voice)
    assert config.registrar == "sip:192.0.2.10:5060" and config.domain == "mairie.example"
    assert (config.user, config.auth_user, config.password) == (
        "2001",
        "bot2001",
        "s3cret-from-env",
    )
    assert config.allowed_peers == ("192.0.2.10/32", "198.51.100.0/24")
    assert (config.invite_burst, config.invite_per_minute, config.rtp_source) == (4, 30.0, "latch")


def test_a_password_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8")
    settings = tmp_path / "settings.yml"
    settings.write_text(
        text.replace("  extension: guichet\n", "  extension: guichet\n  password: x\n")
    )
    with pytest.raises(SettingsError, match="GUICHET_SIP_PASSWORD"):
        load_settings(settings, env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GUICHET__VOICE__ALLOWED_PEERS": "['pbx.example.org']"}, "voice.allowed_peers"),
        ({"GUICHET__VOICE__ALLOWED_PEERS": "10.0.0.1"}, "list of addresses"),
        ({"GUICHET__VOICE__REGISTRAR": "pbx.example.org"}, "must be a SIP URI"),
        ({"GUICHET__VOICE__RTP_SOURCE": "any"}, "sdp or latch"),
        ({"GUICHET__VOICE__WHISPER_WINDOW": "short"}, "fit or full"),
        ({"GUICHET__VOICE__COMPLETE_TURN_MS": "160"}, "more than the 160 ms pause"),
        ({"GUICHET__VOICE__COMPLETE_TURN_MS": "500"}, "less than the 500 ms end-point"),
        ({"GUICHET__VOICE__COMPLETE_TURN_MS": "-1"}, "whole number of milliseconds"),
        ({"GUICHET__VOICE__COMPLETE_TURN_MS": "0.3"}, "whole number of milliseconds"),
        ({"GUICHET__VOICE__COMPLETE_TURN_MS": "true"}, "whole number of milliseconds"),
        ({"GUICHET__VOICE__INCOMPLETE_TURN_MS": "500"}, "more than the 500 ms end-point"),
        ({"GUICHET__VOICE__INCOMPLETE_TURN_MS": "5000"}, "at most 2000 ms"),
        ({"GUICHET__VOICE__INCOMPLETE_TURN_MS": "1 s"}, "whole number of milliseconds"),
        ({"GUICHET__VOICE__INVITE_LIMIT": "{burst: -1}"}, "voice.invite_limit"),
        ({"GUICHET__VOICE__SIP_PASSWORD": "x"}, "must not be in the settings"),
    ],
)
def test_bad_voice_values_are_reported_in_english(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_the_whisper_window_is_fitted_unless_the_operator_asks_for_30_s() -> None:
    assert load_settings(env={}).voice.whisper_window == "fit"
    env = {"GUICHET__VOICE__WHISPER_WINDOW": "full"}
    assert load_settings(env=env).voice.whisper_window == "full"


def test_turn_taking_defaults_and_how_a_town_keeps_the_fixed_end_point() -> None:
    voice = load_settings(env={}).voice
    assert (voice.complete_turn_ms, voice.incomplete_turn_ms) == (300, 1000)
    off = {"GUICHET__VOICE__COMPLETE_TURN_MS": "0", "GUICHET__VOICE__INCOMPLETE_TURN_MS": "0"}
    voice = load_settings(env=off).voice
    assert (voice.complete_turn_ms, voice.incomplete_turn_ms) == (0, 0)
    # The limits the settings check are the VAD's own pause and end-point.
    vad = VoiceActivityDetector()
    assert (vad.pause_frames * vad.frame_ms, vad.end_frames * vad.frame_ms) == (
        PAUSE_MS,
        END_POINT_MS,
    )
