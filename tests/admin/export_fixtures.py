"""Small chat exports written from the documented formats (ChatGPT, Claude, JSON lines)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def gpt_message(
    node_id: str,
    role: str,
    text: str | None = None,
    *,
    time: float | None = None,
    content: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    recipient: str = "all",
    name: str | None = None,
) -> dict[str, Any]:
    """A ChatGPT message (``content`` overrides the plain text part)."""
    return {
        "id": node_id,
        "author": {"role": role, "name": name, "metadata": {}},
        "create_time": time,
        "update_time": None,
        "content": content or {"content_type": "text", "parts": [text or ""]},
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": metadata or {},
        "recipient": recipient,
    }


def gpt_conversation(
    conversation_id: str,
    title: str | None,
    nodes: list[tuple[str, str | None, dict[str, Any] | None]],
    current: str | None,
    *,
    create_time: float | None = T0,
    update_time: float | None = T0 + 600,
) -> dict[str, Any]:
    """A ChatGPT conversation from (node id, parent id, message) triples; each node's
    ``children`` are worked out from the parents."""
    mapping: dict[str, Any] = {}
    for node_id, parent, message in nodes:
        mapping[node_id] = {"id": node_id, "message": message, "parent": parent, "children": []}
    for node_id, parent, _message in nodes:
        if parent in mapping:
            mapping[parent]["children"].append(node_id)
    return {
        "title": title,
        "create_time": create_time,
        "update_time": update_time,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": current,
        "conversation_id": conversation_id,
        "id": conversation_id,
        "default_model_slug": "gpt-4o",
    }


def branching_chat(conversation_id: str = "conv-trip") -> dict[str, Any]:
    """A chat with a hidden system message, an edited prompt and a regenerated answer::

    root(null) - sys(hidden) - u1 - a1  - u2 - a2 (current)
                                  \\ a1b (regenerated)
                            \\ u1e (edited prompt) - a1e
    """
    model = {"model_slug": "gpt-4o"}
    hidden = {"is_visually_hidden_from_conversation": True}

    def user(node_id: str, text: str, seconds: int) -> dict[str, Any]:
        return gpt_message(node_id, "user", text, time=T0 + seconds)

    def answer(node_id: str, text: str, seconds: int) -> dict[str, Any]:
        return gpt_message(node_id, "assistant", text, time=T0 + seconds, metadata=model)

    return gpt_conversation(
        conversation_id,
        "Lisbon / Porto trip ✈",
        [
            ("root", None, None),
            ("sys", "root", gpt_message("sys", "system", "", metadata=hidden)),
            ("u1", "sys", user("u1", "Where should we eat in Lisbon?", 10)),
            ("a1", "u1", answer("a1", "Try Time Out Market.", 20)),
            ("a1b", "u1", answer("a1b", "Cervejaria Ramiro, for seafood.", 25)),
            ("u1e", "sys", user("u1e", "Where should we eat in Porto?", 30)),
            ("a1e", "u1e", answer("a1e", "Cafe Santiago, for a francesinha.", 35)),
            ("u2", "a1", user("u2", "And for dessert?", 40)),
            ("a2", "u2", answer("a2", "Pasteis de Belem.", 50)),
        ],
        current="a2",
    )


def write_json(path: Path, data: Any) -> Path:
    """``data`` as a JSON file at ``path``."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A zip at ``path`` holding each member as JSON (or as given, for text)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            archive.writestr(name, text)
    return path


def claude_message(
    uuid: str,
    sender: str,
    text: str = "",
    *,
    created_at: str | None = "2024-03-01T10:00:00.000000Z",
    content: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    files: list[dict[str, Any]] | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    """A Claude chat message (``content`` defaults to one text block of ``text``)."""
    message: dict[str, Any] = {
        "uuid": uuid,
        "text": text,
        "content": content if content is not None else [{"type": "text", "text": text}],
        "sender": sender,
        "created_at": created_at,
        "updated_at": created_at,
        "attachments": attachments or [],
        "files": files or [],
    }
    if parent is not None:
        message["parent_message_uuid"] = parent
    return message


def claude_conversation(
    uuid: str, name: str, messages: list[dict[str, Any]], created_at: str = "2024-03-01T09:59:00Z"
) -> dict[str, Any]:
    """A Claude conversation."""
    return {
        "uuid": uuid,
        "name": name,
        "created_at": created_at,
        "updated_at": created_at,
        "account": {"uuid": "acc-1"},
        "chat_messages": messages,
    }


def jsonl_lines(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    """A JSON lines file; a string is written as it is (a broken line)."""
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path
