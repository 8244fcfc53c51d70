"""`PostgresEngine`: the `IndexEngine` over a team's ``chunks`` table (pgvector + full text).

Every transaction runs as the role ``amos_request`` with ``amos.identity`` (and, for a
writer, ``amos.vault``) set for that transaction only, so PostgreSQL's row-level security
decides which rows exist for it: a reader sees its own rows and the team-shared ones, a
writer changes only its own vault's rows. No query here filters on the owner itself.

Full text uses the same analyser as the embedded engine (`fulltext.analyze_tokens`: Tantivy's
English stemmer): the stems are stored as a ``simple`` tsvector, so a query matches exactly
the chunks it would match in Tantivy. Scores are BM25-like: for each query term, its inverse
document frequency times ``ts_rank`` (length-normalised); ``own_boost`` adds the same over
the chunk's own text. Vectors are ``halfvec(384)`` in an HNSW index (cosine).

Writes are buffered per transaction: a file's old rows are removed at `commit`, except the
chunks added again (whose vectors stay when their text did not change); the records of the
files indexed (`DatabaseManifest`) are written in the same transaction, so a crash leaves
the old state or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from amos_vault.index.chunks import Chunk
from amos_vault.index.engine import Described, TermHits
from amos_vault.index.engines.postgres.connection import database_errors
from amos_vault.index.engines.postgres.sharing import Sharing, Visibility
from amos_vault.index.engines.postgres.sql import (
    ALWAYS,
    FIELDS,
    LISTED,
    UPSERT,
    filter_sql,
    lexeme,
    signed,
    terms_text,
    vector_param,
)
from amos_vault.index.fulltext import SearchIndex, stamp_of
from amos_vault.index.query import Filters
from amos_vault.index.vectors import SAMPLE_ROWS

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

    from amos_vault.index.sync import FileRecord, Manifest

REQUEST_ROLE = "amos_request"
EXACT_SPREAD_ROWS = 4 * SAMPLE_ROWS  # a scope this small is measured, not sampled
# HNSW candidates per search (pgvector's default is 40): measured recall@10 against an exact
# scan was 0.82 at 40 on 100k clustered chunks; the retriever asks for 200 (so 400).
EF_SEARCH_FLOOR = 100
BUCKETS = 1024  # chunks.bucket: key % 1024
STATS_SECONDS = 10.0  # counts and author lists are cached this long (other writers' rows)
_HIGHLIGHTER: SearchIndex | None = None


def _highlighter() -> SearchIndex:
    """An empty in-memory Tantivy index: its snippet generator marks matches of stems."""
    global _HIGHLIGHTER
    if _HIGHLIGHTER is None:
        _HIGHLIGHTER = SearchIndex(None)
    return _HIGHLIGHTER


class PostgresEngine:
    """One identity's view of the team's chunks, and its vault's writer."""

    def __init__(
        self,
        pool: ConnectionPool,
        url: str,
        identity: str,
        *,
        vault_id: str | None = None,
        sharing: Sharing | None = None,
        semantic: bool = True,
    ) -> None:
        self.pool = pool
        self.url = url
        self.identity = identity
        self.vault_id = vault_id or identity
        self.sharing = sharing
        self._semantic = semantic
        self._stats: dict[Any, tuple[float, Any]] = {}
        # The write transaction in progress.
        self._writer: Connection[Any] | None = None
        self._removed: set[str] = set()
        self._added: dict[str, set[int]] = {}
        self._vectors: dict[int, tuple[str, np.ndarray]] = {}
        self._vector_hashes: dict[int, str] | None = None
        self._dropped: set[int] = set()
        self.manifest: Manifest | None = None
        self._saved: dict[str, tuple[Any, ...]] = {}

    @property
    def semantic(self) -> bool:
        """Whether chunks have vectors."""
        return self._semantic

    # -- transactions ----------------------------------------------------------------------
    def _as_identity(self, connection: Connection[Any], ef_search: int = 0) -> None:
        """Run the transaction in hand as the request role, with this identity and vault."""
        connection.execute(
            "SELECT set_config('role', %s, true), set_config('amos.identity', %s, true), "
            "set_config('amos.vault', %s, true), set_config('hnsw.ef_search', %s, true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true)",
            (
                REQUEST_ROLE,
                self.identity,
                self.vault_id,
                str(max(EF_SEARCH_FLOOR, min(ef_search, 1000))),
            ),
        )

    @contextlib.contextmanager
    def reading(self, ef_search: int = 0) -> Iterator[Connection[Any]]:
        """A read-only transaction as this identity (row-level security applies). Its
        statements are pipelined: the set-up costs no round trip of its own."""
        with (
            database_errors(self.url),
            self.pool.connection() as connection,
            connection.pipeline(),
            connection.transaction(),
        ):
            connection.execute("SET TRANSACTION READ ONLY")
            self._as_identity(connection, ef_search)
            yield connection

    def _cached(self, key: Any, compute: Any) -> Any:
        now = time.monotonic()
        found = self._stats.get(key)
        if found is not None and now - found[0] < STATS_SECONDS:
            return found[1]
        value = compute()
        self._stats[key] = (now, value)
        return value

    # -- reading ---------------------------------------------------------------------------
    def population(self, filters: Filters) -> int:
        """Visible chunks with a vector in scope."""
        if not self._semantic:
            return 0
        where, values = filter_sql(filters.only())

        def count() -> int:
            with self.reading() as connection:
                sql = f"SELECT count(*) FROM chunks WHERE embedding IS NOT NULL AND {where}"
                row = connection.execute(sql, values).fetchone()
            return int(row[0]) if row else 0

        return int(self._cached(("population", filters.only()), count))

    def chunk_count(self) -> int:
        """Visible chunks, with or without a vector."""

        def count() -> int:
            with self.reading() as connection:
                row = connection.execute("SELECT count(*) FROM chunks").fetchone()
            return int(row[0]) if row else 0

        return int(self._cached("chunks", count))

    def _frequencies(self, connection: Connection[Any], terms: Sequence[str]) -> list[int]:
        """How many visible chunks hold each term (for its inverse document frequency)."""
        counts = ", ".join("count(*) FILTER (WHERE context_terms @@ %s::tsquery)" for _ in terms)
        query = " | ".join(lexeme(t) for t in terms)
        sql = f"SELECT {counts} FROM chunks WHERE context_terms @@ %s::tsquery"
        row = connection.execute(sql, [*map(lexeme, terms), query]).fetchone()
        return [int(v) for v in row] if row else [0] * len(terms)

    def full_text(
        self, terms: Sequence[str], filters: Filters, limit: int, own_boost: float = 0.0
    ) -> TermHits:
        """BM25-like candidates (see the module's docstring)."""
        terms = list(dict.fromkeys(t for t in terms if t))
        if not terms:
            return TermHits()
        total_docs = max(self.chunk_count(), 1)
        where, values = filter_sql(filters.only())
        with self.reading() as connection:
            frequencies = self._cached(
                ("frequencies", *terms), lambda: self._frequencies(connection, terms)
            )
            weights = [
                float(np.log(1 + (total_docs - df + 0.5) / (df + 0.5))) for df in frequencies
            ]
            score_parts, params = [], list[Any]()
            for term, weight in zip(terms, weights, strict=True):
                score_parts.append("%s * ts_rank(context_terms, %s::tsquery, 1)")
                params += [weight, lexeme(term)]
                if own_boost:
                    score_parts.append("%s * ts_rank(own_terms, %s::tsquery, 1)")
                    params += [weight * own_boost, lexeme(term)]
            sql = (
                f"SELECT key, session_key, {' + '.join(score_parts)} AS score, "
                "count(*) OVER () FROM chunks "
                f"WHERE context_terms @@ %s::tsquery AND {where} "
                "ORDER BY score DESC, key LIMIT %s"
            )
            query = " | ".join(lexeme(t) for t in terms)
            rows = connection.execute(sql, [*params, query, *values, limit]).fetchall()
        return TermHits(
            keys=[int(r[0]) for r in rows],
            session_keys=[int(r[1]) for r in rows],
            scores=[float(r[2]) for r in rows],
            total=int(rows[0][3]) if rows else 0,
        )

    def nearest(self, vector: np.ndarray, filters: Filters, limit: int) -> np.ndarray:
        """Nearest visible vectors in scope, through the HNSW index."""
        if not self._semantic:
            return np.zeros(0, np.uint64)
        where, values = filter_sql(filters.only())
        sql = (
            "SELECT key FROM chunks WHERE embedding IS NOT NULL AND "
            f"{where} ORDER BY embedding <=> %s::halfvec LIMIT %s"
        )
        with self.reading(ef_search=2 * limit) as connection:
            rows = connection.execute(sql, [*values, vector_param(vector), limit]).fetchall()
        return np.fromiter((int(r[0]) for r in rows), np.uint64, len(rows))

    def describe(self, vector: np.ndarray, keys: Sequence[int]) -> Described:
        """Session, author and similarity of each key (NaN: no vector)."""
        wanted = np.asarray(keys, np.uint64)
        similarity = np.full(len(wanted), np.nan, np.float32)
        sessions = np.zeros(len(wanted), np.uint64)
        authors = [""] * len(wanted)
        if len(wanted):
            position = {int(k): i for i, k in enumerate(wanted)}
            sql = (
                "SELECT DISTINCT ON (key) key, session_key, author, "
                "1 - (embedding <=> %s::halfvec) FROM chunks WHERE key = ANY(%s) "
                "ORDER BY key, (owner = current_setting('amos.identity', true)) DESC"
            )
            with self.reading() as connection:
                rows = connection.execute(
                    sql,
                    (vector_param(vector), [int(k) for k in wanted]),
                ).fetchall()
            for key, session_key, author, score in rows:
                i = position[int(key)]
                sessions[i] = int(session_key)
                authors[i] = str(author)
                if score is not None:
                    similarity[i] = float(score)
        return Described(wanted, sessions, authors, similarity)

    def similarity_spread(self, vector: np.ndarray, filters: Filters) -> tuple[float, float]:
        """Mean and deviation of similarities in scope: every row of a small scope, else a
        fixed random sample (the first buckets of rows, ``bucket``: the key's last bits)."""
        count = self.population(filters)
        if not count:
            return 0.0, 1.0
        where, values = filter_sql(filters.only())
        sample = ""
        if count > EXACT_SPREAD_ROWS:
            buckets = max(1, min(BUCKETS, int(np.ceil(BUCKETS * 2 * SAMPLE_ROWS / count))))
            sample = f"AND bucket < {buckets}"
        sql = (
            "SELECT avg(s), stddev_pop(s) FROM (SELECT 1 - (embedding <=> %s::halfvec) AS s "
            f"FROM chunks WHERE embedding IS NOT NULL {sample} AND {where}) AS scope"
        )
        with self.reading() as connection:
            row = connection.execute(sql, [vector_param(vector), *values]).fetchone()
        if row is None or row[0] is None:
            return 0.0, 1.0
        std = float(row[1] or 0.0)
        return float(row[0]), (std if std > 1e-6 else 1.0)

    def author_names(self) -> list[str]:
        """Authors of visible chunks with a vector."""

        def names() -> list[str]:
            with self.reading() as connection:
                rows = connection.execute(
                    "SELECT DISTINCT author FROM chunks WHERE embedding IS NOT NULL "
                    "AND author <> '' ORDER BY author"
                ).fetchall()
            return [str(r[0]) for r in rows]

        return list(self._cached("authors", names)) if self._semantic else []

    def fetch(self, keys: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Stored fields of visible chunks, as Tantivy's `fetch` gives them (lists of
        values; a text field left empty has none; the time as ``timestamp``)."""
        if not keys:
            return {}
        sql = (
            f"SELECT DISTINCT ON (key) {', '.join(FIELDS)} FROM chunks WHERE key = ANY(%s) "
            "ORDER BY key, (owner = current_setting('amos.identity', true)) DESC"
        )
        with self.reading() as connection:
            rows = connection.execute(sql, ([int(k) for k in keys],)).fetchall()
        found: dict[int, dict[str, Any]] = {}
        for row in rows:
            doc: dict[str, Any] = {}
            for name, value in zip(FIELDS, row, strict=True):
                field_name = "timestamp" if name == "stamp" else name
                if name in LISTED:
                    doc[field_name] = list(value or [])
                elif name in ALWAYS or value:
                    doc[field_name] = [value]
            found[int(row[0])] = doc
        return found

    def highlight(
        self, terms: Sequence[str], text: str, max_chars: int = 200
    ) -> tuple[str, list[tuple[int, int]]]:
        """The embedded engine's snippet of ``text`` (the same stems, the same marks)."""
        return _highlighter().highlight(terms, text, max_chars)

    # -- writing ---------------------------------------------------------------------------
    def _write(self) -> Connection[Any]:
        """The write transaction, begun on first use."""
        if self._writer is None:
            connection = self.pool.getconn()
            try:
                with database_errors(self.url):
                    self._as_identity(connection)
            except BaseException:
                self.pool.putconn(connection)
                raise
            self._writer = connection
        return self._writer

    def track(self, manifest: Manifest) -> None:
        """Write ``manifest``'s file records with each commit (in the same transaction)."""
        self.manifest = manifest
        self._saved = {rel: _record_row(r) for rel, r in manifest.files.items()}

    def remove_vault(self) -> None:
        """Delete every row and file record of this vault (at commit)."""
        connection = self._write()
        with database_errors(self.url):
            for table in ("chunks", "indexed_files"):
                connection.execute(f"DELETE FROM {table} WHERE vault_id = %s", (self.vault_id,))
        if self.manifest is not None:
            self.manifest.files.clear()
        self._saved.clear()

    def remove_file(self, path: str, keys: Iterable[int]) -> None:
        """Drop the file's rows at commit (except chunks added again before then)."""
        self._removed.add(path)

    def add_chunks(self, chunks: Sequence[Chunk]) -> None:
        """Store the chunks this vault may share (a ``private: true`` file's never)."""
        rows = []
        for chunk in chunks:
            seen = self._visibility(chunk)
            if not seen.written:
                continue
            self._added.setdefault(chunk.path, set()).add(chunk.key)
            vector = self._vectors.pop(chunk.key, None)
            rows.append(self._row(chunk, seen, vector[1] if vector else None))
        if rows:
            connection = self._write()
            with database_errors(self.url), connection.cursor() as cursor:
                cursor.executemany(UPSERT, rows)

    def _visibility(self, chunk: Chunk) -> Visibility:
        if self.sharing is None:
            return Visibility(written=True, shared=False)
        return self.sharing.of_chunk(chunk)

    def _row(self, chunk: Chunk, seen: Visibility, vector: np.ndarray | None) -> tuple[Any, ...]:
        return (
            self.vault_id,
            signed(chunk.key),
            self.identity,
            seen.shared,
            chunk.chunk_id,
            chunk.kind,
            chunk.path,
            signed(chunk.session_key),
            chunk.session_id,
            chunk.message_id,
            chunk.identity,
            chunk.user_id,
            chunk.status,
            chunk.role,
            chunk.author,
            list(chunk.tags),
            list(chunk.sources),
            chunk.title,
            chunk.text,
            stamp_of(chunk.timestamp),
            chunk.line_start,
            chunk.line_end,
            chunk.hash,
            terms_text(chunk.context_text),
            terms_text(chunk.text),
            vector_param(vector) if vector is not None else None,
            chunk.hash if vector is not None else None,
        )

    def _known_vectors(self) -> dict[int, str]:
        if self._vector_hashes is None:
            connection = self._write()
            with database_errors(self.url):
                rows = connection.execute(
                    "SELECT key, vector_hash FROM chunks WHERE vault_id = %s "
                    "AND embedding IS NOT NULL",
                    (self.vault_id,),
                ).fetchall()
            self._vector_hashes = {int(k): str(h) for k, h in rows}
        return self._vector_hashes

    def has_vector(self, key: int, content_hash: str) -> bool:
        """Whether this vault's chunk ``key`` has the vector of exactly this text."""
        return self._semantic and self._known_vectors().get(key) == content_hash

    def keys_lacking_vectors(self) -> set[int]:
        """This vault's stored chunks without a vector (to fill in once a model is there)."""
        with self.reading() as connection:
            rows = connection.execute(
                "SELECT key FROM chunks WHERE vault_id = %s AND embedding IS NULL",
                (self.vault_id,),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def vector_for(self, content_hash: str) -> np.ndarray | None:
        """A vector of this text from this vault's chunks (pending ones first)."""
        for text_hash, vector in self._vectors.values():
            if text_hash == content_hash:
                return vector
        connection = self._write()
        with database_errors(self.url):
            row = connection.execute(
                "SELECT embedding FROM chunks WHERE vault_id = %s AND content_hash = %s "
                "AND embedding IS NOT NULL AND vector_hash = content_hash LIMIT 1",
                (self.vault_id, content_hash),
            ).fetchone()
        if row is None:
            return None
        return np.asarray(row[0].to_numpy(), np.float32)

    def set_vector(self, chunk: Chunk, vector: np.ndarray) -> None:
        """Keep the vector for the chunk's row (written with it, or at commit)."""
        self._vectors[chunk.key] = (chunk.hash, np.asarray(vector, np.float32))
        self._dropped.discard(chunk.key)

    def drop_vectors(self, keys: Sequence[int]) -> None:
        """Forget the vectors of these chunks at commit."""
        for key in keys:
            self._vectors.pop(int(key), None)
            self._dropped.add(int(key))

    def commit(self) -> None:
        """Apply what is pending and commit it, with the file records, as one transaction."""
        pending = self._removed or self._vectors or self._dropped or self._writer is not None
        manifest_rows = self._manifest_changes()
        if not pending and not any(manifest_rows):
            return
        connection = self._write()
        try:
            with database_errors(self.url), connection.cursor() as cursor:
                for path in sorted(self._removed):
                    kept = [signed(k) for k in self._added.get(path, ())]
                    cursor.execute(
                        "DELETE FROM chunks WHERE vault_id = %s AND path = %s "
                        "AND NOT (key = ANY(%s))",
                        (self.vault_id, path, kept),
                    )
                cursor.executemany(
                    "UPDATE chunks SET embedding = %s::halfvec, vector_hash = %s "
                    "WHERE vault_id = %s AND key = %s AND content_hash = %s",
                    [
                        (vector_param(v), h, self.vault_id, signed(k), h)
                        for k, (h, v) in self._vectors.items()
                    ],
                )
                cursor.executemany(
                    "UPDATE chunks SET embedding = NULL, vector_hash = NULL "
                    "WHERE vault_id = %s AND key = %s",
                    [(self.vault_id, signed(k)) for k in self._dropped],
                )
                self._write_manifest(cursor, *manifest_rows)
                connection.commit()
        except BaseException:
            self.rollback()
            raise
        self._release()
        self._stats.clear()

    def _manifest_changes(self) -> tuple[list[tuple[Any, ...]], list[str]]:
        if self.manifest is None:
            return [], []
        now = {rel: _record_row(r) for rel, r in self.manifest.files.items()}
        changed = [(rel, *row) for rel, row in now.items() if self._saved.get(rel) != row]
        gone = [rel for rel in self._saved if rel not in now]
        return changed, gone

    def _write_manifest(self, cursor: Any, changed: list[tuple[Any, ...]], gone: list[str]) -> None:
        cursor.executemany(
            "INSERT INTO indexed_files (vault_id, owner, path, hash, size, mtime_ns, keys, error) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (vault_id, path) DO UPDATE SET "
            "hash = EXCLUDED.hash, size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns, "
            "keys = EXCLUDED.keys, error = EXCLUDED.error",
            [(self.vault_id, self.identity, *row) for row in changed],
        )
        if gone:
            cursor.execute(
                "DELETE FROM indexed_files WHERE vault_id = %s AND path = ANY(%s)",
                (self.vault_id, gone),
            )
        if self.manifest is not None:
            self._saved = {rel: _record_row(r) for rel, r in self.manifest.files.items()}

    def rollback(self) -> None:
        """Drop everything since the last commit."""
        if self._writer is not None:
            with contextlib.suppress(Exception):  # a broken connection has nothing to undo
                self._writer.rollback()
        self._release()

    def _release(self) -> None:
        if self._writer is not None:
            self.pool.putconn(self._writer)
        self._writer = None
        self._removed.clear()
        self._added.clear()
        self._vectors.clear()
        self._dropped.clear()
        self._vector_hashes = None


def _record_row(record: FileRecord) -> tuple[Any, ...]:
    return (
        record.hash,
        record.size,
        record.mtime_ns,
        [signed(k) for k in record.keys],
        record.error,
    )
