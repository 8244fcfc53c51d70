"""The engine seam: what the retriever and the sync path ask of a store of chunks.

An engine holds every chunk's searchable fields and, when semantic search is on, its vector.
It answers with *candidates* (the best full-text matches, the nearest vectors) and facts about
them; the ranking itself (`index.retrieval`) is the same for every engine. Two engines
implement it: the embedded one (Tantivy + the vector sidecar, `engines.embedded`, the default)
and PostgreSQL with pgvector (`engines.postgres`, for a team).

Writes go through the one sync path (`index.sync`): per file, remove its old chunks and add
the new ones, set the vectors of chunks whose text changed, then `commit` (atomic: a crash
leaves the old or the new state). A write that fails is undone with `rollback`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from amos_vault.index.chunks import Chunk
from amos_vault.index.query import Filters


@dataclass
class TermHits:
    """Full-text matches: scores of the best hits, the keys of the first of them (maybe
    fewer than the scores), and how many matched in all."""

    keys: list[int] = field(default_factory=list)
    session_keys: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    total: int = 0


@dataclass
class Described:
    """Chunks the ranking looks at, by key: their session, author, and the cosine
    similarity of their vector with the query (NaN where a chunk has no vector yet)."""

    keys: np.ndarray  # uint64
    session_keys: np.ndarray  # uint64 (0 where unknown)
    authors: list[str]
    similarity: np.ndarray  # float32

    def by_key(self) -> Described:
        """The same chunks, ordered by key (for binary searches)."""
        order = np.argsort(self.keys, kind="stable")
        return Described(
            self.keys[order],
            self.session_keys[order],
            [self.authors[i] for i in order],
            self.similarity[order],
        )

    def __add__(self, other: Described) -> Described:
        return Described(
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.session_keys, other.session_keys]),
            self.authors + other.authors,
            np.concatenate([self.similarity, other.similarity]),
        )


def best_first(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest finite scores, best first (ties in index order)."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) <= n:
        return finite[np.argsort(-scores[finite], kind="stable")]
    part = finite[np.argpartition(-scores[finite], n)[:n]]
    return part[np.argsort(-scores[part], kind="stable")]


class IndexEngine(Protocol):
    """A store of chunks that answers candidate queries (see the module's docstring)."""

    @property
    def semantic(self) -> bool:
        """Whether chunks have vectors (a model is configured)."""

    # -- reading ---------------------------------------------------------------------------
    def population(self, filters: Filters) -> int:
        """How many chunks with a vector satisfy ``filters`` (what scores standardise over)."""

    def chunk_count(self) -> int:
        """Chunks stored, with or without a vector."""

    def full_text(
        self,
        terms: Sequence[str],
        filters: Filters,
        limit: int,
        own_boost: float = 0.0,
        keys_for: int | None = None,
    ) -> TermHits:
        """The scores of the ``limit`` best BM25 matches of any of ``terms`` (already
        analysed) over the chunks' text with context, plus ``own_boost`` times BM25 over
        their own text; the keys (and session keys) of the best ``keys_for`` of them (all
        when None), the other scores serving only to standardise."""

    def nearest(self, vector: np.ndarray, filters: Filters, limit: int) -> Described:
        """The (up to) ``limit`` chunks in scope whose vectors are most similar to
        ``vector`` (an approximate index may miss a few), described."""

    def describe(self, vector: np.ndarray, keys: Sequence[int]) -> Described:
        """Session, author and similarity to ``vector`` of these chunks."""

    def similarity_spread(self, vector: np.ndarray, filters: Filters) -> tuple[float, float]:
        """Mean and standard deviation of the similarity of ``vector`` with the chunks in
        scope (estimated from a sample when there are many)."""

    def author_names(self) -> list[str]:
        """Every author (a message's ``name``) of a chunk with a vector."""

    def fetch(self, keys: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Stored fields of these chunks, by key (each field a list of values)."""

    def highlight(
        self, terms: Sequence[str], text: str, max_chars: int = 200
    ) -> tuple[str, list[tuple[int, int]]]:
        """A fragment of ``text`` around its best match of ``terms``, and the matched
        character ranges inside the fragment."""

    def stats(self) -> dict[str, Any]:
        """What the engine holds, for `status`: at least ``engine`` (its name), ``chunks``
        and ``vectors``."""

    # -- writing (one writer at a time) ----------------------------------------------------
    def remove_file(self, path: str, keys: Iterable[int]) -> None:
        """Drop the chunks of the file ``path`` (``keys``: those its record lists)."""

    def add_chunks(self, chunks: Sequence[Chunk]) -> None:
        """Store these chunks (their vectors are set separately)."""

    def has_vector(self, key: int, content_hash: str) -> bool:
        """Whether chunk ``key`` has the vector of exactly this text."""

    def vector_for(self, content_hash: str) -> np.ndarray | None:
        """A stored vector of text with this hash (any chunk's), to avoid re-embedding."""

    def set_vector(self, chunk: Chunk, vector: np.ndarray) -> None:
        """Set the vector of ``chunk``."""

    def drop_vectors(self, keys: Sequence[int]) -> None:
        """Forget the vectors of these chunk keys."""

    def commit(self) -> None:
        """Make every change since the last commit durable and visible, atomically."""

    def rollback(self) -> None:
        """Drop every change since the last commit."""
