"""The MCP server: the vault's memory as tools and resources for any MCP client.

`amosvault mcp` serves the Model Context Protocol over stdio (or streamable HTTP bound to
127.0.0.1). `VaultTools` (in `tools`) does the work; this module exposes it through the
official `mcp` SDK. Only this module imports `mcp`, and the CLI imports it inside the `mcp`
command, so `amosvault --help` stays fast.
"""

from __future__ import annotations

import logging
import sys
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
    SessionNotFoundError,
    UnsafePathError,
)
from amos_vault.interfaces.arguments import DATE_FORMS
from amos_vault.interfaces.mcp.tools import MemoryTools, NoteNotFoundError, VaultTools
from amos_vault.runtime.client import VaultClient

log = logging.getLogger("amos_vault.interfaces.mcp")

DEFAULT_PORT = 8765
INSTRUCTIONS = """\
amos-vault is the user's long-term memory: past conversations (sessions) and memory notes,
kept as Markdown files. Use search_memory to find what was said (each hit links to its message
as [[path#^m-id]]), list_facts for what is known about the user (as_of: on a past day),
build_context for a ready context with provenance, read_session to read a
conversation, and start_session / append_message to record one. remember_fact keeps a fact;
forget removes a fact or a session. Sessions and memory notes are also resources
(amos://session/<id>, amos://memory/<name>).
"""
TEAM_INSTRUCTIONS = """\
amos-vault team memory: the conversations (sessions) and facts of a team, as far as your token
may see them (your own, and what others shared with the team). Use search_memory to find what
was said, build_context for a ready context with provenance, list_sessions and read_session to
read a conversation, recent_activity for what changed lately. Writing happens in each person's
own vault, not here.
"""

Kind = Literal["message", "session", "fact", "note"]
Role = Literal["user", "assistant", "system"]
Status = Literal["active", "paused", "completed", "archived"]
FactType = Literal["preference", "knowledge", "context"]
ImportKind = Literal["chatgpt", "claude", "jsonl"]
DATE = f"{DATE_FORMS} (UTC when no offset)"
# Tool parameters are read by pydantic from the annotations, so the aliases live up here.
SessionRef = Annotated[str, Field(description="Session id, unique id prefix, or file path.")]


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

    def __init__(self, tools: MemoryTools) -> None:
        team = not isinstance(tools, VaultTools)
        super().__init__(
            "amos-vault",
            title="amos-vault team memory" if team else "amos-vault memory",
            instructions=TEAM_INSTRUCTIONS if team else INSTRUCTIONS,
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


def build_server(tools: MemoryTools) -> VaultServer:
    """The MCP server over ``tools``: one vault's (`VaultTools`: eleven tools and two
    resource templates) or the team database's (`TeamTools`: the six reading tools and the
    sessions as resources)."""
    server = VaultServer(tools)
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)

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
        as_of: Annotated[
            str | None,
            Field(
                description=f"Search the vault as it stood then ({DATE}): its last git commit "
                "on or before; an error says so when the vault is not a git repository."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Search the vault's conversations and memory notes by words and meaning. Each hit
        gives the file, the line, a snippet, and a link to the exact message
        ([[path#^m-id]])."""
        return _run(
            lambda: tools.search(
                query, k, list(kinds), session, role, list(tags), since, until, as_of
            )
        )

    @server.tool(annotations=reading)
    def list_facts(
        as_of: Annotated[
            str | None,
            Field(description=f"The facts that held on that day ({DATE}); default: today."),
        ] = None,
        include_closed: Annotated[
            bool, Field(description="Also facts closed (superseded) by then.")
        ] = False,
        type: Annotated[FactType | None, Field(description="Only facts of this kind.")] = None,
    ) -> dict[str, Any]:
        """The facts kept about the user (memory notes), each with its validity and the
        messages it comes from: those true today, or on the day as_of names."""
        return _run(lambda: tools.list_facts(as_of, include_closed, type))

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

    if isinstance(tools, VaultTools):
        _add_writing_tools(server, tools)

    return server


def _add_writing_tools(server: VaultServer, tools: VaultTools) -> None:
    """The tools that change a vault, and its memory notes as resources: a vault's server
    only (the team server reads; each person writes in their own vault)."""
    adding = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

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
        alongside other writers. Returns its id, line and [[path#^m-id]] link."""
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
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        )
    )
    def import_export(
        path: Annotated[
            str, Field(min_length=1, description="The export on this machine: .zip or .json(l).")
        ],
        kind: Annotated[ImportKind, Field(description="Which assistant it comes from.")],
        dry_run: Annotated[bool, Field(description="Only say what would be imported.")] = False,
        since: Annotated[
            str | None, Field(description="Only conversations active on or after (YYYY-MM-DD).")
        ] = None,
        include_tools: Annotated[bool, Field(description="Keep tool messages.")] = False,
    ) -> dict[str, Any]:
        """Import chat history (ChatGPT or Claude data export, or JSON lines) into sessions;
        importing the same export again writes nothing. Returns what was created, updated,
        left out and why."""
        return _run(lambda: tools.import_export(path, kind, dry_run, since, include_tools))

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

    @server.resource("amos://memory/{+name}", name="memory", mime_type="text/markdown")
    def memory_resource(name: str) -> str:
        """A memory note (a Markdown file in the vault's memory folder)."""
        return _read_resource(tools.memory_markdown, name)


def serve(client: VaultClient, *, http: bool = False, port: int = DEFAULT_PORT) -> None:
    """Serve the vault of ``client`` over stdio, or streamable HTTP on 127.0.0.1:``port``."""
    server = build_server(VaultTools(client))
    if not http:
        server.run("stdio")
        return
    print(
        f"amos-vault MCP server for {client.root} at http://127.0.0.1:{port}/mcp",
        file=sys.stderr,
        flush=True,
    )
    server.run("streamable-http", host="127.0.0.1", port=port)
