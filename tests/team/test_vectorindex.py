"""The vector index set aside during a first load into an empty table, and built again
after it (or at the next start-up when the load was cut short)."""

from __future__ import annotations

import numpy as np
import psycopg

from amos_vault.index.chunks import Chunk
from amos_vault.index.engines.postgres.connection import connect, open_pool
from amos_vault.index.engines.postgres.engine import PostgresEngine
from amos_vault.index.engines.postgres.migrations import migrate
from amos_vault.index.engines.postgres.vectorindex import (
    VECTOR_INDEX,
    bulk_load,
    ensure_vector_index,
)
from amos_vault.index.query import Filters


def _has_index(url: str) -> bool:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_INDEX,))
        found = row.fetchone()
    return bool(found and found[0])


def _load(engine: PostgresEngine, first: int, count: int) -> None:
    rng = np.random.default_rng(first)
    chunks = []
    for number in range(first, first + count):
        text = f"note {number} about the garden"
        chunk = Chunk(f"message:n.md#m-{number}", "message", "n.md", text, text, text, 1, 1)
        engine.set_vector(chunk, rng.standard_normal(384).astype(np.float32))
        chunks.append(chunk)
    engine.add_chunks(chunks)
    engine.commit()


def test_a_first_load_builds_the_index_after(postgres_url: str) -> None:
    with connect(postgres_url) as connection:
        migrate(connection)
    pool = open_pool(postgres_url, 2)
    try:
        engine = PostgresEngine(pool, postgres_url, "usr_alice")
        with bulk_load(postgres_url) as set_aside:
            assert set_aside and not _has_index(postgres_url)
            _load(engine, 0, 50)
        assert _has_index(postgres_url)
        assert len(engine.nearest(np.ones(384, np.float32), Filters(), 10).keys) == 10
        with bulk_load(postgres_url) as set_aside:  # the table has rows: nothing changes
            assert not set_aside and _has_index(postgres_url)
            _load(engine, 50, 5)
        # A load cut short (a crash) leaves no index: the next start-up builds it.
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP INDEX {VECTOR_INDEX}")
        assert ensure_vector_index(postgres_url) and _has_index(postgres_url)
        assert not ensure_vector_index(postgres_url)
    finally:
        pool.close()
