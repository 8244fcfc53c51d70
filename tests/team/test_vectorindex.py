"""The vector indexes (one HNSW graph per part of the table) set aside during a first load
into an empty table, and built again after it (or at the next start-up when the load was
cut short); a search finds the nearest rows of every part."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from amos_vault.index.chunks import Chunk
from amos_vault.index.engines.postgres import engine as engine_module
from amos_vault.index.engines.postgres.connection import connect, open_pool
from amos_vault.index.engines.postgres.engine import PostgresEngine
from amos_vault.index.engines.postgres.migrations import migrate
from amos_vault.index.engines.postgres.vectorindex import (
    PARTS,
    bulk_load,
    ensure_vector_index,
)
from amos_vault.index.query import Filters


def _indexes(url: str) -> list[str]:
    """The vector indexes the chunks table has (of the parts' names)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
            ([part.name for part in PARTS],),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _has_index(url: str) -> bool:
    return len(_indexes(url)) == len(PARTS)


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
    assert ensure_vector_index(postgres_url) and _has_index(postgres_url)  # as at start-up
    pool = open_pool(postgres_url, 2)
    try:
        engine = PostgresEngine(pool, postgres_url, "usr_alice")
        with bulk_load(postgres_url) as set_aside:
            assert set_aside and not _indexes(postgres_url)
            _load(engine, 0, 50)
        assert _has_index(postgres_url)
        assert len(engine.nearest(np.ones(384, np.float32), Filters(), 10).keys) == 10
        with bulk_load(postgres_url) as set_aside:  # the table has rows: nothing changes
            assert not set_aside and _has_index(postgres_url)
            _load(engine, 50, 5)
        # A load cut short (a crash) leaves a part without its index: the next start-up
        # builds it.
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP INDEX {PARTS[-1].name}")
        assert not _has_index(postgres_url)
        assert ensure_vector_index(postgres_url) and _has_index(postgres_url)
        assert not ensure_vector_index(postgres_url)
    finally:
        pool.close()


@pytest.mark.parametrize("exact_rows", [0, engine_module.EXACT_NEAREST_ROWS])
def test_the_nearest_come_from_every_part(
    postgres_url: str, exact_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The best of each part's graph, merged (a scope above ``exact_rows``), or a small
    scope ranked in one statement: the same 10 as an exact scan."""
    monkeypatch.setattr(engine_module, "EXACT_NEAREST_ROWS", exact_rows)
    with connect(postgres_url) as connection:
        migrate(connection)
    ensure_vector_index(postgres_url)
    pool = open_pool(postgres_url, 2)
    try:
        engine = PostgresEngine(pool, postgres_url, "usr_alice")
        _load(engine, 0, 400)
        query = np.random.default_rng(99).standard_normal(384).astype(np.float32)
        with engine.reading() as connection:
            connection.execute("SET LOCAL enable_indexscan = off")
            rows = connection.execute(
                "SELECT key, bucket FROM chunks ORDER BY embedding <=> %s::halfvec LIMIT 10",
                (query,),
            ).fetchall()
        exact = [int(r[0]) for r in rows]
        parts = {next(p.name for p in PARTS if p.low <= r[1] < p.high) for r in rows}
        found = engine.nearest(query, Filters(), 10)
        assert len(parts) > 1  # the 10 nearest lie in several parts
        assert list(found.keys) == exact
        assert list(found.similarity) == sorted(found.similarity, reverse=True)
    finally:
        pool.close()
