"""The SQL `PostgresEngine` sends: the columns it reads and writes, the upsert of a chunk,
filters as conditions, and the Python values of stems and vectors as the statements take them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from amos_vault.index.fulltext import RAW_FIELDS, analyze_tokens, stamp_of
from amos_vault.index.query import Filters

# Tantivy's stored fields, in its names ("stamp" is its "timestamp").
FIELDS = (
    "key",
    "session_key",
    *RAW_FIELDS,
    "sources",
    "title",
    "text",
    "stamp",
    "line_start",
    "line_end",
)
LISTED = ("tags", "sources")  # many values each
ALWAYS = ("key", "session_key", "title", "text", "stamp", "line_start", "line_end")
COLUMNS = (
    "vault_id, key, owner, shared, chunk_id, kind, path, session_key, session_id, message_id, "
    "identity, user_id, status, role, author, tags, sources, title, text, stamp, line_start, "
    "line_end, content_hash, context_terms, own_terms, embedding, vector_hash"
)
UPSERT = f"""
INSERT INTO chunks ({COLUMNS})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        %s, to_tsvector('simple', %s), to_tsvector('simple', %s), %s::halfvec, %s)
ON CONFLICT (vault_id, key) DO UPDATE SET
    owner = EXCLUDED.owner, shared = EXCLUDED.shared, chunk_id = EXCLUDED.chunk_id,
    kind = EXCLUDED.kind, path = EXCLUDED.path, session_key = EXCLUDED.session_key,
    session_id = EXCLUDED.session_id, message_id = EXCLUDED.message_id,
    identity = EXCLUDED.identity, user_id = EXCLUDED.user_id, status = EXCLUDED.status,
    role = EXCLUDED.role, author = EXCLUDED.author, tags = EXCLUDED.tags,
    sources = EXCLUDED.sources, title = EXCLUDED.title, text = EXCLUDED.text,
    stamp = EXCLUDED.stamp, line_start = EXCLUDED.line_start, line_end = EXCLUDED.line_end,
    content_hash = EXCLUDED.content_hash, context_terms = EXCLUDED.context_terms,
    own_terms = EXCLUDED.own_terms,
    embedding = CASE
        WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding
        WHEN chunks.vector_hash = EXCLUDED.content_hash THEN chunks.embedding END,
    vector_hash = CASE
        WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.vector_hash
        WHEN chunks.vector_hash = EXCLUDED.content_hash THEN chunks.vector_hash END
"""


def terms_text(text: str) -> str:
    """``text`` as the stems the embedded engine indexes, for ``to_tsvector('simple', …)``."""
    return " ".join(analyze_tokens(text))


def lexeme(term: str) -> str:
    """One stem as a tsquery operand (quoted, so no stem is read as an operator)."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    """``filters`` as a SQL condition on ``chunks`` (``TRUE`` when nothing is restricted)."""
    parts: list[str] = []
    values: list[Any] = []
    for column, wanted in (
        ("kind", filters.kinds),
        ("session_id", filters.sessions),
    ):
        if wanted:
            parts.append(f"{column} = ANY(%s)")
            values.append(list(wanted))
    if filters.tags:
        parts.append("tags && %s")
        values.append(list(filters.tags))
    for column, value in (
        ("user_id", filters.user_id),
        ("status", filters.status),
        ("identity", filters.identity),
        ("role", filters.role),
    ):
        if value:
            parts.append(f"{column} = %s")
            values.append(value)
    if filters.since:
        parts.append("stamp >= %s")
        values.append(stamp_of(filters.since))
    if filters.until:
        parts.append("stamp <= %s")
        values.append(stamp_of(filters.until))
    return (" AND ".join(parts) or "TRUE"), values


def signed(key: int) -> int:
    """Keys are 63-bit (`chunks.chunk_key`): they fit PostgreSQL's bigint as they are."""
    return int(key)


def vector_param(vector: np.ndarray) -> np.ndarray:
    """A vector as pgvector's adapter sends it (``vector``, cast to halfvec in SQL)."""
    return np.ascontiguousarray(vector, np.float32).ravel()
