"""Hooks: functions called at three points of every exchange, in the order registered.

    from amos_vault.answer.hooks import Hook

    @Hook.on_message_received
    def log_it(session, message): ...

    @Hook.on_context_built
    def inspect(session, context): ...

    @Hook.on_response_generated
    def notify(session, answer): ...

    Hook.unregister(log_it)

A failing hook is logged and skipped; it never breaks the chat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("amos_vault.answer.hooks")
EVENTS = ("message_received", "context_built", "response_generated")
_registry: dict[str, list[Callable[..., Any]]] = {event: [] for event in EVENTS}


class Hook:
    """Decorators registering hook functions; `unregister` removes one."""

    @staticmethod
    def on_message_received(function: Callable[..., Any]) -> Callable[..., Any]:
        """Called with (session, message) when a user message is recorded."""
        _registry["message_received"].append(function)
        return function

    @staticmethod
    def on_context_built(function: Callable[..., Any]) -> Callable[..., Any]:
        """Called with (session, context) once the context is assembled."""
        _registry["context_built"].append(function)
        return function

    @staticmethod
    def on_response_generated(function: Callable[..., Any]) -> Callable[..., Any]:
        """Called with (session, answer) once the answer is complete."""
        _registry["response_generated"].append(function)
        return function

    @staticmethod
    def unregister(function: Callable[..., Any]) -> None:
        """Remove ``function`` from every event it was registered for."""
        for functions in _registry.values():
            while function in functions:
                functions.remove(function)


def fire(event: str, *args: Any) -> None:
    """Call every hook of ``event`` in registration order; failures are logged and skipped."""
    for function in list(_registry[event]):
        try:
            function(*args)
        except Exception:
            log.exception(
                "hook %s for %s failed; skipped", getattr(function, "__name__", function), event
            )
