import pytest

from bot.domain.reports import (
    CATEGORIES,
    clean_free_text,
    new_reference,
    normalise_category,
    normalise_contact,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eclairage", "eclairage"),
        ("depot_sauvage", "depot_sauvage"),
        ("Éclairage public", "eclairage"),
        ("un lampadaire qui clignote", "eclairage"),
        ("nid de poule", "voirie"),
        ("les poubelles débordent", "proprete"),
        ("un arbre est tombé", "espaces_verts"),
        # "parc" (espaces_verts) and "banc" (mobilier_urbain) both match: the first
        # category in declared order wins.
        ("banc cassé au parc", "espaces_verts"),
        ("Autre", "autre"),
        ("pizza", None),
        ("", None),
        (None, None),
    ],
)
def test_category_normalisation(text: str | None, expected: str | None) -> None:
    result = normalise_category(text)
    assert result == expected
    assert result is None or result in CATEGORIES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jean.Dupont@Exemple.fr", "jean.dupont@exemple.fr"),
        ("06 12 34 56 78", "06 12 34 56 78"),
        ("06.12.34.56.78", "06 12 34 56 78"),
        ("+33 6 12 34 56 78", "06 12 34 56 78"),
        ("0033612345678", "06 12 34 56 78"),
        ("0612", None),
        ("pas de mail", None),
        ("jean@", None),
        ("", None),
    ],
)
def test_contact_normalisation(text: str, expected: str | None) -> None:
    assert normalise_contact(text) == expected


def test_free_text_is_collapsed_and_bounded() -> None:
    assert clean_free_text("  rue   des   Lilas ", 3) == "rue des Lilas"
    assert clean_free_text("ab", 3) is None
    assert clean_free_text("x" * 1001, 3) is None


def test_references_are_unambiguous_when_read_aloud() -> None:
    refs = {new_reference() for _ in range(500)}
    assert len(refs) == 500
    for ref in refs:
        assert ref.startswith("SIG-") and len(ref) == 10
        assert not set(ref[4:]) & set("01IO")
