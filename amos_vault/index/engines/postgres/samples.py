"""Fixed random samples of the visible chunks, read once and kept for a few seconds.

``chunks.bucket`` is a chunk key's last ten bits, and keys are hashes, so ``bucket < b`` is
a fixed random ``b/1024`` of the rows (the same rows for every query until they change).
Two statistics come from such a sample without touching the other rows:

- `TermSample`: how many sampled chunks hold each stem, so a common stem's document
  frequency is estimated instead of counted (counting reads every matching row: row-level
  security needs each row's owner);
- `VectorMoments`: the mean and covariance of the sampled unit vectors, so the mean and
  deviation of a query's cosine similarity over the sample are ``q·μ`` and ``√(qᵀΣq)``:
  the same figures as computing every cosine of the sample, without reading it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from psycopg import Connection

BUCKETS = 1024  # chunks.bucket: key % 1024
TERM_SAMPLE_ROWS = 8192  # rows whose stems stand for all of them (document frequencies)


def buckets_for(wanted: int, rows: int) -> int:
    """How many buckets hold about ``wanted`` of ``rows`` rows (all of them: `BUCKETS`)."""
    if rows <= wanted:
        return BUCKETS
    return max(1, min(BUCKETS, math.ceil(BUCKETS * wanted / rows)))


@dataclass(frozen=True)
class TermSample:
    """How many visible chunks of each kind a sample holds, how many of them have a
    vector, and how many hold each stem: the counts of all visible chunks, scaled."""

    buckets: int  # the sample is the rows with bucket < buckets
    kinds: dict[str, int]  # sampled chunks of each kind
    vectors: dict[str, int]  # ... with a vector
    frequencies: dict[tuple[str, str], int]  # sampled chunks of a kind holding a stem

    @property
    def is_everything(self) -> bool:
        """Whether the sample is every visible row (its counts are exact)."""
        return self.buckets >= BUCKETS

    def _scaled(self, found: int) -> float:
        return found * BUCKETS / self.buckets

    def rows(self, kinds: Sequence[str] = ()) -> float:
        """Visible chunks (of these kinds, or any)."""
        return self._scaled(sum(self.kinds.get(k, 0) for k in kinds or self.kinds))

    def with_vectors(self, kinds: Sequence[str] = ()) -> float:
        """Visible chunks with a vector (of these kinds, or any)."""
        return self._scaled(sum(self.vectors.get(k, 0) for k in kinds or self.vectors))

    def estimate(self, term: str, kinds: Sequence[str] = ()) -> float:
        """Visible chunks (of these kinds, or any) holding ``term``."""
        return self._scaled(
            sum(self.frequencies.get((kind, term), 0) for kind in kinds or self.kinds)
        )


def load_term_sample(connection: Connection[Any]) -> TermSample:
    """Count the kinds, vectors and stems of about `TERM_SAMPLE_ROWS` visible chunks (all
    of them in a small table). How many buckets that takes comes from PostgreSQL's estimate
    of the table's size, then, when this identity sees only part of the table, from the
    share the first sample found visible."""
    size = connection.execute(
        "SELECT greatest(reltuples, pg_relation_size(oid) / 2048.0) FROM pg_class "
        "WHERE oid = 'chunks'::regclass"
    ).fetchone()
    buckets = buckets_for(TERM_SAMPLE_ROWS, int(size[0]) if size else 0)
    kinds = _kinds(connection, buckets)
    found = sum(n for _kind, n, _v in kinds)
    if buckets < BUCKETS and found < TERM_SAMPLE_ROWS // 2:
        buckets = buckets_for(TERM_SAMPLE_ROWS, found * BUCKETS // buckets)
        kinds = _kinds(connection, buckets)
    counted = connection.execute(
        "SELECT kind, stem, count(*) FROM chunks, "
        f"unnest(tsvector_to_array(context_terms)) AS stem WHERE {_sample(buckets)} "
        "GROUP BY kind, stem"
    ).fetchall()
    return TermSample(
        buckets,
        {str(kind): int(n) for kind, n, _v in kinds},
        {str(kind): int(v) for kind, _n, v in kinds},
        {(str(kind), str(stem)): int(n) for kind, stem, n in counted},
    )


def _sample(buckets: int) -> str:
    return "TRUE" if buckets >= BUCKETS else f"bucket < {buckets}"


def _kinds(connection: Connection[Any], buckets: int) -> list[tuple[Any, ...]]:
    return connection.execute(
        f"SELECT kind, count(*), count(embedding) FROM chunks WHERE {_sample(buckets)} "
        "GROUP BY kind"
    ).fetchall()


@dataclass(frozen=True)
class VectorMoments:
    """Mean and covariance of a sample of unit vectors."""

    mean: np.ndarray  # float64, the mean vector
    covariance: np.ndarray  # float64, (dim, dim)

    def spread(self, vector: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of the cosine of ``vector`` with the sampled ones."""
        query = np.asarray(vector, np.float64).ravel()
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            return 0.0, 0.0
        query /= norm
        variance = float(query @ self.covariance @ query)
        return float(query @ self.mean), math.sqrt(max(variance, 0.0))


def vector_moments(vectors: np.ndarray) -> VectorMoments | None:
    """The moments of these vectors once each is scaled to unit length (None: no vectors)."""
    matrix = np.asarray(vectors, np.float64)
    if not len(matrix):
        return None
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms > 0, norms, 1.0)
    mean = matrix.mean(axis=0)
    covariance = matrix.T @ matrix / len(matrix) - np.outer(mean, mean)
    return VectorMoments(mean, covariance)
