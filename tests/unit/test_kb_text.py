import math

import pytest

from knowledge_base.answering import (
    ANSWER_FEATURES,
    AnswerModel,
    Thresholds,
    answer_features,
    best_chunk,
    decide,
    passage,
)
from knowledge_base.chunking import Chunk
from knowledge_base.interface import Confidence
from knowledge_base.lexical import BM25Index
from knowledge_base.text import Lexicon, analyse, fold, retrieval_text


def test_folding_and_analysis_match_accentless_typing() -> None:
    assert fold("Déchèterie Œuvre") == "decheterie oeuvre"
    assert analyse("Où déposer mes encombrants ?") == analyse("ou deposer mes encombrant")
    assert "comment" not in " ".join(analyse("comment faire une demande"))


def test_lexicon_links_abbreviations_and_phrases() -> None:
    lex = Lexicon((("CNI", "carte d'identité"), ("encombrants", "objets volumineux")))
    assert set(analyse("renouveler ma CNI", lex)) & set(analyse("Carte d’identité", lex))
    assert "lex1" in analyse("jeter des objets volumineux", lex)
    assert not {"lex0", "lex1"} & set(analyse("carte grise", lex))


def test_bm25_updates_one_document_at_a_time() -> None:
    index = BM25Index()
    index.add("a", analyse("collecte des encombrants sur rendez-vous"))
    index.add("b", analyse("inscription à la cantine scolaire"))
    assert index.search(analyse("encombrants"))[0][0] == "a"
    index.add("a", analyse("horaires de la piscine"))  # replaced, not appended
    assert index.search(analyse("encombrants")) == []
    index.remove("b")
    assert len(index) == 1 and index.search(analyse("cantine")) == []


def test_decision_rules() -> None:
    t = Thresholds()
    # A clear first article: well ahead of the others, first for both retrievers,
    # its title naming the question's words.
    clear = [
        {
            "score": 0.95,
            "cosine": 0.90,
            "bm25_norm": 1.0,
            "lexical_rank": 1,
            "dense_rank": 1,
            "title": "Horaires de la piscine",
        },
        {"score": 0.85, "cosine": 0.84, "bm25_norm": 0.2, "title": "Tarifs de la piscine"},
    ]
    assert decide(clear, t, "horaires de la piscine") is Confidence.ANSWER
    # Three articles within a hair of each other: the citizen chooses.
    close = [
        {"score": 0.95, "cosine": 0.90, "title": "Piscine"},
        {"score": 0.945, "cosine": 0.90, "title": "Piscine : tarifs"},
        {"score": 0.94, "cosine": 0.90, "title": "Piscine : horaires"},
    ]
    assert decide(close, t, "horaires de la piscine") is Confidence.AMBIGUOUS
    # Under the minimum score nothing is offered, whatever the lead.
    assert decide([{"score": 0.87}, {"score": 0.70}], t) is Confidence.NOT_FOUND
    assert decide([{"score": 0.9}], t) is Confidence.ANSWER  # the only candidate
    assert decide([{"bm25_norm": 3.0}], t) is Confidence.NOT_FOUND
    assert decide([], t) is Confidence.NOT_FOUND


def test_answer_model_reads_the_lead_and_the_title() -> None:
    t = Thresholds()
    base = [
        {
            "score": 0.93,
            "cosine": 0.88,
            "bm25_norm": 0.6,
            "lexical_rank": 1,
            "dense_rank": 1,
            "title": "Carte d'identité",
        },
        {"score": 0.91, "cosine": 0.87, "bm25_norm": 0.5, "title": "Passeport"},
        {"score": 0.90, "cosine": 0.86, "bm25_norm": 0.4, "title": "Acte de naissance"},
    ]
    features = answer_features("refaire ma carte d'identité", base)
    assert dict(zip(ANSWER_FEATURES, features, strict=True)) == pytest.approx(
        {
            "score": 0.93,
            "lead_2": 0.02,
            "lead_3": 0.03,
            "cosine_lead": 0.01,
            "bm25": 0.6,
            "bm25_lead": 0.1,
            "agreed": 1.0,
            "title_overlap": 2 / 3,
            "title_overlap_lead": 2 / 3,
            "question_words": 3.0,
        }
    )
    probability = t.answer_model.probability(features)
    # A wider lead over the second and third articles raises it...
    wider = [base[0], {**base[1], "score": 0.88}, {**base[2], "score": 0.87}]
    assert (
        t.answer_model.probability(answer_features("refaire ma carte d'identité", wider))
        > probability
    )
    # ...a title that shares none of the question's words lowers it.
    untitled = [{**base[0], "title": "Démarches"}, *base[1:]]
    assert (
        t.answer_model.probability(answer_features("refaire ma carte d'identité", untitled))
        < probability
    )


def test_answer_model_probability_is_a_logistic() -> None:
    model = AnswerModel(weights=(2.0, -1.0), bias=0.5)
    assert model.probability((0.0, 0.0)) == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert model.probability((1.0, 3.0)) == pytest.approx(1 / (1 + math.exp(0.5)))
    assert model.probability((1e6, 0.0)) == pytest.approx(1.0)  # no overflow
    with pytest.raises(ValueError):
        model.probability((1.0,))  # one weight per feature


def test_retrieval_reads_sms_spelling_and_leaves_clean_text_as_typed() -> None:
    assert retrieval_text("kel jour passe le camion poubèle") == "quel jour passe le camion poubele"
    assert retrieval_text("JVEU UN PASPORT") == "je veux un passeport"
    # Clean text, capitals included, keeps its accents for the embedding model.
    assert retrieval_text("Où faire ma carte d'identité ?") == "Où faire ma carte d'identité ?"
    assert retrieval_text("HORAIRES DE LA MAIRIE") == "HORAIRES DE LA MAIRIE"


def test_passages_are_short_and_spoken_ones_have_no_urls() -> None:
    lead = Chunk("s", 0, "", "Première phrase. Deuxième phrase ! Troisième ? Quatrième.")
    docs = Chunk("s", 1, "Pièces à fournir", "Une photo.\nUn justificatif sur https://x.example/a.")
    assert passage(lead, voice=False) == "Première phrase.\nDeuxième phrase !\nTroisième ?"
    assert passage(docs, voice=False).startswith("Pièces à fournir : Une photo.")
    spoken = passage(docs, voice=True)
    assert "http" not in spoken and spoken.count(".") <= 2
    assert best_chunk((lead, docs), "quelles pièces fournir pour la photo", None) == docs
    assert best_chunk((lead, docs), "bonjour", None) == lead


def test_a_section_named_by_the_question_wins_over_sections_that_mention_it() -> None:
    lead = Chunk("s", 0, "", "L'espace personnel en ligne de la ville.")
    create = Chunk("s", 1, "Créer son compte", "Choisissez un mot de passe et validez.")
    forgot = Chunk("s", 2, "Mot de passe oublié", "Cliquez sur le lien pour en choisir un.")
    safety = Chunk("s", 3, "Sécurité", "Ne communiquez jamais votre mot de passe.")
    chunks = (lead, create, forgot, safety)
    assert best_chunk(chunks, "Composer votre mot de passe.", None) == forgot
    # Without a word of a heading, a tie between sections still falls back to the lead.
    assert best_chunk((lead, create, safety), "votre mot de passe", None) == lead
