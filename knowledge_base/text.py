"""French analysis for lexical search: accent folding, elisions, stop words, stemming,
and a lexicon of equivalent expressions (CNI = carte d'identité, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import Stemmer  # PyStemmer: the Snowball French stemmer in C

from bot.core.text import fold, normalise_noisy

_STEMMER = Stemmer.Stemmer("french")
_WORD = re.compile(r"[a-z0-9]+")

# Function words and the question words citizens wrap their need in; they carry
# no topic. Kept small: "carte", "permis", "place" must stay.
STOP_WORDS = frozenset(
    """
    a au aux avec ce ces cet cette c ca d de des du elle elles en et est etre eu il ils
    j je l la le les leur leurs lui m ma mais me mes moi mon n ne ni nos notre nous on ou
    par pas pour qu que qui s sa se ses si son sur t ta te tes toi ton tu un une vos votre
    vous y ai as avons avez ont suis es sommes etes sont etait fait faire faut peut peux
    veux voudrais voudrait souhaite comment quand quel quelle quels quelles quoi combien
    pourquoi ou est-ce bonjour merci svp stp sil plait euh bah ben bon alors donc du coup
    genre bref hein ok oui non tres plus moins aussi comme tout tous toute toutes deja
    encore dois doit puis-je puisje possible besoin savoir dire mettre avoir il y
    """.split()
)


def words(text: str) -> list[str]:
    """Folded words; elided articles (l', d', qu') split off by the word pattern."""
    return _WORD.findall(fold(text))


def retrieval_text(question: str) -> str:
    """The question as retrieval reads it: SMS and phonetic spelling brought back to
    plain words ("kel", "jveu", "pasport") when it has some, else as typed.

    `normalise_noisy` also folds accents, which e5 reads: clean questions are left
    as typed (on kb_dev the rewrite everywhere lost 1.5 points of right suggestions;
    only where it rewrote something it gained 2.4 points of recall@1 on the dev half
    of kb_dev_noisy and changed nothing on kb_dev; docs/benchmarks.md)."""
    normalised = normalise_noisy(question)
    return question if normalised == fold(question) else normalised


def stem_all(tokens: Iterable[str]) -> list[str]:
    return list(_STEMMER.stemWords(list(tokens)))


@dataclass(frozen=True)
class Lexicon:
    """Groups of equivalent expressions. Each group gets a token of its own that
    is added wherever any of its expressions occurs, in articles and questions."""

    groups: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        compiled = []
        for index, group in enumerate(self.groups):
            for expression in group:
                phrase = " ".join(words(expression))
                if phrase:
                    compiled.append((f" {phrase} ", f"lex{index}"))
        object.__setattr__(self, "_compiled", tuple(compiled))

    def group_tokens(self, folded_words: list[str]) -> list[str]:
        padded = f" {' '.join(folded_words)} "
        found = {token for phrase, token in self._compiled if phrase in padded}  # type: ignore[attr-defined]
        return sorted(found)


def analyse(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """Tokens for BM25: stems of content words, plus lexicon group tokens."""
    folded = words(text)
    tokens = stem_all(w for w in folded if w not in STOP_WORDS and (len(w) > 1 or w.isdigit()))
    if lexicon is not None:
        tokens += lexicon.group_tokens(folded)
    return tokens
