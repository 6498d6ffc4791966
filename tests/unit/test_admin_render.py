"""Markdown preview of the staff editor: useful HTML kept, anything active removed."""

from __future__ import annotations

import re

import pytest

from bot.admin.diff import diff_html
from bot.admin.pages import ENV, Markup
from bot.admin.render import render_markdown


def tags(html: str) -> set[str]:
    return {t.lower() for t in re.findall(r"<\s*([a-zA-Z0-9]+)", html)}


def test_headings_lists_links_tables_and_emphasis_are_kept() -> None:
    html = render_markdown(
        "Intro **gras** et *italique*, `code`.\n\n"
        "## Pièces à fournir\n\n"
        "- justificatif de domicile\n- photo d'identité\n\n"
        "1. prendre rendez-vous\n2. venir en mairie\n\n"
        "### Détail\n\n#### Plus bas\n\n"
        "> Bon à savoir\n\n"
        "[Service-public](https://www.service-public.fr/particuliers) ou "
        "[écrire](mailto:contact@villebrune.example)\n\n"
        "| Jour | Horaires |\n|---|---|\n| Lundi | 8 h 30 |\n\n"
        "ligne  \ncoupée\n\n```\nbloc\n```\n"
    )
    assert tags(html) == {
        "p",
        "strong",
        "em",
        "code",
        "h2",
        "ul",
        "ol",
        "li",
        "h3",
        "h4",
        "blockquote",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "br",
        "pre",
    }
    assert "<h2>Pièces à fournir</h2>" in html
    assert '<a href="https://www.service-public.fr/particuliers"' in html
    assert 'href="mailto:contact@villebrune.example"' in html
    assert "<li>justificatif de domicile</li>" in html


def test_heading_levels_are_clamped_to_h2_h4() -> None:
    html = render_markdown("# Un\n\n##### Cinq\n\n###### Six")
    assert "<h1" not in html and "<h5" not in html and "<h6" not in html
    assert "<h2>Un</h2>" in html and "<h4>Cinq</h4>" in html and "<h4>Six</h4>" in html


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert('x')</script>",
        "Texte <script src=https://evil.example/x.js></script> suite",
        "<SCRIPT>document.cookie</SCRIPT>",
        "<style>body{display:none}</style>",
        "<iframe src=https://evil.example></iframe>",
    ],
)
def test_scripts_and_embedded_content_disappear_with_their_content(markdown: str) -> None:
    html = render_markdown(markdown)
    assert "<script" not in html.lower() and "<iframe" not in html.lower()
    assert "alert" not in html and "document.cookie" not in html and "display:none" not in html


@pytest.mark.parametrize(
    "markdown",
    [
        "<img src=x onerror=alert(1)>",
        '<p onclick="alert(1)">clic</p>',
        '<a href="https://ok.example" onmouseover="alert(1)">survol</a>',
        "<svg onload=alert(1)><circle/></svg>",
        '<details open ontoggle="alert(1)">x</details>',
    ],
)
def test_event_handlers_are_stripped(markdown: str) -> None:
    html = render_markdown(markdown)
    assert not re.search(r"\son\w+\s*=", html, re.IGNORECASE), html
    assert "<img" not in html and "<svg" not in html


@pytest.mark.parametrize(
    "markdown",
    [
        "[clic](javascript:alert(1))",
        "[clic](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">clic</a>',
        '<a href="&#106;avascript:alert(1)">clic</a>',
        '<a href=" javascript:alert(1)">clic</a>',
        "[clic](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<a href="vbscript:msgbox(1)">clic</a>',
    ],
)
def test_dangerous_link_schemes_are_removed(markdown: str) -> None:
    html = render_markdown(markdown)
    # No clickable link survives; what may remain is inert text.
    assert "href" not in html.lower()
    for anchor in re.findall(r"<a\b[^>]*>", html, re.IGNORECASE):
        assert "script" not in anchor.lower() and "data:" not in anchor.lower()
    assert "clic" in html


def test_unlisted_tags_keep_their_text_only() -> None:
    html = render_markdown('<div class="x"><b>gras</b> <u>souligné</u> <font>texte</font></div>')
    assert tags(html) <= {"p"}
    assert "gras" in html and "souligné" in html and "texte" in html
    assert "class=" not in html


def test_diff_escapes_text_and_marks_changes() -> None:
    old = "Ouvert le lundi.\nFermé le dimanche.\n<script>x</script>"
    new = "Ouvert le lundi et le mardi.\nFermé le dimanche.\n<script>y</script>"
    html = diff_html(old, new, label="Différences")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<del class="line del">' in html and '<ins class="line add">' in html
    # The words that changed inside a line are emphasised, not the whole line only.
    assert '<strong class="chg">et le mardi' in html or "et le mardi</strong>" in html
    assert diff_html("même", "même", label="x").count("Aucune différence") == 1


def test_templates_escape_every_value_but_markup() -> None:
    template = ENV.from_string("<p>{{ a }} {{ b }}</p>")
    out = template.render(a='<img src=x onerror="1">', b=Markup("<em>ok</em>"))
    assert out == "<p>&lt;img src=x onerror=&quot;1&quot;&gt; <em>ok</em></p>"
