"""Last component of Rasa's NLU pipeline: the app's reading corrects DIET's intent.

The app sends what it read in each message as metadata (bot/conversation/
understanding.py); `choose_intent` (bot/conversation/intent_policy.py) decides.
Messages without that metadata (rasa shell, tests of the bare model) keep DIET's
prediction. Entities are left as DIET found them.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, METADATA
from rasa.shared.nlu.training_data.message import Message

from bot.conversation.intent_policy import Reading, choose_intent

log = logging.getLogger(__name__)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ReadingOverride(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ReadingOverride":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._apply(message)
        return messages

    @staticmethod
    def _apply(message: Message) -> None:
        reading: Optional[Reading] = Reading.from_metadata(message.get(METADATA))
        if reading is None:
            return
        predicted = (message.get(INTENT) or {}).get("name")
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if isinstance(r, dict)]
        chosen = choose_intent(predicted, [str(r.get("name")) for r in ranking], reading)
        if chosen is None or chosen == predicted:
            return
        log.debug("intent %s corrected to %s by the app's reading", predicted, chosen)
        message.set(INTENT, {"name": chosen, "confidence": 1.0}, add_to_output=True)
        message.set(
            INTENT_RANKING_KEY,
            [{"name": chosen, "confidence": 1.0}] + [r for r in ranking if r.get("name") != chosen],
            add_to_output=True,
        )
