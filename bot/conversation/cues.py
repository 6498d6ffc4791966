"""How a French message is phrased: a question, a reported problem, a request for a
person, a mention of the town hall. Read on folded text (no accents, lower case)
after `normalise_noisy` (SMS spellings: "cmt", "kel", "jvoudrai").

Cues are phrasing, not topics: what the message is about is the knowledge base's
business. They only let bot/conversation/intent_policy.py tell "comment signaler un
trou ?" (a question) from "il y a un trou rue Pasteur" (a report).
"""

from __future__ import annotations

import re

from bot.core.text import fold, normalise_noisy

_QUESTION = re.compile(
    r"\?|"
    r"\b(comment|quand|pourquoi|combien|quel|quelle|quels|quelles|qui|ou|quoi|"
    r"que faire|qu est ce|est ce que|est ce qu|a quelle heure|a qui|aupres de qui|"
    r"peut on|puis je|dois je|faut il|y a t il|"
    r"je voudrais|je voudrai|je souhaite|je souhaiterais|j aimerais|j aimerai|je veux|"
    r"je cherche|je recherche|il me faut|j ai besoin|besoin d|"
    r"savoir|connaitre|renseignement|renseignements|info|infos|information|informations|"
    r"demarche|demarches|procedure|formulaire|documents?|pieces?|justificatifs?|"
    r"horaires?|tarifs?|prix|cout|delai|delais|inscrire|inscription|obtenir|demander|"
    r"demande|faire|refaire|renouveler|declarer|deposer|payer|reserver)\b"
)
# A defect seen in the street or a building: something for the report form.
_PROBLEM = re.compile(
    r"\b(casse|cassee|casses|cassees|en panne|ne marche plus|ne marche pas|"
    r"ne fonctionne plus|ne fonctionne pas|bouche|bouchee|fuite|fuit|trou|trous|"
    r"nid de poule|nids de poule|depot sauvage|depots sauvages|"
    r"abandonne|abandonnee|abandonnes|dechets|ordures|tag|tags|graffiti|graffitis|"
    r"eteint|eteints|eteinte|arrache|arrachee|renverse|renversee|inonde|inondee|"
    r"degradation|degrade|degradee|effondre|est tombe|est tombee|sont tombes|"
    r"penche|dangereux|dangereuse|dangereusement|menace de tomber|"
    r"je (veux|voudrais|souhaite) signaler|je signale|signalement)\b"
)
_PERSON = re.compile(
    r"\b(parler a (un|une|quelqu un)|un humain|une personne|une vraie personne|"
    r"un agent|une agente|un conseiller|une conseillere|un operateur|une operatrice|"
    r"quelqu un de la mairie|etre rappele|etre rappelee|me rappeler|rappelez moi|"
    r"un rappel|le standard)\b"
)
# Asks what answers: a person or a program ("vous êtes un robot ?", "c'est un vrai
# agent qui répond ?"). Not "programme" or "automatique" alone: "programme de
# réussite éducative", "prélèvement automatique" are topics.
_ABOUT_THE_ASSISTANT = re.compile(
    r"\b(robot|robots|bot|chatbot|chat bot|ia|intelligence artificielle|chatgpt|"
    r"humain|humaine|une machine qui|c est une machine|a une machine|programme informatique|"
    r"repondeur|automatise|c est automatique|vraie personne|personne reelle|"
    r"vrai agent|vraie agente|en chair et en os|derriere l ecran|"
    r"qui (me |nous )?repond|je parle a|on parle a|en train de parler a|je discute avec|"
    r"je m adresse a|"
    r"(tu|vous) (es|etes) (qui|quoi|reel|reelle|reels)|t es (qui|quoi|reel)|"
    r"tu existes)\b"
)
_TOWN_HALL = re.compile(r"\b(mairie|hotel de ville|accueil)\b")
# What the town hall's fixed facts answer: when it opens, where it is, how to reach it.
_PRACTICAL = re.compile(
    r"\b(horaires?|heures?|ouvert|ouverte|ouvre|ouverture|ferme|fermee|fermeture|adresse|"
    r"telephone|tel|numero|mail|e mail|email|courriel|contact|contacter|joindre|"
    r"ou se trouve|ou est|venir|acceder|acces)\b"
)


def _folded(text: str) -> str:
    # "est-ce qu'elle", "peut-on": hyphens and apostrophes read as spaces.
    return fold(normalise_noisy(text)).replace("'", " ").replace("-", " ")


def is_question(text: str) -> bool:
    """Asks something: a question mark, an interrogative, a request for information."""
    return bool(_QUESTION.search(_folded(text)))


def states_a_problem(text: str) -> bool:
    return bool(_PROBLEM.search(_folded(text)))


def asks_for_a_person(text: str) -> bool:
    return bool(_PERSON.search(_folded(text)))


def asks_about_the_assistant(text: str) -> bool:
    """Whether a person or a program is answering: the disclosure question."""
    return bool(_ABOUT_THE_ASSISTANT.search(_folded(text)))


def names_the_town_hall(text: str) -> bool:
    return bool(_TOWN_HALL.search(_folded(text)))


def asks_hours_or_contact(text: str) -> bool:
    """Opening hours, an address, a phone number or an e-mail: the town facts' topics."""
    return bool(_PRACTICAL.search(_folded(text)))
