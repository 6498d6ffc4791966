"""The rule that decides whether the words decoded at a caller's pause end a sentence."""

from __future__ import annotations

import pytest

from voice.turns import UNFINISHED_WORDS, Ending, ending, fold


@pytest.mark.parametrize(
    "text",
    [
        "Quels sont les horaires de la mairie ?",
        "Composez votre mot de passe suivi du dies.",  # as Whisper writes it
        "Je voudrais refaire ma carte d'identité.",
        "Ce choix n'est pas valid.",
        "Merci",  # a plain word, no punctuation
        "Oui.",
        "Merci beaucoup !",
        "Il n'est pas là.",  # là, not la
        "C'est où ?",
        "J'en suis sûr.",  # sûr, not sur
        "Et pour qui ?",  # a question mark ends it whatever the word before
        "D'accord.",
        "Aujourd'hui.",
        "Allez-y.",
        "Rendez-vous le 12.",
        "« Merci »",
        "Allô ?",  # is anybody there: the bot answers
    ],
)
def test_complete_sentences(text: str) -> None:
    assert ending(text) is Ending.COMPLETE


@pytest.mark.parametrize(
    "text",
    [
        "je voudrais euh",
        "Je voudrais euh.",
        "Je voudrais.",  # Whisper puts a full stop after nearly anything
        "Je voudrais...",
        "On attend pour parler un prép…",
        "Bonjour, je voudrais,",
        "C'est pour mon",
        "pour la",
        "Je cherche le formulaire de",
        "Et donc",
        "Est-ce",
        "Est-ce que",
        "Je voudrais savoir si",
        "C'est jusqu'",
        "Je viens pour l'",
        "Bah",
        "EUH",
        "Heu.",
        "Avec ma fille et",
        "J'ai besoin d'une attestation pour mon fils à",  # à
        "J'ai besoin d'une attestation pour mon fils a",  # Whisper dropped the accent
        "J'appelle à propos du",
        "Il faut que je",
        "une carte d'un",  # the word after the apostrophe counts
        "Horaires :",
        "Oui bonjour.",  # the caller greets, then asks (the question comes next)
        "Allô,",
        "c’est",  # typographic apostrophe
    ],
)
def test_incomplete_sentences(text: str) -> None:
    assert ending(text) is Ending.INCOMPLETE


@pytest.mark.parametrize("text", ["", "   ", "...", "…", " . "])
def test_no_words_is_no_judgement(text: str) -> None:
    assert ending(text) is Ending.EMPTY


def test_case_and_accents_do_not_matter() -> None:
    for word in ("À", "à", "A", "DU", "Pour", "TRÈS", "très", "tres", "Voudrais", "EST-CE"):
        assert ending(f"Je {word}.") is Ending.INCOMPLETE, word
    assert fold("Très À") == "tres a"
    # The list is written folded, so that an entry with an accent can never be missed.
    assert all(fold(word) == word for word in UNFINISHED_WORDS)
    # The few accented words that end a sentence are told from their plain forms.
    assert ending("Je suis là") is Ending.COMPLETE and ending("Je suis la") is Ending.INCOMPLETE
    assert ending("LÀ.") is Ending.COMPLETE
