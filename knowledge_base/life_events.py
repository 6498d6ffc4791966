"""Life events ("moments de vie"): one sentence, the whole set of procedures.

The events are the `life_events` tags of the published articles: a base with other
tags works unchanged. An optional aliases file in the base's directory
(`_life_events.yml`, ignored by the Markdown importer, which reads `*.md` only)
gives, per tag, the paraphrases that name the event, the order of its articles
(what to do first), the words of the introduction and, for hard moments, the words
said with care before the procedures.

`LifeEvents.match(text)` is pure Python on a few hundred short patterns (about a
millisecond for a chat message): it can run on the event loop; `match_off_loop`
runs it in a thread for very long messages.

Alias syntax (one phrase per line, matched on `normalise_noisy` text):

- words in order, at most `GAP` other words between two consecutive ones;
- ``a|b`` alternatives; ``word*`` any word starting with ``word``; ``$NAME`` the
  alternatives of group NAME (`groups:` in the file);
- a plain word also matches its plural or feminine (``-s``, ``-e``, ``-es``,
  ``-x``), and, from seven letters, a spelling one letter away (a prefix, from six);
- an elided word (``j``, ``d``, ``l``…) also matches when glued to the next one
  (``jachete`` for ``j'achete``).

A message that matches a `not_if` pattern (global or of the tag) is an ordinary
question about one procedure (a price, a form, opening hours): no event.

Aliases name the event ("on vient d'emménager"). When none matches, an event's
`topics` (words of its field: "chantier", "cartons", "bail") name it only in a
message that also asks for the whole set (a global `asks` pattern: "quelles
démarches", "par où commencer", "kesk jdoi fer"): "chantier chez moi le mois
prochain, qu'est-ce que je dois savoir ?" is the event, "chantier : à quelle heure
le bruit est-il permis ?" is not (`by_topic` says which kind of match it was).

Staff manage the events in /admin (`EventSettings`, stored in the database by
knowledge_base/event_store.py): the order of an event's articles, which comes
before the file's `order`, and the names it had before a rename or a merge, which
still name it (with their aliases, introduction and words of care from the file).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core.text import fold, normalise_noisy
from knowledge_base.articles import Article

log = logging.getLogger(__name__)

ALIASES_FILE = "_life_events.yml"
GAP = 3
_ELIDED = frozenset("j d l m n s t c qu".split())
_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _WORD.findall(normalise_noisy(text))


def _one_edit(a: str, b: str) -> bool:
    """At most one substitution, insertion or deletion between a and b."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


@lru_cache(maxsize=65536)
def _word_matches(word: str, prefix: bool, token: str) -> bool:
    if _plain_matches(word, prefix, token):
        return True
    # An elided "j'" or "d'" glued to its word: "jadopte", "demmenager".
    return len(token) > 4 and token[0] in "jd" and _plain_matches(word, prefix, token[1:])


def _plain_matches(w: str, prefix: bool, token: str) -> bool:
    if prefix:
        if token.startswith(w):
            return True
        return len(w) >= 6 and len(token) >= len(w) and _one_edit(token[: len(w)], w)
    if token == w or token in (w + "s", w + "e", w + "es", w + "x"):
        return True
    return len(w) >= 7 and _one_edit(token, w)


@dataclass(frozen=True)
class _Word:
    text: str
    prefix: bool

    def matches(self, token: str) -> bool:
        return _word_matches(self.text, self.prefix, token)


_Slot = tuple[_Word, ...]


def _parse(pattern: str, groups: dict[str, str]) -> tuple[_Slot, ...]:
    slots: list[_Slot] = []
    for raw in pattern.split():
        raw = raw.strip("()")
        alternatives: list[_Word] = []
        for alt in raw.split("|"):
            if alt.startswith("$"):
                if alt[1:] not in groups:
                    raise ValueError(f"unknown group {alt!r} in {pattern!r}")
                alternatives.extend(s for slot in _parse(groups[alt[1:]], groups) for s in slot)
                continue
            prefix = alt.endswith("*")
            for word in _WORD.findall(fold(alt.rstrip("*"))):
                alternatives.append(_Word(word, prefix))
        if alternatives:
            slots.append(tuple(alternatives))
    return tuple(slots)


def _compile(pattern: str, groups: dict[str, str]) -> tuple[_Slot, ...]:
    # Apostrophes split words ("j'attends" is two slots), as in `tokens`.
    return _parse(fold(pattern).replace("'", " "), groups)


def _possible(slots: Sequence[_Slot], matched: frozenset[_Word]) -> bool:
    """Cheap test before the search: every slot matches some word of the message
    (an elided word may be glued to the next one, so it always passes)."""
    return all(any(w in matched or w.text in _ELIDED for w in slot) for slot in slots)


def _find(
    slots: Sequence[_Slot], toks: Sequence[str], matched: frozenset[_Word] | None = None
) -> int | None:
    """Index of the first token of the earliest match of `slots` in `toks`, or None.
    `matched`: the pattern words that match some token (computed once per message)."""
    if matched is not None and not _possible(slots, matched):
        return None
    for start in range(len(toks)):
        if _match_from(slots, 0, toks, start, first=True):
            return start
    return None


