"""The team database as the team server uses it: a pool, the tokens, and what one identity
may read (`PostgresTeamMemory`).

Every read runs in a transaction as the role ``amos_request`` with ``amos.identity`` set to
the caller (the PostgreSQL engine's row-level security, migration 0001): the database, not
this code, decides which rows come back. Token look-ups run as the URL's user, before the
identity is known; ``amos_request`` cannot read the tokens table at all.
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amos_vault.core.config import Settings
from amos_vault.index.embeddings import Embedder
from amos_vault.index.engines.postgres.connection import connect, database_errors, open_pool
from amos_vault.index.engines.postgres.engine import PostgresEngine
from amos_vault.index.engines.postgres.migrations import migrate
from amos_vault.index.query import MemoryQuery
from amos_vault.index.retrieval import Retriever, SearchResult
from amos_vault.runtime.tokens import TokenStore

if TYPE_CHECKING:
    from psycopg import Connection

MAX_ENGINES = 1024  # identities whose engines are kept; past that the cache starts again


class TeamDatabase:
    """The pool of connections to the team database, its tokens, and its memory."""

    def __init__(self, url: str, pool: Any, settings: Settings, cache_dir: Path | None) -> None:
        self.url = url
        self.pool = pool
        self.settings = settings
        self.cache_dir = cache_dir
        self.tokens = TokenStore(pool, lambda: database_errors(url))

    @classmethod
    def open(
        cls,
        url: str,
        *,
        pool_size: int = 4,
        settings: Settings | None = None,
        cache_dir: Path | None = None,
        timeout: float = 10.0,
    ) -> TeamDatabase:
        """Connect (one-line `DatabaseError`s when it cannot) and bring the schema up to
        date (the numbered migrations, under their lock)."""
        # Migrated first, on a connection of its own: the pool's connections need the
        # `vector` extension, which the first migration creates.
        with connect(url, timeout) as connection:
            migrate(connection)
        return cls(url, open_pool(url, pool_size, timeout), settings or Settings(), cache_dir)

    def memory(self) -> PostgresTeamMemory:
        """What each identity may read, for the team server."""
        return PostgresTeamMemory(self)

    def close(self) -> None:
        """Close every connection."""
        self.pool.close()


def _stamp(seconds: int) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


SESSIONS = """
SELECT s.session_id, s.title, s.status, s.stamp, s.tags, s.path, s.owner, s.shared, s.vault_id,
       (SELECT count(*) FROM chunks m
         WHERE m.vault_id = s.vault_id AND m.session_key = s.key AND m.kind = 'message'),
       (SELECT max(m.stamp) FROM chunks m
         WHERE m.vault_id = s.vault_id AND m.session_key = s.key AND m.kind = 'message')
  FROM chunks s
 WHERE s.kind = 'session'
"""

MESSAGES = """
SELECT m.message_id, m.role, m.author, m.text, m.stamp, m.line_start, m.path
  FROM chunks m JOIN chunks s ON s.vault_id = m.vault_id AND s.key = m.session_key
 WHERE m.kind = 'message' AND s.kind = 'session' AND s.session_id = %s AND s.path = %s
 ORDER BY m.line_start
"""

FACTS = """
SELECT message_id, text, tags, status, path, line_start, stamp, owner, shared, sources
  FROM chunks
 WHERE kind = 'fact'
 ORDER BY path, line_start
"""


class PostgresTeamMemory:
    """The `TeamMemory` of the team server over the PostgreSQL engine's tables."""

    def __init__(self, database: TeamDatabase) -> None:
        self.database = database
        self.settings = database.settings
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        self._engines: dict[str, PostgresEngine] = {}

    def _engine(self, identity: str) -> PostgresEngine:
        """The engine reading as ``identity`` (kept per identity: its counts are cached for
        a few seconds, which is all the state a request leaves behind)."""
        with self._lock:
            engine = self._engines.get(identity)
            if engine is None:
                if len(self._engines) >= MAX_ENGINES:
                    self._engines.clear()
                engine = PostgresEngine(
                    self.database.pool,
                    self.database.url,
                    identity,
                    semantic=self.database.cache_dir is not None,
                )
                self._engines[identity] = engine
            return engine

    def _reading_as(self, identity: str) -> AbstractContextManager[Connection[Any]]:
        """A read-only transaction that sees what ``identity`` may see, no more."""
        reading: AbstractContextManager[Connection[Any]] = self._engine(identity).reading()
        return reading

    def ping(self) -> None:
        """Raise `DatabaseUnavailableError` when the database does not answer."""
        with (
            database_errors(self.database.url),
            self.database.pool.connection() as connection,
        ):
            connection.execute("SELECT 1")

    def search(self, identity: str, query: MemoryQuery) -> SearchResult:
        """Hybrid search over the chunks ``identity`` may see."""
        engine = self._engine(identity)
        return Retriever(engine, self._model(), self.settings.search).search(query)

    def _model(self) -> Embedder | None:
        """The embedding model (loaded once per process, shared by every request)."""
        with self._lock:
            if self._embedder is None and self.database.cache_dir is not None:
                from amos_vault.index.embeddings import open_embedder

                search = self.settings.search
                self._embedder = open_embedder(
                    search.model,
                    self.database.cache_dir,
                    threads=search.threads or None,
                    batch_size=search.batch_size,
                )
            return self._embedder

    def sessions(self, identity: str) -> list[dict[str, Any]]:
        """The sessions ``identity`` may see (its own, and those shared with the team)."""
        with self._reading_as(identity) as connection:
            rows = connection.execute(SESSIONS).fetchall()
        listed = []
        for session_id, title, status, stamp, tags, path, owner, shared, vault, count, last in rows:
            listed.append(
                {
                    "id": session_id,
                    "title": title,
                    "status": status,
                    "created": _stamp(stamp),
                    "updated": _stamp(last or 0) or _stamp(stamp),
                    "tags": list(tags),
                    "path": path,
                    "owner": owner,
                    "shared": bool(shared),
                    "vault": vault,
                    "messages": int(count),
                }
            )
        return listed

    def messages(self, identity: str, session: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages of ``session`` (a row of `sessions`), in order."""
        with self._reading_as(identity) as connection:
            rows = connection.execute(MESSAGES, (session["id"], session["path"])).fetchall()
        return [
            {
                "id": message_id,
                "role": role,
                "author": author,
                "content": text,
                "timestamp": _stamp(stamp),
                "line": line or None,
                "link": f"[[{path.rsplit('/', 1)[-1].removesuffix('.md')}#^{message_id}]]",
            }
            for message_id, role, author, text, stamp, line, path in rows
        ]

    def facts(self, identity: str) -> list[dict[str, Any]]:
        """The facts ``identity`` may see."""
        with self._reading_as(identity) as connection:
            rows = connection.execute(FACTS).fetchall()
        return [
            {
                "id": fact_id or None,
                "text": text,
                "type": (tags or ["knowledge"])[0],
                "status": status,
                "path": path,
                "line": line,
                "last_confirmed": dt.date.fromtimestamp(stamp).isoformat() if stamp else None,
                "owner": owner,
                "shared": bool(shared),
                "sources": list(sources),
            }
            for fact_id, text, tags, status, path, line, stamp, owner, shared, sources in rows
        ]
