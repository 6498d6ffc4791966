"""The callbot as an extension of the town's PBX: Kamailio (Debian) as registrar and proxy.

The bot registers with its password, a second phone (baresip, an extension with its own
password) calls the bot's extension through the proxy and is answered, and the bot's
REFER transfer goes through the proxy to a third extension. A restarted registrar, a
wrong password and an unreachable registrar are each recovered from with back-off.
All on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.support.system import require_program
from tests.voice.baresip import Baresip, free_port
from tests.voice.kamailio import Kamailio
from tests.voice.test_baresip import (
    Bot,
    CallRecord,
    Script,
    idle,
    mic_wav,  # noqa: F401 - the fixture
    running,
    wait_hangup,
)
from voice.session import HangupCause
from voice.sip import SipAgent

pytestmark = [pytest.mark.voice, pytest.mark.timeout(120)]

USERS = {"guichet": "bot-secret-1", "caller": "caller-secret-2", "agent": "agent-secret-3"}
# Quick timers, so that a registrar that went away is noticed in seconds, not 32 s.
QUICK = {"t1": 0.05, "register_check": 0.5, "register_retry_min": 0.2, "register_retry_max": 1.0}


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[Kamailio]:
    require_program("kamailio", "kamailio")
    server = Kamailio(tmp_path / "kamailio", USERS)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def phone(
    tmp_path: Path, mic: Path, pbx: Kamailio, name: str, register: bool, answer: bool = False
) -> AsyncIterator[Baresip]:
    peer = Baresip(tmp_path / name, mic, name, answer, account=pbx.account(name, register))
    await peer.start()
    try:
        if register:
            await peer.wait_registered()
        yield peer
    finally:
        await peer.stop()


def extension(
    pbx: Kamailio, password: str = USERS["guichet"], **config: object
) -> dict[str, object]:
    return {"registrar": pbx.uri, "user": "guichet", "password": password, **QUICK}


class TracingBot(Bot):
    """Also keeps the peer address of every datagram."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.addressed: list[tuple[str, bytes, tuple[str, int]]] = []

    def on_trace(self, direction: str, data: bytes, addr: tuple[str, int]) -> None:
        super().on_trace(direction, data, addr)
        self.addressed.append((direction, data, addr))

    def sent_to(self, pattern: str) -> list[tuple[str, int]]:
        regex = re.compile(pattern.encode(), re.M)
        return [addr for d, data, addr in self.addressed if d == "out" and regex.search(data)]


async def test_registered_bot_is_called_through_the_proxy_and_transfers_through_it(
    tmp_path: Path,
    mic_wav: Path,  # noqa: F811
    pbx: Kamailio,
) -> None:
    async def script(call: CallRecord) -> None:
        await asyncio.sleep(0.5)
        call.results["ok"] = await call.session.transfer("agent")  # an extension of the PBX

    bot = TracingBot(script)
    async with phone(tmp_path, mic_wav, pbx, "agent", register=True, answer=True) as human:
        async with running(bot, **extension(pbx)) as agent:
            assert agent.registration is not None
            await asyncio.wait_for(agent.registration.wait_registered(), 10)
            async with phone(tmp_path, mic_wav, pbx, "caller", register=False) as caller:
                await caller.dial("sip:guichet@127.0.0.1")  # the extension, not the bot's address
                await human.wait_event("CALL_ESTABLISHED", within=15)
                (call,) = bot.calls
                await wait_hangup(call)
                await caller.hangup()
    assert call.results["ok"] is True and call.cause is HangupCause.TRANSFERRED
    proxy = ("127.0.0.1", pbx.port)
    # registered with digest authentication: challenged, then accepted with our Contact
    registers = bot.traced("out", r"^REGISTER ")
    assert b"Authorization:" not in registers[0] and b"Authorization: Digest" in registers[1]
    assert b'username="guichet"' in registers[1] and USERS["guichet"].encode() not in registers[1]
    assert bot.traced("in", r"^SIP/2\.0 401 (.*\r\n)*CSeq: \d+ REGISTER")
    assert bot.traced("in", rf"^SIP/2\.0 200 (.*\r\n)*Contact: <{agent.contact_uri}>")
    # the INVITE came from the proxy, which stays in the dialog
    (invite,) = bot.traced("in", r"^INVITE ")
    assert f"Record-Route: <sip:127.0.0.1:{pbx.port};lr".encode() in invite
    assert f"Via: SIP/2.0/UDP 127.0.0.1:{pbx.port};branch=".encode() in invite
    # REFER and BYE went to the proxy (the Record-Route), not to the caller's own address
    assert bot.sent_to(r"^REFER ") == [proxy]
    assert set(bot.sent_to(r"^BYE ")) == {proxy}
    (refer,) = bot.traced("out", r"^REFER ")
    assert b"Refer-To: <sip:agent@127.0.0.1>" in refer
    assert bot.traced("in", r"^NOTIFY (.*\r\n)*\r\nSIP/2\.0 200")  # the transfer succeeded


