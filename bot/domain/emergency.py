"""Emergency detection: a person in danger gets the numbers at once, whatever else happens.

The conversation service asks `detect_emergency` about every message, in every state
(chat, phone, inside a form, while a human agent holds the conversation), so the
decision does not depend on Rasa being up or right.

How it decides (measured in docs/benchmarks.md, design in docs/architecture.md):

1. The message is normalised (`bot.core.text.normalise_noisy`: accents, capitals, SMS
   and phonetic spelling), apostrophes and hyphens become spaces, sentence punctuation
   becomes " . ", and a typo on a cue word is read as the cue word
   (`bot.domain.emergency_typos`: "evanuie" → evanouie, never "adresse" → agresse).
2. Cue patterns (bot/domain/emergency_patterns.py, with the context markers), each
   tied to a kind of emergency (fire, gas, flood, medical, poisoning, violence,
   domestic, child, suicide, danger), look for what only happens when someone
   is in danger: "il y a le feu", "ne respire plus", "me frappe", "a avalé de la javel".
   An *acute* cue describes a present state ("est en feu", "ne respire plus"); an
   *event* cue an incident that may be over ("a pris feu", "a fait un malaise").
3. Context rules then discard a cue that is framed as something other than a danger
   now: a hypothesis before it in its sentence ("que faire si", "en cas de"), a distant
   past ("l'an dernier", "il y a trois mois"), a habit ("à chaque orage"), a resolved
   incident ("le feu a été maîtrisé"), a counterfactual ("j'ai failli"); event cues are
   also discarded with a recent past ("hier"), administrative framing ("déclarer",
   "assurance", "attestation"), an information framing ("exercice", "portes
   ouvertes") or a negation ("sans blessés"). A "now" marker in the sentence
   ("maintenant", "en ce moment", "vite") keeps the cue whatever the framing.
   Domestic violence, a child in danger and suicidal thoughts are only discarded for a
   distant past or a counterfactual: a disclosure of them is never "ordinary".

Everything is regular expressions without nested unbounded repetition over a text of
at most a few thousand characters: linear time (benchmarks/emergency_eval.py).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from bot.core.text import normalise_noisy
from bot.domain.emergency_patterns import (
    ADMIN,
    ANIMAL_SUBJECT,
    CAN_NOT_SPEAK,
    CHILD_RE,
    CLAUSE,
    COUNTERFACTUAL,
    CUES,
    DISTANT_PAST,
    FAMILY_RE,
    HABIT,
    HYPOTHESIS,
    INFORMATION,
    INTIMATE,
    MINOR,
    NEGATION,
    NOW,
    RECENT_PAST,
    RESOLVED,
    SENTENCE,
    STRANGER,
    Cue,
)
from bot.domain.emergency_typos import cue_word_for


@dataclass(frozen=True)
class EmergencyNumber:
    number: str
    label: str


NUMBERS: dict[str, EmergencyNumber] = {
    "health": EmergencyNumber("15", "SAMU, urgence médicale"),
    "police": EmergencyNumber("17", "Police secours, violence ou agression"),
    "fire": EmergencyNumber("18", "Pompiers, incendie ou accident"),
    "europe": EmergencyNumber("112", "numéro d'urgence européen, depuis tout téléphone"),
    "sms": EmergencyNumber("114", "par SMS, si vous ne pouvez pas parler ou entendre"),
    "women": EmergencyNumber("3919", "Violences Femmes Info, gratuit et anonyme"),
    "suicide": EmergencyNumber("3114", "prévention du suicide, 24 h/24"),
    "children": EmergencyNumber("119", "enfance en danger"),
}

# Kinds of emergency, most urgent to call first, and the numbers to give first.
_KIND_NUMBERS: dict[str, tuple[str, ...]] = {
    "fire": ("fire", "europe"),
    "gas": ("fire", "europe"),
    "medical": ("health", "europe"),
    "poisoning": ("health", "europe"),
    "flood": ("fire", "europe"),
    "danger": ("europe", "fire", "police", "health"),
    "violence": ("police", "europe"),
    "domestic": ("police", "women"),
    "child": ("police", "children"),
    "suicide": ("suicide", "health"),
}
KINDS = tuple(_KIND_NUMBERS)
# Kinds whose disclosure is never ordinary: only a distant past or a counterfactual
# discards them ("mon mari me frappe, comment porter plainte ?" gets 17 and 3919).
_DISCLOSURES = frozenset({"domestic", "child", "suicide"})
# Names the first version of this module used, still accepted by emergency_message.
_OLD_KINDS = {"health": "medical", "police": "violence"}


@dataclass(frozen=True)
class Emergency:
    """What the detector found: the main kind, every kind, the numbers to give first
    (e.g. ("18", "112")) and the cues that fired (for logs and the benchmark)."""

    kind: str
    kinds: tuple[str, ...]
    numbers: tuple[str, ...]
    cues: tuple[str, ...]


def _canonical(text: str) -> str:
    """Normalised text with only letters, digits, spaces, " . " and " , "."""
    folded = normalise_noisy(text).replace("'", " ").replace("-", " ")
    folded = re.sub(r"[.!?;:\n]+", " . ", folded)
    folded = folded.replace(",", " , ")
    folded = re.sub(r"[^a-z0-9., ]+", " ", folded)
    words = [cue_word_for(word) or word for word in folded.split()]
    return " " + " ".join(words) + " "


class _Context:
    """What the whole message says about time and framing, computed once: every
    marker is searched a single time, so a long message costs linear time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.distant_past = bool(DISTANT_PAST.search(text))
        self.recent_past = bool(RECENT_PAST.search(text))
        self.habit = bool(HABIT.search(text))
        self.admin = bool(ADMIN.search(text))
        self.information = bool(INFORMATION.search(text))
        self.resolved = bool(RESOLVED.search(text))
        self.negation = bool(NEGATION.search(text))
        self.family = bool(FAMILY_RE.search(text))
        self.child = bool(CHILD_RE.search(text))
        self.stranger = bool(STRANGER.search(text))
        self.minor = bool(MINOR.search(text))
        # Sentence and clause start offsets; where the "now" and past markers are.
        self._starts = [0] + [m.end() for m in SENTENCE.finditer(text)]
        self._clauses = [0] + [m.end() for m in CLAUSE.finditer(text)]
        self._now = [m.start() for m in NOW.finditer(text)]
        self._past = sorted(
            m.start() for pattern in (DISTANT_PAST, RECENT_PAST) for m in pattern.finditer(text)
        )
        self._hypotheses = [m.start() for m in HYPOTHESIS.finditer(text)]
        self._counterfactuals = [m.start() for m in COUNTERFACTUAL.finditer(text)]

    def _sentence(self, position: int) -> int:
        return bisect.bisect_right(self._starts, position) - 1

    def _clause(self, position: int) -> int:
        return bisect.bisect_right(self._clauses, position) - 1

    def _nearest(self, markers: list[int], start: int, end: int) -> int | None:
        """Distance from the cue to the nearest marker of its clause, within 60
        characters."""
        clause = self._clause(start)
        best = None
        for position in markers[bisect.bisect_left(markers, start - 60) :]:
            if position > end + 60:
                break
            if self._clause(position) == clause:
                distance = start - position if position < start else max(0, position - end)
                best = distance if best is None else min(best, distance)
        return best

    def now(self, start: int, end: int) -> bool:
        """A "now" marker in the cue's clause, nearer than any past marker: "il y a le
        feu vite", "et maintenant ça brûle"; not "a pris feu l'an dernier et
        maintenant je cherche", nor "a brûlé l'an dernier, je cherche maintenant"."""
        now = self._nearest(self._now, start, end)
        if now is None:
            return False
        past = self._nearest(self._past, start, end)
        return past is None or now < past

    def _before_in_sentence(self, markers: list[int], position: int) -> bool:
        """A marker that starts before `position`, in the same sentence ("s'il y a le
        feu": the marker "s il" overlaps the cue "il y a le feu")."""
        index = bisect.bisect_left(markers, position) - 1
        return index >= 0 and self._starts[self._sentence(position)] <= markers[index]

    def hypothesis_before(self, position: int) -> bool:
        return self._before_in_sentence(self._hypotheses, position)

    def counterfactual_before(self, position: int) -> bool:
        return self._before_in_sentence(self._counterfactuals, position)


