"""Full-text candidates on PostgreSQL without reading every row a common stem matches.

Each matching row costs a visit to the table (row-level security needs its owner), and a
common stem matches a large share of it. So:

- a stem's document frequency comes from the term sample (`samples.TermSample`) when the
  stem is common, and from an exact count when the sample says it is rare (a count of at
  most a few thousand rows);
- the rows of a rare stem (at most `ROWS_PER_TERM` expected in scope) are all ranked, as
  before; a common stem's are taken from a fixed random share of the table, ``bucket < b``
  with ``b/1024`` chosen for about `ROWS_PER_TERM` rows (the index finds them: a bitmap of
  the stem's rows and the buckets' rows). A chunk sampled this way stands for
  ``1024 / b`` chunks: the number of matches (``total``) is estimated by summing those
  weights (Horvitz-Thompson), and the scores that standardise the full-text signal are the
  sampled scores, each repeated as often as it stands for.

When no stem of a query is common (every LoCoMo conversation, any vault of a few thousand
chunks per stem), nothing is sampled: the candidates, scores and total are exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amos_vault.index.engines.postgres.samples import BUCKETS, TermSample
from amos_vault.index.engines.postgres.sql import lexeme

if TYPE_CHECKING:
    from psycopg import Connection

ROWS_PER_TERM = 1000  # rows ranked for a common stem (a visit to the table each)
EXACT_COUNT_BELOW = 4 * ROWS_PER_TERM  # a stem the sample puts below this is counted
COUNT_CAP = 4 * EXACT_COUNT_BELOW  # ... reading at most this many rows


def exact_frequencies(
    connection: Connection[Any], queries: Sequence[str], cap: int = COUNT_CAP
) -> list[int]:
    """How many visible chunks match each tsquery (at most ``cap``), through the index."""
    if not queries:
        return []
    counts = ", ".join(
        "(SELECT count(*) FROM (SELECT FROM chunks WHERE context_terms @@ %s::tsquery "
        "LIMIT %s) AS found)"
        for _ in queries
    )
    params: list[Any] = []
    for query in queries:
        params += [query, cap]
    row = connection.execute(f"SELECT {counts}", params).fetchone()
    return [int(v) for v in row] if row else [0] * len(queries)


def term_frequencies(
    connection: Connection[Any], sample: TermSample, terms: Sequence[str]
) -> list[float]:
    """Each stem's document frequency among the visible chunks: exact when the sample is
    every row or puts the stem below `EXACT_COUNT_BELOW`, else estimated."""
    estimates = [sample.estimate(term) for term in terms]
    if sample.is_everything:
        return estimates
    rare = [t for t, e in zip(terms, estimates, strict=True) if e < EXACT_COUNT_BELOW]
    counted = dict(zip(rare, exact_frequencies(connection, [lexeme(t) for t in rare]), strict=True))
    return [
        float(counted[t]) if t in counted and counted[t] < COUNT_CAP else max(e, counted.get(t, 0))
        for t, e in zip(terms, estimates, strict=True)
    ]


def term_buckets(frequency: float, share: float = 1.0) -> int:
    """The buckets (of 1024) to rank a stem's rows from: all of them when about
    `ROWS_PER_TERM` or fewer are expected in a scope holding ``share`` of the chunks."""
    expected = frequency * share
    if expected <= ROWS_PER_TERM:
        return BUCKETS
    return max(1, min(BUCKETS, math.ceil(BUCKETS * ROWS_PER_TERM / expected)))


@dataclass
class CandidateQuery:
    """The condition that picks a query's full-text candidates, and each row's weight
    (how many rows it stands for: 1 unless only common stems' samples found it)."""

    condition: str
    params: list[Any] = field(default_factory=list)
    weight: str = "1.0"
    weight_params: list[Any] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        """Whether some rows stand for more than themselves."""
        return bool(self.weight_params)


def candidate_query(terms: Sequence[str], buckets: Sequence[int]) -> CandidateQuery:
    """Rows holding a stem whose ``buckets`` are all of them, or a common stem's rows in
    its first ``buckets`` buckets."""
    pairs = list(zip(terms, buckets, strict=True))
    whole = " | ".join(lexeme(t) for t, b in pairs if b >= BUCKETS)
    parts = [(lexeme(t), b) for t, b in pairs if b < BUCKETS]
    arms = ["context_terms @@ %s::tsquery"] if whole else []
    params: list[Any] = [whole] if whole else []
    for stem, share in parts:
        arms.append("(context_terms @@ %s::tsquery AND bucket < %s)")
        params += [stem, share]
    query = CandidateQuery("(" + " OR ".join(arms) + ")", params)
    if parts:
        cases = ["CASE WHEN context_terms @@ %s::tsquery THEN %s ELSE 0 END" for _ in parts]
        query.weight_params = [value for part in parts for value in part]
        if whole:
            cases.append(f"CASE WHEN context_terms @@ %s::tsquery THEN {BUCKETS} ELSE 0 END")
            query.weight_params.append(whole)
        query.weight = f"{float(BUCKETS)} / greatest({', '.join(cases)})"
    return query


def expanded_scores(scores: Sequence[float], weights: Sequence[float], kept: int) -> list[float]:
    """The scores of the rows, best first, followed by each row's score once more for
    every other row it stands for (its weight less one), up to ``len(scores)`` in all:
    the first ``kept`` stay aligned with their rows; the rest estimate the best scores of
    every matching row (what standardises the full-text signal)."""
    limit = len(scores)
    out = list(scores[:kept])
    carried = 0.0
    for number, (score, weight) in enumerate(zip(scores, weights, strict=True)):
        if len(out) >= limit:
            break
        carried += weight - (1.0 if number < kept else 0.0)
        repeats = int(carried + 1e-9)
        carried -= repeats
        out.extend([score] * min(repeats, limit - len(out)))
    return out
