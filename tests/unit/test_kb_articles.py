from datetime import date

import pytest

from knowledge_base.articles import ArticleError, Status, article_from_fields
from knowledge_base.chunking import split_sections
from knowledge_base.markdown_io import parse_markdown, to_markdown

GOOD = """---
slug: carte-identite
title: "Carte d'identité : la demande"
category: Papiers
tags: [CNI, papiers]
synonyms: CNI, pièce d'identité
url: https://www.villebrune.example/cni
updated: 2026-09-14
status: published
owner: etat-civil
---

La demande se fait **sur rendez-vous**.

## Pièces à fournir
- une photo d'identité
- un justificatif de domicile ([liste](https://x.example))
"""


def test_parse_and_round_trip() -> None:
    article = parse_markdown(GOOD)
    assert article.slug == "carte-identite" and article.status is Status.PUBLISHED
    assert article.synonyms == ("CNI", "pièce d'identité")  # comma string accepted
    assert article.updated == "2026-09-14"
    assert article.extra == {"owner": "etat-civil"}  # unknown fields are kept
    again = parse_markdown(to_markdown(article))
    assert again == article


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "missing front matter"),
        ("---\ntitle: x\n", "not closed"),
        ("---\n: [\n---\nbody", "not valid YAML"),
        ("---\n- a\n---\nbody", "mapping"),
        ("---\nslug: Bad Slug\ntitle: x\n---\nbody", "'slug'"),
        ("---\nslug: ok\n---\nbody", "'title'"),
        ("---\nslug: ok\ntitle: x\nstatus: live\n---\nbody", "'status'"),
        ("---\nslug: ok\ntitle: x\nupdated: hier\n---\nbody", "'updated'"),
        ("---\nslug: ok\ntitle: x\nurl: ftp://x\n---\nbody", "'url'"),
        ("---\nslug: ok\ntitle: x\ntags: 3\n---\nbody", "'tags'"),
    ],
)
def test_bad_files_say_why(text: str, message: str) -> None:
    with pytest.raises(ArticleError, match=message):
        parse_markdown(text)


def test_dates_from_yaml_and_defaults() -> None:
    article = article_from_fields({"slug": "a", "title": "T", "updated": date(2026, 1, 2)}, "x")
    assert article.updated == "2026-01-02" and article.status is Status.PUBLISHED


def test_sections_and_plain_text() -> None:
    chunks = split_sections(parse_markdown(GOOD))
    assert [c.heading for c in chunks] == ["", "Pièces à fournir"]
    assert chunks[0].text == "La demande se fait sur rendez-vous."
    assert "justificatif de domicile (liste)" in chunks[1].text
    assert "**" not in chunks[0].text and "https" not in chunks[1].text
