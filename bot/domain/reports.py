"""Reporting a problem on the public space: validation rules and references."""

from __future__ import annotations

import re
import secrets

from bot.core.text import fold
from bot.storage.reports import DuplicateReference, NewReport, ReportStore, StoredReport

# Category value -> label shown to citizens. Values match the NLU entity values.
CATEGORIES: dict[str, str] = {
    "voirie": "Voirie (chaussée, trottoir, signalisation)",
    "eclairage": "Éclairage public",
    "proprete": "Propreté (déchets, tags, poubelles)",
    "depot_sauvage": "Dépôt sauvage",
    "espaces_verts": "Espaces verts et arbres",
    "mobilier_urbain": "Mobilier urbain (bancs, jeux, abribus)",
    "bruit": "Bruit",
    "autre": "Autre",
}

# Words citizens type for a category, compared after accent folding.
_CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "voirie": (
        "voirie",
        "route",
        "chaussee",
        "trottoir",
        "nid de poule",
        "nids de poule",
        "trou",
        "panneau",
        "signalisation",
        "feu rouge",
        "marquage",
    ),
    "eclairage": ("eclairage", "lampadaire", "lumiere", "reverbere", "ampoule", "eclaire"),
    "proprete": (
        "proprete",
        "sale",
        "dechet",
        "poubelle",
        "tag",
        "graffiti",
        "crotte",
        "ordure",
        "salete",
    ),
    "depot_sauvage": ("depot sauvage", "depot", "decharge", "gravats", "matelas", "abandonne"),
    "espaces_verts": (
        "espaces verts",
        "espace vert",
        "arbre",
        "branche",
        "parc",
        "pelouse",
        "herbe",
        "haie",
        "jardin public",
    ),
    "mobilier_urbain": (
        "mobilier",
        "banc",
        "jeux",
        "aire de jeux",
        "abribus",
        "poteau",
        "barriere",
        "fontaine",
    ),
    "bruit": ("bruit", "bruyant", "tapage", "nuisance sonore"),
    "autre": ("autre", "autre chose"),
}

# No 0/O or 1/I so a reference read over the phone is unambiguous.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
_PHONE_DIGITS = re.compile(r"^(?:\+33|0033|0)[1-9]\d{8}$")

MIN_LOCATION_CHARS = 3
MIN_DESCRIPTION_CHARS = 5
MAX_FIELD_CHARS = 1000


def normalise_category(text: str | None) -> str | None:
    """Map an entity value or free text to a category value, or None."""
    if not text:
        return None
    folded = fold(text).strip().replace("-", " ")
    if folded.replace(" ", "_") in CATEGORIES:
        return folded.replace(" ", "_")
    for value, words in _CATEGORY_KEYWORDS.items():
        if any(re.search(rf"\b{re.escape(w)}", folded) for w in words):
            return value
    return None


def clean_free_text(text: str | None, minimum: int) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(text.split())
    if len(cleaned) < minimum or len(cleaned) > MAX_FIELD_CHARS:
        return None
    return cleaned


def normalise_contact(text: str | None) -> str | None:
    """A valid e-mail address or French phone number, normalised; else None."""
    if not text:
        return None
    candidate = text.strip().strip(".")
    if _EMAIL.match(candidate):
        return candidate.lower()
    digits = re.sub(r"[\s.\-()]", "", candidate)
    if _PHONE_DIGITS.match(digits):
        if digits.startswith("+33"):
            digits = "0" + digits[3:]
        elif digits.startswith("0033"):
            digits = "0" + digits[4:]
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    return None


def new_reference() -> str:
    return "SIG-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))


class ReportService:
    def __init__(self, store: ReportStore) -> None:
        self._store = store

    async def submit(self, report: NewReport) -> StoredReport:
        if report.category not in CATEGORIES:
            raise ValueError(f"unknown report category {report.category!r}")
        # 32^6 references: a collision is rare, retry a few times rather than lock.
        for _ in range(5):
            try:
                return await self._store.insert(report, new_reference())
            except DuplicateReference:
                continue
        raise RuntimeError("could not allocate a unique report reference")

    async def get(self, reference: str) -> StoredReport | None:
        return await self._store.get(reference)

    async def list(self, include_done: bool = False) -> list[StoredReport]:
        return await self._store.list(include_done)

    async def update_status(self, reference: str, status: str) -> StoredReport | None:
        """Staff marked the report received, in progress or done (the citizen is told)."""
        return await self._store.update_status(reference, status)
