"""The search engine of one vault: opens the index, the sidecar and the model, keeps them in
sync with the files through the one sync path, and answers queries.

Everything it writes lives under ``.amos/index/`` and is derived: deleting that folder and
running `amosvault index` gives the same search results.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amos_vault.core.errors import AmosError, StorageError, storage_errno, storage_error
from amos_vault.core.heap import map_large_blocks_apart, return_freed_memory
from amos_vault.files.vault import Vault
from amos_vault.index.embeddings import Embedder, open_embedder
from amos_vault.index.engine import IndexEngine
from amos_vault.index.engines.embedded import EmbeddedEngine
from amos_vault.index.fulltext import SCHEMA_VERSION, SearchIndex
from amos_vault.index.models import DEFAULT_MODEL_ID, EMBEDDING_DIM
from amos_vault.index.query import MemoryQuery, has_words
from amos_vault.index.retrieval import Retriever, SearchResult, query_text
from amos_vault.index.sync import (
    Manifest,
    Progress,
    SyncReport,
    apply_changes,
    plan_changes,
)
from amos_vault.index.vectors import SidecarError, VectorStore

if TYPE_CHECKING:
    from amos_vault.index.engines.postgres.store import TeamIndex


class SearchEngine:
    """Index, vectors and model of one vault, warm for repeated queries."""

    def __init__(
        self,
        vault: Vault,
        cache_dir: Path,
        *,
        embedder: Embedder | None = None,
        use_model: bool = True,
    ) -> None:
        self.vault = vault
        self.folder = vault.amos_dir / "index"
        self.notices: list[str] = []
        # Held by searches and by commits, so a reader in another thread (the daemon's
        # socket) never sees the index and the vectors half-way through a swap.
        self.guard = threading.RLock()
        map_large_blocks_apart()  # a long-lived engine's heap must not creep with each commit
        self.embedder = embedder
        if self.embedder is None and use_model:
            try:
                settings = vault.settings.search
                self.embedder = open_embedder(
                    settings.model,
                    cache_dir,
                    threads=settings.threads or None,
                    batch_size=settings.batch_size,
                )
            except AmosError as exc:
                self.notices.append(
                    f"semantic search is off: {exc.message}; {exc.hint or ''} "
                    "(searching by full text only)".replace(" ;", ";")
                )
        self.team: TeamIndex | None = None
        self.vectors: VectorStore | None = None
        if vault.settings.index.engine == "postgres":
            self._open_team()
        else:
            self._open()
        return_freed_memory()

    def _open_team(self) -> None:
        """The team's PostgreSQL instead of the files under ``.amos/index/``."""
        from amos_vault.index.engines.postgres.connection import database_url
        from amos_vault.index.engines.postgres.store import TeamIndex

        settings = self.vault.settings.index
        self.team = TeamIndex(self.vault, self.embedder, database_url(settings), settings)

    def _open(self) -> None:
        # Opening never deletes anything: another process may be writing right now. Repairs
        # happen in `sync`, under the index lock.
        self._outdated = _stored_schema(self.folder / "files.json") not in (None, SCHEMA_VERSION)
        self.index = SearchIndex(None if self._outdated else self.folder / "tantivy")
        self._manifest: Manifest | None = None  # read when first needed: searching does not
        self.vectors = None
        self._open_vectors()

    @property
    def manifest(self) -> Manifest:
        """The record of what was indexed (loaded on first use: a million chunks' record is
        tens of MB in memory, and a process that only searches never needs it)."""
        if self._manifest is None:
            self._manifest = Manifest.load(self.folder / "files.json")
        return self._manifest

    @manifest.setter
    def manifest(self, value: Manifest) -> None:
        self._manifest = value

    def _open_vectors(self) -> None:
        if self.embedder is None:
            return
        model_id, dim = self.embedder.model_id, self.embedder.dim
        graph_rows = self.vault.settings.search.graph_rows
        try:
            self.vectors = VectorStore.open(self.folder / "vectors", model_id, dim, graph_rows)
        except SidecarError as exc:
            # Start empty: the next sync re-embeds what is missing (reusing nothing), and its
            # first commit replaces the damaged files.
            self.notices.append(f"{exc.message}: rebuilding the vectors")
            self.vectors = VectorStore(self.folder / "vectors", model_id, dim, graph_rows)

    def _repair(self) -> bool:
        """Under the index lock: rebuild an outdated index, and re-index everything when the
        index and its record disagree (a crash between their commits, a folder deleted by
        hand); vectors are reused by content hash. Returns whether everything must be
        looked at again."""
        reset = self._outdated
        if self._outdated:
            self._destroy()
            self._open()
        indexed = sum(len(r.keys) for r in self.manifest.files.values())
        if indexed != self.index.num_docs():
            reset = True
            self.manifest.files.clear()
            if self.index.num_docs():
                self.index.clear()
        return reset

    def _destroy(self) -> None:
        for name in ("tantivy", "vectors", "files.json"):
            target = self.folder / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)

    @property
    def engine(self) -> IndexEngine:
        """The index and the vectors, as the engine the retriever and the sync path use."""
        if self.team is not None:
            return self.team.engine
        return EmbeddedEngine(self.index, self.vectors, self.guard)

    @property
    def mode(self) -> str:
        """``hybrid`` with a model, ``full-text`` without."""
        semantic = self.team.engine.semantic if self.team is not None else self.vectors is not None
        return "hybrid" if semantic else "full-text"

    def sync(
        self,
        progress: Progress | None = None,
        rebuild: bool = False,
        wait: float | None = None,
        only: Iterable[str] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> SyncReport:
        """Bring the index up to date with the vault's files (one writer at a time; waits
        ``wait`` seconds for another writer, default sessions.lock_timeout_seconds, then
        raises `LockTimeoutError`). ``only`` limits the look to those vault-relative paths."""
        if self.team is not None:
            with self.vault.lock("index", wait):
                return self.team.sync(progress, rebuild, only, should_stop)
        with self.vault.lock("index", wait):
            with self.guard:
                if rebuild:
                    self._destroy()
                    self._open()
                elif not self.manifest.is_current():  # another process synced meanwhile
                    self.manifest = Manifest.load(self.folder / "files.json")
                    self.index.index.reload()
                if self.vectors is not None and self.vectors.is_stale():
                    self._open_vectors()
                reset = self._repair()
            keys = self.vectors.key_view() if self.vectors is not None else None
            full = rebuild or reset or only is None
            plan = plan_changes(self.vault, self.manifest, keys, None if full else only)
            try:
                engine, embedder = self.engine, self.embedder
                report = apply_changes(
                    self.vault, plan, engine, embedder, self.manifest, progress, should_stop
                )
            except BaseException as exc:
                # Nothing half-done may linger for a later commit: drop it, re-read the
                # committed state; the caller retries the same changes.
                with self.guard:
                    self.index.rollback()
                    self.manifest = Manifest.load(self.folder / "files.json")
                    self._open_vectors()
                native = isinstance(exc, Exception) and not isinstance(exc, StorageError)
                if native and storage_errno(exc) is not None:  # a native engine's disk full
                    raise storage_error(exc, self.folder) from exc
                raise
            if full and not report.stopped and self.vectors is not None:
                self._drop_orphan_vectors()
            if report.files or report.deleted or full:
                return_freed_memory()  # what embedding, writing or a full look took
            return report

    def _drop_orphan_vectors(self) -> None:
        """Forget vectors of chunks no file has any more (left by a crash mid-sync)."""
        assert self.vectors is not None
        # As arrays: sets of 120k Python ints took ~15 MB, which the heap then kept.
        records = self.manifest.files.values()
        known = np.fromiter(
            (key for record in records for key in record.keys),
            np.uint64,
            sum(len(record.keys) for record in records),
        )
        live = self.vectors.keys[self.vectors.alive]
        orphans = live[~np.isin(live, known)]
        if len(orphans):
            self.vectors.delete(sorted(int(key) for key in orphans))
            with self.guard:
                self.vectors.commit()

    def close(self) -> None:
        """Let go of the database connections (the postgres engine; nothing to do else)."""
        if self.team is not None:
            self.team.close()

    def search(self, query: MemoryQuery) -> SearchResult:
        """Run ``query`` on the index as it is (call `sync` first for fresh results)."""
        notice = "; ".join(self.notices) or None
        # The query is embedded before the guard is taken: a commit then never waits for the
        # model, nor a query for a commit while it embeds.
        text = query_text(query)
        vector = None
        if self.embedder is not None and has_words(text) and query.k > 0:
            vector = self.embedder.embed([text])[0]
        with self.guard:
            retriever = Retriever(self.engine, self.embedder, self.vault.settings.search, notice)
            return retriever.search(query, vector)

    def status(self) -> dict[str, Any]:
        """Files and chunks indexed, the model, and files that were read as plain text."""
        if self.team is not None:
            model = self.embedder.model_id if self.embedder else None
            return {
                **self.team.status(),
                "mode": self.mode,
                "model": model,
                "notices": list(self.notices),
            }
        errors = {rel: r.error for rel, r in self.manifest.files.items() if r.error}
        return {
            "files": len(self.manifest.files),
            **self.engine.stats(),
            "mode": self.mode,
            "model": self.embedder.model_id if self.embedder else None,
            "errors": errors,
            "notices": list(self.notices),
        }


def _stored_schema(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text()).get("schema"))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


__all__ = ["DEFAULT_MODEL_ID", "EMBEDDING_DIM", "SearchEngine"]
