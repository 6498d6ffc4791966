"""Article Markdown to safe HTML, for the staff preview.

markdown-it-py renders CommonMark plus tables; nh3 (ammonia) then keeps only
the tags an article needs. Raw HTML typed into an article goes through the
same filter: scripts disappear with their content, event handlers and
`javascript:` links lose their attributes, unknown tags keep only their text.
Headings are clamped to h2–h4: the page owns the h1.
"""

from __future__ import annotations

from typing import Any

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "p",
        "h2",
        "h3",
        "h4",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "a",
        "code",
        "pre",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "br",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Removed together with everything inside them.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template"})

_md = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")


def _clamp_headings(tokens: list[Any]) -> None:
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(max(int(token.tag[1]), 2), 4)
            token.tag = f"h{level}"


def render_markdown(text: str) -> str:
    """Sanitised HTML of an article body."""
    env: dict[str, Any] = {}
    tokens = _md.parse(text or "", env)
    _clamp_headings(tokens)
    raw = _md.renderer.render(tokens, _md.options, env)
    return nh3.clean(
        raw,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
