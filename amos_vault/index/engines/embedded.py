"""The embedded engine: Tantivy for full text, the vector sidecar for vectors, both under
``.amos/index/`` of the vault. Nothing runs besides the process that opens them."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from amos_vault.index.chunks import Chunk
from amos_vault.index.engine import Described, TermHits
from amos_vault.index.fulltext import SearchIndex
from amos_vault.index.query import Filters
from amos_vault.index.vectors import SAMPLE_ROWS, VectorStore

EXACT_SPREAD_ROWS = 4 * SAMPLE_ROWS  # a scope this small is measured, not sampled


class EmbeddedEngine:
    """One vault's Tantivy index and vector sidecar behind the `IndexEngine` interface.

    ``guard`` is held while committing (and by callers while searching), so a reader in
    another thread never sees the index and the vectors half-way through a swap."""

    def __init__(
        self,
        index: SearchIndex,
        vectors: VectorStore | None,
        guard: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.index = index
        self.vectors = vectors
        self.guard: AbstractContextManager[Any] = guard or contextlib.nullcontext()
        # Scope masks by filters: a query asks for its scope three times (population,
        # nearest, spread), and a filter other than kinds costs a pass over the index.
        self._scopes: dict[Filters, np.ndarray] = {}

    @property
    def semantic(self) -> bool:
        """Whether chunks have vectors."""
        return self.vectors is not None

    # -- reading ---------------------------------------------------------------------------
    def _scope(self, filters: Filters) -> np.ndarray:
        """Rows of the sidecar in scope, as a mask (cached when only kinds restrict)."""
        assert self.vectors is not None
        scope = filters.only()
        mask = self._scopes.get(scope)
        if mask is None:
            mask = self.vectors.kind_mask(scope.kinds)
            other = dataclasses.replace(scope, kinds=())
            if not other.is_empty():
                allowed = np.fromiter(self.index.keys_matching(other), np.uint64)
                mask = mask & np.isin(self.vectors.keys, allowed)
            self._scopes = {scope: mask}  # the last one only: one query's
        return mask

    def population(self, filters: Filters) -> int:
        """Chunks with a vector in scope."""
        if self.vectors is None:
            return 0
        return int(np.count_nonzero(self._scope(filters)))

    def chunk_count(self) -> int:
        """Chunks in the full-text index."""
        return self.index.num_docs()

    def full_text(
        self,
        terms: Sequence[str],
        filters: Filters,
        limit: int,
        own_boost: float = 0.0,
        keys_for: int | None = None,
    ) -> TermHits:
        """BM25 candidates from Tantivy."""
        return self.index.search_terms(terms, filters, limit, own_boost, keys_for)

    def nearest(self, vector: np.ndarray, filters: Filters, limit: int) -> Described:
        """Nearest vectors in scope (HNSW for large segments, exact for recent ones)."""
        if self.vectors is None:
            return self.describe(vector, [])
        store = self.vectors
        rows, scores = store.nearest(vector, self._scope(filters), limit)
        return self._described(rows, scores)

    def _described(self, rows: np.ndarray, scores: np.ndarray) -> Described:
        assert self.vectors is not None
        store = self.vectors
        authors = [store.author_of(int(row)) for row in rows]
        return Described(store.keys[rows], store.session_keys[rows], authors, scores)

    def describe(self, vector: np.ndarray, keys: Sequence[int]) -> Described:
        """Session, author and similarity of each key (NaN: no vector)."""
        wanted = np.asarray(keys, np.uint64)
        similarity = np.full(len(wanted), np.nan, np.float32)
        sessions = np.zeros(len(wanted), np.uint64)
        authors = [""] * len(wanted)
        if self.vectors is not None and len(wanted):
            rows = self.vectors.rows_of(wanted)
            known = np.flatnonzero(rows >= 0)
            found = self._described(rows[known], self.vectors.similarities(vector, rows[known]))
            similarity[known], sessions[known] = found.similarity, found.session_keys
            for i, author in zip(known, found.authors, strict=True):
                authors[i] = author
        return Described(wanted, sessions, authors, similarity)

    def similarity_spread(self, vector: np.ndarray, filters: Filters) -> tuple[float, float]:
        """Mean and deviation of similarities in scope: measured on every row of a small
        scope, else on a fixed random sample of rows (those in scope)."""
        assert self.vectors is not None
        store = self.vectors
        mask = self._scope(filters)
        count = int(np.count_nonzero(mask))
        sample_rows, sample = store.similarity_sample()
        inside = mask[sample_rows]
        if count <= EXACT_SPREAD_ROWS or int(np.count_nonzero(inside)) < 256:
            rows = np.flatnonzero(mask)
            if len(rows) > EXACT_SPREAD_ROWS:
                rows = np.sort(np.random.default_rng(count).choice(rows, SAMPLE_ROWS, False))
            values = store.similarities(vector, rows)
        else:
            values = sample.scores(vector)[inside]
        if not len(values):
            return 0.0, 1.0
        mean = float(values.mean(dtype=np.float64))
        std = float(values.std(dtype=np.float64))
        return mean, (std if std > 1e-6 else 1.0)

    def author_names(self) -> list[str]:
        """Authors of chunks with a vector."""
        return sorted(self.vectors.authors()) if self.vectors is not None else []

    def fetch(self, keys: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Stored fields from Tantivy."""
        return self.index.fetch(keys)

    def highlight(
        self, terms: Sequence[str], text: str, max_chars: int = 200
    ) -> tuple[str, list[tuple[int, int]]]:
        """Tantivy's snippet of ``text``."""
        return self.index.highlight(terms, text, max_chars)

    def stats(self) -> dict[str, Any]:
        """Chunks, vectors, and the sidecar's segments (how many searched through a graph)."""
        info: dict[str, Any] = {"engine": "embedded", "chunks": self.index.num_docs()}
        info["vectors"] = len(self.vectors) if self.vectors is not None else 0
        if self.vectors is not None:
            info.update(self.vectors.stats())
        return info

    # -- writing ---------------------------------------------------------------------------
    def remove_file(self, path: str, keys: Iterable[int]) -> None:
        """Delete the file's documents and vectors."""
        self.index.delete_path(path)
        if self.vectors is not None:
            self.vectors.delete(list(keys))

    def add_chunks(self, chunks: Sequence[Chunk]) -> None:
        """Add documents to Tantivy."""
        self.index.add(chunks)

    def has_vector(self, key: int, content_hash: str) -> bool:
        """Whether the sidecar holds this chunk's vector for this text."""
        return self.vectors is not None and self.vectors.has(key, content_hash)

    def vector_for(self, content_hash: str) -> np.ndarray | None:
        """A vector of this text, from any chunk."""
        return self.vectors.vector_for(content_hash) if self.vectors is not None else None

    def set_vector(self, chunk: Chunk, vector: np.ndarray) -> None:
        """Queue the vector of ``chunk``."""
        if self.vectors is not None:
            self.vectors.upsert(chunk, vector)

    def drop_vectors(self, keys: Sequence[int]) -> None:
        """Queue the removal of these vectors."""
        if self.vectors is not None and len(keys):
            self.vectors.delete(keys)

    def commit(self) -> None:
        """Commit Tantivy, then the sidecar, under the guard."""
        with self.guard:
            self.index.commit()
            if self.vectors is not None:
                self.vectors.commit()
            self._scopes = {}  # the rows changed

    def rollback(self) -> None:
        """Drop Tantivy's uncommitted changes (the sidecar's pending ones are reloaded by
        the caller)."""
        self.index.rollback()
