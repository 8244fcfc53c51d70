"""What the team server answers, as JSON-ready dicts: `TeamTools`.

The same reading tools as a vault's MCP server (search_memory, build_context, list_sessions,
read_session, recent_activity, and the session resources), plus ask and facts, answered from
the team database for the identity of the request's token (`as_identity`): the JSON API and
MCP over HTTP both call these, so the two transports say the same things. The database
(`TeamMemory`) enforces what an identity may see; nothing here filters by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from amos_vault.answer.context import build_context
from amos_vault.answer.dialogue import get_engine
from amos_vault.answer.orchestrator import Answerer
from amos_vault.core.config import Settings
from amos_vault.core.errors import InvalidInputError, SessionNotFoundError
from amos_vault.index.query import KINDS, MemoryQuery
from amos_vault.index.retrieval import SearchResult
from amos_vault.interfaces.arguments import parse_date
from amos_vault.llm.providers import LLMError, open_provider
from amos_vault.runtime.teamserver import TeamMemory, current_identity
from amos_vault.sessions.privacy import is_loopback

SESSION_URI = "amos://session/{}"


def team_answerer(settings: Settings, host: str | None = None) -> Answerer:
    """The model of ``settings`` (``host`` overriding [llm] host) when it runs on this
    machine; a model elsewhere would see people's private text, so the team server then
    answers with the cited evidence."""
    llm = settings.llm
    where = host or llm.host
    engine = get_engine(llm.engine)
    if not is_loopback(where):
        why = f"the team server sends no one's text to a model on another machine ({where})"
        return Answerer(None, engine, settings, unavailable=why)
    try:
        provider = open_provider(llm.provider, where, llm.model, llm.timeout_seconds)
    except LLMError as exc:
        return Answerer(None, engine, settings, unavailable=exc.message)
    return Answerer(provider, engine, settings)


def _now_only(as_of: str | None) -> None:
    """The team database holds memory as it is now: a past day is refused, not ignored."""
    if as_of:
        raise InvalidInputError(
            "the team server holds memory as it is now, not as it was on a past day",
            hint="leave out as_of (each vault's own server answers as_of from its git history)",
        )


def _stamp(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return str(value) if value else None


def _hit(rank: int, hit: dict[str, Any]) -> dict[str, Any]:
    session_id = hit.get("session_id")
    return {
        "rank": rank,
        **hit,
        "line": hit["lines"][0],
        "uri": SESSION_URI.format(session_id) if session_id else None,
    }


class TeamTools:
    """The team server's tools over the database, for the identity of each request."""

    def __init__(self, memory: TeamMemory, answerer: Answerer | None = None) -> None:
        self.memory = memory
        self.settings = memory.settings
        self.answerer = answerer or team_answerer(self.settings)

    def ping(self) -> None:
        """Raise when the database does not answer."""
        self.memory.ping()

    def _search(self, query: MemoryQuery) -> SearchResult:
        return self.memory.search(current_identity(), query)

    # -- the tools of a vault's MCP server -------------------------------------------------
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
        """Hybrid search over what the caller may see, as it is now."""
        _now_only(as_of)
        if not query.strip():
            raise InvalidInputError("the query is empty", hint="give the words to search for")
        unknown = [kind for kind in kinds or () if kind not in KINDS]
        if unknown:
            raise InvalidInputError(
                f"unknown kind {unknown[0]!r}", hint=f"use some of: {', '.join(KINDS)}"
            )
        result = self._search(
            MemoryQuery(
                query,
                k=k,
                kinds=tuple(kinds or ()),
                sessions=(self._session(session)["id"],) if session else (),
                tags=tuple(tag.lstrip("#") for tag in tags or ()),
                since=parse_date(since, "since"),
                until=parse_date(until, "until", end_of_day=True),
                role=role,
            )
        )
        return {
            "query": query,
            "identity": current_identity(),
            "mode": result.mode,
            "notice": result.notice,
            "hits": [_hit(rank, hit.to_dict()) for rank, hit in enumerate(result.hits, 1)],
        }

    def context(self, question: str, session: str | None = None) -> dict[str, Any]:
        """The context a model would get for ``question``, from what the caller may see."""
        if not question.strip():
            raise InvalidInputError("the question is empty", hint="give the question to build for")
        if session:
            raise InvalidInputError(
                "the team server builds contexts over all of memory, not within a session",
                hint="leave out the session",
            )
        return build_context(question, self._search, self.settings.context).to_dict()

    def ask(self, question: str) -> dict[str, Any]:
        """An answer to ``question`` from what the caller may see: a model's, when the server
        has one on its own machine, else the cited evidence."""
        if not question.strip():
            raise InvalidInputError("the question is empty", hint="give the question to answer")
        context = build_context(question, self._search, self.settings.context)
        return self.answerer.generate(context).to_dict()

    def list_sessions(
        self,
        status: str | None = None,
        tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Sessions the caller may see, newest first (dates bound the creation time)."""
        low = parse_date(since, "since")
        high = parse_date(until, "until", end_of_day=True)

        def chosen(row: dict[str, Any]) -> bool:
            created = row.get("created")
            return (
                (status is None or row.get("status") == status)
                and (tag is None or tag.lstrip("#") in row.get("tags", ()))
                and (low is None or (created is not None and created >= low))
                and (high is None or (created is not None and created <= high))
            )

        floor = dt.datetime.min.replace(tzinfo=dt.UTC)
        rows = sorted(
            (row for row in self.memory.sessions(current_identity()) if chosen(row)),
            key=lambda row: (row.get("created") or floor, row["id"]),
            reverse=True,
        )
        return {"total": len(rows), "sessions": [self._info(row) for row in rows[:limit]]}

    def _session(self, ref: str) -> dict[str, Any]:
        rows = self.memory.sessions(current_identity())
        exact = [row for row in rows if ref in (row["id"], row.get("path"))]
        found = exact or [row for row in rows if row["id"].startswith(ref)]
        if len(found) != 1:
            raise SessionNotFoundError(
                f"no session {ref!r} that you may see"
                if not found
                else f"{len(found)} sessions start with {ref!r}",
                hint="list_sessions shows the sessions you may see; give a longer id",
            )
        return found[0]

    def _info(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            **{
                key: _stamp(value) if key in ("created", "updated") else value
                for key, value in row.items()
            },
            "uri": SESSION_URI.format(row["id"]),
        }

    def read_session(self, session: str, last: int | None = None) -> dict[str, Any]:
        """A session's details and its messages (the last ``last`` of them when given)."""
        row = self._session(session)
        messages = self.memory.messages(current_identity(), row)
        shown = messages[-last:] if last else messages
        return {
            **self._info(row),
            "shown": len(shown),
            "messages": [{**m, "timestamp": _stamp(m.get("timestamp"))} for m in shown],
        }

    def recent_activity(
        self, limit: int = 10, messages: int = 3, since: str | None = None
    ) -> dict[str, Any]:
        """Sessions by their last change, newest first, each with its last few messages."""
        floor = parse_date(since, "since")
        identity = current_identity()
        never = dt.datetime.min.replace(tzinfo=dt.UTC)

        def changed(row: dict[str, Any]) -> dt.datetime:
            return row.get("updated") or row.get("created") or never

        rows = sorted(self.memory.sessions(identity), key=changed, reverse=True)
        rows = [row for row in rows if floor is None or changed(row) >= floor][:limit]
        listed = []
        for row in rows:
            tail = self.memory.messages(identity, row)[-messages:] if messages else []
            listed.append(
                {
                    **self._info(row),
                    "changed": _stamp(changed(row)),
                    "recent_messages": [
                        {**m, "timestamp": _stamp(m.get("timestamp"))} for m in tail
                    ],
                }
            )
        return {"sessions": listed}

    def list_facts(
        self, as_of: str | None = None, include_closed: bool = False, type: str | None = None
    ) -> dict[str, Any]:
        """Facts the caller may see (current ones only, unless ``include_closed``)."""
        _now_only(as_of)
        rows = [
            row
            for row in self.memory.facts(current_identity())
            if (include_closed or row.get("status", "current") == "current")
            and (type is None or row.get("type") == type)
        ]
        return {"as_of": None, "total": len(rows), "facts": rows}

    # -- resources -------------------------------------------------------------------------
    def resources(self) -> list[dict[str, str]]:
        """Every session the caller may see, as resource descriptions."""
        return [
            {
                "uri": SESSION_URI.format(row["id"]),
                "name": row["id"],
                "title": row.get("title") or row["id"],
                "description": f"session, {row.get('status')}, {row.get('messages', 0)} messages",
            }
            for row in self.memory.sessions(current_identity())
        ]

    def session_markdown(self, session_id: str) -> str:
        """A session as Markdown: its title and its messages."""
        found = self.read_session(session_id)
        lines = [f"# {found.get('title') or found['id']}", ""]
        for message in found["messages"]:
            lines += [f"## {message.get('role')} ^{message.get('id')}", "", message["content"], ""]
        return "\n".join(lines)
