"""The import/export format: one Markdown file per article with YAML front matter.

This is a public interface (documented in the README): keep it stable.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from knowledge_base.articles import Article, ArticleError, article_fields, article_from_fields

MAX_FILE_BYTES = 1_000_000


def parse_markdown(text: str, source: str = "<text>") -> Article:
    """Parse one article file; raises ArticleError with the reason."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleError("missing front matter: the file must start with a '---' line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration as exc:
        raise ArticleError("front matter is not closed by a '---' line") from exc
    try:
        fields = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise ArticleError(f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(fields, dict):
        raise ArticleError("front matter must be a mapping of fields")
    return article_from_fields(fields, "\n".join(lines[end + 1 :]))


def read_article_file(path: Path) -> Article:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ArticleError(f"file is {size} bytes, at most {MAX_FILE_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"file is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_markdown(text, str(path))


def to_markdown(article: Article) -> str:
    front = yaml.safe_dump(
        article_fields(article), allow_unicode=True, sort_keys=False, width=1000
    ).strip()
    return f"---\n{front}\n---\n\n{article.body.strip()}\n"
