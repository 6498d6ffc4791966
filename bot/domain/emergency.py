"""Emergency numbers: a person in danger gets them at once, whatever else happens.

Two layers use this module: the Rasa action for the `emergency` intent (which
catches paraphrases), and the conversation service's guard, which checks every
incoming message against unambiguous phrases so the numbers are given even when
Rasa is down, misclassifies, is in the middle of a form, or a human agent
holds the conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.reports import fold


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

# Phrases that only occur when something is happening now. Kept narrow on
# purpose ("feu d'artifice", "permis de feu" must not trigger); the NLU intent
# catches the broader wording.
_PATTERNS: dict[str, tuple[str, ...]] = {
    "fire": (
        r"\bau feu\b",
        r"\bil y a (le|du) feu\b",
        r"\bincendie\b",
        r"\bca brule\b",
        r"\b(en|prend|pris) feu\b",
        r"\bexplosion\b",
        r"\bfuite de gaz\b",
        r"\bodeur de gaz\b",
    ),
    "health": (
        r"\bne respire plus\b",
        r"\brespire (mal|plus)\b",
        r"\b(arrive|peut) plus a respirer\b",
        r"\bblesses?\b.{0,80}\baccident\b",
        r"\baccident\b.{0,80}\bblesses?\b",
        r"\bmalaise\b",
        r"\binconscient",
        r"\bcrise cardiaque\b",
        r"\bavc\b",
        r"\bsaigne beaucoup\b",
        r"\bhemorragie\b",
        r"\bs'est effondre",
        r"\bne se reveille pas\b",
        r"\boverdose\b",
    ),
    "police": (
        r"\bme frappe\b",
        r"\bnous frappe\b",
        r"\bm'agresse\b",
        r"\bon m'agresse\b",
        r"\bagression\b",
        r"\bme menace\b",
        r"\bavec un couteau\b",
        r"\bune arme\b",
        r"\bau secours\b",
        r"\bviol\b",
        r"\bcambriol\w* en cours\b",
    ),
    "suicide": (
        r"\ben finir\b",
        r"\bme suicider\b",
        r"\bsuicide\b",
        r"\benvie de mourir\b",
        r"\bme tuer\b",
    ),
}

_COMPILED = {kind: [re.compile(p) for p in pats] for kind, pats in _PATTERNS.items()}

_VIOLENCE_AT_HOME = re.compile(r"\b(mari|conjoint|compagnon|copain|ex)\b")
_CHILD = re.compile(r"\b(enfant|bebe|fils|fille|petit)\b")


def detect_emergency(text: str) -> str | None:
    """The kind of emergency an unambiguous phrase reveals, or None."""
    folded = fold(text).replace("’", "'")
    for kind, patterns in _COMPILED.items():
        if any(p.search(folded) for p in patterns):
            return kind
    return None


def primary_numbers(kind: str | None, text: str = "") -> list[str]:
    """Numbers to give first for this kind of emergency, most relevant first."""
    folded = fold(text)
    if kind == "fire":
        return ["fire", "europe"]
    if kind == "health":
        return ["health", "europe"]
    if kind == "suicide":
        return ["suicide", "health"]
    if kind == "police":
        first = ["police"]
        if _VIOLENCE_AT_HOME.search(folded):
            first.append("women")
        if _CHILD.search(folded):
            first.append("children")
        return first
    return ["europe", "health", "police", "fire"]


def emergency_message(kind: str | None, text: str = "") -> str:
    """French message: the relevant number first, then all the others."""
    first = primary_numbers(kind, text)
    lines = ["Si une personne est en danger, appelez immédiatement :"]
    lines += [f"• {NUMBERS[k].number} : {NUMBERS[k].label}" for k in first]
    others = [k for k in NUMBERS if k not in first]
    lines.append("Autres numéros d'urgence :")
    lines += [f"• {NUMBERS[k].number} : {NUMBERS[k].label}" for k in others]
    lines.append("Je suis un assistant automatisé et je ne peux pas envoyer de secours moi-même.")
    return "\n".join(lines)
