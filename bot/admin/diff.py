"""Line diffs of two texts, changed words emphasised inside replaced lines (history,
editing conflicts, lexicon conflicts); drawn by templates/diff.html."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from bot.admin.pages import Markup, render

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")

# (text, changed) pieces of one line.
Parts = list[tuple[str, bool]]


@dataclass(frozen=True)
class Hunk:
    a1: int
    a2: int
    b1: int
    b2: int
    lines: list[tuple[str, Parts]]  # ("add" | "del" | "ctx", parts)


def _word_diff(old: str, new: str) -> tuple[Parts, Parts]:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    out_old: Parts = []
    out_new: Parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old_part, new_part = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            out_old.append((old_part, False))
            out_new.append((new_part, False))
            continue
        if old_part:
            out_old.append((old_part, True))
        if new_part:
            out_new.append((new_part, True))
    return out_old, out_new


def hunks(old: str, new: str, context: int = 2) -> list[Hunk]:
    a, b = old.splitlines(), new.splitlines()
    groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context)
    result: list[Hunk] = []
    for group in groups:
        lines: list[tuple[str, Parts]] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [("ctx", [(t, False)]) for t in a[i1:i2]]
            elif tag == "delete":
                lines += [("del", [(t, False)]) for t in a[i1:i2]]
            elif tag == "insert":
                lines += [("add", [(t, False)]) for t in b[j1:j2]]
            else:
                olds, news = a[i1:i2], b[j1:j2]
                pairs = [_word_diff(o, n) for o, n in zip(olds, news, strict=False)]
                lines += [("del", p[0]) for p in pairs]
                lines += [("del", [(t, False)]) for t in olds[len(pairs) :]]
                lines += [("add", p[1]) for p in pairs]
                lines += [("add", [(t, False)]) for t in news[len(pairs) :]]
        first, last = group[0], group[-1]
        result.append(Hunk(first[1] + 1, last[2], first[3] + 1, last[4], lines))
    return result


def diff_html(old: str, new: str, *, label: str, context: int = 2) -> Markup:
    """The diff as safe HTML (every text escaped), in a region named `label`."""
    return render("diff.html", hunks=hunks(old, new, context), label=label)
