"""A session: one conversation, viewed through its file (or held in memory when ephemeral).

Its lifecycle (active, paused, completed, archived), its messages and its export forms. Every
change is handed to its `SessionManager`, which writes it locked, merged and atomic.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amos_vault.core.errors import (
    InvalidInputError,
    InvalidTransitionError,
    SessionStateError,
)
from amos_vault.files.integrity import sign_session
from amos_vault.files.links import wikilink
from amos_vault.files.sessionfile import (
    ROLES,
    Message,
    SessionDocument,
    SessionHeader,
    check_text,
    format_timestamp,
    normalize_metadata,
    now_utc,
    read_header,
    read_session_file,
)

if TYPE_CHECKING:
    from amos_vault.sessions.manager import SessionManager

# Lifecycle: Create -> Active -> Paused -> Resumed (active again) -> Completed -> Archived.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "active": ("paused", "completed"),
    "paused": ("active", "completed"),
    "completed": ("archived",),
    "archived": (),
}
ACTION_OF = {"paused": "pause", "active": "resume", "completed": "complete", "archived": "archive"}
EXPORT_FORMATS = ("json", "markdown", "txt")


def allowed_actions(status: str) -> list[str]:
    """CLI verbs allowed from ``status`` (e.g. ``['pause', 'complete']`` for active)."""
    return [ACTION_OF[target] for target in TRANSITIONS.get(status, ())]


class Session:
    """One conversation session, backed by a Markdown file (or memory, when ephemeral)."""

    def __init__(self, manager: SessionManager, doc: SessionDocument, path: Path | None) -> None:
        self._manager = manager
        self._doc = doc
        self._header: SessionHeader = read_header(doc, path)
        self.path = path

    # -- read-only view -------------------------------------------------------------------
    id = property(lambda self: self._header.id, doc="Stable unique id.")
    title = property(lambda self: self._header.title, doc="Title.")
    status = property(lambda self: self._header.status, doc="Lifecycle status.")
    kind = property(lambda self: self._header.kind, doc="persistent or ephemeral.")
    identity = property(lambda self: self._header.identity, doc="Owner identity id.")
    user_id = property(lambda self: self._header.user_id, doc="Application user id, if any.")
    parent_id = property(lambda self: self._header.parent_id, doc="Parent session id.")
    parent = property(lambda self: self._header.parent, doc="Parent as an Obsidian wikilink.")
    created = property(lambda self: self._header.created, doc="Creation time (UTC).")
    updated = property(lambda self: self._header.updated, doc="Last change (UTC).")
    tags = property(lambda self: self._header.tags, doc="Tags.")

    @property
    def messages(self) -> tuple[Message, ...]:
        """The messages, in order."""
        return tuple(self._doc.messages)

    @property
    def front_matter(self) -> dict[str, Any]:
        """A copy of the whole front-matter, unknown keys included."""
        return dict(self._doc.meta)

    @property
    def relative_path(self) -> str | None:
        """The file's path inside the vault, or None for an ephemeral session."""
        return self._manager.vault.relative(self.path) if self.path else None

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, title={self.title!r}, status={self.status!r})"

    def link_to(self, message: Message) -> str:
        """An Obsidian link to ``message``: ``[[sessions/…/file#^message-id]]`` (the file's
        path in the vault, so exactly one file answers it; see `amos_vault.files.links`)."""
        return wikilink(self.relative_path or self.id, message.id)

    @property
    def link(self) -> str:
        """An Obsidian link to the session's file: ``[[sessions/…/file]]``."""
        return wikilink(self.relative_path or self.id)

    # -- changes ---------------------------------------------------------------------------
    def add_message(
        self,
        role: str,
        content: str,
        metadata: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
    ) -> Message:
        """Append a message and write it to the file at once; returns the stored message.

        ``timestamp`` (default: now) lets an import keep the time a message was really sent;
        ``metadata`` may carry a ``name`` for multi-party chats (who spoke, beyond the role).
        """
        if role not in ROLES:
            raise InvalidInputError(
                f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}"
            )
        if not isinstance(content, str):
            raise InvalidInputError("message content must be text")
        check_text(content, "message content")
        data = normalize_metadata(metadata)
        when = now_utc() if timestamp is None else _aware(timestamp).replace(microsecond=0)
        added: list[Message] = []

        def append(doc: SessionDocument) -> None:
            status = read_header(doc, self.path).status
            if status != "active":
                hint = (
                    f"resume it first: amosvault resume {self.id}"
                    if status == "paused"
                    else "start a new session, e.g. one linked to it with --parent"
                )
                raise SessionStateError(
                    f"session {self.id} is {status}; messages can only be added while active",
                    hint=hint,
                )
            taken = {m.id for m in doc.messages}
            message_id = _new_message_id(taken)
            message = Message(message_id, role, content, when, data)
            doc.append_message(message)
            added.append(message)

        self._manager._write(self, append)
        return added[-1]  # the message of the attempt that was written

    def send(self, text: str, on_piece: Callable[[str], None] | None = None) -> Any:
        """Say ``text`` in this session and get the answer (an `Answer`): both are written to
        the file, the user's message before the model is asked."""
        if self._manager.responder is None:
            raise SessionStateError(
                "this session was not opened through ActiveMirror, which answers messages",
                hint="open the vault with ActiveMirror(vault) and load the session from it",
            )
        return self._manager.responder(self, text, on_piece)

    def pause(self) -> None:
        """Active -> paused."""
        self._transition("paused")

    def resume(self) -> None:
        """Paused -> active."""
        self._transition("active")

    def complete(self) -> None:
        """Active or paused -> completed."""
        self._transition("completed")

    def archive(self) -> None:
        """Completed -> archived (the file stays in the vault)."""
        self._transition("archived")

    def _transition(self, target: str) -> None:
        def change(doc: SessionDocument) -> None:
            current = read_header(doc, self.path).status
            if target not in TRANSITIONS[current]:
                allowed = allowed_actions(current)
                raise InvalidTransitionError(
                    f"cannot {ACTION_OF[target]} session {self.id}: it is {current}",
                    hint=(
                        f"from {current} you can: {', '.join(allowed)}"
                        if allowed
                        else f"{current} is final; nothing can follow it"
                    ),
                )
            doc.meta["status"] = target
            if target == "completed":  # what it said is sealed with the owner's key
                sign_session(doc, self._manager.signer)

        self._manager._write(self, change)

    # -- derived ---------------------------------------------------------------------------
    def lineage(self) -> list[Session]:
        """This session, its parent, grandparent... up to the root. A cycle raises."""
        return self._manager.lineage(self)

    def get_context(self) -> list[Message]:
        """The messages in order (the orchestrator builds richer context on top)."""
        return list(self._doc.messages)

    def refresh(self) -> None:
        """Re-read the file (picks up hand edits)."""
        if self.path is not None:
            doc, _ = read_session_file(self.path, self._manager.max_mb)
            self._doc, self._header = doc, read_header(doc, self.path)

    def to_dict(self) -> dict[str, Any]:
        """The session's metadata, JSON-ready (no messages)."""

        def stamp(value: dt.datetime | None) -> str | None:
            return format_timestamp(value) if value else None

        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "kind": self.kind,
            "identity": self.identity,
            "user_id": self.user_id,
            "parent_id": self.parent_id,
            "created": stamp(self.created),
            "updated": stamp(self.updated),
            "tags": list(self.tags),
            "path": self.relative_path,
            "messages": len(self._doc.messages),
        }

    def export(self, fmt: str = "markdown") -> str:
        """The session as ``json``, ``markdown`` (the file itself) or ``txt`` (a transcript)."""
        if fmt == "json":
            data = {"session": self.to_dict(), "front_matter": _jsonable(self._doc.meta)}
            data["messages"] = [m.to_dict() for m in self._doc.messages]
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if fmt == "markdown":
            return self._doc.render().decode("utf-8")
        if fmt == "txt":
            parts = [f"{self.title}\n{'=' * len(self.title)}\n"]
            for m in self._doc.messages:
                parts.append(f"[{format_timestamp(m.timestamp)}] {m.role}:\n{m.content}\n")
            return "\n".join(parts)
        raise InvalidInputError(
            f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}"
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _new_message_id(taken: set[str]) -> str:
    while True:
        candidate = f"m-{secrets.token_hex(4)}"
        if candidate not in taken:
            return candidate


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
