"""Several Rasa servers behind one app (`rasa.servers`): each conversation always goes to
the same server, for its messages and for its tracker events, and the app is ready only
when every server is."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from aiohttp.test_utils import TestServer

from bot.conversation.rasa_client import RasaClient
from bot.settings import SettingsError, load_settings
from tests.support.rasa_double import RasaDouble


def test_servers_are_the_url_and_the_next_ports() -> None:
    s = load_settings(
        env={"GUICHET__RASA__URL": "http://127.0.0.1:5005/", "GUICHET__RASA__SERVERS": "2"}
    )
    assert s.rasa.urls == ["http://127.0.0.1:5005", "http://127.0.0.1:5006"]
    assert load_settings(env={}).rasa.urls == [load_settings(env={}).rasa.url]


@pytest.mark.parametrize("servers", ["0", "9", "deux", "true"])
def test_a_bad_number_of_servers_is_refused(servers: str) -> None:
    with pytest.raises(SettingsError, match=r"rasa\.servers"):
        load_settings(env={"GUICHET__RASA__SERVERS": servers})


def test_several_servers_need_a_port() -> None:
    with pytest.raises(SettingsError, match="needs a port"):
        load_settings(
            env={"GUICHET__RASA__URL": "http://rasa.internal", "GUICHET__RASA__SERVERS": "2"}
        )


async def test_each_conversation_stays_on_one_server() -> None:
    doubles = [RasaDouble(), RasaDouble()]
    servers = [TestServer(d.app()) for d in doubles]
    for server in servers:
        await server.start_server()
    client = RasaClient([str(s.make_url("")) for s in servers], timeout_s=5)
    await client.start()
    try:
        senders = [f"conv-{uuid.uuid4()}" for _ in range(40)]
        for turn in range(3):
            for sender in senders:
                await client.send_message(sender, f"message {turn}", "webchat")
        for sender in senders[:10]:
            await client.append_events(sender, [{"event": "resume"}])
        # A second client (an app restarted, another process) routes the same way.
        again = RasaClient([str(s.make_url("")) for s in servers], timeout_s=5)
        assert [again.server_for(s) for s in senders] == [client.server_for(s) for s in senders]
        assert await client.is_ready()
    finally:
        await client.close()
        for server in servers:
            await server.close()

    where = {
        sender: {i for i, d in enumerate(doubles) for b in d.received if b["sender"] == sender}
        for sender in senders
    }
    assert all(len(found) == 1 for found in where.values())
    share = Counter(next(iter(found)) for found in where.values())
    assert min(share.values()) >= 10  # both servers take conversations
    for sender in senders[:10]:
        (index,) = where[sender]
        assert sender in doubles[index].events
        assert sender not in doubles[1 - index].events


async def test_not_ready_while_one_server_is_down() -> None:
    up = TestServer(RasaDouble().app())
    await up.start_server()
    client = RasaClient([str(up.make_url("")), "http://127.0.0.1:1"], timeout_s=2)
    await client.start()
    try:
        assert not await client.is_ready()
    finally:
        await client.close()
        await up.close()
