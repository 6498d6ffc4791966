"""What the messages say, computed without a server: dates in French, routing by
subject, outside-hours marking, the SMS alphabet, contacts and settings errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.notifications.compose import Notifier, french_datetime
from bot.notifications.config import parse_notifications
from bot.notifications.contacts import channel_for, email_address, french_mobile
from bot.notifications.requests import Request, callback_department
from bot.notifications.sms_kannel import sms_text
from bot.settings import SettingsError, load_settings

ON = {
    "GUICHET__NOTIFICATIONS__SMTP__ENABLED": "true",
    "GUICHET__NOTIFICATIONS__SMS__ENABLED": "true",
}


def notifier() -> Notifier:
    s = load_settings(env=ON)
    return Notifier(s.notifications, s.town, "Europe/Paris", 90, s.handoff.hours)


def request(at: datetime, contact: str | None = "a@b.fr") -> Request:
    return Request(
        "report", "SIG-AAAAAA", at, "webchat", contact, "c", "proprete", (("Lieu", "x"),)
    )


def test_dates_are_written_in_french_in_the_towns_time_zone() -> None:
    assert french_datetime(datetime(2026, 12, 1, 7, 5, tzinfo=UTC), "Europe/Paris") == (
        "mardi 1er décembre 2026 à 8 h 05"
    )
    assert french_datetime(datetime(2026, 8, 15, 22, 30, tzinfo=UTC), "Europe/Paris") == (
        "dimanche 16 août 2026 à 0 h 30"
    )


def test_requests_outside_office_hours_are_still_routed_and_say_so() -> None:
    n = notifier()
    sunday_night = n.routing(request(datetime(2026, 12, 6, 2, 0, tzinfo=UTC)), None)
    tuesday = n.routing(request(datetime(2026, 12, 8, 9, 0, tzinfo=UTC)), None)
    assert sunday_night is not None and tuesday is not None
    assert sunday_night.recipient == "proprete@villebrune.example"
    assert "(en dehors des heures d'ouverture)" in sunday_night.body_text
    assert "en dehors" not in tuesday.body_text


def test_callback_subjects_find_their_department_without_accents() -> None:
    s = load_settings(env=ON).notifications
    assert callback_department("un ACTE de deces pour ma mere", s) == "etat_civil"
    assert callback_department("Mon permis de construire", s) == "urbanisme"
    assert callback_department("question générale", s) is None
    assert notifier().department(None).name == "Accueil de la mairie"


def test_no_follow_up_link_when_the_town_has_none() -> None:
    message = notifier().acknowledgement(request(datetime(2026, 12, 8, 9, 0, tzinfo=UTC)))
    assert message is not None and "Suivre votre demande" not in message.body_text


def test_sms_alphabet_decides_the_coding() -> None:
    assert sms_text("Réception à 14h05 – « suivi »") == ('Réception à 14h05 - " suivi "', 0)
    assert sms_text("reçue, fête")[1] == 2  # ç and ê are not in the GSM 7-bit alphabet


def test_contacts() -> None:
    assert french_mobile("06 12 34 56 78") == "+33612345678"
    assert french_mobile("+33 7 98 76 54 32") == "+33798765432"
    assert french_mobile("0033612345678") == "+33612345678"
    assert french_mobile("01 23 45 67 89") is None and french_mobile("anonymous") is None
    assert email_address("Jeanne@Exemple.FR") == "jeanne@exemple.fr"
    assert [channel_for(c) for c in ("a@b.fr", "0612345678", "0123456789", None)] == [
        "email",
        "sms",
        None,
        None,
    ]


def test_invalid_settings_are_refused_in_english() -> None:
    with pytest.raises(SettingsError, match="report_routes"):
        load_settings(env={**ON, "GUICHET__NOTIFICATIONS__REPORT_ROUTES": "{voirie: nowhere}"})
    with pytest.raises(SettingsError, match="security"):
        load_settings(env={**ON, "GUICHET__NOTIFICATIONS__SMTP__SECURITY": "ssl3"})
    with pytest.raises(ValueError, match="sender"):
        parse_notifications({"smtp": {"enabled": True, "sender": "no address"}}, {})
    assert not load_settings(env={}).notifications.enabled  # off unless configured
