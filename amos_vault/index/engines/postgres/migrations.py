"""Schema migrations: numbered SQL files (``migrations/0001_*.sql`` ...) applied in order and
recorded in ``schema_migrations``.

`migrate` runs on every start-up of the engine and by `amosvault db migrate`: it is
idempotent, and takes a transaction-scoped advisory lock first, so two daemons starting at
once apply each migration exactly once (the second waits, then finds nothing to do). All
pending migrations apply in one transaction: a failure leaves the schema as it was. A
database migrated by a newer amos-vault (a version this one does not know) is refused with
a `DatabaseSchemaError`, never written to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amos_vault.core.errors import DatabaseError, DatabaseSchemaError
from amos_vault.index.engines.postgres.connection import connect, database_errors, first_line

MIGRATIONS_FOLDER = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key: "amos" in ASCII, so other applications' locks never collide.
MIGRATION_LOCK = 0x616D6F73
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        """The statements of the file."""
        return self.path.read_text(encoding="utf-8")


@dataclass
class MigrationStatus:
    """Which migrations a database has, and which it still needs."""

    applied: list[tuple[int, str]] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)
    newest_known: int = 0
    notes: list[str] = field(default_factory=list)  # what a superuser should still do

    @property
    def version(self) -> int:
        """The newest version applied (0: none)."""
        return max((v for v, _ in self.applied), default=0)


def known_migrations(folder: Path = MIGRATIONS_FOLDER) -> list[Migration]:
    """The migration files, by version; two files of one number are a packaging error."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise DatabaseSchemaError(
                f"migration file {path.name} is not named NNNN_name.sql",
                hint="rename it (four digits, an underscore, lowercase words)",
                path=path,
            )
        version = int(match.group(1))
        if version in found:
            raise DatabaseSchemaError(
                f"two migrations are numbered {version:04d}: {found[version].path.name} and "
                f"{path.name}",
                hint="renumber one of them",
                path=path,
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def ensure_vector_extension(connection: Any) -> None:
    """Create the ``vector`` extension if it is missing and the user may; otherwise the
    `DatabaseSchemaError` that says to create it as a superuser."""
    import psycopg

    row = connection.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    if row is not None:
        return
    try:
        with connection.transaction():  # a savepoint: its failure leaves the rest usable
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise DatabaseSchemaError(
            "the database has no vector extension, and this user cannot create it "
            f"({first_line(exc)})",
            hint="run CREATE EXTENSION vector as a superuser in that database "
            "(pgvector must be installed on the server)",
        ) from exc


def _status(connection: Any, known: list[Migration]) -> MigrationStatus:
    exists = connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    applied: list[tuple[int, str]] = []
    if exists and exists[0]:
        rows = connection.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        applied = [(int(v), str(n)) for v, n in rows.fetchall()]
    done = {v for v, _ in applied}
    newest = max((m.version for m in known), default=0)
    notes = [] if _full_text_indexable(connection) else [FULL_TEXT_NOTE]
    return MigrationStatus(applied, [m for m in known if m.version not in done], newest, notes)


# Under row-level security PostgreSQL uses an index only for a condition whose function is
# LEAKPROOF (it cannot reveal rows through an error); the full-text match is not marked so,
# so without this every search reads every row. ts_match_vq raises no error that depends on
# a row's text. Measured on 30k chunks: 133 ms of full text per query without, 42 ms with.
FULL_TEXT_FUNCTION = "ts_match_vq(tsvector, tsquery)"
FULL_TEXT_NOTE = (
    "full-text search reads every row (row-level security cannot use its index): as a "
    f"superuser, run ALTER FUNCTION {FULL_TEXT_FUNCTION} LEAKPROOF in this database"
)


def _full_text_indexable(connection: Any) -> bool:
    row = connection.execute(
        "SELECT proleakproof FROM pg_proc WHERE oid = %s::regprocedure", (FULL_TEXT_FUNCTION,)
    ).fetchone()
    return bool(row and row[0])


def _make_full_text_indexable(connection: Any) -> None:
    """Mark the full-text match LEAKPROOF when this user may (a superuser); else `db status`
    says what to run."""
    if _full_text_indexable(connection):
        return
    row = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    found = row.fetchone()
    if found and found[0]:
        connection.execute(f"ALTER FUNCTION {FULL_TEXT_FUNCTION} LEAKPROOF")


def _refuse_newer(status: MigrationStatus) -> None:
    if status.version > status.newest_known:
        raise DatabaseSchemaError(
            f"the database was migrated by a newer amos-vault (schema version "
            f"{status.version}; this one knows up to {status.newest_known})",
            hint="upgrade amos-vault on this machine (pip install -U 'amos-vault[team]')",
        )


def migration_status(connection: Any, folder: Path = MIGRATIONS_FOLDER) -> MigrationStatus:
    """What ``connection``'s database has applied and what is pending (reads only)."""
    with database_errors(_url_of(connection)), connection.transaction():
        return _status(connection, known_migrations(folder))


def migrate(connection: Any, folder: Path = MIGRATIONS_FOLDER) -> list[Migration]:
    """Apply the pending migrations (under the advisory lock, in one transaction); the ones
    applied now, none when the database is up to date."""
    import psycopg

    known = known_migrations(folder)
    with database_errors(_url_of(connection)), connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        status = _status(connection, known)
        _refuse_newer(status)
        _make_full_text_indexable(connection)
        if not status.pending:
            return []
        ensure_vector_extension(connection)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in status.pending:
            try:
                connection.execute(migration.sql)
            except psycopg.errors.InsufficientPrivilege:
                raise
            except psycopg.Error as exc:
                raise DatabaseError(
                    f"migration {migration.path.name} failed: {first_line(exc)}",
                    hint="nothing was changed; fix the cause above (see the server's log) "
                    "and run `amosvault db migrate` again",
                ) from exc
            connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        return status.pending


def migrate_database(url: str, timeout: float = 10.0) -> list[Migration]:
    """Connect to ``url`` and apply what is pending (`amosvault db migrate`)."""
    with connect(url, timeout) as connection:
        return migrate(connection)


def database_status(url: str, timeout: float = 10.0) -> MigrationStatus:
    """Connect to ``url`` and read its migrations (`amosvault db status`)."""
    with connect(url, timeout) as connection:
        return migration_status(connection)


def _url_of(connection: Any) -> str:
    """The connection's address as a URL without secrets (for messages)."""
    info = connection.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
