"""A button payload is checked once, by ConversationService.normalise, for every
channel (the web chat used to check it a second time on its own)."""

from __future__ import annotations

import pytest

from bot.channels.webchat import _parse_turn
from bot.conversation.capabilities import SPOKEN
from bot.conversation.service import ConversationService, InvalidMessage, UserTurn
from bot.settings import ChatSettings, TownSettings

TOWN = TownSettings("Villebrune", "Mairie", "01 23 45 67 89", "m@v.fr", "1 place", "", ())
WEB = "0b7e5a52-3f0c-4d1e-9a57-2c1f4f0f9a11"


def conversation() -> ConversationService:
    return ConversationService(None, None, TOWN, ChatSettings())  # type: ignore[arg-type]


REFUSED = ["<b>", "/affirm; DROP TABLE", " /affirm", "/affirm\n", "", "/Affirm"]


@pytest.mark.parametrize("payload", REFUSED)
@pytest.mark.parametrize("channel", ["webchat", "phone"])
def test_a_payload_the_bot_never_offered_is_refused_on_every_channel(
    payload: str, channel: str
) -> None:
    turn = (
        _parse_turn(WEB, {"text": "x", "payload": payload})
        if channel == "webchat"
        else UserTurn("phone-abc123", "x", "phone", payload, capabilities=SPOKEN)
    )
    with pytest.raises(InvalidMessage) as refused:
        conversation().normalise(turn)
    assert refused.value.code == "bad_payload"
    assert "n'est plus valide" in refused.value.french


@pytest.mark.parametrize(
    "payload", ["/affirm", '/ask_question{"kb_article":"passeport-demande"}', "/leave_queue"]
)
def test_the_bots_own_payloads_pass(payload: str) -> None:
    turn = conversation().normalise(_parse_turn(WEB, {"text": "Oui", "payload": payload}))
    assert turn is not None and turn.payload == payload
