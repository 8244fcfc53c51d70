"""Vaults that index into the team's PostgreSQL (a fresh database per test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from amos_vault.admin.scaffold import init_vault
from amos_vault.mirror import ActiveMirror
from amos_vault.sessions.session import Session


def use_postgres(root: Path, url: str) -> None:
    """Point a vault's index at ``url`` (the config file, as a user would write it)."""
    config = root / ".amos" / "config.toml"
    text = config.read_text() if config.exists() else "[index]\n"
    assert "\n[index]\n" in "\n" + text
    # A short connect timeout: the tests that stop the server wait for it to say so.
    lines = f'[index]\nengine = "postgres"\nurl = "{url}"\nconnect_timeout_seconds = 3.0\n'
    config.write_text(("\n" + text).replace("\n[index]\n", "\n" + lines, 1).lstrip("\n"))


def share(session: Session, how: str = "shared: team") -> None:
    """Add a front-matter line to a session file, as a hand edit would."""
    assert session.path is not None
    text = session.path.read_text()
    assert text.startswith("---\n")
    session.path.write_text("---\n" + how + "\n" + text[4:])


TeamVault = Callable[[str], ActiveMirror]


@pytest.fixture
def team_vault(tmp_path: Path, user_dirs: Path, postgres_url: str) -> Iterator[TeamVault]:
    """Make vaults (each its own identity) that index into this test's database."""
    opened: list[ActiveMirror] = []

    def make(name: str) -> ActiveMirror:
        root = tmp_path / name
        init_vault(root, name, user_dirs)
        use_postgres(root, postgres_url)
        mirror = ActiveMirror(root, key_dir=user_dirs)
        opened.append(mirror)
        return mirror

    yield make
    for mirror in opened:
        if mirror._engine is not None:
            mirror._engine.close()
