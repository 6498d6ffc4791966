"""Knowledge sources: where articles come from besides staff and Markdown files.

A source is one module that yields `SourceEntry` objects, one per file it
reads: the article, or why the file could not become one. The import itself
(idempotence, one transaction per article, archiving what disappeared) is
`KnowledgeBase.import_source`, the same for every source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from knowledge_base.articles import Article

# The article field (kept in `Article.extra`) naming the source an article came from;
# staff-written articles have none.
SOURCE_FIELD = "source"


@dataclass(frozen=True)
class SourceEntry:
    name: str  # the file, for messages
    slug: str  # the article's slug, known even when the file is broken ("" if not)
    article: Article | None = None
    error: str = ""  # why the file gave no article
    skipped: bool = False  # a file the source does not turn into an article (navigation...)


class Source(Protocol):
    name: str  # the value of the articles' `source` field

    def __len__(self) -> int:
        """How many files `entries` will yield (for the progress bar)."""
        ...

    def entries(self) -> Iterator[SourceEntry]:
        """One entry per file; never raises for a single broken file."""
        ...


# Set on an imported article that staff hid: the next imports keep it archived.
HIDDEN_FIELD = "hidden"


def source_of(article: Article) -> str:
    """The source an article came from ("" for staff-written articles)."""
    return str(article.extra.get(SOURCE_FIELD) or "")


def is_imported(article: Article) -> bool:
    """Articles of a source are the source's: imports rewrite them, staff do not."""
    return bool(source_of(article))


def with_hidden(article: Article, hidden: bool) -> Article:
    """The article marked hidden by staff (or no longer), for the next imports."""
    extra = {k: v for k, v in article.extra.items() if k != HIDDEN_FIELD}
    if hidden:
        extra[HIDDEN_FIELD] = True
    return replace(article, extra=extra)
