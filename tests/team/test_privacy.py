"""Privacy enforced by PostgreSQL itself: raw SQL under the request role, as any request runs,
cannot see or change another identity's private rows, even when it asks for them by name."""

from __future__ import annotations

import psycopg
import pytest

from amos_vault.files.identity import load_identity
from amos_vault.mirror import ActiveMirror
from tests.team.conftest import TeamVault, share


def _identity(mirror: ActiveMirror) -> str:
    return load_identity(mirror.vault.identity_path).identity_id


def _as(connection: psycopg.Connection, identity: str, vault: str | None = None) -> None:
    connection.execute(
        "SELECT set_config('role', 'amos_request', true), set_config('amos.identity', %s, true),"
        " set_config('amos.vault', %s, true)",
        (identity, vault or identity),
    )


def test_raw_sql_under_the_request_role_never_sees_another_identitys_private_rows(
    team_vault: TeamVault, postgres_url: str
) -> None:
    alice, bob = team_vault("alice"), team_vault("bob")
    secret = alice.create_session("Alice diary")
    secret.add_message("user", "My bank PIN hint is the name of my first cat")
    shared = alice.create_session("Team plan")
    shared.add_message("user", "The quarterly review moves to Thursday")
    share(shared)
    alice.index()
    bob.create_session("Bob notes").add_message("user", "Bob likes green tea")
    bob.index()
    alice_id, bob_id = _identity(alice), _identity(bob)

    with psycopg.connect(postgres_url) as connection:
        # The superuser (no role set) sees every row: the rows are there to be hidden.
        total = connection.execute("SELECT count(*) FROM chunks WHERE owner = %s", (alice_id,))
        assert total.fetchone()[0] > 0
        _as(connection, bob_id)
        asked = connection.execute(
            "SELECT text, shared FROM chunks WHERE owner = %s OR text LIKE '%%PIN%%'",
            (alice_id,),
        ).fetchall()
        assert asked and all(shared for _text, shared in asked)
        assert not any("PIN" in text for text, _shared in asked)
        files = connection.execute(
            "SELECT count(*) FROM indexed_files WHERE vault_id = %s", (alice_id,)
        ).fetchone()
        assert files == (0,)  # another vault's record of files is not even visible
        deleted = connection.execute("DELETE FROM chunks WHERE owner = %s", (alice_id,))
        assert deleted.rowcount == 0
        changed = connection.execute(
            "UPDATE chunks SET shared = true WHERE owner = %s", (alice_id,)
        )
        assert changed.rowcount == 0
        connection.rollback()

        _as(connection, bob_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            connection.execute(
                "INSERT INTO chunks (vault_id, key, owner, chunk_id, kind, path, text, "
                "content_hash, context_terms, own_terms) VALUES (%s, 1, %s, 'x', 'note', 'x', "
                "'planted', 'h', ''::tsvector, ''::tsvector)",
                (alice_id, alice_id),
            )
        connection.rollback()

        _as(connection, alice_id)  # the owner sees its own private text
        mine = connection.execute("SELECT count(*) FROM chunks WHERE text LIKE '%PIN%'")
        assert mine.fetchone()[0] >= 1
        connection.rollback()
