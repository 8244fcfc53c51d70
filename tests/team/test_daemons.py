"""Two real daemons of two identities, one database: each watcher writes its vault's
changes, each search sees its own text and the team's, never the other's private text."""

from __future__ import annotations

import signal

from tests.conftest import DaemonProcess
from tests.team.conftest import TeamVault, share


def _texts(daemon: DaemonProcess, text: str) -> str:
    return " ".join(hit["text"] for hit in daemon.search(text))


def test_two_daemons_share_one_database(team_vault: TeamVault) -> None:
    alice, bob = team_vault("alice"), team_vault("bob")
    alice.create_session("Alice diary").add_message("user", "Alice keeps the spare key in a boot")
    bob.create_session("Bob diary").add_message("user", "Bob hides the spare key under a rock")
    daemons = [DaemonProcess(alice.vault.root), DaemonProcess(bob.vault.root)]
    try:
        for daemon in daemons:
            status = daemon.wait_ready()
            assert status["chunks"] > 0, status
        alice_daemon, bob_daemon = daemons

        team = alice.create_session("Release plan")
        team.add_message("user", "The release freeze starts on the ninth of June")
        share(team)  # a hand edit: the watcher picks the file up again
        bob_daemon.wait_found(
            "release freeze", lambda hits: any("ninth of June" in h["text"] for h in hits)
        )

        assert "boot" not in _texts(bob_daemon, "where is the spare key")
        assert "rock" in _texts(bob_daemon, "where is the spare key")
        assert "rock" not in _texts(alice_daemon, "where is the spare key")
        assert "boot" in _texts(alice_daemon, "where is the spare key")
    finally:
        codes = [daemon.stop(signal.SIGTERM) for daemon in daemons]
    assert codes == [0, 0]
