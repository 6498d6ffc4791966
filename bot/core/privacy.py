"""Personal data in free text: found and masked before anything is stored or logged.

Transcripts, logged questions, statistics and logs never need a citizen's e-mail,
phone number, social security number (NIR), IBAN or card number; the forms that
do (report contact, callback) keep them in their own fields, with consent.

The text is read once by a tokenising scanner rather than one big regular
expression, so masking stays linear in the length of the input whatever it
contains (a 64 KiB "a.a.a.…" used to take seconds with a pattern retried at
every word boundary):

- e-mail addresses are found from each "@", expanding left and right over the
  characters an address may hold; an expansion stops at the previous "@" or
  the previous match, so no character is read more than twice;
- numbers (phone, NIR, card) are runs of digit groups and French number words
  ("zéro six douze…", what speech recognition writes) joined by spaces, dots,
  dashes or parentheses; each run is classified by its digits and grouping,
  looking at no more than MAX_DIGITS digits from each group it starts at;
- IBANs are one regular expression whose repetitions are all bounded.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

EMAIL, PHONE, NIR, IBAN, CARD = "[courriel]", "[téléphone]", "[nir]", "[iban]", "[carte]"

# Longest digit string a number we mask can have: a 19-digit card, or "+" and
# a 15-digit E.164 number with a "(0)" trunk prefix.
MAX_DIGITS = 19
# Up to this many spaces, dots, dashes or parentheses may join two groups of one
# number ("06 12", "06.12", "+33 (0)6").
MAX_JOINERS = 3

# Bounded repetitions only: the work per starting position is constant.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){3,7}(?:[ -]?[A-Z0-9]{1,4})?\b", re.I)
_IBAN_GROUPED = re.compile(r"[a-z]{2}\d{2}(?:[ -][a-z0-9]{4})+(?:[ -][a-z0-9]{1,4})?")
# What may stand between two groups of one number: up to MAX_JOINERS joiners.
_GAP = re.compile(r"[ .()\-\u00a0\u202f\u2010\u2011\u2013]{0,3}")
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")

# NIR: sex (1, 2; 3, 4, 7, 8 for provisional numbers), year, month (01-12, or
# 20-99 for unknown or special cases), department (2A/2B for Corsica), commune,
# order, optional key.
_NIR = re.compile(r"[1-478]\d{2}(?:0[1-9]|1[0-2]|[2-9]\d)(?:\d{2}|2[AB])\d{6}(?:\d{2})?")
_FRENCH_PHONE = re.compile(r"0[1-9]\d{8,9}|0033[1-9]\d{8}")
_INTERNATIONAL = re.compile(r"\+\d{8,16}|00[1-9]\d{7,14}")

_UNITS = {
    "zero": 0,
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
}
_TEENS = {
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "treize": 13,
    "quatorze": 14,
    "quinze": 15,
    "seize": 16,
}
_TENS = {"vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}
_NUMBER_WORDS = sorted(
    {*_UNITS, *_TEENS, *_TENS, "zéro", "vingts", "et", "plus"}, key=len, reverse=True
)
# The only tokens of a number: digits ("2A": Corsica, in a NIR), "+", number
# words as whole words. One alternation of literals per position: linear.
_NUMBER_TOKEN = re.compile(
    r"(?<!\d)2[AB](?![^\W\d_])|\d+|\+|(?<![^\W\d_])(?:"
    + "|".join(_NUMBER_WORDS)
    + r")(?![^\W\d_])",
    re.I,
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str
    # Digits (or the lower-cased address) the span stands for, to compare with
    # contacts that are public (the town hall's own number).
    key: str


def _is_local_char(c: str) -> bool:
    return c.isalnum() or c in "._+-"


def _emails(text: str) -> Iterator[Span]:
    floor = 0  # an expansion to the left never goes back past this
    at = text.find("@")
    while at != -1:
        left = at
        while left > floor and _is_local_char(text[left - 1]):
            left -= 1
        domain = _DOMAIN.match(text, at + 1)
        if left < at and domain is not None:
            end = domain.end()
            floor = end
            yield Span(left, end, EMAIL, text[left:end].lower())
            at = text.find("@", end)
        else:
            floor = at + 1
            at = text.find("@", at + 1)


def _words_value(words: list[tuple[str, int, int]], i: int) -> tuple[int, int] | None:
    """The number said by the words from i ("soixante-dix-huit" -> 78), and where it ends."""
    n = len(words)

    def word(k: int) -> str:
        return words[k][0] if k < n else ""

    first = word(i)
    if first == "quatre" and word(i + 1) in ("vingt", "vingts"):
        base, k = 80, i + 2
    elif first in _TENS:
        base, k = _TENS[first], i + 1
    elif first == "dix" and word(i + 1) in ("sept", "huit", "neuf"):
        return 10 + _UNITS[word(i + 1)], i + 2
    elif first in _TEENS:
        return _TEENS[first], i + 1
    elif first in _UNITS:
        return _UNITS[first], i + 1
    else:
        return None
    if base in (60, 80):  # soixante-dix…, quatre-vingt-dix…
        if base == 60 and word(k) == "et" and word(k + 1) == "onze":
            return 71, k + 2
        if word(k) == "dix" and word(k + 1) in ("sept", "huit", "neuf"):
            return base + 10 + _UNITS[word(k + 1)], k + 2
        if word(k) in _TEENS:
            return base + _TEENS[word(k)], k + 1
    if base != 80 and word(k) == "et" and word(k + 1) in ("un", "une"):
        return base + 1, k + 2
    if word(k) in _UNITS and word(k) != "zero":
        return base + _UNITS[word(k)], k + 1
    return base, k


@dataclass(slots=True)
class _Group:
    """One group of a number: digits typed, or said in words."""

    digits: str
    start: int
    end: int
    plus: bool = False  # "+" (or "plus") that starts an international number


def _runs(text: str) -> Iterator[list[_Group]]:
    """Runs of number groups joined by at most MAX_JOINERS joiners; words read as numbers.

    Only digits, "+" and number words are tokens (found by one regular
    expression, in C); anything else between two tokens breaks the run.
    """
    run: list[_Group] = []
    words: list[tuple[str, int, int]] = []
    last_end = -1

    def read_words() -> Iterator[list[_Group]]:
        nonlocal run
        k = 0
        while k < len(words):
            if words[k][0] == "plus":
                if run:
                    yield run
                run = [_Group("", words[k][1], words[k][2], plus=True)]
                k += 1
                continue
            parsed = _words_value(words, k)
            if parsed is None:  # "et" out of place: the run stops there
                if run:
                    yield run
                run = []
                k += 1
                continue
            value, after = parsed
            run.append(_Group(str(value), words[k][1], words[after - 1][2]))
            k = after
        words.clear()

    for token in _NUMBER_TOKEN.finditer(text):
        value, start, end = token.group(), token.start(), token.end()
        if last_end >= 0 and not _GAP.fullmatch(text, last_end, start):
            yield from read_words()
            if run:
                yield run
            run = []
        last_end = end
        first = value[0]
        if first.isdigit():
            yield from read_words()
            if len(value) > MAX_DIGITS:  # no number we mask has a group that long
                if run:
                    yield run
                run = []
                last_end = -1
            else:
                run.append(_Group(value.upper(), start, end))  # "2a" -> "2A" (Corsica)
        elif first == "+":
            yield from read_words()
            if run:
                yield run
            run = [_Group("", start, end, plus=True)]
        else:
            words.append((value.lower().replace("é", "e").replace("É", "e"), start, end))
    yield from read_words()
    if run:
        yield run


def _numbers(text: str) -> Iterator[Span]:
    for groups in _runs(text):
        yield from _numbers_in_run(text, groups)


# Fewest digits any number we mask has ("+" and 8 digits).
MIN_DIGITS = 8


def _numbers_in_run(text: str, groups: list[_Group]) -> Iterator[Span]:
    n = len(groups)
    compact = "".join(g.digits for g in groups)
    if len(compact) < MIN_DIGITS:
        return
    prefix = [0] * (n + 1)  # digits before group k
    for k, g in enumerate(groups):
        prefix[k + 1] = prefix[k] + len(g.digits)
    ends = {prefix[k + 1]: k for k in range(n) if groups[k].digits}  # digits so far -> group
    fours = [0] * (n + 1)  # consecutive four-digit groups from k
    for k in range(n - 1, -1, -1):
        fours[k] = fours[k + 1] + 1 if len(groups[k].digits) == 4 else 0
    i = 0
    while i < n and prefix[n] - prefix[i] >= MIN_DIGITS:
        found = _number_at(groups, compact, prefix, ends, fours, i)
        if found is None:
            i += 1
            continue
        j, label, digits = found
        start = groups[i].start
        # "(+33) 6 …": the opening parenthesis goes with the number.
        if start > 0 and text[start - 1] == "(" and ")" in text[start : groups[j].end]:
            start -= 1
        yield Span(start, groups[j].end, label, _phone_key(digits) if label == PHONE else "")
        i = j + 1


def _number_at(
    groups: list[_Group],
    compact: str,
    prefix: list[int],
    ends: dict[int, int],
    fours: list[int],
    i: int,
) -> tuple[int, str, str] | None:
    """The longest number starting at group i: (last group, label, digits)."""
    first = groups[i]
    at = prefix[i]
    size = len(first.digits)
    # Which lengths (in digits) each kind of number can have from here; the
    # group that ends exactly there is looked up, not searched for.
    candidates: list[tuple[int, str]] = []
    if first.plus:
        candidates = [(length, "+") for length in range(16, 7, -1)]
    elif first.digits[:1] == "0":
        if first.digits.startswith("00"):  # "00 44 …", "0044 …": typed together
            candidates = [(length, "00") for length in range(17, 9, -1)]
        else:
            candidates = [(11, "0"), (10, "0")]
        if size == 4:
            candidates = [(length, "card") for length in range(19, 12, -1)] + candidates
    elif size == 1:
        candidates = [(15, "nir"), (13, "nir")]
    elif size == 4:
        candidates = [(length, "card") for length in range(19, 12, -1)]
    elif size >= 13:
        candidates = [(size, "nir"), (size, "card")]
    for length, kind in candidates:
        j = ends.get(at + length)
        if j is None or j < i:
            continue
        digits = compact[at : at + length]
        if kind == "+":
            if _INTERNATIONAL.fullmatch("+" + digits):
                return j, PHONE, "+" + digits
        elif kind == "00":
            if _INTERNATIONAL.fullmatch(digits):
                return j, PHONE, digits
        elif kind == "0":
            if _FRENCH_PHONE.fullmatch(digits):
                return j, PHONE, digits
        elif kind == "nir":
            if _NIR.fullmatch(digits):
                return j, NIR, digits
        elif digits.isdigit() and (
            j == i
            or fours[i] >= j - i
            or (
                j == i + 2
                and (size, len(groups[i + 1].digits), len(groups[j].digits))
                in ((4, 6, 5), (4, 6, 4))
            )
        ):
            return j, CARD, digits
    return None


def _phone_key(compact: str) -> str:
    """A French number in one form whatever way it was written: "+33 (0)6…" -> "06…"."""
    for prefix in ("+330", "+33", "00330", "0033"):
        if compact.startswith(prefix) and len(compact) - len(prefix) == 9:
            return "0" + compact[len(prefix) :]
    return compact


def _iban_check_digits_ok(compact: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, letters as 10..35,
    the number is 1 modulo 97."""
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _is_iban(candidate: str) -> bool:
    """Written the way people write an IBAN (with capitals, or in groups of four), it
    is masked even with a typo in it. Otherwise (lower case, run together or split
    anywhere) only when its check digits are right: SIP Call-IDs and hashes have the
    IBAN's shape too ("fa64ff49d4e757e2", even followed by " answered"), and masking
    them would hide from operators which call a log line is about."""
    if candidate != candidate.lower() or _IBAN_GROUPED.fullmatch(candidate):
        return True
    return _iban_check_digits_ok(re.sub(r"[ -]", "", candidate).upper())


