"""`amosvault serve`: the team server, a JSON HTTP API and MCP over streamable HTTP.

Stateless: a process holds nothing but its database pool and the embedding model, so any
number of them can serve one database behind a load balancer. Every request carries a bearer
token (`tokens`); the token's identity is the one the database enforces privacy for (its
row-level security), for the JSON API and the MCP tools alike. The routes:

    GET  /health                     no token: {"ok": true} (whether the database answers)
    POST /api/search   {"query", "k", "kinds", "session", "role", "tags", "since", "until"}
    POST /api/context  {"question"}
    POST /api/ask      {"question"}
    GET  /api/sessions?status=&tag=&since=&until=&limit=
    GET  /api/sessions/{session}?last=
    GET  /api/facts?all=1&type=
    POST /mcp          MCP (streamable HTTP, stateless, JSON responses)

Errors are one line of JSON, ``{"error": ..., "hint": ...}``: 400 bad input, 401 no token or
a refused one, 404 nothing of that name, 503 the database does not answer (the pool opens new
connections when it is back, so the server recovers by itself).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from amos_vault.core.config import Settings
from amos_vault.core.errors import AmosError, DatabaseError, SessionNotFoundError
from amos_vault.index.query import MemoryQuery
from amos_vault.index.retrieval import SearchResult
from amos_vault.runtime.tokens import TokenRefusedError, TokenStore

log = logging.getLogger("amos_vault.runtime.teamserver")

_identity: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "amos_team_identity", default=None
)


@contextlib.contextmanager
def as_identity(identity: str) -> Iterator[None]:
    """Within this block (and the threads and tasks it starts), requests are ``identity``'s."""
    token = _identity.set(identity)
    try:
        yield
    finally:
        _identity.reset(token)


def current_identity() -> str:
    """The identity of the request being answered."""
    identity = _identity.get()
    if identity is None:
        # Only reachable by a bug: every request is authenticated before it gets here.
        raise AmosError("no identity for this request", hint="send a bearer token")
    return identity


