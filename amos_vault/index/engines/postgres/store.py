"""One vault's index in the team's PostgreSQL: open (migrate, pool), sync, status, close.

The vault's files stay the source of truth; what this writes is derived and rebuildable.
Each vault writes its own rows (``vault_id``: the vault's identity id) through the one sync
path (`index.sync`). The record of the files indexed (the manifest) lives in the database,
in ``indexed_files``, and is written in the same transaction as the chunks: a kill -9 at
any moment leaves the database as of the last commit, and the next sync re-applies the rest
(idempotent). A JSON file beside the vault could not promise that, and would go stale when
the vault points at another database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from amos_vault.core.config import IndexSettings
from amos_vault.core.errors import ConfigError
from amos_vault.files.identity import load_identity
from amos_vault.files.vault import Vault
from amos_vault.index.embeddings import Embedder
from amos_vault.index.engines.postgres.connection import connect, open_pool, redacted
from amos_vault.index.engines.postgres.engine import PostgresEngine
from amos_vault.index.engines.postgres.migrations import migrate
from amos_vault.index.engines.postgres.sharing import Sharing
from amos_vault.index.engines.postgres.vectorindex import bulk_load, ensure_vector_index
from amos_vault.index.models import EMBEDDING_DIM
from amos_vault.index.sync import (
    FileRecord,
    Manifest,
    Progress,
    SyncReport,
    apply_changes,
    plan_changes,
)


class DatabaseManifest(Manifest):
    """The files a vault indexed, as the database holds them (`PostgresEngine.commit`
    writes them with the chunks; `save` has nothing left to do)."""

    def save(self) -> None:
        """Written by the engine's commit, in the same transaction as the chunks."""

    def is_current(self) -> bool:
        """Re-read at every sync (another machine of the same vault may have written)."""
        return False


class _AllBut:
    """Keys that count as having a vector: all but these (private chunks are never stored,
    so they never lack one)."""

    def __init__(self, lacking: set[int]) -> None:
        self.lacking = lacking

    def __contains__(self, key: object) -> bool:
        return key not in self.lacking


class TeamIndex:
    """A vault's part of the team's database, and the engine that reads all of it."""

    def __init__(
        self, vault: Vault, embedder: Embedder | None, url: str, settings: IndexSettings
    ) -> None:
        if embedder is not None and embedder.dim != EMBEDDING_DIM:
            raise ConfigError(
                f"the postgres engine stores {EMBEDDING_DIM}-dimension vectors, and the model "
                f"{embedder.model_id} gives {embedder.dim}",
                hint='use [search] model = "default" with [index] engine = "postgres"',
            )
        identity = load_identity(vault.identity_path)
        self.vault = vault
        self.url = url
        self.embedder = embedder
        with connect(url, settings.connect_timeout_seconds) as connection:
            migrate(connection)  # idempotent; safe when several daemons start at once
        ensure_vector_index(url, settings.connect_timeout_seconds)  # a bulk load cut short
        self.pool = open_pool(url, settings.pool_size, settings.connect_timeout_seconds)
        self.engine = PostgresEngine(
            self.pool,
            url,
            identity.identity_id,
            sharing=Sharing(vault),
            semantic=embedder is not None,
        )

    def load_manifest(self) -> DatabaseManifest:
        """The files this vault has indexed, from the database."""
        manifest = DatabaseManifest(self.vault.amos_dir / "index" / "postgres")
        with self.engine.reading() as connection:
            rows = connection.execute(
                "SELECT path, hash, size, mtime_ns, keys, error FROM indexed_files "
                "WHERE vault_id = %s",
                (self.engine.vault_id,),
            ).fetchall()
        for path, digest, size, mtime_ns, keys, error in rows:
            listed = [int(k) for k in keys]
            record = FileRecord(str(digest), int(size), int(mtime_ns), listed, error)
            manifest.files[str(path)] = record
        return manifest

    def sync(
        self,
        progress: Progress | None = None,
        rebuild: bool = False,
        only: Iterable[str] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> SyncReport:
        """Bring this vault's rows up to date with its files (the caller holds the vault's
        index lock)."""
        engine = self.engine
        if rebuild:
            self._forget_vault()
        manifest = self.load_manifest()
        engine.track(manifest)
        if engine.sharing is not None:
            engine.sharing.forget()
        keys = _AllBut(engine.keys_lacking_vectors()) if engine.semantic else None
        plan = plan_changes(self.vault, manifest, keys, None if rebuild else only)
        try:
            with bulk_load(self.url) if engine.semantic else contextlib.nullcontext(False):
                return apply_changes(
                    self.vault, plan, engine, self.embedder, manifest, progress, should_stop
                )
        except BaseException:
            engine.rollback()
            raise

    def _forget_vault(self) -> None:
        """Delete this vault's rows and records (a rebuild starts from nothing)."""
        try:
            self.engine.remove_vault()
            self.engine.commit()
        except BaseException:
            self.engine.rollback()
            raise

    def status(self) -> dict[str, Any]:
        """This vault's files, chunks and vectors in the database, and where it is."""
        with self.engine.reading() as connection:
            row = connection.execute(
                "SELECT count(*) FROM indexed_files WHERE vault_id = %s", (self.engine.vault_id,)
            ).fetchone()
            errors = connection.execute(
                "SELECT path, error FROM indexed_files WHERE vault_id = %s "
                "AND error IS NOT NULL ORDER BY path",
                (self.engine.vault_id,),
            ).fetchall()
        return {
            "errors": {str(path): str(error) for path, error in errors},
            "files": int(row[0]) if row else 0,
            **self.engine.stats(),
            "database": redacted(self.url),
        }

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()
