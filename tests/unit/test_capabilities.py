"""Channels declare what they can do; actions read it from the message, not the name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from actions import ActionDependencies, build_actions
from bot.conversation.capabilities import SPOKEN, WRITTEN, Capabilities
from bot.settings import load_settings
from tests.support.actions import run_action


def test_capabilities_go_with_the_message_and_come_back() -> None:
    message = {"text": "allô", "metadata": SPOKEN.as_metadata()}
    assert Capabilities.of_message(message) == SPOKEN
    assert Capabilities.of_message({"metadata": WRITTEN.as_metadata()}) == WRITTEN


@pytest.mark.parametrize(
    "metadata",
    [None, {}, {"capabilities": "voice"}, {"capabilities": {"voice": "yes", "other": True}}],
)
def test_a_message_without_sound_capabilities_is_a_written_channels(metadata: Any) -> None:
    assert Capabilities.of_message({"metadata": metadata}) == WRITTEN


@pytest.fixture
def executor(tmp_path: Path) -> ActionExecutor:
    town = load_settings(env={"GUICHET_DATA_DIR": str(tmp_path)}).town
    deps = ActionDependencies(town=town, reports=None)  # type: ignore[arg-type]
    executor = ActionExecutor()
    for action in build_actions(deps):
        executor.register_action(action)
    return executor


async def ask_for_a_person(
    executor: ActionExecutor, channel: str, metadata: dict[str, Any]
) -> list[dict[str, Any]]:
    return await run_action(
        executor, "action_request_human", "un agent", "request_human", metadata, channel
    )


async def test_a_channel_that_can_transfer_gets_a_transfer(executor: ActionExecutor) -> None:
    # Any channel name: what counts is the capability it declared.
    replies = await ask_for_a_person(executor, "audiosocket", SPOKEN.as_metadata())
    assert replies == [{"text": "Je vous mets en relation avec un agent.", "transfer": True}]


async def test_a_channel_that_cannot_transfer_never_gets_one(executor: ActionExecutor) -> None:
    # Even named "phone": without the capability, no call transfer is asked for.
    replies = await ask_for_a_person(executor, "phone", WRITTEN.as_metadata())
    assert replies and not any(r.get("transfer") for r in replies)


async def test_a_turns_capabilities_reach_rasa_with_the_message(data_dir: Path) -> None:
    """What the phone does: normalise, then handle; the capabilities must survive both,
    for typed text and keypad payloads alike."""
    from aiohttp.test_utils import TestServer

    from bot.conversation.rasa_client import RasaClient
    from bot.conversation.service import ConversationService, UserTurn
    from bot.core.db import create_engine
    from bot.schema import create_schema
    from bot.storage.transcripts import TranscriptStore
    from tests.conftest import make_settings
    from tests.support.rasa_double import RasaDouble

    double = RasaDouble()
    server = TestServer(double.app(), host="127.0.0.1")
    await server.start_server()
    settings = make_settings(data_dir, str(server.make_url("")).rstrip("/"))
    engine = create_engine(settings.database_url)
    rasa = RasaClient(settings.rasa.url, settings.rasa.timeout_s, settings.rasa.token)
    await rasa.start()
    try:
        await create_schema(engine)
        service = ConversationService(rasa, TranscriptStore(engine), settings.town, settings.chat)
        for text, payload in (("les horaires", None), ("", "/opening_hours")):
            turn = service.normalise(
                UserTurn("phone-abc123", text, "phone", payload, capabilities=SPOKEN)
            )
            assert turn is not None and turn.capabilities == SPOKEN
            await service.handle(turn)
            assert Capabilities.of_message(double.received[-1]) == SPOKEN
    finally:
        await rasa.close()
        await engine.dispose()
        await server.close()
