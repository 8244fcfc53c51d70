"""The README's set-up, on a server of its own: a superuser creates the extension and a
login role with CREATEROLE; that (non-superuser) role migrates and owns the tables, and
FORCE row-level security binds it too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from amos_vault.admin.scaffold import init_vault
from amos_vault.mirror import ActiveMirror
from tests.postgres import PostgresCluster
from tests.team.conftest import share, use_postgres


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A server of this test's own (roles are server-wide: none left by other tests)."""
    cluster = PostgresCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def test_readme_setup_with_a_non_superuser_owner(
    own_cluster: PostgresCluster, tmp_path: Path, user_dirs: Path
) -> None:
    own_cluster.sql("CREATE ROLE amos LOGIN PASSWORD 'team-secret' CREATEROLE")
    own_cluster.sql("CREATE DATABASE team")
    own_cluster.sql("CREATE EXTENSION vector", "team")
    own_cluster.sql("GRANT CREATE ON SCHEMA public TO amos", "team")
    url = own_cluster.url("team", user="amos", password="team-secret")

    root = tmp_path / "alice"
    init_vault(root, "alice", user_dirs)
    use_postgres(root, url)
    alice = ActiveMirror(root, key_dir=user_dirs)
    session = alice.create_session("Shared")
    session.add_message("user", "The printer on floor two needs toner")
    share(session)
    alice.create_session("Mine").add_message("user", "My locker code is 4411")
    assert alice.index().chunks > 0
    assert alice.search("printer toner", sync=False).hits

    with psycopg.connect(url) as connection:  # the tables' owner, no identity set
        owner = connection.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'chunks'")
        assert owner.fetchone() == ("amos",)
        visible = connection.execute("SELECT count(*), count(*) FILTER (WHERE shared) FROM chunks")
        seen, shared = visible.fetchone()  # type: ignore[misc]
        assert seen == shared > 0  # the team's rows only: the owner is bound by FORCE
        private = connection.execute("SELECT count(*) FROM chunks WHERE text LIKE '%locker%'")
        assert private.fetchone() == (0,)
    alice.engine.close()

    # Only a superuser may let row-level security use the full-text index: `db status`
    # says what to run until one has.
    from amos_vault.index.engines.postgres.migrations import FULL_TEXT_NOTE, database_status

    assert database_status(url).notes == [FULL_TEXT_NOTE]
    own_cluster.sql("ALTER FUNCTION ts_match_vq(tsvector, tsquery) LEAKPROOF", "team")
    assert database_status(url).notes == []
