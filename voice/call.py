"""One phone call, from greeting to hang-up, over any `VoiceSession`.

Small stages: caller frames go through the VAD (end-pointing, barge-in); while
the caller speaks, audio streams into the recogniser in a worker thread (Whisper
decodes from the caller's first pause, and its words end the turn sooner or later
than the VAD's 500 ms, voice/turns.py); at the end of the utterance the text
becomes a turn of the same conversation service the web chat uses (channel
"phone"); replies are adapted for the ear, spoken, and their buttons become a
keypad menu. Keypad digits work at any time: 0 for a person, * to repeat, 1-9 for
the menu.

A person is reached by transferring the call (the channel declares `transfer`:
`SPOKEN` in bot/conversation/capabilities.py) or, when nobody can answer, by a
callback request. A call never waits in the agents' queue, so it renders none of
the handoff events (bot/conversation/handoff_events.py): the web chat does.

Why one module of this size: `PhoneCall` is one call's state machine; hearing,
turns, the keypad, reaching a person, silences and speaking all read and change
the same `CallState` and the one playback in progress (barge-in stops it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.conversation.capabilities import SPOKEN
from bot.conversation.handoff import HandoffService
from bot.conversation.messages import BotMessage
from bot.conversation.service import ConversationService, InvalidMessage, UserTurn
from bot.observability import metrics
from bot.settings import Settings
from voice.followup import LinkOffer
from voice.session import AudioFrame, DtmfDigit, HangupCause, PlaybackResult, VoiceSession
from voice.stt import SpeechRecognizer, UtteranceDecoder
from voice.texts import shorten_for_voice, to_speech
from voice.tts import SpeechSynthesizer
from voice.turns import Ending, ending
from voice.vad import EndReason, SpeechEnded, SpeechPaused, SpeechStarted, VoiceActivityDetector

log = logging.getLogger(__name__)


class CallJournal(Protocol):
    """Where a call's start and outcome are written (bot/storage/calls.py's CallStore),
    for the console and the statistics."""

    async def started(self, call_id: str, conversation_id: str) -> None: ...

    async def ended(
        self,
        call_id: str,
        outcome: str,
        turns: int,
        barge_ins: int,
        ticket_reference: str | None = None,
    ) -> None: ...


CHANNEL = "phone"
# Frames fed to the recogniser at once while the caller speaks (5 x 20 ms).
STT_BATCH_FRAMES = 5
# Utterances not understood in a row after which the call offers the keypad menu.
MAX_MISUNDERSTOOD = 2


@dataclass
class CallState:
    turns: int = 0
    barge_ins: int = 0
    silences: int = 0
    misunderstood: int = 0
    outcome: str = "hung_up"
    ticket_reference: str | None = None
    menu: dict[str, tuple[str, str]] = field(default_factory=dict)  # digit -> (title, payload)
    last_spoken: str = ""
    callback_offer: bool = False
    # Utterances whose text came from the decode started at the caller's pause.
    early_decodes: int = 0


@dataclass
class EarlyDecode:
    """A decode started at the caller's pause, and how its words end (voice/turns.py)."""

    pause: SpeechPaused
    text: asyncio.Future[str | None]
    verdict: Ending | None = None  # once the text is there

    def ending(self) -> Ending | None:
        """How the words end once decoded (EMPTY if the decode failed); None before."""
        if self.verdict is None and self.text.done():
            text = None if self.text.cancelled() else self.text.result()
            self.verdict = ending(text) if text is not None else Ending.EMPTY
        return self.verdict


