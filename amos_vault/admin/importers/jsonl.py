"""The generic format, for every other chat tool and for scripts: JSON lines, one message a
line, the lines of a conversation in order::

    {"conversation": "trip-2024", "title": "Lisbon trip", "role": "user",
     "time": "2024-05-01T10:00:00Z", "text": "Where should we eat?"}

``conversation`` (its id), ``role`` (user, assistant, system, or tool: left out unless
``include_tools``) and ``text`` are required; ``title`` (the first one given names the
conversation), ``time`` (ISO 8601 or epoch seconds), ``id`` (the message's id, unique in its
conversation; by default one derived from the line), ``model`` and ``name`` (who spoke, in a
chat of several people) are optional. Consecutive lines of one conversation are imported
together; a conversation given again further down is appended to.

A line that cannot be read is reported and the conversation it falls in is left out whole,
so that running the import again on a repaired file adds it in order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amos_vault.admin.importers.common import (
    TOOLS_LEFT_OUT,
    CountingReader,
    ExportConversation,
    ExportMessage,
    ImportInputError,
    ImportReport,
    Item,
    Problem,
    clean_text,
    clean_title,
    open_export,
    parse_time,
    text_of,
)

KIND = "jsonl"
ROLES = ("user", "assistant", "system", "tool")
FORMAT_HINT = (
    'each line one JSON object: {"conversation": ID, "role": "user|assistant|system|tool", '
    '"text": TEXT} plus optional "title", "time", "id", "model", "name"'
)


class _BadLine(ValueError):
    pass


def read_conversations(path: Path, report: ImportReport, include_tools: bool) -> Iterator[Item]:
    """The conversations of a JSON lines file, one run of lines at a time."""
    with open_export(path, KIND, report) as stream:
        group: _Group | None = None
        first = True
        # The message ids of each conversation across all its runs of lines: a line repeated
        # in a later run (an "ok" with no time) still gets an id of its own.
        ids_of: dict[str, set[str]] = {}
        for number, raw in _lines(stream):
            if not raw.strip():
                continue
            try:
                line = _read_line(raw)
            except _BadLine as exc:
                if first:
                    raise ImportInputError(
                        f"{path} is not in the JSON lines format: line {number} {exc}",
                        hint=FORMAT_HINT,
                    ) from None
                if group is not None and not group.broken:
                    group.broken = f"line {number} {exc}"
                else:
                    yield Problem(f"line {number} {exc}; it was left out")
                continue
            first = False
            conversation = text_of(line.get("conversation"))
            if group is None or group.id != conversation:
                if group is not None:
                    yield group.finish()
                group = _Group(conversation, ids_of.setdefault(conversation, set()))
            group.add(line, number, include_tools)
        if group is not None:
            yield group.finish()


class _Group:
    """The consecutive lines of one conversation."""

    def __init__(self, conversation_id: str, ids: set[str]) -> None:
        self.id = conversation_id
        self.title = ""
        self.messages: list[ExportMessage] = []
        self.ids = ids  # shared by the conversation's runs of lines
        self.problems: list[str] = []
        self.broken = ""

    def add(self, line: dict[str, Any], number: int, include_tools: bool) -> None:
        self.title = self.title or clean_text(line.get("title"))
        role = text_of(line.get("role"))
        text = clean_text(line.get("text"))
        time = parse_time(line.get("time"))
        source_id = text_of(line.get("id"))
        if not source_id:
            seed = f"{role}|{line.get('time')}|{text}"
            repeat = 0
            while True:
                digest = hashlib.blake2b(f"{seed}|{repeat}".encode(), digest_size=8)
                source_id = "line-" + digest.hexdigest()
                if source_id not in self.ids:
                    break
                repeat += 1
        elif source_id in self.ids:
            self.problems.append(
                f"message id {source_id} (line {number}) appears twice; the second was left out"
            )
            return
        self.ids.add(source_id)
        message = ExportMessage(source_id, time=time)
        if role == "tool" and not include_tools:
            message.left_out = TOOLS_LEFT_OUT
        elif not text:
            message.left_out = "empty"
        else:
            message.role = "assistant" if role == "tool" else role
            message.text = text
            for key in ("model", "name"):
                if text_of(line.get(key)):
                    message.metadata[key] = text_of(line.get(key))
            if role == "tool":
                message.metadata["tool"] = text_of(line.get("name")) or "tool"
        self.messages.append(message)

    def finish(self) -> Item:
        if self.broken:
            return Problem(f"{self.broken}; the conversation was left out", self.id, self.title)
        return ExportConversation(
            kind=KIND,
            id=self.id,
            title=clean_title(self.title, self.messages),
            created=None,
            updated=None,
            messages=self.messages,
            problems=self.problems,
        )


def _read_line(raw: bytes) -> dict[str, Any]:
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):
        raise _BadLine("is not a JSON object") from None
    if not isinstance(line, dict):
        raise _BadLine("is not a JSON object")
    if not text_of(line.get("conversation")):
        raise _BadLine("has no 'conversation' id")
    if text_of(line.get("role")) not in ROLES:
        raise _BadLine(f"has no role of {', '.join(ROLES)}")
    if not isinstance(line.get("text"), str):
        raise _BadLine("has no 'text'")
    return line


def _lines(stream: CountingReader) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the stream, read a block at a time."""
    pending = b""
    number = 0
    while True:
        block = stream.read(1 << 16)
        if not block:
            break
        pending += block
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            yield number, line
    if pending:
        yield number + 1, pending