def _kind_of(cue: Cue, match: re.Match[str], ctx: _Context) -> str:
    """Violence between partners or relatives is domestic; a missing child is a child
    in danger."""
    if cue.kind == "danger" and cue.name == "disparu" and CHILD_RE.search(match.group()):
        return "child"
    if cue.kind != "violence":
        return cue.kind
    if ctx.family or (INTIMATE.match(match.group()) and not ctx.stranger):
        return "domestic"
    return "violence"


def _kept(cue: Cue, kind: str, match: re.Match[str], ctx: _Context) -> bool:
    """Whether the context leaves this cue standing as a danger now."""
    start = match.start()
    if cue.not_before is not None:
        before = " " + ctx.text[max(0, start - 50) : start].rstrip()
        if cue.not_before.search(before):
            return False
    if cue.not_in_text is not None and cue.not_in_text.search(ctx.text):
        return False
    if ctx.counterfactual_before(start):
        return False
    if kind in ("medical", "poisoning") and ANIMAL_SUBJECT.search(
        " " + ctx.text[max(0, start - 40) : start].rstrip()
    ):
        return False  # "mon chien s'étouffe": a vet, not the SAMU
    if ctx.now(start, match.end()):
        return True
    if ctx.distant_past:
        return False
    if kind in _DISCLOSURES:
        return not (ctx.information and not cue.acute)
    if ctx.hypothesis_before(start) or ctx.resolved or ctx.habit:
        return False
    if cue.acute:
        return True
    return not (ctx.recent_past or ctx.admin or ctx.information or ctx.negation)


