from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pyttsx3.voice import Voice

from voice.audio import dbfs, duration_s
from voice.tts import (
    Pyttsx3Synthesizer,
    SpeechSynthesisError,
    SpeechSynthesizer,
    pick_voice,
)

SENTENCE = "Bonjour, vous êtes bien à la mairie de Saint-Martin. Que puis-je faire pour vous ?"


@pytest.fixture(scope="module")
def tts() -> Iterator[Pyttsx3Synthesizer]:
    synthesizer = Pyttsx3Synthesizer()
    yield synthesizer
    synthesizer.shutdown()


def assert_plausible_speech(pcm: bytes) -> None:
    seconds, level = duration_s(pcm, 8000), dbfs(pcm)
    assert len(pcm) % 2 == 0
    assert 0.5 <= seconds <= 5.0, f"{seconds:.2f} s of audio"
    assert level > -40.0, f"{level:.1f} dBFS"


async def test_sentence_gives_8khz_speech(tts: Pyttsx3Synthesizer) -> None:
    assert isinstance(tts, SpeechSynthesizer)
    pcm = await tts.synthesize(SENTENCE)
    assert_plausible_speech(pcm)
    assert tts.voice_id is not None and "fr" in tts.voice_id


async def test_twice_in_a_row_and_cache(tts: Pyttsx3Synthesizer) -> None:
    first = await tts.synthesize("La mairie est ouverte du lundi au vendredi.")
    second = await tts.synthesize("Le service état civil est au premier étage.")
    assert_plausible_speech(first)
    assert_plausible_speech(second)
    assert first != second
    # Repeated phrases come from the cache, identical.
    before = tts.cache_len
    assert await tts.synthesize("La mairie est ouverte du lundi au vendredi.") == first
    assert tts.cache_len == before


async def test_concurrent_requests_each_get_their_own_audio(tts: Pyttsx3Synthesizer) -> None:
    short = "Merci de votre appel."
    long = "Pour une carte d'identité, prenez rendez-vous puis venez avec une photo."
    texts = [f"Demande numéro {i}, un instant s'il vous plaît." for i in range(5)]
    results = await asyncio.gather(
        tts.synthesize(short), tts.synthesize(long), *(tts.synthesize(t) for t in texts)
    )
    for pcm in results:
        assert_plausible_speech(pcm)
    # No crossed wires: the long text got the long audio.
    assert duration_s(results[1]) > duration_s(results[0]) + 1.0
    assert len({bytes(r) for r in results}) == len(results)


async def test_nothing_to_say(tts: Pyttsx3Synthesizer) -> None:
    assert await tts.synthesize("") == b""
    assert await tts.synthesize("   \n") == b""
    assert await tts.synthesize("...") == b""
    # The worker is not stuck afterwards.
    assert_plausible_speech(await tts.synthesize("Au revoir."))


async def test_engine_print_is_silenced(
    tts: Pyttsx3Synthesizer, capfd: pytest.CaptureFixture[str]
) -> None:
    await tts.synthesize("Une phrase qui n'est pas encore dans le cache.")
    out, _ = capfd.readouterr()
    assert "Audio saved" not in out


async def test_rate_is_configurable(tts: Pyttsx3Synthesizer) -> None:
    slow = Pyttsx3Synthesizer(rate_wpm=110)
    try:
        text = "Les inscriptions scolaires ont lieu en mars."
        normal, slower = await asyncio.gather(tts.synthesize(text), slow.synthesize(text))
        assert duration_s(slower) > duration_s(normal) * 1.2
    finally:
        slow.shutdown()


def test_blocking_variant_from_a_thread(tts: Pyttsx3Synthesizer) -> None:
    assert_plausible_speech(tts.synthesize_blocking("Bonne journée."))


async def test_shutdown_and_restart() -> None:
    # Another synthesizer (the module fixture) may hold the shared worker: use one
    # of our own and check that the worker survives a full stop and restart.
    first = Pyttsx3Synthesizer()
    assert_plausible_speech(await first.synthesize("Premier essai."))
    first.shutdown()
    with pytest.raises(SpeechSynthesisError):
        await first.synthesize("Après l'arrêt.")
    second = Pyttsx3Synthesizer()
    try:
        assert_plausible_speech(await second.synthesize("Second essai."))
    finally:
        await second.aclose()


def test_pick_voice_prefers_french_of_france() -> None:
    voices = [
        Voice("gmw/en", "English", ["en-gb"]),
        Voice("gmw/af", "Afrikaans", ["af"]),
        Voice("roa/fr-be", "French (Belgium)", ["fr-be"]),
        Voice("roa/fr", "French (France)", ["fr-fr"]),
    ]
    assert pick_voice(voices, "fr") == "roa/fr"
    assert pick_voice(voices, "fr-be") == "roa/fr-be"
    assert pick_voice(voices[:3], "fr") == "roa/fr-be"
    assert pick_voice(voices[:2], "fr") is None


async def test_unknown_language_is_a_clear_error() -> None:
    synthesizer = Pyttsx3Synthesizer(language="xx")
    try:
        with pytest.raises(SpeechSynthesisError, match="no espeak voice"):
            await synthesizer.synthesize("Bonjour.")
    finally:
        synthesizer.shutdown()
