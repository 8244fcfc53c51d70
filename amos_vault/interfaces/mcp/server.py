"""The MCP server: the vault's memory as tools and resources for any MCP client.

`amosvault mcp` serves the Model Context Protocol over stdio (or streamable HTTP bound to
127.0.0.1). Search and context go through the daemon's socket when a daemon serves the vault
(its model is warm and it is the index's one writer), and run in-process otherwise. Every
write goes through `SessionManager` (per-session file locks, re-read and merge, atomic
rename), so this server, the CLI, the daemon and an editor can share one vault safely.

Two parts: `VaultTools` does the work in plain Python and returns JSON-ready dicts (no MCP
types, so it reads and tests like the rest of the library); `build_server` exposes it
through the official `mcp` SDK. Only this module imports `mcp`, and the CLI imports this
module inside the `mcp` command, so `amosvault --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, InputRequiredResult, Resource, ToolAnnotations
from pydantic import Field, ValidationError

from amos_vault import __version__
from amos_vault.core.errors import (
    AmbiguousSessionError,
    AmosError,
    InvalidInputError,
    SessionNotFoundError,
    UnsafePathError,
)
from amos_vault.files.sessionfile import Message
from amos_vault.index.query import KINDS, MemoryQuery, query_to_json
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime import ipc
from amos_vault.sessions.manager import Session, filter_sessions

log = logging.getLogger("amos_vault.mcp")

DEFAULT_PORT = 8765
SESSION_URI = "amos://session/{}"
MEMORY_URI = "amos://memory/{}"
MAX_TEXT = 2000  # characters of a hit's or message's text in a listing (snippets stay whole)
DAEMON_TIMEOUT = 300.0
INSTRUCTIONS = """\
amos-vault is the user's long-term memory: past conversations (sessions) and memory notes,
kept as Markdown files. Use search_memory to find what was said (each hit links to its message
as [[file#^m-id]]), build_context for a ready context with provenance, read_session to read a
conversation, and start_session / append_message to record one. remember_fact keeps a fact;
forget removes a fact or a session. Sessions and memory notes are also resources
(amos://session/<id>, amos://memory/<name>).
"""

Kind = Literal["message", "session", "fact", "note"]
Role = Literal["user", "assistant", "system"]
Status = Literal["active", "paused", "completed", "archived"]
FactType = Literal["preference", "knowledge", "context"]
DATE = "YYYY-MM-DD or ISO 8601 (UTC when no offset)"
# Tool parameters are read by pydantic from the annotations, so the aliases live up here.
SessionRef = Annotated[str, Field(description="Session id, unique id prefix, or file path.")]


class NoteNotFoundError(AmosError):
    """No memory note has that name."""


def parse_when(value: str | None, name: str, end_of_day: bool = False) -> dt.datetime | None:
    """A date argument (``YYYY-MM-DD`` or ISO 8601) as an aware datetime; a bare date that
    bounds a range from above means the end of that day."""
    if value is None or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(
            f"{name} {value!r} is not a date", hint=f"give {name} as {DATE}"
        ) from None
    if end_of_day and len(value.strip()) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


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

    def __init__(self, mirror: ActiveMirror) -> None:
        self.mirror = mirror
        self.vault = mirror.vault
        self._engine_lock = threading.Lock()  # in-process index and model: one user at a time
        # A write of ours the daemon's index may not have yet (its watcher debounces).
        self._unsynced = False

    # -- the daemon, or in-process --------------------------------------------------------
    def _daemon(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The daemon's answer, or None when no daemon serves this vault."""
        amos = self.vault.amos_dir
        try:
            if self._unsynced:
                # Our own writes are searchable at once, not after the watcher's debounce.
                # Cleared first: a write made during the re-index sets it again.
                self._unsynced = False
                try:
                    ipc.request(amos, {"op": "reindex"}, timeout=DAEMON_TIMEOUT)
                except BaseException:
                    self._unsynced = True
                    raise
            return ipc.request(amos, message, timeout=DAEMON_TIMEOUT)
        except ipc.DaemonUnavailable:
            return None

    def _sync_now(self) -> None:
        """Bring the index up to date now (the daemon does it when one runs)."""
        # With a daemon, `_daemon` has it re-index before it answers the ping.
        if self._daemon({"op": "ping"}) is None:
            with self._engine_lock:
                self.mirror._fresh_index()

    def _wrote(self) -> None:
        self._unsynced = True

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
    ) -> dict[str, Any]:
        """Hybrid search; hits carry the file, line and a ``[[file#^m-id]]`` link."""
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
            since=parse_when(since, "since"),
            until=parse_when(until, "until", end_of_day=True),
            role=role,
        )
        answer = self._daemon({"op": "search", "query": query_to_json(request)})
        served_by = "daemon"
        if answer is None:
            served_by = "in-process"
            with self._engine_lock:
                self.mirror._fresh_index()
                result = self.mirror.engine.search(request)
            answer = {
                "mode": result.mode,
                "notice": result.notice,
                "hits": [hit.to_dict() for hit in result.hits],
            }
        return {
            "query": query,
            "mode": answer.get("mode"),
            "served_by": served_by,
            "notice": answer.get("notice"),
            "hits": [self._hit(rank, hit) for rank, hit in enumerate(answer["hits"], 1)],
        }

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
        }

    def context(self, question: str, session: str | None = None) -> dict[str, Any]:
        """The context the orchestrator would give a model, each piece with its provenance."""
        if not question.strip():
            raise InvalidInputError("the question is empty", hint="give the question to build for")
        target = self.mirror.load_session(session) if session else None
        answer = self._daemon(
            {"op": "context", "question": question, "session": target.id if target else None}
        )
        if answer is not None:
            return {**answer["context"], "served_by": "daemon"}
        with self._engine_lock:
            self.mirror._fresh_index()
            built = self.mirror.orchestrator(use_model=False).build_context(question, target)
        return {**built.to_dict(), "served_by": "in-process"}

    def list_sessions(
        self,
        status: str | None = None,
        tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Sessions matching every filter, newest first (dates bound the creation time)."""
        found, problems = self.mirror.sessions.scan()
        chosen = filter_sessions(
            found,
            status,
            tag,
            None,
            parse_when(since, "since"),
            parse_when(until, "until", end_of_day=True),
        )
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
        floor = parse_when(since, "since")
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
        stem = session.path.stem if session.path else session.id
        return {**session.to_dict(), "uri": SESSION_URI.format(session.id), "link": f"[[{stem}]]"}

    def _message(self, session: Session, message: Message) -> dict[str, Any]:
        return {**message.to_dict(), "line": message.line or None, "link": session.link_to(message)}

    # -- writing ---------------------------------------------------------------------------
    def start_session(
        self, title: str, parent: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any]:
        """Start a session (written to the vault at once)."""
        created = self.mirror.create_session(title, parent=parent or None, tags=tags or ())
        self._wrote()
        return self._session_info(created)

    def append_message(self, session: str, role: str, content: str) -> dict[str, Any]:
        """Append a message through the session's lock; returns where it was written."""
        if not content.strip():
            raise InvalidInputError("the message is empty", hint="give the message's text")
        target = self.mirror.load_session(session)
        message = target.add_message(role, content)
        self._wrote()
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
        self._wrote()
        return {
            "id": fact.id,
            "text": fact.text,
            "type": fact.type,
            "confidence": fact.confidence,
            "note": fact.note,
            "uri": self._note_uri(fact.note),
        }

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
        self._wrote()
        self._sync_now()  # what is forgotten leaves the index now, not at the next search
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
        for s in filter_sessions(found):
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


# -- the MCP layer -----------------------------------------------------------------------


def _say(exc: AmosError) -> str:
    """One message for the client, with what to do next (in MCP terms where they differ)."""
    hint = exc.hint
    if isinstance(exc, SessionNotFoundError):
        hint = "call list_sessions to see the sessions (a unique id prefix or file path works)"
    elif isinstance(exc, AmbiguousSessionError):
        hint = "give more characters of the id"
    return f"{exc}; {hint}" if hint else str(exc)


def _run(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a tool's work; every failure becomes one clear message, never a traceback."""
    try:
        return work()
    except AmosError as exc:
        raise ToolError(_say(exc)) from None
    except (SystemExit, KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:
        # BaseException: a panic inside a native extension (tantivy) arrives as one.
        log.exception("tool failed")
        raise ToolError(
            f"unexpected {type(exc).__name__}: {exc}; this is a bug in amos-vault: "
            "the server's stderr has the details, please report it"
        ) from None


def _explain(name: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        got = f" (got {item['input']!r})" if item["type"] != "missing" else ""
        problems.append(f"{where}: {item['msg']}{got}")
    return (
        f"bad arguments for {name}: {'; '.join(problems)}; "
        "fix them as the tool's input schema says (see tools/list)"
    )


class VaultServer(MCPServer[Any]):
    """`MCPServer` with the vault's sessions and notes listed live as resources, and
    argument errors explained in one line."""

    def __init__(self, tools: VaultTools) -> None:
        super().__init__(
            "amos-vault",
            title="amos-vault memory",
            instructions=INSTRUCTIONS,
            version=__version__,
            log_level="WARNING",
        )
        self.tools = tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(_explain(name, exc.__cause__)) from exc.__cause__
            raise

    async def list_resources(self) -> list[Resource]:
        listed = await anyio.to_thread.run_sync(self.tools.resources)
        return [
            *await super().list_resources(),
            *(
                Resource(
                    uri=item["uri"],
                    name=item["name"],
                    title=item["title"],
                    description=item["description"],
                    mime_type="text/markdown",
                )
                for item in listed
            ),
        ]


def _read_resource(read: Callable[[str], str], key: str) -> str:
    try:
        return read(key)
    except (SessionNotFoundError, NoteNotFoundError, UnsafePathError) as exc:
        raise ResourceNotFoundError(_say(exc)) from None
    except AmosError as exc:
        raise ResourceError(_say(exc)) from None


def build_server(tools: VaultTools) -> VaultServer:
    """The MCP server over ``tools``: nine tools and two resource templates."""
    server = VaultServer(tools)
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    adding = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    @server.tool(annotations=reading)
    def search_memory(
        query: Annotated[str, Field(min_length=1, description="What to look for, in words.")],
        k: Annotated[int, Field(ge=1, le=100, description="How many hits.")] = 10,
        kinds: Annotated[
            list[Kind], Field(description="Only these kinds of chunk (default: all).")
        ] = [],  # noqa: B006 (pydantic copies defaults)
        session: Annotated[
            str | None, Field(description="Only this session (id, prefix or path).")
        ] = None,
        role: Annotated[Role | None, Field(description="Only messages by this role.")] = None,
        tags: Annotated[list[str], Field(description="Only sessions with all these tags.")] = [],  # noqa: B006
        since: Annotated[str | None, Field(description=f"Dated on or after ({DATE}).")] = None,
        until: Annotated[str | None, Field(description=f"Dated on or before ({DATE}).")] = None,
    ) -> dict[str, Any]:
        """Search the vault's conversations and memory notes by words and meaning. Each hit
        gives the file, the line, a snippet, and a link to the exact message
        ([[file#^m-id]])."""
        return _run(
            lambda: tools.search(query, k, list(kinds), session, role, list(tags), since, until)
        )

    @server.tool(annotations=reading)
    def build_context(
        question: Annotated[str, Field(min_length=1, description="The question or new message.")],
        session: Annotated[
            str | None, Field(description="Build it within this session (id, prefix or path).")
        ] = None,
    ) -> dict[str, Any]:
        """The context amos-vault would give a model for this question: recent turns of the
        session, relevant older messages, passages from other sessions, facts and identity,
        within a token budget; each piece with its file, message id and link."""
        return _run(lambda: tools.context(question, session))

    @server.tool(annotations=reading)
    def list_sessions(
        status: Annotated[Status | None, Field(description="Only sessions in this status.")] = None,
        tag: Annotated[str | None, Field(description="Only sessions with this tag.")] = None,
        since: Annotated[str | None, Field(description=f"Created on or after ({DATE}).")] = None,
        until: Annotated[str | None, Field(description=f"Created on or before ({DATE}).")] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many.")] = 50,
    ) -> dict[str, Any]:
        """List sessions, newest first: id, title, status, dates, tags, message count, file."""
        return _run(lambda: tools.list_sessions(status, tag, since, until, limit))

    @server.tool(annotations=reading)
    def read_session(
        session: SessionRef,
        last: Annotated[
            int | None, Field(ge=1, description="Only the last N messages (default: all).")
        ] = None,
    ) -> dict[str, Any]:
        """Read a session: its details and its messages, each with its id, line and link."""
        return _run(lambda: tools.read_session(session, last))

    @server.tool(annotations=adding)
    def start_session(
        title: Annotated[str, Field(min_length=1, description="One-line title.")],
        parent: Annotated[
            str | None, Field(description="Parent session (id, prefix or path) to link to.")
        ] = None,
        tags: Annotated[list[str], Field(description="Tags.")] = [],  # noqa: B006
    ) -> dict[str, Any]:
        """Start a new session (a Markdown file in the vault); returns its id and file."""
        return _run(lambda: tools.start_session(title, parent, list(tags)))

    @server.tool(annotations=adding)
    def append_message(
        session: SessionRef,
        role: Annotated[Role, Field(description="Who speaks.")],
        content: Annotated[str, Field(min_length=1, description="The message (Markdown).")],
    ) -> dict[str, Any]:
        """Append a message to an active session; it is written to the file at once, safely
        alongside other writers. Returns its id, line and [[file#^m-id]] link."""
        return _run(lambda: tools.append_message(session, role, content))

    @server.tool(annotations=adding)
    def remember_fact(
        text: Annotated[str, Field(min_length=1, description="The fact, one sentence.")],
        type: Annotated[FactType, Field(description="What kind of fact.")] = "knowledge",
        confidence: Annotated[float, Field(ge=0.0, le=1.0, description="How sure, 0 to 1.")] = 1.0,
        source: Annotated[
            str | None,
            Field(description="The message it comes from: SESSION_ID#m-xxxxxxxx or m-xxxxxxxx."),
        ] = None,
    ) -> dict[str, Any]:
        """Keep a fact about the user in the vault's memory notes; returns its id (f-...)."""
        return _run(lambda: tools.remember_fact(text, type, confidence, source))

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    def forget(
        target: Annotated[
            str, Field(min_length=1, description="A fact id (f-...) or a session's full id.")
        ],
    ) -> dict[str, Any]:
        """Forget a fact, or a whole session: removed from the files and from search."""
        return _run(lambda: tools.forget(target))

    @server.tool(annotations=reading)
    def recent_activity(
        limit: Annotated[int, Field(ge=1, le=100, description="How many sessions.")] = 10,
        messages: Annotated[
            int, Field(ge=0, le=50, description="Last messages shown per session.")
        ] = 3,
        since: Annotated[str | None, Field(description=f"Changed on or after ({DATE}).")] = None,
    ) -> dict[str, Any]:
        """Recently changed sessions (by the tools or by hand), newest first, with their
        last messages."""
        return _run(lambda: tools.recent_activity(limit, messages, since))

    @server.resource("amos://session/{session_id}", name="session", mime_type="text/markdown")
    def session_resource(session_id: str) -> str:
        """A session's Markdown file."""
        return _read_resource(tools.session_markdown, session_id)

    @server.resource("amos://memory/{+name}", name="memory", mime_type="text/markdown")
    def memory_resource(name: str) -> str:
        """A memory note (a Markdown file in the vault's memory folder)."""
        return _read_resource(tools.memory_markdown, name)

    return server


def serve(mirror: ActiveMirror, *, http: bool = False, port: int = DEFAULT_PORT) -> None:
    """Serve ``mirror``'s vault over stdio, or streamable HTTP on 127.0.0.1:``port``."""
    server = build_server(VaultTools(mirror))
    if not http:
        server.run("stdio")
        return
    print(
        f"amos-vault MCP server for {mirror.vault.root} at http://127.0.0.1:{port}/mcp",
        file=sys.stderr,
        flush=True,
    )
    server.run("streamable-http", host="127.0.0.1", port=port)
