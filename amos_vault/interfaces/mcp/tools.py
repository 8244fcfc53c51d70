"""What the MCP server's tools and resources do, in plain Python: `VaultTools`.

Each method returns a JSON-ready dict (no MCP types, so it reads and tests like the rest of
the library) and raises `AmosError` subclasses on bad input. Search, context and re-indexing
go through `VaultClient`: to the daemon when one serves the vault, in-process otherwise.
Every write goes through `SessionManager` (per-session file locks, re-read and merge, atomic
rename), so this server, the CLI, the daemon and an editor can share one vault safely.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from amos_vault.core.errors import AmosError, InvalidInputError
from amos_vault.files.memorynote import Fact
from amos_vault.files.sessionfile import Message
from amos_vault.index.query import KINDS, MemoryQuery
from amos_vault.interfaces.arguments import parse_date
from amos_vault.runtime.client import VaultClient
from amos_vault.sessions.listing import SessionFilter
from amos_vault.sessions.session import Session

SESSION_URI = "amos://session/{}"
MEMORY_URI = "amos://memory/{}"
MAX_TEXT = 2000  # characters of a hit's or message's text in a listing (snippets stay whole)


class NoteNotFoundError(AmosError):
    """No memory note has that name."""


class MemoryTools(Protocol):
    """The reading tools an MCP server serves: one vault's (`VaultTools`) or the team
    database's (`teamtools.TeamTools`), as JSON-ready dicts."""

    def search(
        self,
        query: str,
        k: int = 10,
        kinds: list[str] | None = None,
        session: str | None = None,
        role: str | None = None,
        tags: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
    ) -> dict[str, Any]:
        """Hybrid search."""

    def list_facts(
        self, as_of: str | None = None, include_closed: bool = False, type: str | None = None
    ) -> dict[str, Any]:
        """The facts kept."""

    def context(self, question: str, session: str | None = None) -> dict[str, Any]:
        """The context a model would get, with provenance."""

    def list_sessions(
        self,
        status: str | None = None,
        tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Sessions, newest first."""

    def read_session(self, session: str, last: int | None = None) -> dict[str, Any]:
        """A session's details and messages."""

    def recent_activity(
        self, limit: int = 10, messages: int = 3, since: str | None = None
    ) -> dict[str, Any]:
        """Recently changed sessions."""

    def resources(self) -> list[dict[str, str]]:
        """Resource descriptions."""

    def session_markdown(self, session_id: str) -> str:
        """A session as Markdown."""


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _count(messages: int) -> str:
    return f"{messages} message" if messages == 1 else f"{messages} messages"


def _stamp(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


class VaultTools:
    """What each tool and resource does, over one vault, as JSON-ready dicts.

    Raises `AmosError` subclasses on bad input; the MCP layer turns them into error results.
    Safe to call from several threads: in-process search takes one lock.
    """

    def __init__(self, client: VaultClient) -> None:
        self.client = client
        self.mirror = client.mirror
        self.vault = self.mirror.vault

    # -- reading ---------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        kinds: list[str] | None = None,
        session: str | None = None,
        role: str | None = None,
        tags: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
    ) -> dict[str, Any]:
        """Hybrid search; hits carry the file, line and a ``[[path#^m-id]]`` link. A fact found
        with the message it came from follows it, with its rank and ``attached_to``. With
        ``as_of``, over the vault as its last git commit on or before that date left it."""
        if not query.strip():
            raise InvalidInputError("the query is empty", hint="give the words to search for")
        unknown = [kind for kind in kinds or () if kind not in KINDS]
        if unknown:
            raise InvalidInputError(
                f"unknown kind {unknown[0]!r}", hint=f"use some of: {', '.join(KINDS)}"
            )
        request = MemoryQuery(
            query,
            k=k,
            kinds=tuple(kinds or ()),
            sessions=(self.mirror.load_session(session).id,) if session else (),
            tags=tuple(tag.lstrip("#") for tag in tags or ()),
            since=parse_date(since, "since"),
            until=parse_date(until, "until", end_of_day=True),
            role=role,
        )
        answer = self.client.search(request, as_of=parse_date(as_of, "as_of", end_of_day=True))
        return {
            "query": query,
            "mode": answer["mode"],
            "served_by": answer["served_by"],
            "notice": answer["notice"],
            "hits": self._hits(answer["hits"]),
        }

    def _hits(self, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The hits as MCP gives them, ranked by result (a fact beside its message shares it)."""
        ranked, rank = [], 0
        for hit in hits:
            rank += not hit.get("attached_to")
            ranked.append(self._hit(rank, hit))
        return ranked

    def _hit(self, rank: int, hit: dict[str, Any]) -> dict[str, Any]:
        session_id = hit.get("session_id")
        return {
            "rank": rank,
            "kind": hit["kind"],
            "score": hit["score"],
            "title": hit["title"],
            "session_id": session_id,
            "message_id": hit.get("message_id"),
            "path": hit["path"],
            "line": hit["lines"][0],
            "link": hit["link"],
            "uri": SESSION_URI.format(session_id) if session_id else self._note_uri(hit["path"]),
            "timestamp": hit.get("timestamp"),
            "role": hit.get("role"),
            "author": hit.get("author"),
            "snippet": hit["snippet"],
            "text": _clip(hit["text"]),
            "attached_to": hit.get("attached_to"),
        }

    def context(self, question: str, session: str | None = None) -> dict[str, Any]:
        """The context the orchestrator would give a model, each piece with its provenance."""
        if not question.strip():
            raise InvalidInputError("the question is empty", hint="give the question to build for")
        target = self.mirror.load_session(session) if session else None
        return self.client.context(question, target.id if target else None)

    def list_sessions(
        self,
        status: str | None = None,
        tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Sessions matching every filter, newest first (dates bound the creation time)."""
        where = SessionFilter(
            status=status,
            tag=tag,
            since=parse_date(since, "since"),
            until=parse_date(until, "until", end_of_day=True),
        )
        found, problems = self.mirror.sessions.scan()
        chosen = where.apply(found)
        return {
            "total": len(chosen),
            "sessions": [self._session_info(s) for s in chosen[:limit]],
            "unreadable_files": [
                {"path": self.vault.relative(p.path), "error": p.error.message} for p in problems
            ],
        }

    def read_session(self, session: str, last: int | None = None) -> dict[str, Any]:
        """A session's details and its messages (the last ``last`` of them when given)."""
        found = self.mirror.load_session(session)
        messages = found.messages[-last:] if last else found.messages
        return {
            **self._session_info(found),
            "shown": len(messages),
            "messages": [self._message(found, m) for m in messages],
        }

    def recent_activity(
        self, limit: int = 10, messages: int = 3, since: str | None = None
    ) -> dict[str, Any]:
        """Sessions by their last change (a write of the tool or an edit by hand), newest
        first, each with its last few messages."""
        floor = parse_date(since, "since")
        found, _ = self.mirror.sessions.scan()
        changed = sorted(
            ((self._changed(s), s) for s in found),
            key=lambda pair: (pair[0], pair[1].id),
            reverse=True,
        )
        chosen = [(when, s) for when, s in changed if floor is None or when >= floor][:limit]
        return {
            "sessions": [
                {
                    **self._session_info(s),
                    "changed": _stamp(when),
                    "recent_messages": [
                        {**self._message(s, m), "content": _clip(m.content, 500)}
                        for m in (s.messages[-messages:] if messages else ())
                    ],
                }
                for when, s in chosen
            ]
        }

    def _changed(self, session: Session) -> dt.datetime:
        stamps = [t for t in (session.updated, session.created) if t is not None]
        if session.path is not None:
            try:
                mtime = session.path.stat().st_mtime
                stamps.append(dt.datetime.fromtimestamp(mtime, dt.UTC).replace(microsecond=0))
            except OSError:
                pass  # deleted since the scan: its front-matter dates still say something
        return max(stamps, default=dt.datetime.min.replace(tzinfo=dt.UTC))

    def _session_info(self, session: Session) -> dict[str, Any]:
        return {**session.to_dict(), "uri": SESSION_URI.format(session.id), "link": session.link}

    def _message(self, session: Session, message: Message) -> dict[str, Any]:
        return {**message.to_dict(), "line": message.line or None, "link": session.link_to(message)}

    # -- writing ---------------------------------------------------------------------------
    def start_session(
        self, title: str, parent: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any]:
        """Start a session (written to the vault at once)."""
        created = self.mirror.create_session(title, parent=parent or None, tags=tags or ())
        self.client.wrote()
        return self._session_info(created)

    def append_message(self, session: str, role: str, content: str) -> dict[str, Any]:
        """Append a message through the session's lock; returns where it was written."""
        if not content.strip():
            raise InvalidInputError("the message is empty", hint="give the message's text")
        target = self.mirror.load_session(session)
        message = target.add_message(role, content)
        self.client.wrote()
        target.refresh()  # the written file gives the message its line
        line = next((m.line for m in target.messages if m.id == message.id), 0)
        return {
            "session_id": target.id,
            "message_id": message.id,
            "role": message.role,
            "timestamp": _stamp(message.timestamp),
            "path": target.relative_path,
            "line": line or None,
            "link": target.link_to(message),
            "uri": SESSION_URI.format(target.id),
        }

    def remember_fact(
        self,
        text: str,
        type: str = "knowledge",
        confidence: float = 1.0,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Keep a fact in the memory notes."""
        fact = self.mirror.memory.remember(text, type=type, confidence=confidence, source=source)
        self.client.wrote()
        return self._fact(fact)

    def list_facts(
        self, as_of: str | None = None, include_closed: bool = False, type: str | None = None
    ) -> dict[str, Any]:
        """The facts of the memory notes: current ones, or with ``as_of`` those that held on
        that day; ``include_closed`` adds the closed ones (closed by then, with ``as_of``)."""
        when = parse_date(as_of, "as_of", end_of_day=True)
        day = when.astimezone(dt.UTC).date() if when else None
        facts = self.mirror.memory.facts(include_closed=include_closed, as_of=day)
        chosen = [fact for fact in facts if type is None or fact.type == type]
        return {
            "as_of": day.isoformat() if day else None,
            "total": len(chosen),
            "facts": [self._fact(fact) for fact in chosen],
        }

    def _fact(self, fact: Fact) -> dict[str, Any]:
        def day(value: dt.date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": fact.id,
            "text": fact.text,
            "type": fact.type,
            "confidence": fact.confidence,
            "valid_from": day(fact.valid_from or fact.first_seen),
            "valid_to": day(fact.valid_to),
            "sources": [f"[[{source}]]" for source in fact.sources],
            "note": fact.note,
            "uri": self._note_uri(fact.note),
        }

    def import_export(
        self,
        path: str,
        kind: str,
        dry_run: bool = False,
        since: str | None = None,
        include_tools: bool = False,
    ) -> dict[str, Any]:
        """Import a chat export (chatgpt, claude or jsonl) from a file on this machine."""
        report = self.mirror.import_export(
            path,
            kind,
            dry_run=dry_run,
            since=parse_date(since, "since"),
            include_tools=include_tools,
        )
        if not dry_run:
            self.client.wrote()
        return report.to_dict()

    def forget(self, target: str) -> dict[str, Any]:
        """Remove a fact (``f-...``) or a session (its full id), and then from the index."""
        target = target.strip()
        if not target:
            raise InvalidInputError("nothing to forget", hint="give a fact id or a session id")
        if not target.startswith("f-"):
            # Deleting a whole conversation takes its exact id, never a guessable prefix.
            session = self.mirror.sessions.resolve(target)
            if target not in (session.id, session.relative_path):
                raise InvalidInputError(
                    f"to forget a session, give its full id ({session.id!r}), not a prefix",
                    hint="check it is the session you mean with read_session first",
                )
        report = self.mirror.memory.forget(target)
        # What is forgotten leaves the index now, not at the next search.
        self.client.refresh_index()
        return {
            "facts": list(report.facts),
            "sessions": list(report.sessions),
            "files": list(report.files),
        }

    # -- resources -------------------------------------------------------------------------
    def _note_uri(self, path: str) -> str | None:
        folder = self.vault.relative(self.vault.memory_dir) + "/"
        if not path.startswith(folder):
            return None
        return MEMORY_URI.format(path[len(folder) :].removesuffix(".md"))

    def resources(self) -> list[dict[str, str]]:
        """Every session (newest first) and every memory note, as resource descriptions."""
        listed = []
        found, _ = self.mirror.sessions.scan()
        for s in SessionFilter().apply(found):
            when = f"{s.created:%Y-%m-%d}" if s.created else "undated"
            listed.append(
                {
                    "uri": SESSION_URI.format(s.id),
                    "name": s.path.stem if s.path else s.id,
                    "title": s.title,
                    "description": f"session, {s.status}, {when}, {_count(len(s.messages))}",
                }
            )
        folder = self.vault.memory_dir
        for path in self.vault.iter_markdown(folder):
            name = path.relative_to(folder).as_posix().removesuffix(".md")
            listed.append(
                {
                    "uri": MEMORY_URI.format(name),
                    "name": name,
                    "title": f"memory: {name}",
                    "description": f"memory note {self.vault.relative(path)}",
                }
            )
        return listed

    def session_markdown(self, session_id: str) -> str:
        """The session's file, as it is on disk."""
        return self.mirror.load_session(session_id).export("markdown")

    def memory_markdown(self, name: str) -> str:
        """A memory note's text, by its name (its path in the memory folder, ``.md`` optional)."""
        folder = self.vault.memory_dir
        relative = name if name.endswith(".md") else f"{name}.md"
        path = folder / relative
        # is_listed refuses ../, hidden files and links out; resolve_inside double-checks.
        if not self.vault.is_listed(path, folder):
            raise NoteNotFoundError(
                f"no memory note named {name!r}", hint="list the resources to see the notes"
            )
        try:
            return self.vault.resolve_inside(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AmosError(f"memory note {name!r} cannot be read: {exc}") from None