def conversation_id_for(call_id: str) -> str:
    """A stable conversation id the conversation service accepts."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:@-]", "", call_id)[:58]
    return f"phone-{cleaned}" if len(cleaned) >= 2 else f"phone-{abs(hash(call_id))}"


def spell_reference(reference: str) -> str:
    """RAP-7K3D9Q -> "R, A, P, 7, K, 3, D, 9, Q": read slowly, one sign at a time."""
    return ", ".join(c for c in reference if c.isalnum())


def menu_text(menu: dict[str, tuple[str, str]]) -> str:
    return " ".join(f"Tapez {digit} pour : {title}." for digit, (title, _) in menu.items())


class PhoneCall:
    def __init__(
        self,
        session: VoiceSession,
        conversation: ConversationService,
        recognizer: SpeechRecognizer,
        synthesizer: SpeechSynthesizer,
        settings: Settings,
        journal: CallJournal | None = None,
        handoff: HandoffService | None = None,
        vad_factory: Callable[[], VoiceActivityDetector] = VoiceActivityDetector,
        links: Callable[[str, str], LinkOffer] | None = None,
    ) -> None:
        self.session = session
        self.conversation = conversation
        self.recognizer = recognizer
        self.tts = synthesizer
        self.settings = settings
        self.journal = journal
        self.handoff = handoff
        self.vad = vad_factory()
        self.state = CallState()
        self.conversation_id = conversation_id_for(session.call_id)
        # "Voulez-vous recevoir le lien par SMS ?" (None when SMS are off).
        self.links = links(self.conversation_id, session.caller) if links else None
        self._playback: asyncio.Task[PlaybackResult] | None = None
        self._stt_frames: list[bytes] = []
        self._stt_feeding: asyncio.Task[None] | None = None
        self._fed_any = False  # whether this utterance was streamed to the recogniser
        # A decode started at the caller's last pause.
        self._early: EarlyDecode | None = None
        # Turn-taking from its words, in VAD frames (0: off; see _end_of_turn).
        voice = settings.voice
        self._complete_frames = math.ceil(voice.complete_turn_ms / self.vad.frame_ms)
        self._incomplete_frames = math.ceil(voice.incomplete_turn_ms / self.vad.frame_ms)
        self._last_activity = time.monotonic()
        # Latency figures: end of the caller's utterance -> first audio of the answer.
        self.response_latencies_ms: list[float] = []
        self._utterance_end: float | None = None
        self._ended = False

    # --- life cycle ---
    async def run(self) -> None:
        if self.journal:
            await self.journal.started(self.session.call_id, self.conversation_id)
        warm_up = getattr(self.recognizer, "warm_up_async", None)
        if warm_up is not None:
            # The recogniser is built while the greeting plays, not on the first question.
            self._stt_feeding = asyncio.ensure_future(warm_up())
        try:
            await self.say(
                f"Bonjour, vous êtes en relation avec l'assistant automatisé de la mairie de "
                f"{self.settings.town.name}. Posez votre question après le signal. "
                "Pour parler à un agent, tapez 0 à tout moment."
            )
            await self._loop()
        except Exception:
            log.exception("call %s failed", self.session.call_id)
            self.state.outcome = "error"
            await self._end_call()
        finally:
            await self._stop_playback()
            if self.links:
                await self.links.call_ended()
            if self.journal:
                await self.journal.ended(
                    self.session.call_id,
                    self.state.outcome,
                    self.state.turns,
                    self.state.barge_ins,
                    self.state.ticket_reference,
                )

    async def _loop(self) -> None:
        events = self.session.events
        last_check = time.monotonic()
        while not self._ended:
            # Audio frames arrive every 20 ms even when the caller is silent, so the
            # silence check runs on the clock, not only when no event arrives.
            if time.monotonic() - last_check >= 0.5:
                last_check = time.monotonic()
                await self._check_silence()
                if self._ended:
                    return
            try:
                event = await asyncio.wait_for(events.get(), timeout=0.5)
            except TimeoutError:
                continue
            if isinstance(event, HangupCause):
                await self._on_hangup(event)
                return
            if isinstance(event, DtmfDigit):
                await self._on_digit(event.digit)
            elif isinstance(event, AudioFrame):
                await self._on_audio(event)

    async def _on_hangup(self, cause: HangupCause) -> None:
        if cause is HangupCause.CALLER and self.state.outcome == "hung_up":
            self.state.outcome = "answered_by_bot" if self.state.turns else "hung_up"
        self._ended = True
        if self.handoff:
            await self.handoff.abandon(self.conversation_id)

    # --- audio in ---
    async def _on_audio(self, frame: AudioFrame) -> None:
        for vad_event in self.vad.process(frame.pcm):
            if isinstance(vad_event, SpeechStarted):
                self._last_activity = time.monotonic()
                if self._playing():
                    # Barge-in: the caller speaks over the bot; stop talking now.
                    self.session.clear_playback()
                    self.state.barge_ins += 1
                self.recognizer.start()
                self._stt_frames = []
                self._early = None
            elif isinstance(vad_event, SpeechPaused):
                self._decode_early(vad_event)
            elif isinstance(vad_event, SpeechEnded):
                self._utterance_end = time.monotonic()
                await self._flush_stt(final=True, tail=vad_event)
                return
        if self.vad.in_speech:
            ended = self._end_of_turn()
            if ended is not None:
                self._utterance_end = time.monotonic()
                await self._flush_stt(final=True, tail=ended)
                return
            self._stt_frames.append(frame.pcm)
            if len(self._stt_frames) >= STT_BATCH_FRAMES:
                await self._flush_stt(final=False)

    async def _flush_stt(self, final: bool, tail: SpeechEnded | None = None) -> None:
        """Stream audio to the recogniser off the event loop, in order."""
        if self._stt_feeding is not None:
            await self._stt_feeding
        frames, self._stt_frames = self._stt_frames, []
        if not final:
            if frames:
                pcm = b"".join(frames)
                self._stt_feeding = asyncio.ensure_future(self._accept(pcm))
            return
        self._stt_feeding = None
        early, self._early = self._early, None
        early_text = None
        if tail is not None and early is not None and early.pause.frames == tail.frames:
            # Nothing was said after the pause: its decode, started there, is the
            # utterance's text (None if it failed: decode again).
            early_text = await early.text
        if tail is not None:
            metrics.call_turn_end(self._turn_end_label(tail, early))
        metrics.call_utterance("early" if early_text is not None else "after_end")
        if early_text is not None:
            self.state.early_decodes += 1
            self.recognizer.start()  # drop what was streamed meanwhile
            self._fed_any = False
            await self.hear(early_text.strip())
            return
        if tail is not None and not self._fed_any:
            # Short utterance: the VAD holds the whole audio (pre-roll included).
            text = await self.recognizer.transcribe_async(tail.pcm)
        else:
            if frames:
                await self.recognizer.accept_async(b"".join(frames))
            text = await self.recognizer.finish_async()
        self._fed_any = False
        await self.hear(text.strip())

    def _decode_early(self, pause: SpeechPaused) -> None:
        """Whole-utterance recognisers (Whisper) start decoding at the caller's pause
        instead of after the end-point: the end-point's 500 ms and the decode overlap."""
        if self.settings.voice.early_decode and isinstance(self.recognizer, UtteranceDecoder):
            self._early = EarlyDecode(pause, asyncio.ensure_future(self._decode(pause.pcm)))
            if self._incomplete_frames:
                # Until its words are known the turn may need the longer wait: the VAD
                # ends it there at the latest, _end_of_turn sooner.
                self.vad.hold_end(self._incomplete_frames)

    def _end_of_turn(self) -> SpeechEnded | None:
        """The end of the utterance decided from the words decoded at the pause
        (voice/turns.py), while nothing was said since; None: keep listening.

        Words that end a sentence end the turn after `complete_turn_ms` of silence,
        unfinished ones ("je voudrais euh") let the VAD wait up to `incomplete_turn_ms`,
        others (nothing made out, a failed decode) end it at the usual end-point. While
        the decode runs, the end-point waits for it (the answer could not start sooner
        anyway), up to `incomplete_turn_ms`. Vosk, or early_decode off: no early decode,
        the VAD's fixed end-point."""
        early = self._early
        if early is None or not self.vad.still_paused(early.pause):
            return None
        verdict = early.ending()
        silence = self.vad.silence_frames
        if verdict is None or verdict is Ending.INCOMPLETE:
            return None
        if verdict is Ending.COMPLETE and self._complete_frames:
            if silence >= self._complete_frames:
                return self.vad.end_now(EndReason.COMPLETE)
        if silence >= self.vad.end_frames:
            return self.vad.end_now(EndReason.SILENCE)  # held while the decode ran
        return None

    def _turn_end_label(self, tail: SpeechEnded, early: EarlyDecode | None) -> str:
        """What ended the turn, for the guichet_call_turn_ends metric."""
        if tail.reason not in (EndReason.SILENCE, EndReason.COMPLETE):
            return str(tail.reason)  # max_length, flush
        silence = tail.detected_frame + 1 - tail.end_frame
        if silence < self.vad.end_frames:
            return "complete"  # sooner than the fixed end-point
        if silence == self.vad.end_frames:
            return "silence"
        if early is not None and early.pause.frames == tail.frames:
            if early.ending() is Ending.INCOMPLETE:
                return "unfinished"  # later: the words stopped mid-sentence
        return "decoding"  # later: the end-point waited for the decode

    async def _decode(self, pcm: bytes) -> str | None:
        assert isinstance(self.recognizer, UtteranceDecoder)
        try:
            return await self.recognizer.decode_async(pcm)
        except Exception:
            log.exception("early decode failed on call %s", self.session.call_id)
            return None

    async def _accept(self, pcm: bytes) -> None:
        self._fed_any = True
        await self.recognizer.accept_async(pcm)

    async def hear(self, text: str) -> None:
        """What the caller said, as the recogniser wrote it at the end of an utterance
        (empty when it made nothing out): a turn of the conversation, answered aloud."""
        self._last_activity = time.monotonic()
        if not text:
            self.state.misunderstood += 1
            if self.state.misunderstood > MAX_MISUNDERSTOOD:
                await self._offer_keypad_menu()
            else:
                await self.say(
                    "Je n'ai pas bien entendu. Pouvez-vous reformuler, plus simplement ?"
                )
            return
        self.state.misunderstood = 0
        await self._turn(text)

    # --- keypad ---
    async def _on_digit(self, digit: str) -> None:
        self._last_activity = time.monotonic()
        await self._stop_playback()
        if digit == "0":
            await self._reach_a_person()
        elif digit == "*":
            await self.say(self.state.last_spoken or "Je vous écoute.")
        elif self.state.callback_offer and digit in ("1", "2"):
            await self._answer_callback_offer(digit == "1")
        elif self.links and self.links.waiting and digit in ("1", "2"):
            await self.say(await self.links.answer(digit == "1"))
        elif digit in self.state.menu:
            title, payload = self.state.menu[digit]
            await self._turn(title, payload)
        else:
            await self.say(
                "Cette touche ne correspond à aucun choix. " + menu_text(self.state.menu)
            )

    async def _offer_keypad_menu(self) -> None:
        self.state.misunderstood = 0
        self.state.menu = {
            "1": ("les horaires de la mairie", "/opening_hours"),
            "2": ("l'adresse et les contacts", "/contact_info"),
            "3": ("faire un signalement", "/report_problem"),
        }
        await self.say(
            "Je ne vous comprends pas bien. Utilisez le clavier de votre téléphone. "
            + menu_text(self.state.menu)
            + " Tapez 0 pour parler à un agent."
        )

    # --- turns ---
    async def _turn(self, text: str, payload: str | None = None) -> None:
        try:
            turn = self.conversation.normalise(
                UserTurn(self.conversation_id, text, CHANNEL, payload, capabilities=SPOKEN)
            )
        except InvalidMessage as exc:
            log.info("phone input refused: %s", exc)
            await self.say(exc.french)
            return
        if turn is None:
            return
        self.state.turns += 1
        replies = await self.conversation.handle(turn)
        if any(m.extra.get("transfer") for m in replies):
            await self._reach_a_person()
            return
        await self._speak_replies(replies)

    async def _speak_replies(self, replies: list[BotMessage]) -> None:
        self.state.menu = {}
        parts = []
        for message in replies:
            text = to_speech(message.text)
            parts.append(text if message.emergency else shorten_for_voice(text, 2))
            for button in message.buttons:
                digit = str(len(self.state.menu) + 1)
                if digit in "123456789" and button.payload.startswith("/"):
                    self.state.menu[digit] = (button.title, button.payload)
        if self.state.menu:
            parts.append(menu_text(self.state.menu))
        if self.links:
            parts.append(self.links.offer(replies, allowed=not self.state.menu))
        await self.say(" ".join(p for p in parts if p))

    # --- reaching a person ---
    async def _reach_a_person(self) -> None:
        target = self.settings.handoff.phone_transfer_target
        available = self.handoff.availability() if self.handoff else "no_agent"
        # On the phone an agent is reached by transfer; agents' consoles are not needed.
        if target and (available in (None, "no_agent")) and self._within_hours():
            await self.say("Je vous transfère vers un agent de la mairie. Ne quittez pas.")
            if not await self._play_out():
                return  # the caller hung up before the transfer
            if await self.session.transfer(target):
                self.state.outcome = "transferred"
                self._ended = True
                return
            log.warning("transfer of call %s to %s refused", self.session.call_id, target)
        self.state.callback_offer = True
        await self.say(
            "Aucun agent ne peut prendre votre appel pour le moment. Souhaitez-vous être "
            "rappelé au numéro depuis lequel vous appelez ? Votre numéro sera conservé "
            "uniquement pour ce rappel. Tapez 1 pour oui, 2 pour non."
        )

    def _within_hours(self) -> bool:
        return self.handoff is None or self.handoff.availability() != "closed"

    async def _answer_callback_offer(self, accepted: bool) -> None:
        self.state.callback_offer = False
        if not accepted or self.handoff is None or not self.session.caller:
            await self.say(
                f"D'accord. Vous pouvez rappeler la mairie au {self.settings.town.phone} "
                "aux heures d'ouverture. Au revoir."
            )
            await self._end_call()
            return
        ticket = await self.handoff.create_ticket(
            self.conversation_id,
            CHANNEL,
            "Appelant",
            self.session.caller,
            "Rappel demandé par téléphone",
        )
        self.state.outcome = "callback"
        self.state.ticket_reference = ticket.reference
        await self.say(
            "C'est noté, un agent vous rappellera. Votre référence est : "
            f"{spell_reference(ticket.reference)}. Je répète : "
            f"{spell_reference(ticket.reference)}. Au revoir."
        )
        await self._end_call()

    # --- silence ---
    async def _check_silence(self) -> None:
        if self._playing() or self.vad.in_speech:
            # Silence is counted from the end of the bot's speech (or the caller's).
            self._last_activity = time.monotonic()
            return
        if time.monotonic() - self._last_activity < self.settings.voice.silence_reprompt_s:
            return
        self.state.silences += 1
        self._last_activity = time.monotonic()
        if self.state.silences >= self.settings.voice.max_silences:
            await self.say("Je ne vous entends plus. Merci de votre appel, au revoir.")
            await self._end_call()
            return
        await self.say("Je vous écoute. Vous pouvez aussi taper 0 pour parler à un agent.")

    # --- audio out ---
    async def say(self, text: str) -> None:
        """Speak in the background: the caller can interrupt (barge-in)."""
        await self._stop_playback()
        self.state.last_spoken = text
        pcm = await self.tts.synthesize(text)
        if self._utterance_end is not None:
            self.response_latencies_ms.append((time.monotonic() - self._utterance_end) * 1000)
            self._utterance_end = None
        self._playback = asyncio.ensure_future(self.session.play(pcm))

    def _playing(self) -> bool:
        return self._playback is not None and not self._playback.done()

    async def _stop_playback(self) -> None:
        if self._playing():
            self.session.clear_playback()
        if self._playback is not None:
            await asyncio.gather(self._playback, return_exceptions=True)
            self._playback = None

    async def _wait_playback(self) -> None:
        if self._playback is not None:
            await asyncio.gather(self._playback, return_exceptions=True)

    async def _play_out(self) -> bool:
        """Wait until the bot's last words are played, not listening meanwhile: what the
        caller sends is read and dropped (the transport's queue would otherwise fill
        during a long goodbye and drop frames itself). False if the caller hung up
        meanwhile: the rest is not played."""
        events = self.session.events
        while self._playback is not None and not self._playback.done():
            getter = asyncio.ensure_future(events.get())
            await asyncio.wait({self._playback, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            event = getter.result()
            if isinstance(event, HangupCause):
                await self._stop_playback()
                await self._on_hangup(event)
                return False
        await self._wait_playback()
        return True

    async def _end_call(self) -> None:
        await self._play_out()
        self._ended = True
        await self.session.hangup()
