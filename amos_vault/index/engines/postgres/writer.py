"""The writing half of `PostgresEngine`: one vault's changes, buffered per transaction.

Every transaction runs as the role ``amos_request`` with ``amos.identity`` and
``amos.vault`` set for that transaction only, so row-level security lets a writer change
only its own vault's rows. A file's old rows are removed at `commit`, except the chunks
added again (whose vectors stay when their text did not change); the records of the files
indexed (`DatabaseManifest`) are written in the same transaction, so a crash leaves the
old state or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from amos_vault.index.chunks import Chunk
from amos_vault.index.engines.postgres.connection import database_errors
from amos_vault.index.engines.postgres.sharing import Sharing, Visibility
from amos_vault.index.engines.postgres.sql import UPSERT, signed, terms_text, vector_param
from amos_vault.index.engines.postgres.vectorindex import VECTOR_PARTS
from amos_vault.index.fulltext import stamp_of

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

    from amos_vault.index.sync import FileRecord, Manifest

REQUEST_ROLE = "amos_request"
# HNSW candidates per search of each part's graph (pgvector's default is 40; its maximum
# 1000). Recall@10 against an exact scan on 1M synthetic clustered chunks (100 queries, the
# retriever's 200 candidates; scripts/bench_postgres.py): one graph of every row gave 0.63
# at 400 and 0.75 at 1000 (a quarter of the queries lost in the wrong cluster); four graphs
# (`vectorindex.VECTOR_PARTS`) give 0.93 at 400, 0.96 at 600, 0.97-0.98 at 800 (which graph
# build: +-0.01), the nearest-vector query taking ~36 ms at the median there.
EF_SEARCH_FLOOR = 800
# Rows each part's graph may hand up when a filter or row-level security removes them
# (pgvector's relaxed iterative scan, default 20,000): the parts together read as many as
# one graph of every row did, so a scope that few visible rows fill costs no more than it did.
MAX_SCAN_TUPLES = 20_000 // VECTOR_PARTS
# Per sort or bitmap of a statement: a common stem's bitmap of matching rows stays exact
# (not lossy pages, each re-checked row by row) up to about two million rows.
WORK_MEMORY = "32MB"


class VaultWriter:
    """A vault's writes to the team's chunks, as one identity (see the module's docstring),
    and the transactions of a reader."""

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

    # -- transactions ----------------------------------------------------------------------
    def _as_identity(self, connection: Connection[Any], ef_search: int = 0) -> None:
        """Run the transaction in hand as the request role, with this identity and vault."""
        connection.execute(
            "SELECT set_config('role', %s, true), set_config('amos.identity', %s, true), "
            "set_config('amos.vault', %s, true), set_config('hnsw.ef_search', %s, true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            f"set_config('hnsw.max_scan_tuples', '{MAX_SCAN_TUPLES}', true), "
            f"set_config('work_mem', '{WORK_MEMORY}', true)",
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
