"""`PostgresEngine`: the `IndexEngine` over a team's ``chunks`` table (pgvector + full text).

Every transaction runs as the role ``amos_request`` with ``amos.identity`` (and, for a
writer, ``amos.vault``) set for that transaction only, so PostgreSQL's row-level security
decides which rows exist for it: a reader sees its own rows and the team-shared ones, a
writer changes only its own vault's rows. No query here filters on the owner itself.

Full text uses the same analyser as the embedded engine (`fulltext.analyze_tokens`: Tantivy's
English stemmer): the stems are stored as a ``simple`` tsvector, so a query matches exactly
the chunks it would match in Tantivy. Scores are BM25-like: for each query term, its inverse
document frequency times ``ts_rank`` (length-normalised); ``own_boost`` adds the same over
the chunk's own text; a common stem's rows are sampled (`textsearch`). Vectors are
``halfvec(384)`` in HNSW indexes (cosine), one per part of the table (`vectorindex`).
Counts, document frequencies and the spread of similarities come from fixed random samples
of rows (`samples`), kept a few seconds.

Writes (`writer.VaultWriter`) are buffered per transaction and committed with the records
of the files indexed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from amos_vault.index.engine import Described, TermHits
from amos_vault.index.engines.postgres.samples import (
    TermSample,
    VectorMoments,
    buckets_for,
    load_term_sample,
    vector_moments,
)
from amos_vault.index.engines.postgres.sql import (
    ALWAYS,
    FIELDS,
    LISTED,
    filter_sql,
    lexeme,
    vector_param,
)
from amos_vault.index.engines.postgres.textsearch import (
    candidate_query,
    expanded_scores,
    term_buckets,
    term_frequencies,
)
from amos_vault.index.engines.postgres.vectorindex import PARTS as VECTOR_PARTS
from amos_vault.index.engines.postgres.writer import REQUEST_ROLE, VaultWriter
from amos_vault.index.fulltext import SearchIndex
from amos_vault.index.query import Filters
from amos_vault.index.vectors import SAMPLE_ROWS

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["REQUEST_ROLE", "PostgresEngine"]

EXACT_SPREAD_ROWS = 4 * SAMPLE_ROWS  # a scope this small is measured, not sampled
# A scope this small is ranked exactly by `nearest` (as many rows as pgvector's iterative
# scan of one graph would read before giving up on a filter).
EXACT_NEAREST_ROWS = 20_000
STATS_SECONDS = 10.0  # counts and author lists are cached this long (other writers' rows)
# Samples of a large table are kept longer: a minute's new rows barely move their figures.
TERM_SAMPLE_SECONDS = 60.0
STATS_KEPT = 4096  # cached values at most (stems' frequencies, scopes' counts)
_HIGHLIGHTER: SearchIndex | None = None
# Distinct authors of visible chunks with a vector, one probe of chunks_by_author each.
AUTHORS = """
WITH RECURSIVE found (author) AS (
    SELECT min(author) FROM chunks WHERE author > '' AND embedding IS NOT NULL
    UNION ALL
    SELECT (SELECT min(author) FROM chunks WHERE author > found.author
            AND embedding IS NOT NULL)
      FROM found WHERE found.author IS NOT NULL
)
SELECT author FROM found WHERE author IS NOT NULL
"""


def _highlighter() -> SearchIndex:
    """An empty in-memory Tantivy index: its snippet generator marks matches of stems."""
    global _HIGHLIGHTER
    if _HIGHLIGHTER is None:
        _HIGHLIGHTER = SearchIndex(None)
    return _HIGHLIGHTER


class PostgresEngine(VaultWriter):
    """One identity's view of the team's chunks, and its vault's writer (`VaultWriter`)."""

    @property
    def semantic(self) -> bool:
        """Whether chunks have vectors."""
        return self._semantic

    # -- cached figures --------------------------------------------------------------------
    def _cached(self, key: Any, compute: Any, seconds: float = STATS_SECONDS) -> Any:
        now = time.monotonic()
        found = self._stats.get(key)
        if found is not None and now - found[0] < seconds:
            return found[1]
        value = compute()
        self._remember(key, value)
        return value

    def _remember(self, key: Any, value: Any) -> None:
        """Keep ``value`` (at most `STATS_KEPT` values: the oldest half go first)."""
        if len(self._stats) >= STATS_KEPT:
            for old in list(self._stats)[: STATS_KEPT // 2]:
                self._stats.pop(old, None)
        self._stats.pop(key, None)  # re-inserted last: the dict's order is the age
        self._stats[key] = (time.monotonic(), value)

    # -- reading ---------------------------------------------------------------------------
    def _sample(self) -> TermSample:
        """The term sample (`samples.TermSample`), kept `STATS_SECONDS` when it is every
        row (its counts exact), else `TERM_SAMPLE_SECONDS`."""
        kept = self._stats.get("sample")
        if kept is not None:
            seconds = STATS_SECONDS if kept[1].is_everything else TERM_SAMPLE_SECONDS
            if time.monotonic() - kept[0] < seconds:
                return kept[1]  # type: ignore[no-any-return]
        with self.reading() as connection:
            sample = load_term_sample(connection)
        self._remember("sample", sample)
        return sample

    def population(self, filters: Filters) -> int:
        """Visible chunks with a vector in scope (of a scope of kinds alone: from the term
        sample, so exact in a small table and estimated in a large one)."""
        if not self._semantic:
            return 0
        scope = filters.only()
        if scope == Filters(kinds=scope.kinds):
            return round(self._sample().with_vectors(scope.kinds))
        where, values = filter_sql(scope)

        def count() -> int:
            with self.reading() as connection:
                sql = f"SELECT count(*) FROM chunks WHERE embedding IS NOT NULL AND {where}"
                row = connection.execute(sql, values).fetchone()
            return int(row[0]) if row else 0

        return int(self._cached(("population", scope), count))

    def chunk_count(self) -> int:
        """Visible chunks, with or without a vector (from the term sample)."""
        return round(self._sample().rows())

    def _frequencies(
        self, connection: Connection[Any], sample: TermSample, terms: list[str]
    ) -> list[float]:
        """Each stem's document frequency (cached per stem, a few seconds)."""
        now = time.monotonic()
        found: dict[str, float] = {}
        for term in terms:
            kept = self._stats.get(("frequency", term))
            if kept is not None and now - kept[0] < STATS_SECONDS:
                found[term] = float(kept[1])
        missing = [t for t in terms if t not in found]
        for term, value in zip(missing, term_frequencies(connection, sample, missing), strict=True):
            self._remember(("frequency", term), value)
            found[term] = value
        return [found[t] for t in terms]

    def _scope_rows(self, filters: Filters) -> int:
        """Visible chunks in scope, with or without a vector."""
        where, values = filter_sql(filters.only())

        def count() -> int:
            with self.reading() as connection:
                row = connection.execute(f"SELECT count(*) FROM chunks WHERE {where}", values)
                found = row.fetchone()
            return int(found[0]) if found else 0

        return int(self._cached(("rows", filters.only()), count))

    def _scope_share(self, sample: TermSample, filters: Filters) -> float | None:
        """The share of the visible chunks in scope (None: a scope of kinds alone, whose
        stems the sample counts by kind). Counted before a search's transaction opens, so
        a search never holds two pooled connections at once."""
        scope = filters.only()
        if scope.is_empty():
            return 1.0
        if scope == Filters(kinds=scope.kinds):
            return None
        if self._semantic:  # the retriever has counted the scope's vectors already
            return self.population(scope) / max(sample.with_vectors(), 1.0)
        return self._scope_rows(scope) / max(sample.rows(), 1.0)

    def full_text(
        self,
        terms: Sequence[str],
        filters: Filters,
        limit: int,
        own_boost: float = 0.0,
        keys_for: int | None = None,
    ) -> TermHits:
        """BM25-like candidates (see the module's docstring, and `textsearch` for how a
        common stem's rows are sampled); keys of the first ``keys_for`` (all when None)."""
        terms = list(dict.fromkeys(t for t in terms if t))
        if not terms:
            return TermHits()
        sample = self._sample()
        total_docs = max(round(sample.rows()), 1)
        share = self._scope_share(sample, filters)
        where, values = filter_sql(filters.only())
        with self.reading() as connection:
            frequencies = self._frequencies(connection, sample, terms)
            weights = [
                float(np.log(1 + (total_docs - df + 0.5) / (df + 0.5))) for df in frequencies
            ]
            expected = [  # how many chunks in scope hold each stem
                df * share if share is not None else min(df, sample.estimate(t, filters.kinds))
                for t, df in zip(terms, frequencies, strict=True)
            ]
            candidates = candidate_query(terms, [term_buckets(n) for n in expected])
            score_parts, params = [], list[Any]()
            for term, weight in zip(terms, weights, strict=True):
                score_parts.append("%s * ts_rank(context_terms, %s::tsquery, 1)")
                params += [weight, lexeme(term)]
                if own_boost:
                    score_parts.append("%s * ts_rank(own_terms, %s::tsquery, 1)")
                    params += [weight * own_boost, lexeme(term)]
            sql = (
                "SELECT key, session_key, score, weight, sum(weight) OVER () FROM ("
                f"SELECT key, session_key, {' + '.join(score_parts)} AS score, "
                f"{candidates.weight} AS weight FROM chunks "
                f"WHERE {candidates.condition} AND {where}) AS found "
                "ORDER BY score DESC, key LIMIT %s"
            )
            rows = connection.execute(
                sql,
                [*params, *candidates.weight_params, *candidates.params, *values, limit],
            ).fetchall()
        keyed = rows[:keys_for]
        scores = [float(r[2]) for r in rows]
        if candidates.sampled and keys_for is not None:
            scores = expanded_scores(scores, [float(r[3]) for r in rows], len(keyed))
        return TermHits(
            keys=[int(r[0]) for r in keyed],
            session_keys=[int(r[1]) for r in keyed],
            scores=scores,
            total=round(float(rows[0][4])) if rows else 0,
        )

    def nearest(self, vector: np.ndarray, filters: Filters, limit: int) -> Described:
        """Nearest visible vectors in scope, described: each part's HNSW graph is asked for
        its nearest ``limit`` (`vectorindex`), and the best ``limit`` of them all kept. A
        scope of at most `EXACT_NEAREST_ROWS` vectors is ranked exactly, in one statement:
        each graph would hand up rows for the filter to drop, or PostgreSQL would read the
        table once per part to rank so few rows (`population` counted them already)."""
        if not self._semantic:
            return self.describe(vector, [])
        where, values = filter_sql(filters.only())
        query = vector_param(vector)
        whole = self.population(filters) <= EXACT_NEAREST_ROWS
        branches = [
            "(SELECT key, session_key, author, 1 - (embedding <=> %s::halfvec) AS similarity "
            f"FROM chunks WHERE embedding IS NOT NULL AND {condition} AND {where} "
            "ORDER BY embedding <=> %s::halfvec LIMIT %s)"
            for condition in (["TRUE"] if whole else [p.condition for p in VECTOR_PARTS])
        ]
        sql = (
            f"SELECT key, session_key, author, similarity FROM ({' UNION ALL '.join(branches)}) "
            "AS found ORDER BY similarity DESC, key LIMIT %s"
        )
        params = [*([query, *values, query, limit] * len(branches)), limit]
        with self.reading(ef_search=2 * limit) as connection:
            rows = connection.execute(sql, params).fetchall()
        found: dict[int, tuple[int, str, float]] = {}
        for key, session_key, author, score in rows:  # a key twice: two vaults' copies
            found.setdefault(int(key), (int(session_key), str(author), float(score)))
        return Described(
            np.fromiter(found, np.uint64, len(found)),
            np.fromiter((v[0] for v in found.values()), np.uint64, len(found)),
            [v[1] for v in found.values()],
            np.fromiter((v[2] for v in found.values()), np.float32, len(found)),
        )

    def describe(self, vector: np.ndarray, keys: Sequence[int]) -> Described:
        """Session, author and similarity of each key (NaN: no vector)."""
        wanted = np.asarray(keys, np.uint64)
        similarity = np.full(len(wanted), np.nan, np.float32)
        sessions = np.zeros(len(wanted), np.uint64)
        authors = [""] * len(wanted)
        if len(wanted):
            position = {int(k): i for i, k in enumerate(wanted)}
            sql = (
                "SELECT DISTINCT ON (key) key, session_key, author, "
                "1 - (embedding <=> %s::halfvec) FROM chunks WHERE key = ANY(%s) "
                "ORDER BY key, (owner = current_setting('amos.identity', true)) DESC"
            )
            with self.reading() as connection:
                rows = connection.execute(
                    sql,
                    (vector_param(vector), [int(k) for k in wanted]),
                ).fetchall()
            for key, session_key, author, score in rows:
                i = position[int(key)]
                sessions[i] = int(session_key)
                authors[i] = str(author)
                if score is not None:
                    similarity[i] = float(score)
        return Described(wanted, sessions, authors, similarity)

    def similarity_spread(self, vector: np.ndarray, filters: Filters) -> tuple[float, float]:
        """Mean and deviation of similarities in scope: every row of a small scope, else a
        fixed random sample (the first buckets of rows, ``bucket``: the key's last bits),
        whose moments are kept a few seconds (`samples.VectorMoments`)."""
        count = self.population(filters)
        if not count:
            return 0.0, 1.0
        if count > EXACT_SPREAD_ROWS:
            moments = self._cached(
                ("moments", filters.only()),
                lambda: self._sample_moments(filters, count),
                TERM_SAMPLE_SECONDS,
            )
            mean, std = moments.spread(vector) if moments is not None else (0.0, 1.0)
            return mean, (std if std > 1e-6 else 1.0)
        where, values = filter_sql(filters.only())
        sql = (
            "SELECT avg(s), stddev_pop(s) FROM (SELECT 1 - (embedding <=> %s::halfvec) AS s "
            f"FROM chunks WHERE embedding IS NOT NULL AND {where}) AS scope"
        )
        with self.reading() as connection:
            row = connection.execute(sql, [vector_param(vector), *values]).fetchone()
        if row is None or row[0] is None:
            return 0.0, 1.0
        std = float(row[1] or 0.0)
        return float(row[0]), (std if std > 1e-6 else 1.0)

    def _sample_moments(self, filters: Filters, count: int) -> VectorMoments | None:
        """The moments of about `SAMPLE_ROWS` vectors of a scope of ``count``."""
        where, values = filter_sql(filters.only())
        buckets = buckets_for(SAMPLE_ROWS, count)
        sql = (
            "SELECT embedding FROM chunks WHERE embedding IS NOT NULL "
            f"AND bucket < {buckets} AND {where}"
        )
        with self.reading() as connection:
            rows = connection.execute(sql, values).fetchall()
        return vector_moments(np.array([r[0].to_numpy() for r in rows], np.float32))

    def stats(self) -> dict[str, Any]:
        """This vault's chunks and vectors in the database."""
        with self.reading() as connection:
            row = connection.execute(
                "SELECT count(*), count(embedding), count(*) FILTER (WHERE shared) "
                "FROM chunks WHERE vault_id = %s",
                (self.vault_id,),
            ).fetchone()
        chunks, vectors, shared = row if row else (0, 0, 0)
        return {
            "engine": "postgres",
            "chunks": int(chunks),
            "vectors": int(vectors),
            "shared_chunks": int(shared),
        }

    def author_names(self) -> list[str]:
        """Authors of visible chunks with a vector."""

        def names() -> list[str]:
            with self.reading() as connection:
                rows = connection.execute(AUTHORS).fetchall()
            return [str(r[0]) for r in rows]

        return list(self._cached("authors", names)) if self._semantic else []

    def fetch(self, keys: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Stored fields of visible chunks, as Tantivy's `fetch` gives them (lists of
        values; a text field left empty has none; the time as ``timestamp``)."""
        if not keys:
            return {}
        sql = (
            f"SELECT DISTINCT ON (key) {', '.join(FIELDS)} FROM chunks WHERE key = ANY(%s) "
            "ORDER BY key, (owner = current_setting('amos.identity', true)) DESC"
        )
        with self.reading() as connection:
            rows = connection.execute(sql, ([int(k) for k in keys],)).fetchall()
        found: dict[int, dict[str, Any]] = {}
        for row in rows:
            doc: dict[str, Any] = {}
            for name, value in zip(FIELDS, row, strict=True):
                field_name = "timestamp" if name == "stamp" else name
                if name in LISTED:
                    doc[field_name] = list(value or [])
                elif name in ALWAYS or value:
                    doc[field_name] = [value]
            found[int(row[0])] = doc
        return found

    def highlight(
        self, terms: Sequence[str], text: str, max_chars: int = 200
    ) -> tuple[str, list[tuple[int, int]]]:
        """The embedded engine's snippet of ``text`` (the same stems, the same marks)."""
        return _highlighter().highlight(terms, text, max_chars)
