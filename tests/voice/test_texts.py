from __future__ import annotations

import pytest

from voice.texts import digits_to_words, number_to_words, shorten_for_voice, to_speech

NUMBERS = {
    0: "zéro",
    1: "un",
    7: "sept",
    10: "dix",
    11: "onze",
    16: "seize",
    17: "dix-sept",
    19: "dix-neuf",
    20: "vingt",
    21: "vingt et un",
    22: "vingt-deux",
    30: "trente",
    31: "trente et un",
    45: "quarante-cinq",
    51: "cinquante et un",
    61: "soixante et un",
    69: "soixante-neuf",
    70: "soixante-dix",
    71: "soixante et onze",
    72: "soixante-douze",
    79: "soixante-dix-neuf",
    80: "quatre-vingts",
    81: "quatre-vingt-un",
    88: "quatre-vingt-huit",
    90: "quatre-vingt-dix",
    91: "quatre-vingt-onze",
    99: "quatre-vingt-dix-neuf",
    100: "cent",
    101: "cent un",
    121: "cent vingt et un",
    180: "cent quatre-vingts",
    200: "deux cents",
    201: "deux cent un",
    280: "deux cent quatre-vingts",
    999: "neuf cent quatre-vingt-dix-neuf",
    1000: "mille",
    1001: "mille un",
    1080: "mille quatre-vingts",
    1100: "mille cent",
    2000: "deux mille",
    2026: "deux mille vingt-six",
    3200: "trois mille deux cents",
    9999: "neuf mille neuf cent quatre-vingt-dix-neuf",
    21000: "vingt et un mille",
    80000: "quatre-vingt mille",
    200000: "deux cent mille",
    1_000_000: "un million",
    2_500_000: "deux millions cinq cent mille",
}


@pytest.mark.parametrize(("n", "words"), NUMBERS.items())
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_number_range() -> None:
    with pytest.raises(ValueError):
        number_to_words(-1)
    with pytest.raises(ValueError):
        number_to_words(1_000_000_000)
    assert digits_to_words("0 1-9") == "zéro un neuf"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Ouvert à 8 h 30.", "Ouvert à 8 heures 30."),
        ("Ouvert à 8h30.", "Ouvert à 8 heures 30."),
        ("Ouvert à 08:30.", "Ouvert à 8 heures 30."),
        ("Fermé à 12 h.", "Fermé à midi."),
        ("Fermé à 12h00.", "Fermé à midi."),
        ("Rouvre à 12 h 30.", "Rouvre à 12 heures 30."),
        ("Dès 1 h.", "Dès 1 heure."),
        ("Jusqu'à 17h.", "Jusqu'à 17 heures."),
        ("Le samedi 9 h - 12 h", "Le samedi 9 heures à midi"),
        ("Horaires : 8h30-12h", "Horaires : 8 heures 30 à midi"),
        ("À 0 h 00.", "À minuit."),
    ],
)
def test_hours(text: str, spoken: str) -> None:
    assert to_speech(text) == spoken


def test_hours_leave_other_numbers_alone() -> None:
    assert to_speech("2 habitants sur 3 hommes") == "2 habitants sur 3 hommes"
    assert to_speech("Il est 10:15:00") == "Il est 10:15:00"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Le 14/09/2026.", "Le 14 septembre 2026."),
        ("Le 2026-09-14.", "Le 14 septembre 2026."),
        ("Le 1/5/2026.", "Le premier mai 2026."),
        ("Le 03/02/2027.", "Le 3 février 2027."),
        ("Code 45/13/2026.", "Code 45/13/2026."),  # not a date
    ],
)
def test_dates(text: str, spoken: str) -> None:
    assert to_speech(text) == spoken


PHONE_WORDS = "zéro un, quatre-vingt-dix-neuf, zéro zéro, douze, trente-quatre"


@pytest.mark.parametrize(
    "number",
    ["01 99 00 12 34", "01.99.00.12.34", "0199001234", "+33 1 99 00 12 34", "01-99-00-12-34"],
)
def test_phone_numbers(number: str) -> None:
    assert to_speech(f"Appelez le {number}.") == f"Appelez le {PHONE_WORDS}."