def _match_from(
    slots: Sequence[_Slot], s: int, toks: Sequence[str], t: int, first: bool = False
) -> bool:
    if s == len(slots):
        return True
    window = 1 if first else GAP + 1
    for i in range(t, min(len(toks), t + window)):
        token = toks[i]
        if any(w.matches(token) for w in slots[s]):
            if _match_from(slots, s + 1, toks, i + 1):
                return True
        # An elided word glued to the next one: "jachete", "demenager" stays itself.
        if s + 1 < len(slots) and len(token) > 2:
            for w in slots[s]:
                if w.text in _ELIDED and not w.prefix and token.startswith(w.text):
                    rest = token[len(w.text) :]
                    if any(n.matches(rest) for n in slots[s + 1]) and _match_from(
                        slots, s + 2, toks, i + 1
                    ):
                        return True
    return False


@dataclass(frozen=True)
class LifeEventMatch:
    tag: str
    score: float  # share of the message's words the matching phrase covers, 0..1
    articles: tuple[str, ...]  # slugs, what to do first first
    # Named by a topic word and a request for the whole set, not by an alias.
    by_topic: bool = False


@dataclass(frozen=True)
class EventSettings:
    """What staff set for one event in /admin (knowledge_base/event_store.py)."""

    order: tuple[str, ...] = ()  # slugs, what to do first first
    former: tuple[str, ...] = ()  # names the event had before a rename or a merge


def order_articles(slugs: Iterable[str], *orders: Sequence[str]) -> tuple[str, ...]:
    """`slugs` in the first of `orders` that ranks them (staff's, then the file's), then
    by slug: an article tagged after the order was set comes after the ordered ones."""
    rank: dict[str, int] = {}
    for order in orders:
        for slug in order:
            rank.setdefault(slug, len(rank))
    return tuple(sorted(set(slugs), key=lambda s: (rank.get(s, len(rank)), s)))


@dataclass(frozen=True)
class LifeEvent:
    tag: str
    articles: tuple[str, ...]
    intro: str = ""  # "quand vous déménagez"; empty: the tag is quoted
    care: str = ""  # said before the procedures in hard moments; a person is offered
    patterns: tuple[tuple[_Slot, ...], ...] = field(default=(), repr=False)
    vetoes: tuple[tuple[_Slot, ...], ...] = field(default=(), repr=False)
    topics: tuple[tuple[_Slot, ...], ...] = field(default=(), repr=False)

    @property
    def hard(self) -> bool:
        return bool(self.care)

    def introduction(self) -> str:
        if self.intro:
            return f"Voici les démarches à prévoir {self.intro} :"
        return f"Voici les démarches à prévoir pour « {self.tag} » :"


def _compile_all(
    owner: str, phrases: Iterable[Any], groups: dict[str, str]
) -> tuple[tuple[_Slot, ...], ...]:
    compiled = []
    for phrase in phrases:
        try:
            slots = _compile(str(phrase), groups)
        except ValueError:
            log.warning("life events %r: pattern %r ignored", owner, phrase)
            continue
        if slots:
            compiled.append(slots)
    return tuple(compiled)


def load_aliases(path: Path | None) -> dict[str, Any]:
    """The aliases file, or an empty mapping when there is none or it is unreadable."""
    if path is None or not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        log.exception("life events aliases %s unreadable, ignored", path)
        return {}
    return data if isinstance(data, dict) else {}