def detect_emergency(text: str) -> Emergency | None:
    """The emergency a message reveals, with the numbers to give first, or None."""
    ctx = _Context(_canonical(text))
    kinds: list[str] = []
    cues: list[str] = []
    for cue in CUES:
        for match in cue.pattern.finditer(ctx.text):
            kind = _kind_of(cue, match, ctx)
            if _kept(cue, kind, match, ctx):
                cues.append(cue.name)
                if kind not in kinds:
                    kinds.append(kind)
                break
    if not kinds:
        return None
    if (ctx.child or ctx.minor) and "child" not in kinds and {"violence", "domestic"} & set(kinds):
        kinds.append("child")
    kinds.sort(key=KINDS.index)
    keys = primary_keys(kinds)
    if CAN_NOT_SPEAK.search(ctx.text):
        keys.append("sms")
    return Emergency(
        kind=kinds[0],
        kinds=tuple(kinds),
        numbers=tuple(NUMBERS[k].number for k in keys),
        cues=tuple(cues),
    )


def primary_keys(kinds: list[str] | tuple[str, ...]) -> list[str]:
    """Keys of NUMBERS to give first for these kinds, most relevant first."""
    keys: list[str] = []
    for kind in kinds:
        for key in _KIND_NUMBERS.get(_OLD_KINDS.get(kind, kind), ()):
            if key not in keys:
                keys.append(key)
    return keys or ["europe", "health", "police", "fire"]


def primary_numbers(kind: str | None, text: str = "") -> list[str]:
    """Keys of NUMBERS to give first for this kind (or what `text` reveals)."""
    found = detect_emergency(text) if text else None
    kinds = list(found.kinds) if found else []
    if kind and _OLD_KINDS.get(kind, kind) not in kinds:
        kinds.insert(0, _OLD_KINDS.get(kind, kind))
    keys = primary_keys(kinds)
    if found and "114" in found.numbers:
        keys.append("sms")
    return keys


def emergency_message(found: Emergency | str | None, text: str = "") -> str:
    """French message: the relevant numbers first, then all the others."""
    if isinstance(found, Emergency):
        first = [k for k in NUMBERS if NUMBERS[k].number in found.numbers]
        first.sort(key=lambda k: found.numbers.index(NUMBERS[k].number))
    else:
        first = primary_numbers(found, text)
    lines = ["Si une personne est en danger, appelez immédiatement :"]
    lines += [f"• {NUMBERS[k].number} : {NUMBERS[k].label}" for k in first]
    others = [k for k in NUMBERS if k not in first]
    lines.append("Autres numéros d'urgence :")
    lines += [f"• {NUMBERS[k].number} : {NUMBERS[k].label}" for k in others]
    lines.append("Je suis un assistant automatisé et je ne peux pas envoyer de secours moi-même.")
    return "\n".join(lines)
