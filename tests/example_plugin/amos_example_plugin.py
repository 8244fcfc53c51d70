"""An example amos-vault plugin: a dialogue engine and a context processor.

Registered through entry points (see example_plugin-0.1.dist-info/entry_points.txt beside
this file; a real plugin declares them in its pyproject.toml):

    [project.entry-points."amos_vault.engines"]
    terse = "amos_example_plugin:TerseEngine"
    [project.entry-points."amos_vault.context_processors"]
    redact = "amos_example_plugin:redact_numbers"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class TerseEngine:
    """Asks for one-sentence answers."""

    name: str = "terse"

    def messages(self, context: Any) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": context.question},
        ]

    def read_reply(self, context: Any, reply: str) -> dict[str, Any]:
        return {"engine": self.name, "words": len(reply.split())}


def redact_numbers(context: Any) -> Any:
    """Replace digits in every piece of context (e.g. account numbers) with #."""
    context.pieces = [replace(p, text=re.sub(r"\d", "#", p.text)) for p in context.pieces]
    return context
