"""Claude data exports: ``conversations.json`` (or the export's .zip).

The file is a list of conversations: ``uuid``, ``name``, ``created_at``, ``updated_at`` (ISO
8601) and ``chat_messages``, each with ``uuid``, ``sender`` (human or assistant), ``text``
and/or ``content`` blocks (``type`` text, thinking, tool_use, tool_result, image, ...),
``created_at``, ``attachments`` (``file_name``, ``extracted_content``), ``files``
(``file_name``) and, in newer exports, ``parent_message_uuid``.

When every message names its parent, the messages form a tree as in ChatGPT (an edited
prompt forks it), and the last message ends the main branch; otherwise the list order is the
conversation. Thinking and tool blocks stay out unless ``include_tools``; attachments, files
and images become short placeholders naming them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amos_vault.admin.importers.common import (
    TOOLS_LEFT_OUT,
    ExportConversation,
    ExportMessage,
    ImportReport,
    Item,
    Problem,
    clean_text,
    clean_title,
    fallback_id,
    fence,
    iter_json_conversations,
    list_of,
    parse_time,
    text_of,
)

KIND = "claude"
ROLE_OF_SENDER = {"human": "user", "user": "user", "assistant": "assistant"}
TOOL_BLOCKS = frozenset({"thinking", "redacted_thinking", "tool_use", "tool_result"})


def read_conversations(path: Path, report: ImportReport, include_tools: bool) -> Iterator[Item]:
    """The conversations of a Claude export, one at a time (and a `Problem` for each that
    cannot be read)."""
    for item in iter_json_conversations(path, KIND, report):
        yield item if isinstance(item, Problem) else parse_conversation(item, include_tools)


def parse_conversation(item: dict[str, Any], include_tools: bool) -> Item:
    """One conversation of the export, or the `Problem` that keeps it out."""
    title = clean_text(item.get("name")) or None
    conversation_id = text_of(item.get("uuid")) or fallback_id(
        item.get("name"), item.get("created_at")
    )
    chat = item.get("chat_messages")
    if not isinstance(chat, list):
        return Problem("it has no 'chat_messages' list; it was left out", conversation_id, title)
    problems: list[str] = []
    messages: list[ExportMessage] = []
    seen: set[str] = set()
    for number, data in enumerate(chat):
        if not isinstance(data, dict):
            problems.append(f"message {number + 1} is not an object; it was left out")
            continue
        message = _message(data, number, include_tools)
        if message.source_id in seen:
            problems.append(
                f"message id {message.source_id} appears twice; the second copy was left out"
            )
            continue
        seen.add(message.source_id)
        messages.append(message)
    tree = bool(messages) and all("parent_message_uuid" in m for m in chat if isinstance(m, dict))
    if not tree:
        for message in messages:
            message.parent = None
    return ExportConversation(
        kind=KIND,
        id=conversation_id,
        title=clean_title(title, messages),
        created=parse_time(item.get("created_at")),
        updated=parse_time(item.get("updated_at")),
        messages=messages,
        current=messages[-1].source_id if tree else None,
        tree=tree,
        problems=problems,
    )


def _message(data: dict[str, Any], number: int, include_tools: bool) -> ExportMessage:
    source_id = text_of(data.get("uuid")) or f"message-{number + 1}"
    message = ExportMessage(source_id, text_of(data.get("parent_message_uuid")) or None)
    message.time = parse_time(data.get("created_at"))
    sender = text_of(data.get("sender"))
    role = ROLE_OF_SENDER.get(sender)
    if role is None:
        message.left_out = f"unknown sender {sender!r}"[:60]
        return message
    pieces: list[str] = []
    tools_dropped = False
    for block in list_of(data.get("content")):
        if not isinstance(block, dict):
            continue
        kind = text_of(block.get("type"))
        if kind in TOOL_BLOCKS and not include_tools:
            tools_dropped = True
            continue
        pieces.append(_block(block, kind))
    if not any(pieces) and not tools_dropped:
        pieces = [clean_text(data.get("text"))]
    for key, label in (("attachments", "attachment"), ("files", "file")):
        for item in list_of(data.get(key)):
            if isinstance(item, dict):
                name = clean_text(item.get("file_name")) or "unnamed"
                pieces.append(f"[{label}: {name}]")
    message.text = "\n\n".join(p for p in pieces if p)
    if not message.text:
        message.left_out = TOOLS_LEFT_OUT if tools_dropped else "empty"
        return message
    message.role = role
    return message


def _block(block: dict[str, Any], kind: str) -> str:
    if kind == "text":
        return clean_text(block.get("text"))
    if kind in ("thinking", "redacted_thinking"):
        return "[thinking]\n" + clean_text(block.get("thinking"))
    name = clean_text(block.get("name")) or "a tool"
    if kind == "tool_use":
        payload = json.dumps(block.get("input"), ensure_ascii=False, indent=2, default=str)
        return f"[tool call: {name}]\n" + fence(clean_text(payload), "json")
    if kind == "tool_result":
        inner = block.get("content")
        if isinstance(inner, list):
            inner = "\n\n".join(
                clean_text(part.get("text")) for part in inner if isinstance(part, dict)
            )
        return f"[tool result: {name}]\n" + fence(clean_text(inner))
    label = clean_text(block.get("file_name") or block.get("title") or "")
    return f"[{kind or 'block'}: {label}]" if label else f"[{kind or 'block'}]"
