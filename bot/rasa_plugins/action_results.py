"""Rasa's check of an action server's answer, with its JSON-schema validator built once.

Rasa 3.6 (`RemoteAction._validate_action_result`) calls `jsonschema.validate` on every
custom action's answer; that function first checks the *schema* against its
metaschema (`check_schema`, draft 2020-12 with jsonschema 4.17) before validating the
answer. The schema is a constant of Rasa's, so checking it again on every call only
costs: 19.5 % of the Rasa process's main thread under 20 closed-loop conversations,
about 40 ms per action call (docs/benchmarks-capacity.md). `install()` replaces the method
with one that checks the schema once and validates each answer with the same
validator class, the same `best_match` error and the same message Rasa adds: answers
accepted and refused are exactly those Rasa accepts and refuses.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Text

MARKER = "_guichet_validator_built_once"


def build_check() -> Callable[[Any, Dict[Text, Any]], bool]:
    """The replacement of `RemoteAction._validate_action_result`."""
    from jsonschema import exceptions, validators
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
        error = exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        # The text Rasa 3.6 appends (rasa/core/actions/action.py).
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error

    setattr(_validate_action_result, MARKER, True)
    return _validate_action_result


def install() -> None:
    """Idempotent; called when Rasa loads the project's tracker store or components."""
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, MARKER, False):
        return
    setattr(RemoteAction, "_validate_action_result", build_check())  # noqa: B010