def test_other_phone_numbers() -> None:
    assert to_speech("03 80 71 20 00") == (
        "zéro trois, quatre-vingts, soixante et onze, vingt, zéro zéro"
    )
    # Short numbers are left to the synthesiser.
    assert to_speech("Composez le 15 ou le 112.") == "Composez le 15 ou le 112."


def test_urls_are_removed() -> None:
    assert to_speech("Plus d'infos sur https://www.service-public.fr/particuliers.") == (
        "Plus d'infos."
    )
    assert to_speech("Formulaire (https://x.fr/a?b=1) à remplir.") == "Formulaire à remplir."
    assert to_speech("Voir www.mairie.fr pour le détail") == "Voir pour le détail"
    assert to_speech("Voir [le site de la mairie](https://mairie.fr).") == (
        "Voir le site de la mairie."
    )
    assert "http" not in to_speech("Lien : http://a.b/c, puis la suite.")


def test_email_addresses() -> None:
    assert to_speech("Écrivez à <etat-civil@mairie.fr>.") == (
        "Écrivez à etat tiret civil arobase mairie point fr."
    )
    assert to_speech("Contact : accueil@saint-martin.fr") == (
        "Contact : accueil arobase saint tiret martin point fr"
    )
    assert "arobase" in to_speech("[écrire](mailto:accueil@mairie.fr)")


def test_money() -> None:
    assert to_speech("Tarif : 12,50 €.") == "Tarif : 12 euros 50."
    assert to_speech("Tarif : 12 €.") == "Tarif : 12 euros."
    assert to_speech("1 €") == "1 euro"
    assert to_speech("12.50 €") == "12 euros 50"
    assert to_speech("0,50 €") == "50 centimes"
    assert to_speech("1 234,50 €") == "1234 euros 50"
    assert to_speech("25 euros") == "25 euros"


def test_abbreviations() -> None:
    assert to_speech("Le CCAS vous répond.") == "Le C C A S vous répond."
    assert to_speech("Dossier n° 12.") == "Dossier numéro 12."
    assert to_speech("M. Dupont et Mme Durand.") == "monsieur Dupont et madame Durand."
    assert to_speech("La CAF et l'URSSAF.") == "La caf et l'URSSAF."
    assert to_speech("Remise de 10 %.") == "Remise de 10 pour cent."
    assert to_speech("Prenez RDV.") == "Prenez rendez-vous."


def test_slashes_become_pauses() -> None:
    assert to_speech("lundi/mardi : 8h-12h / 14h-17h") == (
        "lundi, mardi : 8 heures à midi, 14 heures à 17 heures"
    )
    assert to_speech("Le 14/09/2026") == "Le 14 septembre 2026"


def test_markdown_is_stripped() -> None:
    text = (
        "## Pièces à fournir\n"
        "- une **photo** d'identité\n"
        "* un _justificatif_ de domicile\n"
        "1. le formulaire `cerfa`\n\n"
        "Merci !"
    )
    assert to_speech(text) == (
        "Pièces à fournir. une photo d'identité. un justificatif de domicile. "
        "le formulaire cerfa. Merci !"
    )


def test_everything_together() -> None:
    text = (
        "La mairie est ouverte le **lundi** de 8h30 à 12h. "
        "Tél. : 01 99 00 12 34 ✅ — https://mairie.fr"
    )
    spoken = to_speech(text)
    assert "8 heures 30 à midi" in spoken
    assert PHONE_WORDS in spoken
    assert "http" not in spoken and "*" not in spoken and "✅" not in spoken


def test_shorten_for_voice() -> None:
    text = "Première phrase. Deuxième phrase ! Troisième ? Quatrième."
    assert shorten_for_voice(text) == "Première phrase. Deuxième phrase !"
    assert (
        shorten_for_voice(text, max_sentences=3) == "Première phrase. Deuxième phrase ! Troisième ?"
    )
    assert shorten_for_voice("Une seule") == "Une seule"
    assert shorten_for_voice("Ligne un\nLigne deux\nLigne trois") == "Ligne un Ligne deux"
    assert shorten_for_voice("") == ""
    with pytest.raises(ValueError):
        shorten_for_voice(text, max_sentences=0)
