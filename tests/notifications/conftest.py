from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.notifications.servers import KannelGateway, MailServer

# Short back-off so retries happen within a test; production defaults are in settings.yml.
FAST_RETRIES = {
    "GUICHET__NOTIFICATIONS__SENDER__POLL_S": "0.2",
    "GUICHET__NOTIFICATIONS__SENDER__RETRY_BASE_S": "0.2",
    "GUICHET__NOTIFICATIONS__SENDER__RETRY_MAX_S": "1",
    "GUICHET__NOTIFICATIONS__SENDER__CLAIM_TIMEOUT_S": "3",
    "GUICHET__NOTIFICATIONS__SMTP__TIMEOUT_S": "2",
    "GUICHET__NOTIFICATIONS__SMS__TIMEOUT_S": "2",
}
FOLLOW_UP = "https://www.villebrune.example/suivi?ref={reference}"


def notification_env(mail: MailServer | None, kannel: KannelGateway | None) -> dict[str, str]:
    """Settings overrides that turn on the transports under test, passwords from the env."""
    env = {**FAST_RETRIES, "GUICHET__NOTIFICATIONS__FOLLOW_UP_URL": FOLLOW_UP}
    if mail is not None:
        env.update(
            {
                "GUICHET__NOTIFICATIONS__SMTP__ENABLED": "true",
                "GUICHET__NOTIFICATIONS__SMTP__PORT": str(mail.port),
                "GUICHET__NOTIFICATIONS__SMTP__SENDER": (
                    '"Mairie de Villebrune <ne-pas-repondre@villebrune.example>"'
                ),
            }
        )
    if kannel is not None:
        env.update(
            {
                "GUICHET__NOTIFICATIONS__SMS__ENABLED": "true",
                "GUICHET__NOTIFICATIONS__SMS__SENDSMS_URL": kannel.sendsms_url,
                "GUICHET__NOTIFICATIONS__SMS__USERNAME": kannel.username,
                "GUICHET_SMS_PASSWORD": kannel.password,
            }
        )
    return env


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def kannel(tmp_path: Path) -> AsyncIterator[KannelGateway]:
    gateway = KannelGateway(tmp_path / "kannel")
    try:
        await gateway.start()
        yield gateway
    finally:
        gateway.stop()
