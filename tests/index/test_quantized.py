"""Recent vectors held as int8 rows: a quarter of float32's memory, the same ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amos_vault.index.quantized import BLOCK_ROWS, Int8Rows
from amos_vault.index.vectors import VectorStore
from tests.index.test_vectors import chunk


def _unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_int8_rows_score_as_the_float_vectors_do() -> None:
    vectors = _unit_rows(3 * BLOCK_ROWS + 17, 384, 1)  # blocks, and a part of one
    query = vectors[5] + 0.3 * _unit_rows(1, 384, 2)[0]
    rows = Int8Rows.of(vectors)
    assert rows.codes.dtype == np.int8 and rows.codes.nbytes == vectors.nbytes // 4
    exact = vectors @ query
    scores = rows.scores(query)
    assert np.abs(scores - exact).max() < 2e-3
    assert int(np.argmax(scores)) == 5
    # Random rows score within a few 1e-3 of each other: near ties may swap, no more.
    assert len(set(np.argsort(-scores)[:10]) & set(np.argsort(-exact)[:10])) >= 8
    assert np.abs(rows.vectors(np.array([3, 7])) - vectors[[3, 7]]).max() < 2e-3
    some = np.arange(1, len(vectors), 3)  # only the rows in scope, over several blocks
    assert np.allclose(rows.scores(query, some), scores[some], atol=1e-6)
    # Stored as float16 in a segment file: the same codes as from float32.
    again = Int8Rows.of(vectors.astype(np.float16))
    assert np.mean(again.codes != rows.codes) < 0.01
    assert len(Int8Rows.of(np.zeros((0, 384), np.float32))) == 0


def test_the_recent_rows_of_a_store_are_int8_and_found_exactly(tmp_path: Path) -> None:
    dim = 64
    vectors = _unit_rows(300, dim, 3)
    store = VectorStore(tmp_path / "vectors", "model-a", dim)
    for n in range(300):
        store.upsert(chunk(n), vectors[n])
    store.commit()
    for opened in (store, VectorStore.open(tmp_path / "vectors", "model-a", dim)):
        (segment,) = opened._segments
        assert segment.matrix is not None and segment.matrix.codes.dtype == np.int8
        for n in (0, 123, 299):
            rows, scores = opened.nearest(vectors[n], opened.kind_mask(()), 5)
            assert int(rows[0]) == opened.row_of(chunk(n).key)
            assert abs(float(scores[0]) - 1.0) < 5e-3
