"""The emergency detector: regression on the committed sets, the cases of issue 18,
the context rules one by one, and the message built from what was detected."""

import re
from pathlib import Path

import pytest

from benchmarks.emergency_eval import Example, load_examples
from bot.core.text import fold
from bot.domain import emergency_typos
from bot.domain.emergency import NUMBERS, Emergency, detect_emergency, emergency_message

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "tests" / "data" / "emergency_dev.jsonl"


def _failures(examples: list[Example]) -> list[str]:
    failures = []
    for example in examples:
        found = detect_emergency(example.text)
        if example.emergency and found is None:
            failures.append(f"missed: {example.text}")
        elif example.emergency and found and not set(example.numbers) <= set(found.numbers):
            failures.append(f"numbers {found.numbers} lack {example.numbers}: {example.text}")
        elif not example.emergency and found is not None:
            failures.append(f"false positive ({', '.join(found.cues)}): {example.text}")
    return failures


def test_dev_set_is_large_and_labelled() -> None:
    dev = [e for e in load_examples(DEV) if e.split == "dev"]
    positives = [e for e in dev if e.emergency]
    assert len(positives) >= 200 and len(dev) - len(positives) >= 500
    assert all(e.numbers and e.kind for e in positives)
    kinds = {e.kind for e in positives}
    assert kinds >= {"fire", "gas", "flood", "violence", "domestic", "medical", "poisoning"}
    assert kinds >= {"suicide", "danger", "child"}
    assert {e.style for e in positives} >= {"plain", "sms", "typo", "spoken", "caps"}


def test_every_dev_emergency_found_and_no_dev_question_flagged() -> None:
    dev = [e for e in load_examples(DEV) if e.split == "dev"]
    assert _failures(dev) == []


@pytest.mark.parametrize(
    "path", ["tests/data/kb_dev.jsonl", "training_data/nlu.yml"], ids=["kb_dev", "nlu"]
)
def test_ordinary_question_sets_get_no_numbers(path: str) -> None:
    # The NLU file's own `emergency` examples are positives and must be found too.
    examples = load_examples(ROOT / path)
    assert len(examples) > 300
    assert _failures(examples) == []


# Issue 18 (patterns that matched ordinary requests) and the ordinary questions the
# old DIET intent sent to the emergency numbers (issue 12).
ORDINARY = [
    "nid de poule au feu rouge",
    "le feu rouge clignote",
    "la borne incendie fuit",
    "assurance incendie",
    "explosion des tarifs",
    "en finir avec ce dossier",
    "déclarer une arme de chasse",
    "il me menace de porter plainte",
    "permis de feu",
    "à quelle heure est le feu d'artifice du 14 juillet ?",
    "mon père est décédé hier",
    "Ma mère vient de mourir, que dois-je faire ?",
    "j'attends un enfant",
    "Comment déclarer la naissance de ma fille ?",
    "Quels sont les tarifs du columbarium ?",
    "Une benne est posée sur le trottoir devant chez moi",
    "Je me fais naturaliser, puis-je franciser mon nom ?",
    "Mon fils est allergique aux arachides, peut-il manger à la cantine ?",
    "Peut-on faire un feu de camp au bord du lac ?",
    "Mes voisins font du bruit tous les soirs",
    "Ma mère âgée vit seule, existe-t-il un service de visite ?",
    "Comment transporter mon fusil de chasse en voiture ?",
    "Journée portes ouvertes de la caserne des pompiers",
    "Ma maison a brûlé l'an dernier, l'assurance ne paie pas",
    "où trouver un défibrillateur dans la commune",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_questions_do_not_trigger(text: str) -> None:
    assert detect_emergency(text) is None


@pytest.mark.parametrize(
    ("text", "kind", "first"),
    [
        ("Au feu ! La maison d'à côté brûle", "fire", "18"),
        ("ça sent le gaz, odeur de gaz dans l'immeuble", "gas", "18"),
        ("l'eau monte dans la maison, on est bloqués à l'étage", "flood", "18"),
        ("mon père ne respire plus", "medical", "15"),
        ("accident de voiture devant la mairie, il y a des blessés", "medical", "15"),
        ("ma fille a bu de l'eau de javel", "poisoning", "15"),
        ("un homme armé d'un couteau menace des gens devant l'école", "violence", "17"),
        ("mon mari me frappe", "domestic", "17"),
        ("je veux en finir", "suicide", "3114"),
        ("un enfant est tombé dans la rivière", "danger", "112"),
        ("un bébé est enfermé seul dans une voiture en plein soleil", "child", "17"),
    ],
)
def test_each_kind_with_its_number_first(text: str, kind: str, first: str) -> None:
    found = detect_emergency(text)
    assert found is not None and found.kind == kind
    assert found.numbers[0] == first


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("mon mari me frappe", {"17", "3919"}),
        ("mon mari me frappe devant les enfants", {"17", "3919", "119"}),
        ("Je ne peux pas parler, mon mari est à côté, il m'a frappée", {"17", "3919", "114"}),
        ("Mon beau-père me frappe, j'ai 13 ans", {"17", "3919", "119"}),
        ("j'ai pris toutes mes pilules", {"15", "3114"}),
        ("mon enfant a disparu à la sortie de l'école", {"17", "119"}),
        ("je veux me suicider", {"3114", "15"}),
    ],
)
def test_numbers_that_apply(text: str, numbers: set[str]) -> None:
    found = detect_emergency(text)
    assert found is not None and numbers <= set(found.numbers)


