"""Chatbot text -> text for the ear.

The assistant writes for a screen: links, Markdown lists, "8h30", "14/09/2026",
"01 99 00 12 34", "12,50 €", "CCAS". A synthesiser reads those badly or not at
all; `to_speech` rewrites them the way a town-hall agent would say them, and
`shorten_for_voice` keeps a spoken answer short.

`number_to_words` spells French numbers (traditional spelling: "vingt et un",
"quatre-vingts", "deux cent un"); it is also used to normalise transcripts.
"""

from __future__ import annotations

import re

from bot.core.text import MONTHS

_UNITS = (
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize "
    "quatorze quinze seize dix-sept dix-huit dix-neuf"
).split()
_TENS = {
    2: "vingt",
    3: "trente",
    4: "quarante",
    5: "cinquante",
    6: "soixante",
    8: "quatre-vingt",
}
MAX_NUMBER = 999_999_999


def _below_100(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    tens, unit = divmod(n, 10)
    if tens in (7, 9):  # soixante-dix..., quatre-vingt-dix...
        base = _TENS[tens - 1]
        rest = n - (tens - 1) * 10  # 10..19
        if tens == 7 and rest == 11:
            return f"{base} et onze"
        return f"{base}-{_UNITS[rest]}"
    base = _TENS[tens]
    if unit == 0:
        return "quatre-vingts" if tens == 8 else base
    if unit == 1 and tens != 8:
        return f"{base} et un"
    return f"{base}-{_UNITS[unit]}"


def _below_1000(n: int, *, before_multiplier: bool = False) -> str:
    """`before_multiplier`: followed by "mille", where "cents"/"quatre-vingts" lose their s."""
    hundreds, rest = divmod(n, 100)
    parts: list[str] = []
    if hundreds:
        if hundreds == 1:
            parts.append("cent")
        elif rest == 0 and not before_multiplier:
            parts.append(f"{_UNITS[hundreds]} cents")
        else:
            parts.append(f"{_UNITS[hundreds]} cent")
    if rest or not hundreds:
        words = _below_100(rest)
        if before_multiplier and words == "quatre-vingts":
            words = "quatre-vingt"
        parts.append(words)
    return " ".join(parts)


def number_to_words(n: int) -> str:
    """French words for 0 <= n <= 999 999 999 ("vingt et un", "quatre-vingts", "deux cent un")."""
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number_to_words handles 0 to {MAX_NUMBER}, got {n}")
    if n < 1000:
        return _below_1000(n)
    millions, rest = divmod(n, 1_000_000)
    thousands, units = divmod(rest, 1000)
    parts: list[str] = []
    if millions:
        parts.append(f"{_below_1000(millions)} million{'s' if millions > 1 else ''}")
    if thousands:
        parts.append(
            "mille" if thousands == 1 else f"{_below_1000(thousands, before_multiplier=True)} mille"
        )
    if units:
        parts.append(_below_1000(units))
    return " ".join(parts)


def digits_to_words(digits: str) -> str:
    """Each digit on its own: "0 1" -> "zéro un"."""
    return " ".join(_UNITS[int(d)] for d in digits if d.isdigit())


# --- Markdown, links, e-mail --------------------------------------------------------------

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)\)")
_URL = re.compile(
    r"(?:\s*(?:\bsur|\bvia|\bà l[’']adresse|:)\s*)?"  # "sur https://..." -> nothing dangling
    r"[(<]?(?:\bhttps?://|\bwww\.)[^\s<>()]*[^\s<>().,;:!?…][)>]?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"<?\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b>?")
_BULLET = re.compile(r"^\s*(?:[-*+•◦▪‣]|\d{1,2}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s*")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~|`)(?=\S)(.+?)(?<=\S)\1")
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")


def _spell_address_part(part: str) -> str:
    out = part.replace(".", " point ").replace("-", " tiret ").replace("_", " tiret bas ")
    return re.sub(r"\s+", " ", out).strip()


def _email(match: re.Match[str]) -> str:
    local, domain = match.group(1), match.group(2)
    return f"{_spell_address_part(local)} arobase {_spell_address_part(domain)}"


def _link(match: re.Match[str]) -> str:
    label, target = match.group(1).strip(), match.group(2)
    if target.lower().startswith("mailto:") and "@" not in label:
        address = target[len("mailto:") :].split("?")[0]
        return f"{label} {address}".strip()
    return label


def _strip_markdown(text: str) -> str:
    lines: list[str] = []
    for raw in text.splitlines():
        item = bool(_BULLET.match(raw) or _HEADING.match(raw))
        line = _HEADING.sub("", _BULLET.sub("", raw)).strip().strip("|").strip()
        if not line or set(line) <= set("-*_=|: "):
            continue
        # A list item or a heading is its own sentence when spoken.
        if item and line[-1] not in ".!?…:;,":
            line += "."
        lines.append(line)
    text = " ".join(lines)
    for _ in range(2):  # nested emphasis (**_x_**)
        text = _EMPHASIS.sub(r"\2", text)
    return text


# --- phone numbers, dates, hours, money --------------------------------------------------

_SEP = r"[ .\-\u00a0\u202f]?"
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)33" + _SEP + r"\(?0?\)?" + _SEP + r"([1-9])|0([1-9]))"
    r"((?:" + _SEP + r"\d{2}){4})(?!\d)"
)


def _pair_words(pair: str) -> str:
    if pair[0] == "0":
        return f"zéro {_UNITS[int(pair[1])]}"
    return number_to_words(int(pair))


def _phone(match: re.Match[str]) -> str:
    first = match.group(1) or match.group(2)
    digits = "0" + first + re.sub(r"\D", "", match.group(3))
    pairs = [digits[i : i + 2] for i in range(0, 10, 2)]
    return ", ".join(_pair_words(p) for p in pairs)


_DATE_FR = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def _date_words(day: int, month: int, year: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    day_words = "premier" if day == 1 else str(day)
    return f"{day_words} {MONTHS[month - 1]} {year}"


def _date_fr(match: re.Match[str]) -> str:
    d, m, y = (int(g) for g in match.groups())
    return _date_words(d, m, y) or match.group(0)


def _date_iso(match: re.Match[str]) -> str:
    y, m, d = (int(g) for g in match.groups())
    return _date_words(d, m, y) or match.group(0)


_HOUR = re.compile(
    r"(?<![\d:,.])([01]?\d|2[0-3])"
    r"(?:\s?[hH](?:\s?([0-5]\d))?(?!\w)|:([0-5]\d)(?![\d:]))"
    r"(?:\s?min\b\.?)?"
)
_TIME_RANGE = re.compile(r"(heures?(?: \d{1,2})?|midi|minuit)\s*[-–—]\s*(?=\d|midi|minuit)")


def _hour(match: re.Match[str]) -> str:
    hours = int(match.group(1))
    minutes = int(match.group(2) or match.group(3) or 0)
    if minutes == 0 and hours == 12:
        return "midi"
    if minutes == 0 and hours == 0:
        return "minuit"
    spoken = f"{hours} heure{'s' if hours > 1 else ''}"
    return f"{spoken} {minutes}" if minutes else spoken


_AMOUNT = r"(\d{1,3}(?:[ \u00a0\u202f.]\d{3})+|\d+)(?:[,.](\d{1,2}))?"
_EUROS = re.compile(_AMOUNT + r"\s?(?:€|euros?\b|EUR\b)")
_EUROS_BEFORE = re.compile(r"€\s?" + _AMOUNT)


def _euros(match: re.Match[str]) -> str:
    whole = int(re.sub(r"\D", "", match.group(1)))
    cents_raw = match.group(2) or ""
    cents = int(cents_raw.ljust(2, "0")) if cents_raw else 0
    if whole == 0 and cents:
        return f"{cents} centime{'s' if cents > 1 else ''}"
    spoken = f"{whole} euro{'s' if whole > 1 else ''}"
    return f"{spoken} {cents}" if cents else spoken


# --- abbreviations -------------------------------------------------------------------------

_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\b[nN]°\s?", "numéro "),
        (r"\bMM\.\s", "messieurs "),
        (r"\bM\.\s?(?=[A-ZÀ-Ý])", "monsieur "),
        (r"\bMmes\b\.?", "mesdames"),
        (r"\bMme\b\.?", "madame"),
        (r"\bMlle\b\.?", "mademoiselle"),
        (r"\bDr\b\.?(?=\s[A-ZÀ-Ý])", "docteur"),
        (r"\bPr\b\.?(?=\s[A-ZÀ-Ý])", "professeur"),
        (r"\b[Tt]él\b\.?\s?:?", "téléphone :"),
        (r"\b[Aa]v\.\s", "avenue "),
        (r"\b[Bb]d\b\.?", "boulevard"),
        (r"\betc\.", "et cetera."),
        (r"\bRDV\b|\brdv\b", "rendez-vous"),
        (r"\b1er\b", "premier"),
        (r"\b1re\b|\b1ère\b", "première"),
        (r"&", " et "),
        (r"(\d)\s?%", r"\1 pour cent"),
        (r"€", " euros"),
    )
)
# Acronyms said as words, not letter by letter.
SAID_AS_WORDS = frozenset(
    "CAF PACS ANTS SAMU ZAC CADA EHPAD URSSAF INSEE ONU OTAN UNESCO SIVOM SMIC RIB PIN OK".split()
)
_ACRONYM = re.compile(r"\b[A-Z]{2,5}\b")
_SLASH = re.compile(r"\s+/\s+|(?<=[^\W\d])/(?=[^\W\d])")


def _acronym(match: re.Match[str]) -> str:
    word = match.group(0)
    if word in SAID_AS_WORDS:
        return word.lower()
    if len(word) == 5 and any(c in "AEIOUY" for c in word):
        return word.lower()  # a shouted word (MAIRIE is 6) or a readable acronym
    return " ".join(word)


def to_speech(text: str) -> str:
    """Rewrite chatbot text so that a synthesiser reads it as an agent would say it."""
    text = _MD_LINK.sub(_link, text)
    # E-mail addresses first: their dots, dashes and underscores are spelled out.
    text = _EMAIL.sub(_email, text)
    text = _strip_markdown(text)
    text = _URL.sub("", text)
    text = _EMOJI.sub("", text)
    text = _PHONE.sub(_phone, text)
    text = _DATE_FR.sub(_date_fr, text)
    text = _DATE_ISO.sub(_date_iso, text)
    text = _EUROS.sub(_euros, text)
    text = _EUROS_BEFORE.sub(_euros, text)
    text = _HOUR.sub(_hour, text)
    text = _TIME_RANGE.sub(r"\1 à ", text)
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    text = _ACRONYM.sub(_acronym, text)
    text = _SLASH.sub(", ", text)  # "lundi/mardi", "8 h - 12 h / 14 h - 17 h"
    text = re.sub(r"[*#_`|<>]+", " ", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([.,…])", r"\1", text)  # French spacing before ;:!? is kept
    text = re.sub(r"([.,;:!?])(?:\s*[.,;:])+", r"\1", text)
    return text.strip(" ,;:")


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def shorten_for_voice(text: str, max_sentences: int = 2) -> str:
    """The first `max_sentences` sentences (lines count as sentences)."""
    if max_sentences < 1:
        raise ValueError("max_sentences must be >= 1")
    sentences: list[str] = []
    for line in text.splitlines():
        sentences += split_sentences(line)
        if len(sentences) >= max_sentences:
            break
    return " ".join(sentences[:max_sentences])