async def test_a_restarted_registrar_is_noticed_and_the_bot_registers_again(
    tmp_path: Path,
    mic_wav: Path,  # noqa: F811
    pbx: Kamailio,
) -> None:
    bot = Bot(idle)
    async with running(bot, **extension(pbx)) as agent:
        registration = agent.registration
        assert registration is not None
        await asyncio.wait_for(registration.wait_registered(), 10)
        before = registration.successes
        await pbx.restart()  # the new registrar knows nobody
        await asyncio.wait_for(registration.wait_registered(beyond=before), 20)
        noticed = [a.outcome for a in registration.history if a.kind == "check"]
        assert {"lost", "timeout", "error"} & set(noticed), noticed
        async with phone(tmp_path, mic_wav, pbx, "caller", register=False) as caller:
            await caller.dial("sip:guichet@127.0.0.1")
            await caller.wait_event("CALL_ESTABLISHED", within=15)
            await asyncio.wait_for(bot.answered.wait(), 5)
            await caller.hangup()
            await wait_hangup(bot.calls[0])


async def test_a_wrong_password_is_retried_with_a_growing_back_off(pbx: Kamailio) -> None:
    async with running(Bot(idle), **extension(pbx, password="not-the-password")) as agent:
        registration = agent.registration
        assert registration is not None
        async with asyncio.timeout(15):
            while len([a for a in registration.history if a.retry_in]) < 4:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        failures = [a for a in registration.history if a.retry_in]
        assert not agent.registered
    assert [a.outcome for a in failures[:4]] == ["401"] * 4  # challenged again: refused
    assert [a.retry_in for a in failures[:4]] == [0.2, 0.4, 0.8, 1.0]


async def test_an_unreachable_registrar_is_retried_with_back_off() -> None:
    nobody = f"sip:127.0.0.1:{free_port()}"  # nothing listens there
    config = {"registrar": nobody, "user": "guichet", "password": "x", **QUICK, "t1": 0.01}
    async with running(Bot(idle), **config) as agent:
        registration = agent.registration
        assert isinstance(agent, SipAgent) and registration is not None
        async with asyncio.timeout(20):
            while len([a for a in registration.history if a.retry_in]) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    failures = [a for a in registration.history if a.retry_in]
    assert [a.outcome for a in failures[:3]] == ["timeout"] * 3
    assert [a.retry_in for a in failures[:3]] == [0.2, 0.4, 0.8]


async def test_the_registration_is_refreshed_before_it_expires(pbx: Kamailio) -> None:
    """10 s granted (Kamailio's minimum here): the refresh comes before the binding runs
    out, so a check every second never finds it gone."""
    config = {**extension(pbx), "register_expires": 10, "register_check": 1.0}
    async with running(Bot(idle), **config) as agent:
        registration = agent.registration
        assert registration is not None
        await asyncio.wait_for(registration.wait_registered(), 10)
        await asyncio.wait_for(registration.wait_registered(beyond=1), 20)  # the refresh
        checks = [a.outcome for a in registration.history if a.kind == "check"]
    assert checks and set(checks) == {"ok"}, checks
