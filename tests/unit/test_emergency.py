import pytest

from bot.domain.emergency import NUMBERS, detect_emergency, emergency_message


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Au feu ! La maison d'à côté brûle", "fire"),
        ("il y a le feu dans la cage d'escalier", "fire"),
        ("ça sent le gaz, odeur de gaz dans l'immeuble", "fire"),
        ("mon père ne respire plus", "health"),
        ("bah mon fils il fait une crise il arrive plus à respirer", "health"),
        ("accident de voiture devant la mairie, il y a des blessés", "health"),
        ("ma mere a fait un malaise", "health"),
        ("mon mari me frappe", "police"),
        ("au secours on m’agresse", "police"),
        ("je veux en finir", "suicide"),
    ],
)
def test_unambiguous_phrases_are_detected(text: str, kind: str) -> None:
    assert detect_emergency(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "à quelle heure est le feu d'artifice du 14 juillet ?",
        "horaires de la mairie",
        "comment refaire ma carte d'identité",
        "je veux signaler un lampadaire en panne",
        "où trouver un défibrillateur dans la commune",
    ],
)
def test_ordinary_questions_do_not_trigger(text: str) -> None:
    assert detect_emergency(text) is None


def test_message_puts_the_relevant_number_first_and_lists_all() -> None:
    fire = emergency_message("fire")
    assert fire.splitlines()[1].startswith("• 18")
    health = emergency_message("health")
    assert health.splitlines()[1].startswith("• 15")
    home = emergency_message("police", "mon mari me frappe devant mon fils")
    assert home.splitlines()[1].startswith("• 17")
    assert "3919" in home.split("Autres")[0] and "119" in home.split("Autres")[0]
    for message in (fire, health, home, emergency_message(None)):
        for number in NUMBERS.values():
            assert f"• {number.number} :" in message
        assert "assistant automatisé" in message
