"""The HNSW index of the chunks' vectors, set aside while an empty table is first filled.

Adding a row to an HNSW index costs a search of the graph (measured: ~270 rows/s with the
index against ~2,000-2,600 without, 20k synthetic chunks, 2 cores); building the index once
over the loaded rows costs a fraction of that. So a first load into an empty ``chunks``
table drops the index, loads, and builds it again (`bulk_load`). Only an empty table
qualifies: no one has anything to search yet. A crash in between leaves the table without
the index; the next start-up of any vault's index builds it again (`ensure_vector_index`).
Both run as the database URL's user, who owns the table (row-level security does not
apply to DDL); a user who may not drop the index just loads row by row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from amos_vault.index.engines.postgres.connection import connect, database_errors

VECTOR_INDEX = "chunks_by_embedding"
# As migrations/0001_chunks.sql creates it.
CREATE_VECTOR_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} ON chunks "
    "USING hnsw (embedding halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
)
# Room to build the graph in memory (~1.2 kB a row at 384 dimensions: 1M rows fit).
BUILD_MEMORY = "2GB"


def _has_vector_index(connection: Any) -> bool:
    row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_INDEX,)).fetchone()
    return bool(row and row[0])


def set_vector_index_aside(url: str) -> bool:
    """Drop the vector index if the chunks table is empty (never written) and this user may;
    whether it was dropped."""
    import psycopg

    with connect(url) as connection:
        try:
            with connection.transaction():
                connection.execute("SET LOCAL lock_timeout = '2s'")
                connection.execute("LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE")
                row = connection.execute("SELECT pg_relation_size('chunks') = 0").fetchone()
                if not (row and row[0]) or not _has_vector_index(connection):
                    return False
                connection.execute(f"DROP INDEX {VECTOR_INDEX}")
        except psycopg.Error:  # not the table's owner, or busy: load row by row
            return False
    return True


def ensure_vector_index(url: str, timeout: float = 10.0) -> bool:
    """Build the vector index if it is missing (after a bulk load, or a crash during one);
    whether it had to be built."""
    with connect(url, timeout) as connection, database_errors(url), connection.transaction():
        if _has_vector_index(connection):
            return False
        connection.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
        connection.execute(CREATE_VECTOR_INDEX)
    return True


@contextlib.contextmanager
def bulk_load(url: str) -> Iterator[bool]:
    """Around a load: the vector index set aside if the table is empty, and built again
    after (also when the load fails); yields whether it was set aside."""
    dropped = set_vector_index_aside(url)
    try:
        yield dropped
    finally:
        if dropped:
            ensure_vector_index(url)
