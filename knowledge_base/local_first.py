"""Local first: the town's own article wins over a national fiche on the same topic.

National fiches (Service-Public.fr) answer most questions, but a town's own article
carries the local details (the office, the hours, the appointment link) and must be
the answer when both cover the question. Two ways to know they cover the same topic:

- staff say so: the local article's `replaces:` names the fiche; the fiche then
  never competes, and the local article takes its place in the ranking;
- the ranking says so: the fiche is first and a local article is close behind it
  (within `margin` of its fused score) among the first three, or the local article
  is first and the fiche right behind it within `margin`.

Either way the fiche leaves the ranking (it would otherwise make the local answer
look ambiguous) and is kept aside, to be offered as "see also".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

# Fused-score lead under which a national fiche first and a local article second
# are taken for the same topic. Chosen on the demo dev set imported beside the whole
# Service-Public `particuliers` volume; figures in docs/benchmarks.md.
LOCAL_FIRST_MARGIN = 0.05


class _Ranked(Protocol):
    @property
    def slug(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def evidence(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Ranked)


def local_first(
    ranked: list[R],
    *,
    is_national: Callable[[str], bool],
    replacement: Callable[[str], str | None],
    promote: Callable[[R, str], R],
    margin: float = LOCAL_FIRST_MARGIN,
) -> tuple[list[R], str | None]:
    """The ranking with local articles first where they cover the same topic, and
    the slug of the national fiche the first article set aside (or None).

    `promote(fiche, local_slug)` gives the local article in the fiche's place, with
    the fiche's score and evidence: the answer rule then sees the lead the topic had.
    """
    out: list[R] = []
    seen: set[str] = set()
    aside: dict[str, str] = {}  # local slug -> the fiche it took the place of
    for item in ranked:
        local = replacement(item.slug) if is_national(item.slug) else None
        if local is not None:
            aside.setdefault(local, item.slug)
            if local in seen:  # ranked above its fiche already
                continue
            item = promote(item, local)
        elif item.slug in seen:  # a local article already placed where its fiche was
            continue
        seen.add(item.slug)
        out.append(item)
    if not out:
        return out, None
    first = out[0]
    if is_national(first.slug):
        for candidate in out[1:3]:
            if not is_national(candidate.slug) and first.score - candidate.score <= margin:
                rest = [o for o in out if o.slug not in (candidate.slug, first.slug)]
                return [candidate, *rest], first.slug
    elif first.slug not in aside and len(out) > 1:
        second = out[1]
        if is_national(second.slug) and first.score - second.score <= margin:
            return [first, *out[2:]], second.slug
    return out, aside.get(first.slug)
