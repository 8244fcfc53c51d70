"""Plugins: third parties add LLM providers, context processors and dialogue engines through
Python entry points, without editing amos-vault.

In the plugin's ``pyproject.toml``::

    [project.entry-points."amos_vault.providers"]
    myllm = "my_plugin:make_provider"      # called with (host, model, timeout) -> LLMProvider
    [project.entry-points."amos_vault.context_processors"]
    redact = "my_plugin:redact"            # called with (Context) -> Context
    [project.entry-points."amos_vault.engines"]
    terse = "my_plugin:TerseEngine"        # called with () -> DialogueEngine

A plugin that fails to load is logged and skipped; it never stops amos-vault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger("amos_vault.core.plugins")
GROUPS = ("amos_vault.providers", "amos_vault.context_processors", "amos_vault.engines")


def load(group: str) -> dict[str, Any]:
    """The loaded objects of one entry-point group, by name (failures logged, skipped)."""
    found: dict[str, Any] = {}
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        try:
            found[point.name] = point.load()
        except Exception:
            log.exception("plugin %s (%s) failed to load; skipped", point.name, point.value)
    return found


def plugin_providers() -> dict[str, Callable[..., Any]]:
    """LLM provider factories added by plugins."""
    return load("amos_vault.providers")


def plugin_context_processors() -> list[Callable[[Any], Any]]:
    """Context processors added by plugins, in name order."""
    return list(load("amos_vault.context_processors").values())


def plugin_engines() -> dict[str, Any]:
    """Dialogue engines added by plugins (instances)."""
    engines = {}
    for name, factory in load("amos_vault.engines").items():
        try:
            engines[name] = factory()
        except Exception:
            log.exception("dialogue engine plugin %s failed to start; skipped", name)
    return engines
