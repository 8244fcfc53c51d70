"""The HNSW indexes of the chunks' vectors: one graph per part of the table, set aside while
an empty table is first filled.

**Parts.** The vectors are indexed in `VECTOR_PARTS` graphs, each over a fixed random part
of the rows (a range of ``bucket``, the key's last ten bits; keys are hashes), and a search
(`PostgresEngine.nearest`) asks each graph for its nearest and keeps the best of them all.
One graph over a million clustered vectors let a search down into the wrong cluster: its
descent through the upper layers keeps one node per layer, and once at the bottom layer the
search stays among that node's ~2,000 near-equidistant cluster mates (measured on the
benchmark's 1M synthetic chunks: recall@10 0.63 at ``ef_search`` 400, 0.75 at 1000, with a
quarter of the queries finding none of their 10 nearest). Four graphs are four descents,
each into a graph a quarter the size, whose clusters the search's candidate list can cover:
0.93 at 400 and 0.98 at 1000 (scripts/bench_postgres.py; README, "Running for a team").
The union is exact: each part's nearest ``k`` hold every row of the overall nearest ``k``
that lies in it.

**Bulk loads.** Adding a row to an HNSW index costs a search of the graph (measured: ~270
rows/s with the index against ~2,000-2,600 without, 20k synthetic chunks, 2 cores); building
the index once over the loaded rows costs a fraction of that. So a first load into an empty
``chunks`` table drops the indexes, loads, and builds them again (`bulk_load`). Only an
empty table qualifies: no one has anything to search yet. A crash in between leaves the
table without them; the next start-up of any vault's index builds what is missing
(`ensure_vector_index`), as it does after migration 0007 (which replaced the single graph of
0001 by the parts). Both run as the database URL's user, who owns the table (row-level
security does not apply to DDL); a user who may not drop the indexes just loads row by row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from amos_vault.index.engines.postgres.connection import connect, database_errors
from amos_vault.index.engines.postgres.samples import BUCKETS

VECTOR_INDEX = "chunks_by_embedding"  # the name of each part's index, numbered
VECTOR_PARTS = 4
# Room to build a graph in memory (~1.2 kB a row at 384 dimensions: 1M rows fit).
BUILD_MEMORY = "2GB"
# pg_advisory_xact_lock key of a build ("amvi"): two processes starting at once build once.
BUILD_LOCK = 0x616D7669


@dataclass(frozen=True)
class VectorPart:
    """One graph: the rows whose ``bucket`` lies in ``[low, high)``."""

    name: str
    low: int
    high: int

    @property
    def condition(self) -> str:
        """The rows of this part, as a condition (the index's predicate, word for word, so
        PostgreSQL knows a query with it may use the index)."""
        return f"bucket >= {self.low} AND bucket < {self.high}"

    @property
    def create(self) -> str:
        """The statement that builds this part's index."""
        return (
            f"CREATE INDEX IF NOT EXISTS {self.name} ON chunks "
            "USING hnsw (embedding halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) "
            f"WHERE {self.condition}"
        )


def _parts(count: int) -> tuple[VectorPart, ...]:
    width = BUCKETS // count
    return tuple(
        VectorPart(f"{VECTOR_INDEX}_{number}", number * width, (number + 1) * width)
        for number in range(count)
    )


PARTS = _parts(VECTOR_PARTS)


def _missing_parts(connection: Any) -> list[VectorPart]:
    rows = connection.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL",
        ([part.name for part in PARTS],),
    ).fetchall()
    missing = {str(row[0]) for row in rows}
    return [part for part in PARTS if part.name in missing]


def set_vector_index_aside(url: str) -> bool:
    """Drop the vector indexes if the chunks table is empty (never written) and this user
    may; whether they were dropped."""
    import psycopg

    with connect(url) as connection:
        try:
            with connection.transaction():
                connection.execute("SET LOCAL lock_timeout = '2s'")
                connection.execute("LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE")
                row = connection.execute("SELECT pg_relation_size('chunks') = 0").fetchone()
                missing = _missing_parts(connection)
                present = [part for part in PARTS if part not in missing]
                if not (row and row[0]) or not present:
                    return False
                for part in present:
                    connection.execute(f"DROP INDEX {part.name}")
        except psycopg.Error:  # not the table's owner, or busy: load row by row
            return False
    return True


def ensure_vector_index(url: str, timeout: float = 10.0) -> bool:
    """Build the parts' indexes that are missing (after a bulk load, a crash during one, or
    migration 0007); whether any had to be built."""
    with connect(url, timeout) as connection, database_errors(url), connection.transaction():
        if not _missing_parts(connection):
            return False
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (BUILD_LOCK,))
        missing = _missing_parts(connection)  # another process may have built them meanwhile
        if missing:
            connection.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
        for part in missing:
            connection.execute(part.create)
    return bool(missing)


@contextlib.contextmanager
def bulk_load(url: str) -> Iterator[bool]:
    """Around a load: the vector indexes set aside if the table is empty, and built again
    after (also when the load fails); yields whether they were set aside."""
    dropped = set_vector_index_aside(url)
    try:
        yield dropped
    finally:
        if dropped:
            ensure_vector_index(url)
