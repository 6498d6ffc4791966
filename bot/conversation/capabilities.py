"""What a channel can do, declared by the channel itself and read by the actions.

The channel puts its `Capabilities` on every turn (`UserTurn.capabilities`);
ConversationService sends them to Rasa as message metadata, so an action reads
"can this reply be spoken, shown as buttons, transferred?" from the message and never
from a channel's name. A new channel declares its own; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

METADATA_KEY = "capabilities"


@dataclass(frozen=True)
class Capabilities:
    voice: bool = False  # replies are spoken: short, buttons read as keypad choices
    buttons: bool = True  # can show buttons (else their titles become numbered text)
    links: bool = True  # a link can be clicked
    transfer: bool = False  # a person is reached by transferring the call

    def as_metadata(self) -> dict[str, Any]:
        return {METADATA_KEY: asdict(self)}

    @classmethod
    def of_message(cls, message: Mapping[str, Any]) -> Capabilities:
        """The capabilities sent with a message (Rasa's `latest_message`); a written
        channel's when the message has none (rasa shell, a bare Rasa client)."""
        metadata = message.get("metadata")
        raw = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
        if not isinstance(raw, Mapping):
            return WRITTEN
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known and isinstance(v, bool)})


WRITTEN = Capabilities()  # the web chat
SPOKEN = Capabilities(voice=True, buttons=False, links=False, transfer=True)  # a phone call
