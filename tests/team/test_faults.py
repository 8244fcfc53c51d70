"""Faults with the real PostgreSQL: a kill -9 mid-sync, the database restarting under a
warm engine, the database down, wrong settings; and the `amosvault db` commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from amos_vault.core.errors import DatabaseAccessError, DatabaseUnavailableError
from amos_vault.index.query import MemoryQuery
from tests.conftest import wait_for
from tests.postgres import PostgresCluster
from tests.team.conftest import TeamVault

# `amosvault` itself, committing every 0.2 s instead of every 30 s, so a kill lands between
# two commits of a small vault (the code path is the same, only more commits).
QUICK_COMMITS = (
    "import sys, amos_vault.index.sync as sync; sync.COMMIT_EVERY_SECONDS = 0.2; "
    "from amos_vault.interfaces.cli import main; sys.argv[0] = 'amosvault'; main()"
)


def _rows(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every chunk and file record (as the superuser), without what a sync may differ in."""
    with psycopg.connect(url) as connection:
        chunks = connection.execute(
            "SELECT vault_id, key, path, shared, text, content_hash, vector_hash, "
            "embedding IS NOT NULL FROM chunks ORDER BY vault_id, key"
        ).fetchall()
        files = connection.execute(
            "SELECT vault_id, path, hash, keys FROM indexed_files ORDER BY vault_id, path"
        ).fetchall()
    return chunks, files


def _count_files(url: str) -> int:
    with psycopg.connect(url) as connection:
        exists = connection.execute("SELECT to_regclass('indexed_files')").fetchone()
        if not exists or exists[0] is None:  # not migrated yet
            return 0
        row = connection.execute("SELECT count(*) FROM indexed_files").fetchone()
    return int(row[0]) if row else 0


def test_kill_9_mid_sync_then_rerun_equals_a_fresh_sync(
    team_vault: TeamVault, postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    mirror = team_vault("alice")
    for number in range(80):  # two batches of files (64 a batch): the kill lands between
        session = mirror.create_session(f"Trip log {number}")
        for line in range(2):
            session.add_message("user", f"Day {line} of trip {number}: we walked to lake {line}")
    root = mirror.vault.root
    env = {**os.environ, "AMOS_VAULT": str(root)}
    command = [sys.executable, "-c", QUICK_COMMITS, "index", "--json"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _count_files(postgres_url) > 0, timeout=120, what="a first commit")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    partial = _count_files(postgres_url)
    assert 0 < partial < 80, "the kill must land mid-sync"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = _rows(postgres_url)

    fresh_db = postgres_cluster.create_database()
    try:
        fresh_url = postgres_cluster.url(fresh_db)
        fresh = subprocess.run(
            [sys.executable, "-m", "amos_vault", "index"],
            env={**env, "AMOS_DATABASE_URL": fresh_url},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert fresh.returncode == 0, fresh.stderr
        assert _rows(fresh_url) == after
    finally:
        postgres_cluster.drop_database(fresh_db)
    assert len(after[1]) == 80 and all(row[-1] for row in after[0])


def test_database_restart_under_a_warm_engine_recovers(
    team_vault: TeamVault, postgres_cluster: PostgresCluster
) -> None:
    mirror = team_vault("alice")
    mirror.create_session("Recipes").add_message("user", "The pancake batter needs buttermilk")
    mirror.index()
    query = MemoryQuery("pancake batter", k=3)
    assert mirror.search(query, sync=False).hits

    postgres_cluster.restart()  # every pooled connection is now broken
    assert mirror.search(query, sync=False).hits[0].text.startswith("The pancake")

    postgres_cluster.stop()
    try:
        with pytest.raises(DatabaseUnavailableError) as down:
            mirror.search(query, sync=False)
        assert "cannot reach PostgreSQL" in down.value.message
        assert "start the database server" in (down.value.hint or "")
    finally:
        postgres_cluster.start()
    assert mirror.search(query, sync=False).hits
    mirror.create_session("More").add_message("user", "Waffles need a hot iron")
    assert mirror.index().chunks > 0


def _amosvault(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amos_vault", "--vault", str(root), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_commands_and_one_line_errors(
    team_vault: TeamVault, postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    root = team_vault("alice").vault.root
    status = _amosvault(root, "db", "status")
    assert status.returncode == 0, status.stderr
    assert "schema version: 0" in status.stdout and "pending 0001 chunks" in status.stdout
    migrated = _amosvault(root, "db", "migrate")
    assert migrated.returncode == 0 and "applied 0001 chunks" in migrated.stdout
    assert "amos-test-superuser" not in migrated.stdout  # the password is never shown
    again = _amosvault(root, "db", "migrate")
    assert "nothing to apply" in again.stdout

    database = postgres_url.rsplit("/", 1)[1]
    wrong = postgres_cluster.url(database, password="wrong")
    refused = _amosvault(root, "search", "anything", AMOS_DATABASE_URL=wrong)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert (
        lines[0].startswith("error: PostgreSQL at 127.0.0.1:")
        and "wrong user or password" in lines[0]
    )
    assert len(lines) == 2 and "AMOS_DATABASE_URL" in lines[1]
    assert "Traceback" not in refused.stderr

    down = _amosvault(root, "index", AMOS_DATABASE_URL="postgresql://x:y@127.0.0.1:1/amos")
    assert down.returncode == 1 and "cannot reach PostgreSQL at 127.0.0.1:1" in down.stderr

    missing = _amosvault(root, "db", "status", AMOS_DATABASE_URL=postgres_cluster.url("nope"))
    assert missing.returncode == 1 and "has no database 'nope'" in missing.stderr
    assert isinstance(DatabaseAccessError("x"), Exception)
