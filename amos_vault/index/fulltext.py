"""The full-text index: Tantivy, with English stemming and a filter on every chunk field.

Only this module knows tantivy. Query strings from users never reach tantivy's query parser:
they are analysed into stemmed terms here and sent as a disjunction of term queries, so no
input can raise a syntax error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import tantivy

from amos_vault.core.errors import StorageError, storage_errno, storage_error
from amos_vault.files.vault import FILE_MODE, ensure_dir
from amos_vault.index.chunks import Chunk
from amos_vault.index.engine import TermHits
from amos_vault.index.query import Filters

SCHEMA_VERSION = 2  # 2: facts store the messages they come from
RAW_FIELDS = (
    "chunk_id",
    "path",
    "kind",
    "session_id",
    "message_id",
    "identity",
    "user_id",
    "status",
    "role",
    "author",
    "tags",
)
# Words too common to help full-text ranking; removing them also keeps queries fast.
STOPWORDS = frozenset(
    (
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "its",
        "our",
        "their",
        "mine",
        "yours",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "would",
        "could",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "can",
        "must",
        "as",
        "by",
        "from",
        "about",
        "into",
        "over",
        "after",
        "before",
        "than",
        "then",
        "so",
        "if",
        "not",
        "no",
        "yes",
        "also",
        "too",
        "very",
        "just",
        "any",
        "some",
        "all",
        "each",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
    )
)


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("key", stored=True, indexed=True, fast=True)
    builder.add_unsigned_field("session_key", stored=True, fast=True)
    for name in RAW_FIELDS:
        builder.add_text_field(name, stored=True, tokenizer_name="raw")
    builder.add_text_field("sources", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("context", stored=False, tokenizer_name="en_stem")
    builder.add_integer_field("timestamp", stored=True, indexed=True, fast=True)
    builder.add_unsigned_field("line_start", stored=True)
    builder.add_unsigned_field("line_end", stored=True)
    return builder.build()


_ANALYZER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)
_STOP_STEMS = frozenset(t for word in STOPWORDS for t in _ANALYZER.analyze(word))


def analyze(text: str, drop: Iterable[str] = ()) -> list[str]:
    """The distinct stemmed search terms of ``text`` (as the index sees words), minus
    stopwords and the words of ``drop``."""
    dropped = set(_STOP_STEMS)
    for phrase in drop:
        dropped.update(_ANALYZER.analyze(phrase))
    return list(dict.fromkeys(t for t in _ANALYZER.analyze(text) if t not in dropped))


def analyze_tokens(text: str) -> list[str]:
    """Every stemmed token of ``text`` in order, as the index stores it (stopwords kept)."""
    return list(_ANALYZER.analyze(text))


def _as_int(value: object) -> int:
    return value if type(value) is int else int(value) if isinstance(value, float) else 0


def stamp_of(value: dt.datetime | None) -> int:
    """Seconds since 1970 (UTC when the time has no zone); 0 for no time."""
    if value is None:
        return 0
    return int((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())


class SearchIndex:
    """A Tantivy index of chunks, on disk (or in memory when ``folder`` is None)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.schema = _build_schema()
        if folder is not None:
            ensure_dir(folder)
        with self._storage_errors():  # tantivy takes a lock file even to read
            self.index = tantivy.Index(
                self.schema, path=str(folder) if folder else None, reuse=True
            )
        self._writer: Any = None

    # -- writing ---------------------------------------------------------------------------
    def _writer_for_changes(self) -> Any:
        if self._writer is None:
            with self._storage_errors():
                self._writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        return self._writer

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Tantivy reports a full disk (or a read-only one...) as a ValueError naming
        ``(os error N)``: make it the `StorageError` that says so."""
        try:
            yield
        except StorageError:
            raise
        except Exception as exc:
            if storage_errno(exc) is None:
                raise
            raise storage_error(exc, self.folder) from exc

    def delete_path(self, path: str) -> None:
        """Remove every chunk of the file ``path``."""
        self._writer_for_changes().delete_documents_by_term("path", path)

    def add(self, chunks: Iterable[Chunk]) -> None:
        """Add chunks (call `commit` to make them searchable)."""
        writer = self._writer_for_changes()
        for chunk in chunks:
            doc = tantivy.Document()
            doc.add_unsigned("key", chunk.key)
            doc.add_unsigned("session_key", chunk.session_key)
            for name in RAW_FIELDS:
                values = chunk.tags if name == "tags" else (getattr(chunk, name),)
                for value in values:
                    if value:
                        doc.add_text(name, value)
            for source in chunk.sources:
                doc.add_text("sources", source)
            doc.add_text("title", chunk.title)
            doc.add_text("text", chunk.text)
            doc.add_text("context", chunk.context_text)
            doc.add_integer("timestamp", stamp_of(chunk.timestamp))
            doc.add_unsigned("line_start", chunk.line_start)
            doc.add_unsigned("line_end", chunk.line_end)
            writer.add_document(doc)

    def commit(self) -> None:
        """Make the changes durable and visible (atomic: all or nothing on a crash)."""
        if self._writer is not None:
            with self._storage_errors():
                self._writer.commit()
                self._writer.wait_merging_threads()
            self._writer = None
            self._owner_only()
        self.index.reload()

    def _owner_only(self) -> None:
        """Tantivy creates its files with the umask's mode: make them owner-only (0600)."""
        if self.folder is None:
            return
        for entry in os.scandir(self.folder):
            with contextlib.suppress(OSError):  # a file merged away meanwhile
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mode & 0o077:
                    os.chmod(entry.path, FILE_MODE)

    def clear(self) -> None:
        """Delete every chunk (committed at once)."""
        self._writer_for_changes().delete_all_documents()
        self.commit()

    def rollback(self) -> None:
        """Drop uncommitted changes."""
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    # -- reading ---------------------------------------------------------------------------
    def num_docs(self) -> int:
        """Committed chunks."""
        return int(self.index.searcher().num_docs)

    def _filter_clauses(self, filters: Filters) -> list[tuple[Any, Any]]:
        Q, Must = tantivy.Query, tantivy.Occur.Must

        def any_of(name: str, values: Sequence[str]) -> Any:
            terms = [
                (tantivy.Occur.Should, Q.term_query(self.schema, name, v, index_option="basic"))
                for v in values
            ]
            return Q.const_score_query(Q.boolean_query(terms), 0.0)

        clauses = []
        for name, values in (
            ("kind", filters.kinds),
            ("session_id", filters.sessions),
            ("tags", filters.tags),
            ("user_id", (filters.user_id,) if filters.user_id else ()),
            ("status", (filters.status,) if filters.status else ()),
            ("identity", (filters.identity,) if filters.identity else ()),
            ("role", (filters.role,) if filters.role else ()),
        ):
            if values:
                clauses.append((Must, any_of(name, values)))
        if filters.since or filters.until:
            span = Q.range_query(
                self.schema,
                "timestamp",
                tantivy.FieldType.Integer,
                stamp_of(filters.since) if filters.since else None,
                stamp_of(filters.until) if filters.until else None,
            )
            clauses.append((Must, Q.const_score_query(span, 0.0)))
        return clauses

    def search_terms(
        self,
        terms: Sequence[str],
        filters: Filters,
        limit: int,
        own_boost: float = 0.0,
        keys_for: int | None = None,
    ) -> TermHits:
        """BM25 over the chunks' text-with-context for any of ``terms`` (already analysed),
        plus ``own_boost`` times BM25 over the chunk's own text; the keys of the first
        ``keys_for`` hits (all when None)."""
        if not terms:
            return TermHits()
        Q = tantivy.Query

        # BM25 reads term frequencies, never positions: asking for positions (tantivy's
        # default) reads and maps the positions file for every matching chunk.
        def term(field: str, text: str) -> Any:
            return Q.term_query(self.schema, field, text, index_option="freq")

        should = [(tantivy.Occur.Should, term("context", t)) for t in terms]
        if own_boost:
            should += [
                (tantivy.Occur.Should, Q.boost_query(term("text", t), own_boost)) for t in terms
            ]
        clauses = self._filter_clauses(filters)
        query = Q.boolean_query([(tantivy.Occur.Must, Q.boolean_query(should)), *clauses])
        searcher = self.index.searcher()
        result = searcher.search(query, limit, count=True)
        addresses = [address for _score, address in result.hits[:keys_for]]
        return TermHits(
            keys=[_as_int(k) for k in searcher.fast_field_values("key", addresses)],
            session_keys=[_as_int(k) for k in searcher.fast_field_values("session_key", addresses)],
            scores=[float(score) for score, _address in result.hits],
            total=int(getattr(result, "count", 0) or 0),
        )

    def keys_matching(self, filters: Filters) -> set[int]:
        """Keys of every chunk that satisfies ``filters``."""
        clauses = self._filter_clauses(filters)
        query = tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()
        searcher = self.index.searcher()
        hits = searcher.search(query, max(1, int(searcher.num_docs)), count=False).hits
        return {_as_int(k) for k in searcher.fast_field_values("key", [a for _s, a in hits])}

    def fetch(self, keys: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Stored fields of the chunks with these keys."""
        if not keys:
            return {}
        Q = tantivy.Query
        query = Q.boolean_query(
            [
                (tantivy.Occur.Should, Q.term_query(self.schema, "key", k, index_option="basic"))
                for k in keys
            ]
        )
        searcher = self.index.searcher()
        found = {}
        for _score, address in searcher.search(query, len(keys), count=False).hits:
            doc = searcher.doc(address).to_dict()
            found[int(doc["key"][0])] = doc
        return found

    def highlight(
        self, terms: Sequence[str], text: str, max_chars: int = 200
    ) -> tuple[str, list[tuple[int, int]]]:
        """A fragment of ``text`` around the best match of ``terms``, with the matched
        character ranges inside it."""
        if not terms or not text:
            return text[:max_chars], []
        Q = tantivy.Query
        query = Q.boolean_query(
            [(tantivy.Occur.Should, Q.term_query(self.schema, "text", t)) for t in terms]
        )
        generator = tantivy.SnippetGenerator.create(
            self.index.searcher(), query, self.schema, "text"
        )
        generator.set_max_num_chars(max_chars)
        doc = tantivy.Document()
        doc.add_text("text", text)
        snippet = generator.snippet_from_doc(doc)
        fragment = snippet.fragment()
        if not fragment:
            return text[:max_chars], []
        encoded = fragment.encode()
        ranges = [
            (
                len(encoded[: r.start].decode(errors="ignore")),
                len(encoded[: r.end].decode(errors="ignore")),
            )
            for r in snippet.highlighted()
        ]
        return fragment, ranges
