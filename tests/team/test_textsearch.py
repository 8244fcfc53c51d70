"""Full-text candidates on a real PostgreSQL: exact when no stem is common, a common stem's
rows sampled (with the counts estimated) when it is, and the scores that stand for the rows
left out."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from amos_vault.index.chunks import Chunk
from amos_vault.index.engines.postgres import samples, textsearch
from amos_vault.index.engines.postgres.connection import connect, open_pool
from amos_vault.index.engines.postgres.engine import PostgresEngine
from amos_vault.index.engines.postgres.migrations import migrate
from amos_vault.index.engines.postgres.samples import BUCKETS, vector_moments
from amos_vault.index.engines.postgres.textsearch import (
    candidate_query,
    expanded_scores,
    term_buckets,
)
from amos_vault.index.query import Filters

ROWS = 600
RARE = 3  # rows holding the stem "walrus"


def _chunk(number: int) -> Chunk:
    words = f"alpha note number {number} about {'walrus' if number < RARE else 'nothing'}"
    if number % 2:
        words += " beta"
    path = f"sessions/s{number // 12:04d}.md"
    session = f"s{number // 12:04d}"
    return Chunk(
        f"message:{path}#m-{number}", "message", path, words, words, words, 1, 1, session_id=session
    )


@pytest.fixture
def engine(postgres_url: str) -> Iterator[PostgresEngine]:
    """An engine (no vectors) over ``ROWS`` chunks that all hold "alpha"."""
    with connect(postgres_url) as connection:
        migrate(connection)
    pool = open_pool(postgres_url, 2)
    writer = PostgresEngine(pool, postgres_url, "usr_alice", semantic=False)
    writer.add_chunks([_chunk(n) for n in range(ROWS)])
    writer.commit()
    try:
        yield writer
    finally:
        pool.close()


def test_nothing_is_sampled_when_no_stem_is_common(engine: PostgresEngine) -> None:
    assert engine.chunk_count() == ROWS
    hits = engine.full_text(["alpha"], Filters(), 2000, keys_for=10)
    assert hits.total == ROWS and len(hits.scores) == ROWS and len(hits.keys) == 10
    rare = engine.full_text(["walrus"], Filters(), 2000)
    assert rare.total == RARE and sorted(rare.keys) == sorted(_chunk(n).key for n in range(RARE))


def test_a_common_stem_is_sampled_and_its_matches_estimated(
    engine: PostgresEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(samples, "TERM_SAMPLE_ROWS", 200)
    monkeypatch.setattr(textsearch, "ROWS_PER_TERM", 60)
    monkeypatch.setattr(textsearch, "EXACT_COUNT_BELOW", 240)
    engine._stats.clear()
    assert abs(engine.chunk_count() - ROWS) < 0.25 * ROWS  # from the sample
    hits = engine.full_text(["alpha", "walrus"], Filters(), 2000, keys_for=20)
    every = {_chunk(n).key for n in range(ROWS)}
    assert set(hits.keys) <= every and len(hits.keys) == 20
    # The rare stem's rows are all ranked (they hold both stems: they come first).
    assert {_chunk(n).key for n in range(RARE)} <= set(hits.keys[:RARE])
    assert abs(hits.total - ROWS) < 0.35 * ROWS  # each sampled row stands for others
    assert len(hits.scores) < ROWS  # not every row was read...
    assert len(hits.scores) > 20  # ... but the scores stand for many more than the keys
    # A scope of one session: few rows expected, so all of them are ranked.
    one = engine.full_text(["alpha"], Filters(sessions=("s0001",)), 2000)
    assert one.total == 12 and len(one.keys) == 12


def test_sampling_buckets_and_weights() -> None:
    assert term_buckets(500) == BUCKETS
    assert term_buckets(textsearch.ROWS_PER_TERM * 4) == BUCKETS // 4
    assert term_buckets(10**9) == 1
    assert term_buckets(textsearch.ROWS_PER_TERM * 4, share=0.25) == BUCKETS
    exact = candidate_query(["a", "b"], [BUCKETS, BUCKETS])
    assert not exact.sampled and exact.params == ["'a' | 'b'"]
    mixed = candidate_query(["a", "b"], [BUCKETS, 16])
    assert mixed.sampled and "bucket < %s" in mixed.condition
    # Rows best first; a weight of 3 stands for itself and two more rows.
    assert expanded_scores([5.0, 4.0, 3.0, 2.0], [1.0, 1.0, 1.0, 1.0], 2) == [5, 4, 3, 2]
    assert expanded_scores([5.0, 4.0, 3.0, 2.0, 1.0], [3.0, 1.0, 1.0, 1.0, 1.0], 1) == [
        5.0,
        5.0,
        5.0,
        4.0,
        3.0,
    ]


def test_moments_give_the_sample_spread_of_any_query() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    query = rng.standard_normal(16)
    moments = vector_moments(vectors)
    assert moments is not None
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = unit @ (query / np.linalg.norm(query))
    mean, std = moments.spread(query)
    assert mean == pytest.approx(float(cosines.mean()), abs=1e-6)
    assert std == pytest.approx(float(cosines.std()), abs=1e-6)
    assert vector_moments(np.zeros((0, 16), np.float32)) is None


def test_a_filtered_scope_needs_one_connection(engine: PostgresEngine, postgres_url: str) -> None:
    pool = open_pool(postgres_url, 1, timeout=3)  # a second connection would time out
    try:
        alone = PostgresEngine(pool, postgres_url, "usr_alice", semantic=False)
        scope = Filters(kinds=("message",), sessions=("s0002",))
        hits = alone.full_text(["alpha"], scope, 2000)
        assert hits.total == 12 and len(hits.keys) == 12
    finally:
        pool.close()
