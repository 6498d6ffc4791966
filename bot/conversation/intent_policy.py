"""Which intent a turn gets: Rasa's classifier, corrected by what the app knows.

DIET's confidence is a softmax: on a question unlike its training data it can be
0.99 for a wrong intent ("out of scope", "report a problem", "emergency"), so a
threshold cannot tell. The app knows more than the classifier: whether its
emergency detector fired, whether a form question is pending, whether the
knowledge base holds a confident answer, and how the message is phrased. It sends
that `reading` with the message (Rasa's message metadata, key `guichet`); the last
component of Rasa's pipeline (bot/rasa_plugins/reading_override.py) applies
`choose_intent` to DIET's ranking.

Imports nothing but the standard library: it also runs inside Rasa's own venv
(Python 3.10).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

METADATA_KEY = "guichet"

# What the knowledge base would do with the message (knowledge_base.interface.Confidence).
KB_ANSWER, KB_AMBIGUOUS, KB_NONE = "answer", "ambiguous", "not_found"

# Intents that answer a knowledge question badly when DIET picks them for one.
# Outside a form "cancel" has nothing to cancel ("je voudrais arrêter de jeter mes
# épluchures" is about composting).
CAPTURES_OF_QUESTIONS = frozenset(
    {"out_of_scope", "bot_capabilities", "nlu_fallback", "inform", "cancel"}
)
# Small talk: a long question that opens with "bonjour" or ends with "merci" is a question.
SMALL_TALK = frozenset({"greet", "thanks", "goodbye", "affirm", "deny"})
# Answered from the town hall's settings: right only for the town hall itself.
TOWN_HALL_FACTS = frozenset({"opening_hours", "contact_info"})


@dataclass(frozen=True)
class Reading:
    """What the app read in a message, before Rasa classifies it."""

    emergency: bool = False  # bot.domain.emergency fired
    in_form: bool = False  # the bot's last message asked for a form's slot
    kb: str = KB_NONE  # what the knowledge base would do: answer / ambiguous / not_found
    question: bool = False  # phrased as a question or a request for information
    problem: bool = False  # states a problem on the public space (something to report)
    asks_person: bool = False  # explicitly asks for a person or a call back
    town_hall: bool = False  # names the town hall itself (mairie, hôtel de ville)
    practical: bool = False  # asks for opening hours, an address, a phone, an e-mail
    about_assistant: bool = False  # asks whether a person or a program answers
    # The tag of a life event the message names ("on attend un bébé"), from the base.
    life_event: str | None = None
    # The article the knowledge base would answer with (kb == "answer"): within a
    # life event, the procedure the message asks about, answered before the others.
    kb_article: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        return {METADATA_KEY: asdict(self)}

    @classmethod
    def from_metadata(cls, metadata: Any) -> Reading | None:
        """The reading sent with a message, or None (another client, a bad shape)."""
        raw = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
        if not isinstance(raw, dict):
            return None
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        names = ("life_event", "kb_article")
        flags = {k: v for k, v in fields.items() if k != "kb" and k not in names}
        if not all(isinstance(v, bool) for v in flags.values()):
            return None
        if not all(isinstance(fields.get(k), (str, type(None))) for k in names):
            return None
        if fields.get("kb", KB_NONE) not in (KB_ANSWER, KB_AMBIGUOUS, KB_NONE):
            return None
        return cls(**fields)


def _first_other(ranking: list[str], excluded: frozenset[str]) -> str | None:
    return next((name for name in ranking if name not in excluded), None)


def choose_intent(predicted: str | None, ranking: list[str], reading: Reading) -> str | None:
    """The intent the turn should have; `predicted` (DIET's, after the fallback
    classifier) unless the reading shows it wrong. `ranking`: DIET's intents, best first.

    Returns None to keep the prediction."""
    if reading.emergency:
        return "emergency"
    if reading.life_event and not reading.in_form:
        # The whole set of procedures for the event (actions/life_event.py).
        return "life_event"
    kb_claims = reading.kb == KB_ANSWER or (reading.kb == KB_AMBIGUOUS and reading.question)
    replaced = None
    if predicted == "emergency" and (reading.in_form or kb_claims or reading.question):
        # DIET's own "emergency", the detector silent. A miss costs more than a false
        # alarm, and the detector alone catches 82 % of the measure-only set, so
        # DIET's second opinion stands where nothing contradicts it. It is dropped
        # for an answer to a form question, a message the knowledge base answers,
        # and a question ("mon fils est autiste : qui peut nous accompagner ?",
        # "aide urgence ccas dossier"): its next intent is taken instead.
        replaced = _first_other(ranking, frozenset({"emergency"})) or (
            "inform" if reading.in_form else "nlu_fallback"
        )
        predicted = replaced
    kb_found = reading.kb in (KB_ANSWER, KB_AMBIGUOUS)
    if not reading.in_form and kb_found:
        # Where the base found articles, two captures need the message's own words:
        if predicted == "bot_challenge" and not reading.about_assistant:
            return "ask_question"  # "existe-t-il une garderie ?" is not about the bot
        if predicted == "report_problem" and not reading.problem:
            return "ask_question"  # "consignes de tri papier journaux" reports nothing
    if reading.in_form or not kb_claims:
        # A pending form question is the form's business (its slot mappings and
        # interruption rules); without a knowledge-base answer there is nothing better.
        return replaced
    if predicted in CAPTURES_OF_QUESTIONS:
        return "ask_question"
    if predicted in ("request_human", "request_callback") and not reading.asks_person:
        return "ask_question"  # "comment contacter le service des sports ?"
    if predicted in SMALL_TALK and reading.question:
        return "ask_question"  # "bonjour, comment refaire ma carte d'identité ?"
    if predicted in TOWN_HALL_FACTS and not (reading.town_hall and reading.practical):
        # "horaires de la piscine" (not the town hall's), "baptême républicain mairie"
        # (not its hours or contacts).
        return "ask_question"
    return replaced
