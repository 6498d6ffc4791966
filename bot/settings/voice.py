"""The phone channel: the SIP listener, the PBX registration, speech recognition and
the call's patience with silence. The phone channel (voice/channel.py) gives the SIP
user agent its `SipConfig` from these in one place (`sip_config`); a call reads them
as they are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings.common import RateLimit, SettingsError, flag, networks, rate_limit

# The PBX password of the callbot's extension: from the environment only, never the file.
SIP_PASSWORD_ENV = "GUICHET_SIP_PASSWORD"
# The VAD's pause (the early decode starts there) and its fixed end-point, in ms
# (voice/vad.py's defaults: 8 and 25 frames of 20 ms); the turn-taking settings must
# fall between and beyond them.
PAUSE_MS = 160
END_POINT_MS = 500
# Longest wait for a caller who stopped mid-sentence.
MAX_INCOMPLETE_TURN_MS = 2000


@dataclass(frozen=True)
class VoiceSettings:
    enabled: str = "auto"  # auto | true | false
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    public_address: str = ""
    rtp_port_min: int = 20000
    rtp_port_max: int = 20199
    max_calls: int = 10
    # SIP peers (PBX, trunk) allowed to talk to the callbot; empty: this machine only.
    allowed_peers: tuple[str, ...] = ()
    invite_limit: RateLimit = field(default_factory=lambda: RateLimit(10, 60))
    rtp_source: str = "sdp"  # sdp | latch (see voice/rtp.py)
    # Registration with a PBX as an extension; registrar empty: the PBX routes to us.
    registrar: str = ""
    sip_domain: str = ""
    extension: str = "guichet"
    auth_user: str = ""
    sip_password: str = field(default="", repr=False)  # from GUICHET_SIP_PASSWORD
    register_expires: int = 600
    register_check_s: float = 30.0
    vosk_model: Path = Path("models/vosk-model-small-fr-0.22")
    # auto: Vosk when its model is installed, else the packaged Whisper base model.
    stt_engine: str = "auto"  # auto | vosk | whisper
    whisper_model: Path = Path("models/whisper-base")
    silence_reprompt_s: float = 8.0
    max_silences: int = 3
    # Whisper: start decoding at the caller's first 160 ms pause, not after the
    # 500 ms end-point (voice/vad.py SpeechPaused); off only to measure the difference.
    early_decode: bool = True
    # Whisper's encoder window: fit (fitted to each utterance, voice/whisper.py) or
    # full (Whisper's fixed 30 s, about 700 ms slower on a short question).
    whisper_window: str = "fit"
    # Turn-taking from the words decoded at the pause (Whisper with early_decode,
    # voice/turns.py): a sentence that is plainly over ends the turn after this much
    # silence instead of 500 ms (0: never sooner than 500 ms) ...
    complete_turn_ms: int = 300
    # ... and one that stops on "euh", "de", "je voudrais" waits up to this much
    # silence (0: 500 ms as for any other). Both 0: the fixed 500 ms end-point.
    incomplete_turn_ms: int = 1000


def parse_voice(raw: dict[str, Any], data_dir: Path, env: Mapping[str, str]) -> VoiceSettings:
    section = raw.get("voice") or {}
    if not isinstance(section, dict):
        raise SettingsError("settings: section 'voice' must be a mapping")
    for key in ("password", "sip_password"):
        if key in section:
            raise SettingsError(
                f"settings: 'voice.{key}' must not be in the settings file (it would end up in"
                f" backups and repositories): set the {SIP_PASSWORD_ENV} environment variable"
            )
    enabled = str(section.get("enabled", "auto")).lower()
    if enabled not in ("auto", "true", "false"):
        raise SettingsError(
            f"settings: 'voice.enabled' must be auto, true or false, not {enabled!r}"
        )
    model = Path(str(section.get("vosk_model") or VoiceSettings.vosk_model))
    whisper = Path(str(section.get("whisper_model") or VoiceSettings.whisper_model))
    engine = str(section.get("stt_engine", "auto")).lower()
    if engine not in ("auto", "vosk", "whisper"):
        raise SettingsError(
            f"settings: 'voice.stt_engine' must be auto, vosk or whisper, not {engine!r}"
        )
    whisper_window = str(section.get("whisper_window", "fit")).lower()
    if whisper_window not in ("fit", "full"):
        raise SettingsError(
            f"settings: 'voice.whisper_window' must be fit or full, not {whisper_window!r}"
        )
    complete_turn_ms = _milliseconds(section, "complete_turn_ms", VoiceSettings.complete_turn_ms)
    if complete_turn_ms and not PAUSE_MS < complete_turn_ms < END_POINT_MS:
        raise SettingsError(
            f"settings: 'voice.complete_turn_ms' must be 0 (off) or more than the {PAUSE_MS} ms"
            f" pause and less than the {END_POINT_MS} ms end-point, not {complete_turn_ms}"
        )
    incomplete_turn_ms = _milliseconds(
        section, "incomplete_turn_ms", VoiceSettings.incomplete_turn_ms
    )
    if incomplete_turn_ms and not END_POINT_MS < incomplete_turn_ms <= MAX_INCOMPLETE_TURN_MS:
        raise SettingsError(
            f"settings: 'voice.incomplete_turn_ms' must be 0 (off) or more than the"
            f" {END_POINT_MS} ms end-point and at most {MAX_INCOMPLETE_TURN_MS} ms,"
            f" not {incomplete_turn_ms}"
        )
    registrar = str(section.get("registrar") or "").strip()
    if registrar and not registrar.lower().startswith(("sip:", "sips:")):
        raise SettingsError(
            f"settings: 'voice.registrar' must be a SIP URI such as sip:pbx.example.org:5060,"
            f" not {registrar!r}"
        )
    rtp_source = str(section.get("rtp_source", "sdp")).lower()
    if rtp_source not in ("sdp", "latch"):
        raise SettingsError(
            f"settings: 'voice.rtp_source' must be sdp or latch, not {rtp_source!r}"
        )
    peers = networks(section.get("allowed_peers") or [], "voice.allowed_peers")
    invite_limit = rate_limit(section, "invite_limit", RateLimit(10, 60), "voice.invite_limit")
    try:
        return VoiceSettings(
            enabled=enabled,
            sip_host=str(section.get("sip_host", "127.0.0.1")),
            sip_port=int(section.get("sip_port", 5060)),
            public_address=str(section.get("public_address") or ""),
            rtp_port_min=int(section.get("rtp_port_min", 20000)),
            rtp_port_max=int(section.get("rtp_port_max", 20199)),
            max_calls=int(section.get("max_calls", 10)),
            vosk_model=model if model.is_absolute() else data_dir / model,
            stt_engine=engine,
            whisper_model=whisper if whisper.is_absolute() else data_dir / whisper,
            silence_reprompt_s=float(section.get("silence_reprompt_s", 8)),
            max_silences=int(section.get("max_silences", 3)),
            early_decode=flag(section, "early_decode", True, "voice"),
            whisper_window=whisper_window,
            complete_turn_ms=complete_turn_ms,
            incomplete_turn_ms=incomplete_turn_ms,
            allowed_peers=peers,
            invite_limit=invite_limit,
            rtp_source=rtp_source,
            registrar=registrar,
            sip_domain=str(section.get("sip_domain") or "").strip(),
            extension=str(section.get("extension") or "guichet").strip(),
            auth_user=str(section.get("auth_user") or "").strip(),
            sip_password=env.get(SIP_PASSWORD_ENV, ""),
            register_expires=int(section.get("register_expires", 600)),
            register_check_s=float(section.get("register_check_s", 30)),
        )
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"settings: invalid 'voice' value: {exc}") from exc


def _milliseconds(section: dict[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(
            f"settings: 'voice.{key}' must be a whole number of milliseconds, not {value!r}"
        )
    return value
