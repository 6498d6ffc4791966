"""Rasa custom actions, run inside the app by rasa-sdk's ActionExecutor.

Actions are built with their dependencies (`build_actions`) instead of being
discovered by package scan, so they use the app's live objects.
"""

from __future__ import annotations

from rasa_sdk import Action

from actions.dependencies import ActionDependencies
from actions.emergency import ActionEmergency
from actions.handoff import (
    ActionAskCallbackConsent,
    ActionRequestHuman,
    ActionSubmitCallback,
    ValidateCallbackForm,
)
from actions.knowledge import ActionAnswerFromKnowledgeBase
from actions.life_event import ActionLifeEvent
from actions.report_form import ActionResetReport, ActionSubmitReport, ValidateSignalementForm
from actions.town import ActionContactInfo, ActionOpeningHours


def build_actions(deps: ActionDependencies) -> list[Action]:
    return [
        ActionOpeningHours(deps),
        ActionContactInfo(deps),
        ActionRequestHuman(deps),
        ActionEmergency(),
        ValidateSignalementForm(),
        ActionSubmitReport(deps),
        ActionResetReport(),
        ActionAnswerFromKnowledgeBase(deps),
        ActionLifeEvent(deps),
        ValidateCallbackForm(),
        ActionAskCallbackConsent(),
        ActionSubmitCallback(deps),
    ]


__all__ = ["ActionDependencies", "build_actions"]