def find_personal_data(text: str) -> list[Span]:
    """Non-overlapping spans of personal identifiers, in order."""
    spans = [Span(m.start(), m.end(), IBAN, "") for m in _IBAN.finditer(text) if _is_iban(m[0])]
    spans += _emails(text)
    spans += _numbers(text)
    spans.sort(key=lambda s: (s.start, -s.end))
    kept: list[Span] = []
    for span in spans:
        if kept and span.start < kept[-1].end:
            continue  # inside an IBAN or an address already found
        kept.append(span)
    return kept


def public_key(contact: str) -> str:
    """The key a public contact (the town hall's number or address) is compared by."""
    spans = find_personal_data(contact)
    return spans[0].key if spans else ""


def redact(text: str, keep: Collection[str] = ()) -> str:
    """The text with personal identifiers replaced by a bracketed label.

    `keep`: keys (see `public_key`) of public contacts left as they are, such as
    the town hall's own phone number in the bot's replies.
    """
    spans = find_personal_data(text)
    if not spans:
        return text
    out, at = [], 0
    for span in spans:
        if span.key and span.key in keep:
            continue
        out.append(text[at : span.start])
        out.append(span.label)
        at = span.end
    out.append(text[at:])
    return "".join(out)


def contains_personal_data(text: str) -> bool:
    return bool(find_personal_data(text))