@pytest.mark.parametrize(
    ("danger", "ordinary"),
    [
        # a hypothesis before the cue, in its sentence
        ("il y a le feu dans la cuisine", "que faire s'il y a le feu dans la cuisine ?"),
        ("mon enfant s'étouffe", "quels gestes faire si un enfant s'étouffe ?"),
        # a distant past
        ("la maison de mon voisin a pris feu", "la maison de mon voisin a pris feu en août"),
        ("j'ai été agressé dans le bus", "j'ai été agressé dans le bus la semaine dernière"),
        # a recent past with administrative framing (event cues)
        ("je me suis fait agresser", "je me suis fait agresser hier soir, où porter plainte ?"),
        ("mon père a fait un malaise", "mon père a fait un malaise, quelles aides à domicile ?"),
        # a habit, a resolved incident, a negation, a counterfactual
        ("l'eau entre dans ma maison", "l'eau entre dans ma maison à chaque orage"),
        ("fuite de gaz rue des Lilas", "la fuite de gaz rue des Lilas a été réparée"),
        ("accident devant l'école, il y a des blessés", "accident devant l'école, sans blessés"),
        ("je fais une crise cardiaque", "j'ai failli faire une crise cardiaque devant la facture"),
        # the subject is an animal, an object, or the idiom has another object
        ("mon fils s'étouffe", "mon chien s'étouffe, un vétérinaire de garde ?"),
        ("ma voisine est en danger", "mon dossier de permis est en danger"),
        ("je veux en finir avec la vie", "je veux en finir avec cette facture"),
        ("il me menace de mort", "il me menace de porter plainte"),
        # "avc" is the stroke, and SMS for "avec"
        ("je crois que mon père fait un avc", "je peux venir avc mon fils pour son passeport ?"),
    ],
)
def test_context_decides(danger: str, ordinary: str) -> None:
    assert detect_emergency(danger) is not None, danger
    assert detect_emergency(ordinary) is None, ordinary


def test_now_marker_keeps_the_danger_whatever_the_framing() -> None:
    assert detect_emergency("incendie rue Pasteur hier") is None
    assert detect_emergency("incendie rue Pasteur, il brûle encore en ce moment") is not None
    # "maintenant" about the present situation does not revive an old incident
    assert (
        detect_emergency("ma maison a brûlé l'an dernier, je cherche maintenant un logement")
        is None
    )
    assert (
        detect_emergency(
            "ma voiture a pris feu l'an dernier et maintenant, après des mois d'attente, je "
            "voudrais savoir où en est le dossier"
        )
        is None
    )


