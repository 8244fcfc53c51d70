"""Migrations on a real PostgreSQL: applied once, safe when started twice at once, a
database from a newer version refused, a missing extension reported in one line."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from amos_vault.core.errors import (
    DatabaseAccessError,
    DatabaseSchemaError,
    DatabaseUnavailableError,
)
from amos_vault.index.engines.postgres.connection import connect, open_pool
from amos_vault.index.engines.postgres.migrations import (
    known_migrations,
    migrate,
    migration_status,
)
from tests.postgres import PostgresCluster


def test_migrate_applies_each_file_once(postgres_url: str) -> None:
    with connect(postgres_url) as connection:
        applied = migrate(connection)
        assert [m.version for m in applied] == [m.version for m in known_migrations()]
        assert migrate(connection) == []
        status = migration_status(connection)
        assert status.pending == [] and status.version == known_migrations()[-1].version
        assert status.notes == []  # a superuser migrated: full text can use its index
        tables = connection.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname IN ('chunks', 'indexed_files') ORDER BY relname"
        ).fetchall()
    assert tables == [("chunks", True, True), ("indexed_files", True, True)]


def test_two_starting_at_once_migrate_once(postgres_url: str) -> None:
    results: list[object] = []

    def start() -> None:
        try:
            with connect(postgres_url) as connection:
                results.append(len(migrate(connection)))
        except Exception as exc:  # reported below: the test must see it
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=str) == sorted([0, 0, 0, len(known_migrations())], key=str)
    with connect(postgres_url) as connection:
        rows = connection.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert rows == (len(known_migrations()),)


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    with connect(postgres_url) as connection:
        migrate(connection)
        connection.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
        connection.commit()
        with pytest.raises(DatabaseSchemaError, match="newer amos-vault") as raised:
            migrate(connection)
    assert "upgrade amos-vault" in (raised.value.hint or "")


def test_migration_files_are_numbered_once(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(DatabaseSchemaError, match="two migrations are numbered 0001"):
        known_migrations(tmp_path)


def test_missing_vector_extension_says_to_create_it(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    postgres_cluster.sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plain_user') THEN "
        "CREATE ROLE plain_user LOGIN PASSWORD 'plain'; END IF; END $$"
    )
    postgres_cluster.sql(f"GRANT ALL ON DATABASE {database} TO plain_user")
    postgres_cluster.sql("GRANT ALL ON SCHEMA public TO plain_user", database)
    url = postgres_cluster.url(database, user="plain_user", password="plain")
    with connect(url) as connection, pytest.raises(DatabaseSchemaError) as raised:
        migrate(connection)
    assert "no vector extension" in raised.value.message
    assert "\n" not in raised.value.message
    assert raised.value.hint and "CREATE EXTENSION vector as a superuser" in raised.value.hint
    with connect(postgres_url) as connection:  # nothing was half-made
        assert migration_status(connection).applied == []


def test_wrong_password_and_server_down_are_one_line(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    wrong = postgres_cluster.url(database, password="not-the-password")
    with pytest.raises(DatabaseAccessError) as raised:
        connect(wrong)
    assert raised.value.message.endswith("refused the login: wrong user or password")
    assert "not-the-password" not in str(raised.value) + (raised.value.hint or "")
    with pytest.raises(DatabaseAccessError, match="has no database 'nowhere'"):
        connect(postgres_cluster.url("nowhere"))
    with pytest.raises(DatabaseAccessError, match="refused the login"):
        open_pool(wrong, size=1, timeout=5)

    closed = "postgresql://postgres:x@127.0.0.1:1/postgres"
    with pytest.raises(DatabaseUnavailableError) as down:
        connect(closed, timeout=2)
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in down.value.message
    assert "\n" not in down.value.message
    assert isinstance(down.value.__cause__, psycopg.OperationalError)
