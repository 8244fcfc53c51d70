"""Dialogue engines: how the context becomes a prompt, and what is read back from the reply.

* ``basic``: a plain assistant prompt with the context and numbered sources to cite.
* ``reflective`` (LingOS): picks a pattern for the message (exploratory, analytical, creative,
  strategic), asks the model to ground claims in the vault ("cite or stay silent") and to tag
  each claim Fact / Estimate / Unknown, then parses those tags and any uncertainty markers
  from the reply into the assistant message's metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from amos_vault.answer.context import Context, ContextPiece

ENGINES = ("basic", "reflective")
# Cues start a word ("plan" matches "planning", not "plane"); those in _WHOLE_WORDS must be
# whole words. First pattern with a cue wins.
PATTERNS = {
    "strategic": (
        "plan",
        "should i",
        "should we",
        "strategy",
        "decide",
        "prioritise",
        "prioritize",
        "roadmap",
        "next step",
    ),
    "analytical": (
        "why",
        "compare",
        "analyse",
        "analyze",
        "difference",
        "cause",
        "evaluate",
        "pros and cons",
        "how does",
    ),
    "creative": ("write", "imagine", "story", "poem", "invent", "brainstorm", "design"),
    "exploratory": ("what if", "explore", "idea", "wonder", "could", "curious"),
}
_WHOLE_WORDS = frozenset(
    {"why", "could", "should i", "should we", "what if", "how does", "pros and cons", "next step"}
)
_UNCERTAINTY = (
    "i'm not sure",
    "i am not sure",
    "unclear",
    "might",
    "may be",
    "maybe",
    "possibly",
    "perhaps",
    "probably",
    "likely",
    "i don't know",
    "not certain",
    "it seems",
)
_TAG_RE = re.compile(r"\[(fact|estimate|unknown)\b[^\]]*\]", re.IGNORECASE)
_CITE_RE = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")


class DialogueEngine(Protocol):
    """Turns a context into chat messages, and a reply into message metadata."""

    @property
    def name(self) -> str:
        """The engine's name (``--engine``)."""
        ...

    def messages(self, context: Context) -> list[dict[str, str]]:
        """The chat messages to send."""
        ...

    def read_reply(self, context: Context, reply: str) -> dict[str, Any]:
        """Metadata to store with the assistant's message."""
        ...


def _source_line(piece: ContextPiece) -> str:
    when = f"{piece.timestamp:%Y-%m-%d}" if piece.timestamp else ""
    where = ", ".join(x for x in (when, piece.title or "", piece.author or "") if x)
    return f"[{piece.cite}] ({where}) {' '.join(piece.text.split())}"


def render_memory(context: Context) -> str:
    """The context (all but the live turns) as prompt text, with numbered sources."""
    parts = []
    for section, heading in (
        ("identity", "About the user"),
        ("metadata", "This conversation"),
        ("facts", "What you know about the user"),
        ("long_term", "From earlier conversations"),
        ("working", "Earlier in this conversation"),
    ):
        pieces = context.section(section)
        if pieces:
            lines = [_source_line(p) if p.cite else p.text for p in pieces]
            parts.append(f"## {heading}\n" + "\n".join(lines))
    return "\n\n".join(parts) or "(The vault holds nothing relevant.)"


def _turns(context: Context) -> list[dict[str, str]]:
    turns = [{"role": p.role or "user", "content": p.text} for p in context.section("immediate")]
    if not turns or turns[-1]["content"] != context.question or turns[-1]["role"] != "user":
        turns.append({"role": "user", "content": context.question})
    return turns


@dataclass(frozen=True)
class BasicEngine:
    """A plain assistant prompt with the memory and numbered sources."""

    name: str = "basic"

    def messages(self, context: Context) -> list[dict[str, str]]:
        system = (
            "You are a helpful assistant with access to the user's own memory vault: notes of "
            "their earlier conversations. Use it when it helps, and cite the numbered sources "
            "you rely on like [2]. If the memory does not hold the answer, say so.\n\n"
            + render_memory(context)
        )
        return [{"role": "system", "content": system}, *_turns(context)]

    def read_reply(self, context: Context, reply: str) -> dict[str, Any]:
        return {"engine": self.name, "cited": cited(reply, context)}


def _normal(text: str) -> str:
    return text.lower().replace("\u2019", "'")


def _has(cue: str, text: str) -> bool:
    # A cue starts a word ("plan" matches "planning", not "plane" or "airplane").
    pattern = (
        r"(?<!\w)"
        + re.escape(cue)
        + (r"(?!\w)" if cue in _WHOLE_WORDS else r"(?:ning|ned|s|ing|e?d)?(?!\w)")
    )
    return re.search(pattern, text) is not None


def choose_pattern(text: str) -> str:
    """The reflective pattern for a message (analytical when nothing stands out)."""
    lowered = _normal(text)
    for pattern, cues in PATTERNS.items():
        if any(_has(cue, lowered) for cue in cues):
            return pattern
    return "analytical"


_PATTERN_GUIDANCE = {
    "exploratory": "Open the question up: offer possibilities and what would distinguish them.",
    "analytical": "Reason step by step from the sources to a conclusion.",
    "creative": "Be inventive, but keep anything about the user true to the sources.",
    "strategic": "Lay out options, trade-offs and a recommended next step.",
}


@dataclass(frozen=True)
class ReflectiveEngine:
    """LingOS reflective dialogue: grounded, tagged claims."""

    name: str = "reflective"

    def messages(self, context: Context) -> list[dict[str, str]]:
        pattern = choose_pattern(context.question)
        system = (
            "You are a reflective assistant with access to the user's memory vault. "
            f"Mode: {pattern}. {_PATTERN_GUIDANCE[pattern]}\n"
            "Rules: ground every claim about the user or their past in the numbered sources "
            "and cite them like [2] - cite or stay silent. Tag each claim with [Fact] (stated "
            "in a source), [Estimate] (your inference) or [Unknown] (the vault does not say).\n\n"
            + render_memory(context)
        )
        return [{"role": "system", "content": system}, *_turns(context)]

    def read_reply(self, context: Context, reply: str) -> dict[str, Any]:
        counts = {"fact": 0, "estimate": 0, "unknown": 0}
        for tag in _TAG_RE.findall(reply):
            counts[tag.lower()] += 1
        lowered = _normal(reply)
        markers = [
            m for m in _UNCERTAINTY if re.search(r"(?<!\w)" + re.escape(m) + r"(?!\w)", lowered)
        ]
        return {
            "engine": self.name,
            "pattern": choose_pattern(context.question),
            "claims": counts,
            "uncertainty": markers,
            "cited": cited(reply, context),
        }


def cited(reply: str, context: Context) -> list[int]:
    """The source numbers the reply cites that exist in the context."""
    numbers = {int(n) for group in _CITE_RE.findall(reply) for n in re.split(r"\s*[,;]\s*", group)}
    valid = {p.cite for p in context.sources()}
    return sorted(n for n in numbers if n in valid)


def get_engine(name: str) -> DialogueEngine:
    """The dialogue engine called ``name``."""
    from amos_vault.core.errors import InvalidInputError
    from amos_vault.core.plugins import plugin_engines

    engines: dict[str, DialogueEngine] = {"basic": BasicEngine(), "reflective": ReflectiveEngine()}
    engines.update(plugin_engines())
    if name not in engines:
        raise InvalidInputError(
            f"unknown dialogue engine {name!r}", hint=f"use one of: {', '.join(sorted(engines))}"
        )
    return engines[name]
