"""Version history: only vault content is committed, and the message says what changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from amos_vault.admin.gitsync import commit_vault
from amos_vault.mirror import ActiveMirror
from tests.conftest import RunCli

LEFTOVERS = [
    "sessions/.plan.md.swp",  # vim swap: host name, path, unsaved text
    "sessions/notes.md~",
    ".DS_Store",
    "sessions/.DS_Store",
    ".obsidian/app.json",
    ".obsidian/workspace.json",
    ".trash/old.md",  # a note deleted in Obsidian must stay deleted
    "sessions/.#plan.md",
]


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _leave_leftovers(root: Path) -> None:
    for rel in LEFTOVERS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("private leftover\n")


def test_the_commit_job_versions_vault_content_only(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    assert run_cli("init", str(vault_root), "--git").returncode == 0
    ignore = (vault_root / ".gitignore").read_text()
    for rule in (".obsidian/workspace*", ".trash/", "*.swp", "*~", ".DS_Store"):
        assert rule in ignore.splitlines(), rule
    # Even with a .gitignore that says nothing of them (an older vault's, or a user's own).
    (vault_root / ".gitignore").write_text(".amos/*\n!.amos/config.toml\n")
    mirror.create_session("Plan").add_message("user", "Pack the tent.")
    _leave_leftovers(vault_root)

    report = commit_vault(vault_root, settle=0)
    assert report is not None and report.commit
    files = _git(vault_root, "ls-files").split()
    assert not [f for f in files if f in LEFTOVERS], files
    assert ".gitignore" in files and ".amos/config.toml" in files
    assert any(f.startswith("sessions/") and f.endswith(".md") for f in files)
    assert _git(vault_root, "log", "-1", "--format=%s").startswith("amos-vault: 1 session(s)")


def test_the_commit_message_counts_what_changed(mirror: ActiveMirror, vault_root: Path) -> None:
    mirror.create_session("Plan").add_message("user", "Pack the tent.")
    subprocess.run(["git", "init", "--quiet", str(vault_root)], check=True)
    assert commit_vault(vault_root, settle=0) is not None
    (vault_root / "memory" / "reading.md").write_text("# Reading\n\nA list of books.\n")
    report = commit_vault(vault_root, settle=0)
    assert report is not None and report.commit
    assert report.message.splitlines()[0] == "amos-vault: 1 memory note(s)"
    (vault_root / "README.md").write_text("my vault\n")
    report = commit_vault(vault_root, settle=0)
    assert report is not None and report.message.splitlines()[0] == "amos-vault: 1 other file(s)"


def test_a_moved_session_is_named_by_its_new_path(mirror: ActiveMirror, vault_root: Path) -> None:
    session = mirror.create_session("Moving")
    session.add_message("user", "Pack the tent.")
    subprocess.run(["git", "init", "--quiet", str(vault_root)], check=True)
    assert commit_vault(vault_root, settle=0) is not None
    assert session.path is not None
    moved = vault_root / "sessions" / "moved-here.md"
    session.path.rename(moved)
    (vault_root / "README.md").write_text("my vault\n")
    report = commit_vault(vault_root, settle=0)
    assert report is not None and report.commit
    assert "sessions/moved-here.md" in report.files and "README.md" in report.files
    assert "session: moved-here" in report.message.splitlines()
    assert report.message.splitlines()[0].startswith("amos-vault: 2 session(s), 1 other file(s)")