def test_disclosures_are_never_ordinary() -> None:
    # Domestic violence, suicidal thoughts, a child in danger: administrative framing
    # or a recent past does not discard them.
    for text in (
        "mon mari me frappe, comment porter plainte ?",
        "mon conjoint m'a frappée hier soir",
        "je pense au suicide tout le temps, quelles aides existent ?",
        "mon voisin maltraite son enfant, comment le signaler ?",
    ):
        assert detect_emergency(text) is not None, text


@pytest.mark.parametrize(
    "text",
    [
        "MON PERE NE RESPIRE PLUS",
        "ya le feu ché mon voisin vnez vite",
        "mon mari ma frapé devant les enfants",
        "jveu mourir",
        "ma fille c'est évanouie et elle bouje plus",
        "l'apartement de ma voisine est en fue",
        "allo oui euh il y a un feu de broussailles qui part vers les maisons venez",
        "sa sent le gaz ds le hall",
        "o secour",
    ],
)
def test_noisy_french(text: str) -> None:
    assert detect_emergency(text) is not None


def test_long_and_hostile_input_is_read_to_the_end() -> None:
    # 2,000 characters of near misses, then the emergency: no early exit, no blow-up
    # (the time itself is measured by benchmarks/emergency_eval.py).
    filler = "il me menace de porter plainte pour le feu rouge " * 38
    assert detect_emergency(filler) is None
    found = detect_emergency(filler[:1950] + ". au secours il ne respire plus")
    assert found is not None and found.kind == "medical"
    assert detect_emergency("a" * 2000) is None
    assert detect_emergency("!?., " * 400) is None


def test_typo_list_is_in_step_with_the_cue_words() -> None:
    # Every protected word is one the rule would rewrite (no stale entry), and no
    # word of the shipped demo articles or clean dev texts is rewritten.
    stale = [w for w in emergency_typos.PROTECTED if not emergency_typos.protected_words({w})]
    assert stale == []
    vocabulary: set[str] = set()
    for path in (ROOT / "knowledge_base" / "demo").glob("*.md"):
        vocabulary |= set(re.findall(r"[a-z]+", fold(path.read_text())))
    for example in load_examples(DEV):
        if example.style in ("plain", "caps", "spoken", "noaccent"):
            vocabulary |= set(re.findall(r"[a-z]+", fold(example.text)))
    assert len(vocabulary) > 3000
    rewritten = {w: emergency_typos.cue_word_for(w) for w in vocabulary}
    assert {w: cue for w, cue in rewritten.items() if cue} == {}
    assert emergency_typos.cue_word_for("evanuie") == "evanouie"
    assert emergency_typos.cue_word_for("fue") == "feu"
    assert emergency_typos.cue_word_for("adresse") is None


def test_message_puts_the_relevant_numbers_first_and_lists_all() -> None:
    fire = emergency_message("fire")
    assert fire.splitlines()[1].startswith("• 18")
    health = emergency_message("health")
    assert health.splitlines()[1].startswith("• 15")
    home = emergency_message("police", "mon mari me frappe devant mon fils")
    assert home.splitlines()[1].startswith("• 17")
    assert "3919" in home.split("Autres")[0] and "119" in home.split("Autres")[0]
    found = detect_emergency("je veux en finir")
    assert isinstance(found, Emergency)
    suicide = emergency_message(found)
    assert suicide.splitlines()[1].startswith("• 3114")
    for message in (fire, health, home, suicide, emergency_message(None)):
        for number in NUMBERS.values():
            assert message.count(f"• {number.number} :") == 1
        assert "assistant automatisé" in message