class LifeEvents:
    """The life events of a base, their phrasings and their ordered articles."""

    def __init__(
        self,
        events: Iterable[LifeEvent],
        vetoes: Iterable[tuple[_Slot, ...]] = (),
        asks: Iterable[tuple[_Slot, ...]] = (),
    ):
        self._events = {e.tag: e for e in events}
        self._vetoes = tuple(vetoes)
        self._asks = tuple(asks)
        patterns = [*self._vetoes, *self._asks]
        for event in self._events.values():
            patterns.extend(event.patterns)
            patterns.extend(event.vetoes)
            patterns.extend(event.topics)
        # Pattern words by initial: a word only matches tokens with its initial (after
        # a glued "j" or "d"), so a message is checked against a few dozen of them.
        self._by_initial: dict[str, list[_Word]] = {}
        for word in {w for p in patterns for slot in p for w in slot}:
            self._by_initial.setdefault(word.text[:1], []).append(word)

    def _matched(self, toks: Iterable[str]) -> frozenset[_Word]:
        matched: set[_Word] = set()
        for token in set(toks):
            candidates = list(self._by_initial.get(token[0], ()))
            if len(token) > 4 and token[0] in "jd":
                candidates.extend(self._by_initial.get(token[1], ()))
            matched.update(w for w in candidates if w.matches(token))
        return frozenset(matched)

    @classmethod
    def from_articles(
        cls,
        articles: Iterable[Article],
        aliases: dict[str, Any] | None = None,
        settings: Mapping[str, EventSettings] | None = None,
        *,
        published_only: bool = True,
    ) -> LifeEvents:
        """The events of the (published) articles. `settings`: staff's, by tag."""
        aliases = aliases or {}
        settings = settings or {}
        groups = {fold(str(k)): str(v) for k, v in (aliases.get("groups") or {}).items()}
        config = {fold(str(k)).strip(): v or {} for k, v in (aliases.get("events") or {}).items()}
        tagged: dict[str, list[str]] = {}
        for article in sorted(articles, key=lambda a: a.slug):
            if published_only and not article.published:
                continue
            for tag in article.life_events:
                tagged.setdefault(tag, []).append(article.slug)
        events = []
        for tag, slugs in tagged.items():
            staff = settings.get(tag, EventSettings())
            # The event's own words in the file, then those of its former names.
            names = [tag, *(n for n in staff.former if fold(n).strip() != fold(tag).strip())]
            confs = [config.get(fold(n).strip(), {}) for n in names]
            ordered = order_articles(
                slugs, staff.order, *([str(s) for s in c.get("order") or []] for c in confs)
            )
            phrases = [*names, *(str(a) for c in confs for a in c.get("aliases") or [])]
            patterns = []
            for phrase in phrases:
                try:
                    compiled = _compile(phrase, groups)
                except ValueError:
                    log.warning("life event %r: alias %r ignored", tag, phrase)
                    continue
                if compiled:
                    patterns.append(compiled)
            # Introduction, care and vetoes: the event's own, or after a rename those
            # of the name it had (a merged event keeps its own).
            main = next((c for c in confs if c), {})
            events.append(
                LifeEvent(
                    tag=tag,
                    articles=ordered,
                    intro=str(main.get("intro") or ""),
                    care=str(main.get("care") or ""),
                    patterns=tuple(patterns),
                    vetoes=tuple(_compile(str(v), groups) for v in main.get("not_if") or []),
                    topics=_compile_all(tag, main.get("topics") or [], groups),
                )
            )
        vetoes = [_compile(str(v), groups) for v in aliases.get("not_if") or []]
        return cls(events, vetoes, _compile_all("asks", aliases.get("asks") or [], groups))

    @classmethod
    def from_directory(
        cls,
        articles: Iterable[Article],
        directory: Path | None,
        settings: Mapping[str, EventSettings] | None = None,
        *,
        published_only: bool = True,
    ) -> LifeEvents:
        return cls.from_articles(
            articles,
            load_aliases(directory / ALIASES_FILE if directory else None),
            settings,
            published_only=published_only,
        )

    def replace_with(self, rebuilt: LifeEvents) -> None:
        """Take the state of an index rebuilt after articles changed: the conversation
        layer and the life-event action share this object, so both see the edit."""
        self.__dict__.update(rebuilt.__dict__)

    def __len__(self) -> int:
        return len(self._events)

    def tags(self) -> list[str]:
        return sorted(self._events)

    def event(self, tag: str) -> LifeEvent | None:
        return self._events.get(tag)

    def articles(self, tag: str) -> list[str]:
        event = self._events.get(tag)
        return list(event.articles) if event else []

    def match(self, text: str) -> LifeEventMatch | None:
        """The life event a message names, or None (an ordinary question, or none)."""
        toks = tokens(text)
        matched = self._matched(toks)
        if not toks or any(_find(v, toks, matched) is not None for v in self._vetoes):
            return None
        best = self._best(toks, matched, lambda e: e.patterns)
        by_topic = False
        if best is None and any(_find(a, toks, matched) is not None for a in self._asks):
            best, by_topic = self._best(toks, matched, lambda e: e.topics), True
        if best is None:
            return None
        event = self._events[best[2]]
        return LifeEventMatch(
            event.tag, min(1.0, best[0] / len(toks)), event.articles, by_topic=by_topic
        )

    def _best(
        self,
        toks: Sequence[str],
        matched: frozenset[_Word],
        patterns_of: Callable[[LifeEvent], Sequence[tuple[_Slot, ...]]],
    ) -> tuple[int, int, str] | None:
        """(slots, weight, tag) of the longest matching pattern, the event's vetoes
        respected; None when no pattern matches."""
        best: tuple[int, int, str] | None = None
        for event in self._events.values():
            if any(_find(v, toks, matched) is not None for v in event.vetoes):
                continue
            for pattern in patterns_of(event):
                if _find(pattern, toks, matched) is None:
                    continue
                weight = sum(max(len(w.text) for w in slot) for slot in pattern)
                key = (len(pattern), weight, event.tag)
                if best is None or key[:2] > best[:2]:
                    best = key
        return best

    async def match_off_loop(self, text: str) -> LifeEventMatch | None:
        """`match` in a worker thread, for very long messages (about 10 ms for 90 words)."""
        return await asyncio.to_thread(self.match, text)
