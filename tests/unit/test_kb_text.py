from knowledge_base.answering import Thresholds, best_chunk, decide, passage
from knowledge_base.chunking import Chunk
from knowledge_base.interface import Confidence
from knowledge_base.lexical import BM25Index
from knowledge_base.text import Lexicon, analyse, fold


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
    clear = [{"score": 0.95}, {"score": 0.90}]
    assert decide(clear, t) is Confidence.ANSWER
    close = [{"score": 0.95}, {"score": 0.93}]
    assert decide(close, t) is Confidence.AMBIGUOUS
    assert decide([{"score": 0.87}, {"score": 0.70}], t) is Confidence.NOT_FOUND
    assert decide([{"score": 0.9}], t) is Confidence.ANSWER
    # Both retrievers agree on the first article: a smaller lead is enough.
    agreed = {"lexical_rank": 1, "dense_rank": 1}
    assert decide([{"score": 0.93, **agreed}, {"score": 0.90}], t) is Confidence.ANSWER
    assert decide([{"score": 0.93}, {"score": 0.90}], t) is Confidence.AMBIGUOUS
    assert decide([{"score": 0.95, **agreed}, {"score": 0.93}], t) is Confidence.AMBIGUOUS
    dense_only = {"lexical_rank": 2, "dense_rank": 1}
    assert decide([{"score": 0.95, **dense_only}, {"score": 0.92}], t) is Confidence.AMBIGUOUS
    assert decide([{"bm25_norm": 3.0}], t) is Confidence.NOT_FOUND
    assert decide([], t) is Confidence.NOT_FOUND


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
