"""Split an article into its sections: the unit a passage is taken from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge_base.articles import Article

_HEADING = re.compile(r"^#{1,6}\s+(.*\S)\s*$")
_MARKUP = re.compile(r"(\*\*|__|`|^\s*[-*+]\s+|^\s*\d+[.)]\s+|^>\s?)", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]+)\)")


@dataclass(frozen=True)
class Chunk:
    slug: str
    index: int
    heading: str  # "" for the lead, before the first heading
    text: str  # plain text, Markdown markup removed

    @property
    def chunk_id(self) -> str:
        return f"{self.slug}#{self.index}"


def plain_text(markdown: str) -> str:
    text = _LINK.sub(r"\1", markdown)
    text = _MARKUP.sub("", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def split_sections(article: Article) -> list[Chunk]:
    chunks: list[Chunk] = []
    heading, lines = "", list[str]()

    def flush() -> None:
        text = plain_text("\n".join(lines))
        if text:
            chunks.append(Chunk(article.slug, len(chunks), heading, text))

    for line in article.body.splitlines():
        match = _HEADING.match(line)
        if match:
            flush()
            heading, lines = match.group(1).strip(), []
        else:
            lines.append(line)
    flush()
    return chunks
