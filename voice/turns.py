"""Whether a caller's words, as the recogniser wrote them at a pause, end a sentence.

The callbot ends a turn after a fixed silence (voice/vad.py: 500 ms). With a
recogniser that decodes whole utterances (Whisper), the call already has the text of
the utterance a little after the caller's first pause (the early decode, voice/call.py),
so it can do better than a fixed silence: a question that is plainly over ("Quels sont
les horaires de la mairie ?") need not wait the whole 500 ms, and a caller who stops on
"je voudrais euh" or "pour mon" has not finished and should get more time, not an answer
to half a sentence.

`ending` judges the text only by how it ends, which is cheap and predictable:

* INCOMPLETE: it ends with a continuation mark Whisper writes when speech stops
  mid-sentence ("…", "...", ",", ";", ":", a dash, an elided "qu'") or with a word that
  cannot end a French sentence: a hesitation (euh, ben), a conjunction (et, mais), a
  preposition (de, pour), an article or possessive (le, mon), a subject pronoun (je),
  or a verb that announces what follows (voudrais, est-ce); or with an opening that
  announces the question ("Oui bonjour", "Allô"), which callers follow with a pause.
  Whisper writes a final full stop after nearly anything, so "Je voudrais." is still
  INCOMPLETE;
* COMPLETE: it ends with "?" or "!" (Whisper heard a question or an exclamation), or
  with any other word;
* EMPTY: no words at all (the recogniser made nothing out): no judgement.

Case and accents are ignored (Whisper sometimes drops an accent: "a" for "à"), except
in a few words such as "là", "où" and "sûr", which end sentences ("il n'est pas là",
"c'est où", "j'en suis sûr") while "la", "ou" and "sur" do not.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from bot.core.text import fold


class Ending(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    EMPTY = "empty"


# Words that cannot end a French sentence, accents folded, lower case. One list for the
# whole project: the call's turn-taking reads it through `ending` only.
UNFINISHED_WORDS = frozenset(
    {
        # hesitations
        "euh", "heu", "euhm", "hum", "hmm", "mmh", "bah", "ben", "beh",
        # openings: the bot's greeting asked for a question, and it comes next
        "bonjour", "bonsoir", "allo", "alors",
        # conjunctions
        "et", "ou", "mais", "donc", "car", "puis", "ni", "que", "qu", "qui", "si",
        "parce", "lorsque", "puisque", "comme",
        # prepositions
        "de", "d", "du", "des", "a", "au", "aux", "pour", "par", "avec", "sans", "sur",
        "sous", "dans", "en", "vers", "chez", "entre",
        # articles, possessives, demonstratives
        "le", "la", "les", "l", "un", "une", "mon", "ma", "mes", "ton", "ta", "tes",
        "son", "sa", "ses", "notre", "nos", "votre", "vos", "ce", "cet", "cette", "ces",
        "quel", "quelle", "quels", "quelles",
        # subject pronouns and clitics that need a verb after them
        "je", "j", "tu", "il", "ils", "on", "ne", "y", "me", "m", "se", "s", "te", "t",
        # verbs that announce what follows
        "voudrais", "voulais", "voudrions", "veux", "souhaite", "souhaiterais",
        "souhaitais", "aimerais", "dois", "peux", "pourrais", "est-ce", "c'est",
        "qu'est-ce", "tres",
    }
)  # fmt: skip
# Accented words that end sentences although their folded form is in the list
# ("il n'est pas là", "j'en suis sûr", "c'est le vôtre").
_ACCENTED_ENDINGS = frozenset({"là", "où", "sûr", "dû", "nôtre", "vôtre", "maïs"})
# What Whisper writes when the speech stops mid-sentence.
_CONTINUATION = ("…", "...", ",", ";", ":", "-", "–", "—", "'")
_CLOSING = " \t\n\"'»”)]"
_WORD = re.compile(r"[\w'-]+$")


def ending(text: str) -> Ending:
    """How `text` (one utterance as the recogniser wrote it) ends; see the module doc."""
    text = text.replace("’", "'").rstrip(_CLOSING.replace("'", ""))
    if not re.search(r"\w", text):
        return Ending.EMPTY
    if text.endswith(_CONTINUATION):
        return Ending.INCOMPLETE
    if text.endswith(("?", "!")):
        return Ending.COMPLETE
    text = text.rstrip("." + _CLOSING)
    match = _WORD.search(text)
    if match is None:  # ends with a sign Whisper does not write at a sentence's end
        return Ending.COMPLETE
    word = unicodedata.normalize("NFC", match.group(0)).lower().strip("-")
    if word in _ACCENTED_ENDINGS:
        return Ending.COMPLETE
    folded = fold(word)
    if folded in UNFINISHED_WORDS or fold(word.rsplit("'", 1)[-1]) in UNFINISHED_WORDS:
        return Ending.INCOMPLETE
    return Ending.COMPLETE
