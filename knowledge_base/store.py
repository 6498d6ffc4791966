"""Articles in the app database: the source of truth, with a version history.

Every write is one transaction that changes the article and appends its
snapshot to `article_versions`; the id of that row doubles as a global
revision counter, which the search index follows to stay in sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.db import metadata
from knowledge_base.articles import Article, Status, article_fields, article_from_fields

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(120), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),  # category, tags, synonyms, url...
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(120), nullable=False),
)

article_versions = sa.Table(
    "article_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("snapshot", sa.JSON, nullable=False),
    sa.Column("author", sa.String(120), nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("article_id", "version"),
)


class VersionConflict(Exception):
    """Someone saved the article since it was read; nothing was written."""

    def __init__(self, current: Article) -> None:
        super().__init__(f"article {current.slug!r} is at version {current.version}")
        self.current = current


class ArticleNotFound(KeyError):
    pass


@dataclass(frozen=True)
class Version:
    version: int
    author: str
    summary: str
    created_at: datetime
    article: Article


def _snapshot(article: Article) -> dict[str, Any]:
    return {**article_fields(article), "body": article.body}


def _from_snapshot(data: dict[str, Any], version: int) -> Article:
    fields = dict(data)
    body = fields.pop("body", "")
    return article_from_fields(fields, body).with_version(version)


def _row_article(row: Any) -> Article:
    return _from_snapshot(
        {
            **row.fields,
            "slug": row.slug,
            "title": row.title,
            "status": row.status,
            "body": row.body,
        },
        row.version,
    )


def same_content(a: Article, b: Article) -> bool:
    return _snapshot(a) == _snapshot(b)


class ArticleStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, slug: str) -> Article | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(articles).where(articles.c.slug == slug))).first()
        return _row_article(row) if row else None

    async def all(self, status: Status | None = None) -> list[Article]:
        query = sa.select(articles).order_by(articles.c.slug)
        if status is not None:
            query = query.where(articles.c.status == status.value)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_row_article(r) for r in rows]

    async def save(
        self, article: Article, author: str, expected_version: int, summary: str = ""
    ) -> Article:
        """Create (expected_version 0) or update the article at expected_version.

        Raises VersionConflict if the stored version differs: a second editor
        never overwrites the first one's text silently.
        """
        async with self._engine.begin() as conn:
            return await self._save_in(conn, article, author, expected_version, summary)

    async def save_many(
        self,
        changes: Sequence[tuple[Article, int]],
        author: str,
        summary: str,
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> list[Article]:
        """Several articles, each at its expected version, and `also` (more writes in the
        same transaction): all of it or, on a VersionConflict, nothing."""
        async with self._engine.begin() as conn:
            saved = [
                await self._save_in(conn, article, author, expected, summary)
                for article, expected in changes
            ]
            if also is not None:
                await also(conn)
        return saved

    async def _save_in(
        self,
        conn: AsyncConnection,
        article: Article,
        author: str,
        expected_version: int,
        summary: str,
    ) -> Article:
        now = datetime.now(UTC)
        current = (
            await conn.execute(sa.select(articles).where(articles.c.slug == article.slug))
        ).first()
        if current is None:
            if expected_version != 0:
                raise ArticleNotFound(article.slug)
            new_version = 1
            result = await conn.execute(
                sa.insert(articles).values(**self._columns(article, new_version, now, author))
            )
            article_id = result.inserted_primary_key[0]  # type: ignore[index]
        else:
            if current.version != expected_version:
                raise VersionConflict(_row_article(current))
            new_version = current.version + 1
            # The WHERE on version makes the check and the write one atomic step.
            result = await conn.execute(
                sa.update(articles)
                .where(articles.c.id == current.id, articles.c.version == expected_version)
                .values(**self._columns(article, new_version, now, author))
            )
            if result.rowcount != 1:
                latest = await self._get_in(conn, article.slug)
                raise VersionConflict(latest)
            article_id = current.id
        await conn.execute(
            sa.insert(article_versions).values(
                article_id=article_id,
                version=new_version,
                snapshot=_snapshot(article),
                author=author,
                summary=summary,
                created_at=now,
            )
        )
        return article.with_version(new_version)

    async def upsert(self, article: Article, author: str, summary: str = "") -> tuple[str, Article]:
        """Idempotent import: 'created', 'updated' or 'unchanged'."""
        current = await self.get(article.slug)
        if current is None:
            return "created", await self.save(article, author, 0, summary)
        if same_content(current, article):
            return "unchanged", current
        return "updated", await self.save(article, author, current.version, summary)

    async def _get_in(self, conn: AsyncConnection, slug: str) -> Article:
        query = sa.select(articles).where(articles.c.slug == slug)
        row = (await conn.execute(query)).first()
        if row is None:
            raise ArticleNotFound(slug)
        return _row_article(row)

    @staticmethod
    def _columns(article: Article, version: int, now: datetime, author: str) -> dict[str, Any]:
        fields = article_fields(article)
        for key in ("slug", "title", "status"):
            fields.pop(key, None)
        return {
            "slug": article.slug,
            "title": article.title,
            "body": article.body,
            "fields": fields,
            "status": article.status.value,
            "version": version,
            "updated_at": now,
            "updated_by": author,
        }

    async def history(self, slug: str) -> list[Version]:
        query = (
            sa.select(article_versions)
            .join(articles, articles.c.id == article_versions.c.article_id)
            .where(articles.c.slug == slug)
            .order_by(article_versions.c.version.desc())
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Version(
                r.version, r.author, r.summary, r.created_at, _from_snapshot(r.snapshot, r.version)
            )
            for r in rows
        ]

    async def revert(self, slug: str, version: int, author: str, expected_version: int) -> Article:
        old = next((v for v in await self.history(slug) if v.version == version), None)
        if old is None:
            raise ArticleNotFound(f"{slug} version {version}")
        return await self.save(
            old.article, author, expected_version, f"retour à la version {version}"
        )

    async def revision(self) -> int:
        """Increases with every write; 0 for an empty base."""
        async with self._engine.connect() as conn:
            value = (await conn.execute(sa.select(sa.func.max(article_versions.c.id)))).scalar()
        return int(value or 0)

    async def changed_since(self, revision: int) -> tuple[int, list[Article]]:
        """Articles written after `revision`, and the revision they bring the reader to."""
        async with self._engine.connect() as conn:
            latest = int(
                (await conn.execute(sa.select(sa.func.max(article_versions.c.id)))).scalar() or 0
            )
            if latest <= revision:
                return revision, []
            changed_ids = (
                sa.select(article_versions.c.article_id)
                .where(article_versions.c.id > revision, article_versions.c.id <= latest)
                .distinct()
            )
            rows = (
                await conn.execute(sa.select(articles).where(articles.c.id.in_(changed_ids)))
            ).all()
        return latest, [_row_article(r) for r in rows]
