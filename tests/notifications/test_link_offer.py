"""The offer made on the phone after an answer with a link, and its answers (keypad 1/2)."""

from __future__ import annotations

from pathlib import Path

from bot.conversation.messages import BotMessage, Button, Source
from tests.notifications.harness import harness
from voice.followup import ACCEPTED, DECLINED, NOT_A_MOBILE, OFFER, LinkOffer

SMS_ON = {
    "GUICHET__NOTIFICATIONS__SMS__ENABLED": "true",
    "GUICHET__NOTIFICATIONS__SMS__SENDSMS_URL": "http://127.0.0.1:9/cgi-bin/sendsms",
}
ANSWER = [
    BotMessage(
        "Carte d'identité. Prenez rendez-vous.", sources=(Source("CNI", "https://x.fr/cni"),)
    )
]


async def test_each_link_is_offered_once_and_only_without_a_menu(data_dir: Path) -> None:
    async with harness(data_dir, run_sender=False, **SMS_ON) as h:
        offer = LinkOffer(h.notifier, h.outbox, "phone-a", "+33612345678")
        assert offer.offer(ANSWER, allowed=False) == "" and offer.waiting is None
        assert offer.offer(ANSWER) == OFFER and offer.waiting is not None
        assert offer.offer(ANSWER) == ""  # already offered in this call
        menu = [BotMessage("Vouliez-vous dire :", buttons=(Button("CNI", "/x"),))]
        assert offer.offer(menu) == "" and offer.waiting is None


async def test_accepting_stores_a_held_sms_and_the_end_of_the_call_releases_it(
    data_dir: Path,
) -> None:
    async with harness(data_dir, run_sender=False, **SMS_ON) as h:
        offer = LinkOffer(h.notifier, h.outbox, "phone-b", "0612345678")
        offer.offer(ANSWER)
        assert await offer.answer(True) == ACCEPTED
        (row,) = h.rows()
        assert (row["kind"], row["recipient"], row["attempts"]) == ("call_link", "+33612345678", 0)
        assert "https://x.fr/cni" in row["body_text"]
        assert await h.outbox.next_due_in("sms") > 60
        await offer.call_ended()
        assert await h.outbox.next_due_in("sms") == 0


async def test_declined_or_not_a_mobile_sends_nothing(data_dir: Path) -> None:
    async with harness(data_dir, run_sender=False, **SMS_ON) as h:
        declined = LinkOffer(h.notifier, h.outbox, "phone-c", "+33612345678")
        declined.offer(ANSWER)
        assert await declined.answer(False) == DECLINED
        for caller in ("0123456789", "anonymous", ""):
            landline = LinkOffer(h.notifier, h.outbox, "phone-d", caller)
            landline.offer(ANSWER)
            assert await landline.answer(True) == NOT_A_MOBILE
        await declined.call_ended()
        assert h.rows() == []