class TeamMemory(Protocol):
    """What the team database offers one identity (rows it may not see are never returned)."""

    settings: Settings

    def ping(self) -> None:
        """Raise when the database does not answer."""

    def search(self, identity: str, query: MemoryQuery) -> SearchResult:
        """Hybrid search over the chunks ``identity`` may see."""

    def sessions(self, identity: str) -> list[dict[str, Any]]:
        """The sessions ``identity`` may see: id, title, status, created, updated, tags,
        path, owner, shared, vault, messages (a count)."""

    def messages(self, identity: str, session: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages of ``session`` (a row of `sessions`), in order: id, role, author,
        content, timestamp, line, link."""

    def facts(self, identity: str) -> list[dict[str, Any]]:
        """The facts ``identity`` may see: id, text, type, status, path, line, owner."""


class TeamReader(Protocol):
    """The tools the JSON API calls (`interfaces.mcp.teamtools.TeamTools`, which MCP
    serves too), each answering for the identity of the request."""

    def ping(self) -> None:
        """Raise when the database does not answer."""

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
        """Hybrid search."""

    def context(self, question: str, session: str | None = None) -> dict[str, Any]:
        """The context a model would get."""

    def ask(self, question: str) -> dict[str, Any]:
        """An answer, with its sources."""

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
        """One session and its messages."""

    def list_facts(
        self, as_of: str | None = None, include_closed: bool = False, type: str | None = None
    ) -> dict[str, Any]:
        """Facts."""


Handler = Callable[[Request], Awaitable[Any]]
MAX_BODY = 256 * 1024  # bytes of a request's JSON body: a query or a question, not a file


def error_response(status: int, message: str, hint: str | None = None) -> JSONResponse:
    """The one-line JSON error every failure answers with."""
    body = {"error": " ".join(message.split()), "hint": hint}
    headers = {"WWW-Authenticate": 'Bearer realm="amos-vault"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _status_of(exc: AmosError) -> int:
    if isinstance(exc, TokenRefusedError):
        return 401
    if isinstance(exc, DatabaseError):
        return 503
    return 404 if isinstance(exc, SessionNotFoundError) else 400


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
    raise TokenRefusedError(
        "no bearer token",
        hint="send 'Authorization: Bearer amv_...' with a token from `amosvault token create`",
    )


class Authenticate:
    """ASGI middleware: every request but ``/health`` needs a live token; its identity is
    set for the request (`as_identity`), so the tools see only what it may see."""

    def __init__(self, app: ASGIApp, tokens: TokenStore) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        try:
            secret = _bearer(scope)
            identity = await anyio.to_thread.run_sync(self.tokens.identity_of, secret)
        except AmosError as exc:
            await error_response(_status_of(exc), exc.message, exc.hint)(scope, receive, send)
            return
        with as_identity(identity):
            await self.app(scope, receive, send)


async def _body(request: Request) -> dict[str, Any]:
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > MAX_BODY:
            raise AmosError(
                f"bad request: the body is over {MAX_BODY // 1024} KiB",
                hint="send a shorter query or question",
            )
    try:
        data = json.loads(bytes(raw) or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise AmosError(
            "bad request: the body is not JSON", hint='send a JSON object, e.g. {"query": ...}'
        ) from None
    if not isinstance(data, dict):
        raise AmosError("bad request: the body must be a JSON object")
    return data


def _text(data: dict[str, Any], name: str, default: Any = None) -> Any:
    value = data.get(name, default)
    if value is not None and not isinstance(value, str):
        raise AmosError(f"bad request: {name!r} must be a string")
    return value


def _number(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if isinstance(value, bool) or not low <= number <= high:
        raise AmosError(f"bad request: {name!r} must be a whole number from {low} to {high}")
    return number


def _strings(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AmosError(f"bad request: {name!r} must be a list of strings")
    return value


def _routes(tools: TeamReader) -> list[Route]:
    """The JSON API: each route reads its arguments and calls one tool."""

    async def search(request: Request) -> Any:
        data = await _body(request)
        return lambda: tools.search(
            _text(data, "query") or "",
            _number(data.get("k"), "k", 10, 1, 100),
            _strings(data, "kinds"),
            _text(data, "session"),
            _text(data, "role"),
            _strings(data, "tags"),
            _text(data, "since"),
            _text(data, "until"),
        )

    async def context(request: Request) -> Any:
        data = await _body(request)
        return lambda: tools.context(_text(data, "question") or "")

    async def ask(request: Request) -> Any:
        data = await _body(request)
        return lambda: tools.ask(_text(data, "question") or "")

    async def sessions(request: Request) -> Any:
        q = request.query_params
        return lambda: tools.list_sessions(
            q.get("status"),
            q.get("tag"),
            q.get("since"),
            q.get("until"),
            _number(q.get("limit"), "limit", 50, 1, 1000),
        )

    async def session(request: Request) -> Any:
        last = request.query_params.get("last")
        ref = request.path_params["session"]
        return lambda: tools.read_session(ref, _number(last, "last", 0, 1, 100000) or None)

    async def facts(request: Request) -> Any:
        q = request.query_params
        return lambda: tools.list_facts(None, q.get("all") in ("1", "true", "yes"), q.get("type"))

    def endpoint(read: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            try:
                work = await read(request)
                return JSONResponse(await anyio.to_thread.run_sync(work))
            except AmosError as exc:
                return error_response(_status_of(exc), exc.message, exc.hint)
            except Exception as exc:
                log.exception("request failed")
                return error_response(
                    500,
                    f"unexpected {type(exc).__name__}: {exc}",
                    "this is a bug in amos-vault: the server's log has the details",
                )

        return answer

    return [
        Route("/api/search", endpoint(search), methods=["POST"]),
        Route("/api/context", endpoint(context), methods=["POST"]),
        Route("/api/ask", endpoint(ask), methods=["POST"]),
        Route("/api/sessions", endpoint(sessions), methods=["GET"]),
        Route("/api/sessions/{session:path}", endpoint(session), methods=["GET"]),
        Route("/api/facts", endpoint(facts), methods=["GET"]),
    ]


def team_app(
    tools: TeamReader, tokens: TokenStore, mcp: Any | None = None, host: str = "127.0.0.1"
) -> Starlette:
    """The team server's ASGI app: the JSON API, and ``mcp`` (an `MCPServer` over the same
    ``tools``) at ``/mcp``; every request but ``/health`` authenticated by ``tokens``."""

    async def health(_request: Request) -> Response:
        try:
            await anyio.to_thread.run_sync(tools.ping)
        except AmosError as exc:
            return error_response(503, exc.message, exc.hint)
        return JSONResponse({"ok": True})

    routes: list[Route | Mount] = [Route("/health", health, methods=["GET"]), *_routes(tools)]
    lifespan = None
    if mcp is not None:
        # Stateless: each MCP request stands alone, so any process can answer any of them.
        inner = mcp.streamable_http_app(json_response=True, stateless_http=True, host=host)
        routes.append(Mount("/", app=inner))
        manager = mcp.session_manager

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            async with manager.run():
                yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(Authenticate, tokens=tokens)
    return app


def run_team_server(app: ASGIApp, host: str, port: int) -> None:
    """Serve ``app`` on ``host``:``port`` until stopped (SIGINT or SIGTERM)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
