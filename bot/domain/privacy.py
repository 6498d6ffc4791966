"""Personal data in free text: found and masked before anything is stored.

Transcripts, logged questions and statistics never need a citizen's e-mail,
phone number, social security number (NIR), IBAN or card number; the forms
that do (report contact, callback) keep them in their own fields, with consent.
"""

from __future__ import annotations

import re

# Order matters: longer, more specific patterns first.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "[iban]",
        re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,4})?\b", re.I),
    ),
    ("[carte]", re.compile(r"\b(?:\d{4}[ -]?){3}\d{4}\b")),
    # NIR: sex, year, month, department (2A/2B for Corsica), commune, order, key.
    (
        "[nir]",
        re.compile(
            r"\b[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[AB])[ .]?\d{3}"
            r"[ .]?\d{3}(?:[ .]?\d{2})?\b",
            re.I,
        ),
    ),
    ("[courriel]", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("[téléphone]", re.compile(r"(?<![\w+])(?:\+33[ .]?|0033[ .]?|0)[1-9](?:[ .-]?\d{2}){4}\b")),
)


def redact(text: str) -> str:
    """The text with personal identifiers replaced by a bracketed label."""
    for label, pattern in _PATTERNS:
        text = pattern.sub(label, text)
    return text


def contains_personal_data(text: str) -> bool:
    return any(pattern.search(text) for _, pattern in _PATTERNS)
