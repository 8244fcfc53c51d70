"""ChatGPT data exports: ``conversations.json`` (or the export's .zip).

The file is a list of conversations: ``id``/``conversation_id``, ``title``, ``create_time``,
``update_time`` (epoch seconds), ``current_node`` and ``mapping``, a tree of nodes ``{id,
message, parent, children}``. A message has ``author.role`` (system, user, assistant, tool),
``author.name``, ``create_time``, ``content`` (``content_type`` text, multimodal_text, code,
execution_output, tether_quote, ...; ``parts``, ``text``), ``metadata`` (``model_slug``,
``is_visually_hidden_from_conversation``, ``attachments``) and ``recipient``.

Left out by default: nodes without a message, hidden messages, empty ones, and tool plumbing
(tool messages, an assistant's calls to a tool, reasoning); ``include_tools`` keeps the tool
messages and calls. Images, audio and attached files become short placeholders naming them.
"""

from __future__ import annotations

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
    object_of,
    parse_time,
    text_of,
)

KIND = "chatgpt"
# Content that is the machinery of tools or reasoning, not the conversation itself.
PLUMBING_TYPES = frozenset(
    {
        "execution_output",
        "tether_browsing_display",
        "tether_quote",
        "system_error",
        "thoughts",
        "reasoning_recap",
        "computer_output",
    }
)
HIDDEN_TYPES = frozenset({"user_editable_context", "model_editable_context"})


def read_conversations(path: Path, report: ImportReport, include_tools: bool) -> Iterator[Item]:
    """The conversations of a ChatGPT export, one at a time (and a `Problem` for each that
    cannot be read)."""
    for item in iter_json_conversations(path, KIND, report):
        yield item if isinstance(item, Problem) else parse_conversation(item, include_tools)


def parse_conversation(item: dict[str, Any], include_tools: bool) -> Item:
    """One conversation of the export, or the `Problem` that keeps it out."""
    title = clean_text(item.get("title")) or None
    conversation_id = text_of(item.get("conversation_id")) or text_of(item.get("id"))
    if not conversation_id:
        conversation_id = fallback_id(item.get("title"), item.get("create_time"))
    mapping = item.get("mapping")
    if not isinstance(mapping, dict):
        return Problem(
            "it has no message tree ('mapping'); it was left out", conversation_id, title
        )
    problems: list[str] = []
    messages: list[ExportMessage] = []
    message_ids: set[str] = set()
    for key, node in mapping.items():
        if not isinstance(node, dict):
            problems.append(f"node {key} is not an object; it was left out")
            continue
        node_id = text_of(key)
        parent = text_of(node.get("parent")) or None
        message = _message(node_id, parent, node.get("message"), include_tools)
        own_id = text_of(object_of(node.get("message")).get("id")) if message.role else ""
        if own_id and own_id in message_ids:
            problems.append(f"message id {own_id} appears twice; the second copy was left out")
            message.left_out = "duplicate id"
        message_ids.add(own_id)
        messages.append(message)
    return ExportConversation(
        kind=KIND,
        id=conversation_id,
        title=clean_title(title, messages),
        created=parse_time(item.get("create_time")),
        updated=parse_time(item.get("update_time")),
        messages=messages,
        current=text_of(item.get("current_node")) or None,
        tree=True,
        problems=problems,
    )


def _message(node_id: str, parent: str | None, data: Any, include_tools: bool) -> ExportMessage:
    message = ExportMessage(node_id, parent)
    if not isinstance(data, dict):
        message.left_out = "empty"
        return message
    author, content = object_of(data.get("author")), object_of(data.get("content"))
    metadata = object_of(data.get("metadata"))
    role = str(author.get("role") or "")
    kind = str(content.get("content_type") or "text")
    message.time = parse_time(data.get("create_time"))
    recipient = data.get("recipient")
    tool = role == "tool" or (role == "assistant" and recipient not in (None, "all"))
    if metadata.get("is_visually_hidden_from_conversation") or kind in HIDDEN_TYPES:
        message.left_out = "hidden"
    elif role not in ("user", "assistant", "system", "tool"):
        message.left_out = f"unknown role {role!r}"[:60]
    elif (tool or kind in PLUMBING_TYPES) and not include_tools:
        message.left_out = TOOLS_LEFT_OUT
    if message.left_out:
        return message
    parts = [_content_text(content, kind)]
    parts += [_attachment(a) for a in list_of(metadata.get("attachments")) if isinstance(a, dict)]
    message.text = "\n\n".join(p for p in parts if p)
    if not message.text:
        message.left_out = "empty"
        return message
    message.role = "assistant" if role == "tool" else role
    if role == "tool" or tool:
        message.metadata["tool"] = text_of(author.get("name")) or text_of(recipient) or "tool"
    if role == "tool" and text_of(author.get("name")):
        message.metadata["name"] = text_of(author.get("name"))
    model = text_of(metadata.get("model_slug"))
    if model and role != "user":
        message.metadata["model"] = model
    return message


def _content_text(content: dict[str, Any], kind: str) -> str:
    if kind == "code":
        language = text_of(content.get("language"))
        return fence(clean_text(content.get("text")), "" if language == "unknown" else language)
    if kind == "execution_output":
        return "[code-interpreter output]\n" + fence(clean_text(content.get("text")))
    if kind == "tether_quote":
        quote = "\n".join(f"> {line}" for line in clean_text(content.get("text")).split("\n"))
        named = clean_text(content.get("title")) or clean_text(content.get("url")) or "a page"
        return f"[quote from {named}]\n{quote}"
    if kind == "tether_browsing_display":
        return f"[browsing] {clean_text(content.get('summary') or content.get('result'))}".strip()
    if kind == "thoughts":
        thoughts = list_of(content.get("thoughts"))
        lines = [clean_text(t.get("content")) for t in thoughts if isinstance(t, dict)]
        return "[thoughts]\n" + "\n\n".join(line for line in lines if line)
    pieces = [_part(part) for part in list_of(content.get("parts"))]
    text = "\n\n".join(p for p in pieces if p)
    if not text and isinstance(content.get("text"), str):
        text = clean_text(content.get("text"))
    if not text and isinstance(content.get("content"), str):
        text = clean_text(content.get("content"))
    if not text and kind not in ("text", "multimodal_text"):
        text = f"[{clean_text(kind)}]"
    return text


def _part(part: Any) -> str:
    if isinstance(part, str):
        return clean_text(part)
    if not isinstance(part, dict):
        return ""
    kind = clean_text(part.get("content_type")) or "attachment"
    if isinstance(part.get("text"), str) and part.get("text"):
        return clean_text(part.get("text"))  # e.g. audio_transcription
    pointer = clean_text(part.get("asset_pointer"))
    if kind == "image_asset_pointer":
        width, height = part.get("width"), part.get("height")
        size = f" {width}×{height}" if width and height else ""
        return f"[image{size}: {pointer}]" if pointer else f"[image{size}]"
    label = kind.removesuffix("_asset_pointer").replace("_", " ")
    return f"[{label}: {pointer}]" if pointer else f"[{label}]"


def _attachment(attachment: dict[str, Any]) -> str:
    name = clean_text(attachment.get("name")) or clean_text(attachment.get("id")) or "a file"
    return f"[file: {name}]"
