"""The phone channel: a SIP user agent whose calls are run by `PhoneCall`.

Runs inside the app's process and event loop, so calls share the conversation
service, the knowledge base and the handoff service with the web chat. The
speech model is loaded once; recognition and synthesis run in worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.conversation.handoff import HandoffService
from bot.conversation.service import ConversationService
from bot.notifications.compose import Notifier
from bot.notifications.outbox import OutboxStore
from bot.observability import metrics
from bot.settings import Settings, VoiceSettings
from bot.storage.calls import CallStore
from voice.call import PhoneCall
from voice.followup import LinkOffer
from voice.session import VoiceSession
from voice.sip.agent import SipAgent
from voice.sip.config import SipConfig
from voice.stt import SpeechModelMissing, SpeechRecognizer, VoskRecognizer
from voice.stt import load_model_async as load_vosk_async
from voice.tts import Pyttsx3Synthesizer


@dataclass(frozen=True)
class PhoneDependencies:
    """What the phone channel uses of the app, and nothing more."""

    settings: Settings
    conversation: ConversationService
    handoff: HandoffService
    calls: CallStore
    # Links by SMS after a call, when notifications are on.
    notifier: Notifier | None = None
    outbox: OutboxStore | None = None


log = logging.getLogger(__name__)


class VoiceUnavailable(RuntimeError):
    """voice.enabled is true but the channel cannot start (English, for operators)."""


def sip_config(voice: VoiceSettings) -> SipConfig:
    """The user agent's configuration from the `voice` settings: the one place where
    the operator's knobs (bot/settings/voice.py) become the SIP stack's. The other
    `SipConfig` fields (timers, limits, ringing) keep the SIP stack's defaults; a call
    reads the settings themselves (`PhoneCall(..., settings)`)."""
    return SipConfig(
        host=voice.sip_host,
        port=voice.sip_port,
        public_address=voice.public_address or None,
        rtp_port_min=voice.rtp_port_min,
        rtp_port_max=voice.rtp_port_max,
        max_calls=voice.max_calls,
        allowed_peers=voice.allowed_peers,
        invite_burst=voice.invite_limit.burst,
        invite_per_minute=voice.invite_limit.per_minute,
        rtp_source=voice.rtp_source,
        registrar=voice.registrar or None,
        domain=voice.sip_domain or None,
        user=voice.extension,
        auth_user=voice.auth_user or None,
        password=voice.sip_password or None,
        register_expires=voice.register_expires,
        register_check=voice.register_check_s,
    )


@dataclass
class PhoneChannel:
    services: PhoneDependencies
    agent: SipAgent | None = None
    synthesizer: Pyttsx3Synthesizer | None = None
    engine: str = ""  # the speech recogniser in use: vosk | whisper
    # The calls in progress, by conversation id.
    active: dict[str, PhoneCall] = field(default_factory=dict)

    def choose_engine(self) -> str:
        """voice.stt_engine, with auto resolved: Vosk when its model is installed (streaming,
        the fastest end of turn), else the Whisper model that ships in packages."""
        voice = self.settings.voice
        if voice.stt_engine != "auto":
            return voice.stt_engine
        if voice.vosk_model.is_dir():
            return "vosk"
        from voice.whisper import whisper_available

        return "whisper" if whisper_available() else "vosk"

    async def _load_engine(self, engine: str) -> None:
        voice = self.settings.voice
        if engine == "whisper":
            from voice.whisper import load_model_async as load_whisper_async

            await load_whisper_async(voice.whisper_model)
        else:
            await load_vosk_async(voice.vosk_model)

    def new_recognizer(self) -> SpeechRecognizer:
        voice = self.settings.voice
        if self.engine == "whisper":
            from voice.whisper import WhisperOptions, WhisperRecognizer

            fitted = voice.whisper_window == "fit"
            options = WhisperOptions() if fitted else WhisperOptions(window_margin_s=None)
            return WhisperRecognizer(voice.whisper_model, options=options)
        return VoskRecognizer(voice.vosk_model)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def port(self) -> int | None:
        return self.agent.port if self.agent else None

    async def start(self) -> bool:
        """Start answering calls; False (and a log line) when disabled or unavailable."""
        voice = self.settings.voice
        if voice.enabled == "false":
            return False
        engine = self.choose_engine()
        try:
            await self._load_engine(engine)  # once, off the loop; shared by calls
        except SpeechModelMissing as exc:
            if voice.enabled == "true":
                raise VoiceUnavailable(str(exc)) from exc
            log.warning("phone channel off: %s", exc)
            return False
        self.engine = engine
        self.synthesizer = Pyttsx3Synthesizer()
        self.agent = SipAgent(sip_config(voice), self._on_call)
        await self.agent.start()
        log.info(
            "phone channel answering SIP on %s:%s (speech recognition: %s)",
            voice.sip_host,
            self.agent.port,
            engine,
        )
        if not voice.allowed_peers:
            log.info("voice.allowed_peers is empty: only SIP peers on this machine are answered")
        if voice.registrar:
            log.info("registering as %s with %s", voice.extension, voice.registrar)
        return True

    async def _on_call(self, session: VoiceSession) -> None:
        assert self.synthesizer is not None
        services = self.services
        call = PhoneCall(
            session,
            services.conversation,
            self.new_recognizer(),
            self.synthesizer,
            self.settings,
            services.calls,
            services.handoff,
            links=self._link_offer(),
        )
        metrics.call_started()
        self.active[call.conversation_id] = call
        try:
            await call.run()
        finally:
            self.active.pop(call.conversation_id, None)
            metrics.call_ended(call.state.outcome)

    def _link_offer(self) -> Callable[[str, str], LinkOffer] | None:
        """Links sent by SMS after a call, when SMS are configured."""
        notifier, outbox = self.services.notifier, self.services.outbox
        if notifier is None or outbox is None or not self.settings.notifications.sms.enabled:
            return None
        return lambda conversation_id, caller: LinkOffer(notifier, outbox, conversation_id, caller)

    async def stop(self) -> None:
        if self.agent is not None:
            await self.agent.stop()
        if self.synthesizer is not None:
            self.synthesizer.shutdown()
