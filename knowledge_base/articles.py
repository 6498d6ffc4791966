"""Articles of the municipal knowledge base: the fields and their rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 120
MAX_TITLE = 1000
MAX_BODY = 100_000
# The fields an Article has in its front matter (anything else goes to `extra`); the
# staff editor's form fields are these plus its own (bot/admin/articles/form.py).
ARTICLE_FIELDS = (
    "slug",
    "title",
    "category",
    "tags",
    "synonyms",
    "life_events",
    "service",
    "contact",
    "url",
    "updated",
    "status",
)
MAX_LIST_ITEMS = 50
# Front-matter field: headings of sections that are alternative cases ("Pour un
# adulte", "Pour un mineur"); when the best section is the one above them, the
# answer asks which case applies.
CASES_FIELD = "cases"
# Front-matter field of a town's own article: slugs of the national fiches it
# replaces (its local details win; the fiche is offered as "see also").
REPLACES_FIELD = "replaces"


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ArticleError(ValueError):
    """An article's fields break a rule; the message names the field (English)."""


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    body: str
    category: str = ""
    tags: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    life_events: tuple[str, ...] = ()
    service: str = ""
    contact: str = ""
    url: str = ""
    updated: str | None = None  # ISO date of the last review by staff
    status: Status = Status.DRAFT
    # Set by the store: the version the text was read at (optimistic locking).
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def with_version(self, version: int) -> Article:
        return replace(self, version=version)

    @property
    def published(self) -> bool:
        return self.status is Status.PUBLISHED


def _text_list(value: Any, name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",")]
    if not isinstance(value, (list, tuple)):
        raise ArticleError(f"'{name}' must be a list of strings")
    items = tuple(str(v).strip() for v in value if str(v).strip())
    if len(items) > MAX_LIST_ITEMS:
        raise ArticleError(f"'{name}' has {len(items)} items, at most {MAX_LIST_ITEMS}")
    return items


def _iso_date(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError as exc:
        raise ArticleError(f"'updated' must be a date YYYY-MM-DD, got {value!r}") from exc


def article_from_fields(fields: dict[str, Any], body: str) -> Article:
    """Validate raw fields (front matter, form) into an Article."""
    slug = str(fields.get("slug") or "").strip()
    if not slug or len(slug) > MAX_SLUG or not SLUG.match(slug):
        raise ArticleError(
            f"'slug' must be lowercase ASCII words separated by hyphens, got {slug!r}"
        )
    title = " ".join(str(fields.get("title") or "").split())
    if not title or len(title) > MAX_TITLE:
        raise ArticleError(f"'title' is required (1 to {MAX_TITLE} characters)")
    # An empty body is allowed: real bases have title-only sections whose title
    # and link are the answer.
    body = (body or "").strip()
    if len(body) > MAX_BODY:
        raise ArticleError(f"the body has {len(body)} characters, at most {MAX_BODY}")
    raw_status = str(fields.get("status") or "published").strip().lower()
    try:
        status = Status(raw_status)
    except ValueError as exc:
        raise ArticleError(
            f"'status' must be one of draft, published, archived, got {raw_status!r}"
        ) from exc
    url = str(fields.get("url") or "").strip()
    if url and not re.match(r"^https?://\S+$", url):
        raise ArticleError(f"'url' must be an http(s) address, got {url!r}")
    known = {*ARTICLE_FIELDS, "version"}
    return Article(
        slug=slug,
        title=title,
        body=body,
        category=str(fields.get("category") or "").strip(),
        tags=_text_list(fields.get("tags"), "tags"),
        synonyms=_text_list(fields.get("synonyms"), "synonyms"),
        life_events=_text_list(fields.get("life_events"), "life_events"),
        service=str(fields.get("service") or "").strip(),
        contact=str(fields.get("contact") or "").strip(),
        url=url,
        updated=_iso_date(fields.get("updated")),
        status=status,
        extra={
            k: (_case_list(v) if k == CASES_FIELD else _slug_list(v) if k == REPLACES_FIELD else v)
            for k, v in fields.items()
            if k not in known
        },
    )


def _case_list(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ArticleError(f"'{CASES_FIELD}' must be a list of section headings, got {value!r}")
    return [" ".join(v.split()) for v in value if v.strip()]


def _slug_list(value: Any) -> list[str]:
    items = _text_list(value, REPLACES_FIELD)
    bad = [v for v in items if not SLUG.match(v)]
    if bad:
        raise ArticleError(f"'{REPLACES_FIELD}' must list article slugs, got {bad[0]!r}")
    return list(items)


def replaces_of(article: Article) -> tuple[str, ...]:
    """The slugs of the articles (national fiches) this article replaces."""
    return tuple(article.extra.get(REPLACES_FIELD) or ())


def cases_of(article: Article) -> tuple[str, ...]:
    """The headings of the article's case sections (see CASES_FIELD)."""
    return tuple(article.extra.get(CASES_FIELD) or ())


def article_fields(article: Article) -> dict[str, Any]:
    """Front-matter fields, in the documented order."""
    fields: dict[str, Any] = {
        "slug": article.slug,
        "title": article.title,
        "category": article.category,
        "tags": list(article.tags),
        "synonyms": list(article.synonyms),
        "life_events": list(article.life_events),
        "service": article.service,
        "contact": article.contact,
        "url": article.url,
        "updated": article.updated,
        "status": article.status.value,
    }
    fields.update(article.extra)
    return {k: v for k, v in fields.items() if v not in ("", [], None)}
