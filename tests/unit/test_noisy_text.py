"""Noisy French normalisation (bot/core/text.py): SMS and phonetic spelling rewritten,
ordinary words and clean questions left as they mean."""

import re
from pathlib import Path

import pytest

from benchmarks.emergency_eval import load_examples
from bot.core.text import fold, normalise_noisy
from knowledge_base.text import fold as kb_fold

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("noisy", "expected"),
    [
        # SMS abbreviations
        ("bjr jveu 1 rdv stp", "bonjour je veux 1 rendez-vous s'il te plait"),
        ("slt, c possible svp ?", "salut, c'est possible s'il vous plait ?"),
        ("kan je peu recup mon passeport", "quand je peux recup mon passeport"),
        ("cmt fr 1 passeport pr mon fils", "comment faire 1 passeport pour mon fils"),
        ("comen on fé", "comment on fait"),
        ("pk la mairie é fermé", "pourquoi la mairie est ferme"),
        ("pq c fermé tjr le lundi", "pourquoi c'est ferme toujours le lundi"),
        ("dc jdoi venir qd", "donc je dois venir quand"),
        ("jvx savoir ke faire", "je veux savoir que faire"),
        ("jveu savoir k faire", "je veux savoir que faire"),
        ("g perdu mes papiers", "j'ai perdu mes papiers"),
        ("jsui perdu", "je suis perdu"),
        ("chui enceinte", "je suis enceinte"),
        ("jsp koi faire", "je ne sais pas quoi faire"),
        ("jai 1 pb avec qqn", "j'ai 1 probleme avec quelqu'un"),
        ("c koi les horaires auj", "c'est quoi les horaires aujourd'hui"),
        ("ok mr bcp", "ok merci beaucoup"),
        ("bonjour Mr Dupont", "bonjour monsieur dupont"),
        ("ya un pb ds ma rue", "il y a un probleme dans ma rue"),
        ("il ya du bruit", "il y a du bruit"),
        ("kel papier pr la cantine", "quel papier pour la cantine"),
        ("keske je doi fer", "qu'est-ce que je dois fer"),
        ("j'peux pas venir", "je peux pas venir"),
        ("j'bosse le mercredi", "je bosse le mercredi"),
        # phonetic and accent-borne spellings
        ("ché moi", "chez moi"),
        ("jé besoin d'aide", "j'ai besoin d'aide"),
        ("il é malade", "il est malade"),
        ("il sé fait mal", "il s'est fait mal"),
        ("sé grave ?", "c'est grave ?"),
        ("o secour", "au secours"),
        ("il respir plu", "il respire plus"),
        ("jpeu pa venir", "je peux pas venir"),
        ("sa sent le gaz", "ca sent le gaz"),
        ("sa brule", "ca brule"),
        ("mon mari ma frapé", "mon mari m'a frappe"),
        ("il ma dit non", "il m'a dit non"),
        ("elle c'est évanouie", "elle s'est evanouie"),
        ("leau monte", "l'eau monte"),
        # repeated letters, capitals, accents
        ("SECOUUURS", "secours"),
        ("viiite !!!", "vite !!!"),
        ("L'ÉCOLE EST FERMÉE ?", "l'ecole est fermee ?"),
        ("Où est la Mairie ?", "ou est la mairie ?"),
        # frequent misspellings
        ("carte d'identiter", "carte d'identite"),
        ("renouveler passport", "renouveler passeport"),
        ("acte de naissanse", "acte de naissance"),
        ("horraires de la mairie", "horaires de la mairie"),
        ("c'est urgense", "c'est urgence"),
        ("il faut apeler", "il faut appeler"),
        ("vitte", "vite"),
    ],
)
def test_noisy_spellings_are_rewritten(noisy: str, expected: str) -> None:
    assert normalise_noisy(noisy) == expected


@pytest.mark.parametrize(
    "clean",
    [
        "Où consulter le PLU de la commune ?",
        "zonage plu ma parcelle",
        "il a plu toute la nuit",
        "recensement JDC",
        "vitamine C et permis C",
        "bâtiment G, escalier C",
        "5 g de sucre et 10 k de farine",
        "mon e-mail est dupont@example.org",
        "le site ville.fr",
        "Peut-on conserver le nom de son époux(se) décédé(e) ?",
        "annulez ma demande",
        "ma montre est cassée",
        "sa femme est malade",
        "ma mère et sa sœur",
        "c'est fermé",
        "qui c'est ?",
        "je suis perdu, c'est perdu",
        "les agréées et les créées",
        "le CV de mon fils",
        "ces papiers sont-ils valables ?",
        "me voici",
        "je me demande",
        "il se lève",
    ],
)
def test_ordinary_words_keep_their_meaning(clean: str) -> None:
    assert normalise_noisy(clean) == " ".join(fold(clean).split())


def test_fold_is_the_knowledge_base_fold() -> None:
    for text in ("Œuvre d’ÉTÉ", "Ça, c'est déjà Noël", "naïve Ærø", "L’état civil"):
        assert fold(text) == kb_fold(text)


def test_output_is_folded() -> None:
    out = normalise_noisy("ÇA BRÛLE, Œuf À L’ÉCOLE ÉTÉ")
    assert out == fold(out)
    assert normalise_noisy("") == "" and normalise_noisy("   ") == ""
    assert normalise_noisy("!!!") == "!!!"


# Words of the project's clean questions that the normaliser rewrites: abbreviations
# and misspellings only. A new entry in the table that touches an ordinary word shows
# up here.
ALLOWED_REWRITES = {
    "svp", "stp", "rdv", "bjr", "slt", "mrc", "mci", "ouais", "ouai", "dac", "daccord",
    "nan", "c", "ke", "ya", "pr", "ds", "tte", "qqn", "passport", "horraires", "j'peux",
    "j'bosse", "koi", "cmt", "fr", "num", "y'a",
}  # fmt: skip


def test_clean_questions_change_only_where_they_are_noisy() -> None:
    examples = []
    for path in ("tests/data/kb_dev.jsonl", "training_data/nlu.yml"):
        examples += load_examples(ROOT / path)
    examples += [
        e
        for e in load_examples(ROOT / "tests" / "data" / "emergency_dev.jsonl")
        if e.style == "plain"
    ]
    assert len(examples) > 1500
    rewritten: set[str] = set()
    for example in examples:
        before = re.findall(r"[\w']+", fold(example.text))
        after = set(re.findall(r"[\w']+", normalise_noisy(example.text)))
        rewritten |= {w for w in before if w not in after}
    assert rewritten <= ALLOWED_REWRITES, rewritten - ALLOWED_REWRITES
