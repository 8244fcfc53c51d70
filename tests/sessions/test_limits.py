"""The session size limit (sessions.max_file_mb): refused before writing, and a file over it
is still found by its id and named with its problem."""

from __future__ import annotations

import json
from pathlib import Path

from amos_vault.admin.doctor import check_vault
from amos_vault.files.vault import Vault
from tests.conftest import RunCli

LIMIT = "[sessions]\nmax_file_mb = 0.5\n"


def test_a_paste_over_the_limit_is_refused_and_nothing_is_written(
    run_cli: RunCli, vault_root: Path
) -> None:
    (vault_root / ".amos" / "config.toml").write_text(LIMIT)
    made = json.loads(run_cli("new", "Paste", "--json").stdout)
    run_cli("add", made["id"], "a first message")
    path = vault_root / made["path"]
    before = path.read_bytes()

    paste = "a line of a very long paste\n" * 30_000  # ~0.8 MiB
    added = run_cli("add", made["id"], input=paste)
    assert added.returncode == 1
    assert "over the 0.5 MiB limit for session files" in added.stderr
    assert "sessions.max_file_mb" in added.stderr and "nothing was written" in added.stderr
    assert path.read_bytes() == before
    shown = run_cli("show", made["id"])
    assert shown.returncode == 0 and "a first message" in shown.stdout


def test_a_file_over_the_limit_is_named_with_its_problem(run_cli: RunCli, vault_root: Path) -> None:
    parent = json.loads(run_cli("new", "Big one", "--json").stdout)
    child = json.loads(run_cli("new", "Child", "--parent", parent["id"], "--json").stdout)
    big = vault_root / parent["path"]
    with big.open("a") as handle:  # made big by hand (another tool, a huge paste in an editor)
        handle.write("x" * 600_000 + "\n")
    (vault_root / ".amos" / "config.toml").write_text(LIMIT)

    for ref in (parent["id"], parent["id"][:6]):
        shown = run_cli("show", ref)
        assert shown.returncode == 1
        assert "no session matches" not in shown.stderr
        assert "over the 0.5 MiB limit" in shown.stderr and big.name in shown.stderr

    listed = run_cli("list")
    assert listed.returncode == 0 and child["id"] in listed.stdout
    assert f"unreadable: {parent['path']}" in listed.stderr and "0.5 MiB limit" in listed.stderr

    problems = check_vault(Vault.open(vault_root))
    about_child = [p for p in problems if p.path == child["path"]]
    assert about_child and "cannot be read" in about_child[0].message
    assert not any("--none" in (p.hint or "") for p in about_child)  # the link is right
    assert any(p.path == parent["path"] and "limit" in p.message for p in problems)


def test_a_readable_session_wins_over_an_unreadable_file_named_alike(
    run_cli: RunCli, vault_root: Path
) -> None:
    sessions = vault_root / "sessions"
    (sessions / "2026-11-20-good-abcd.md").write_text(
        "---\nid: abcd12345678\ntitle: Good\nstatus: active\n---\n\n"
        "**user** · 2026-11-20 10:00:00Z ^m-00000001\n\nStill readable.\n"
    )
    (sessions / "2026-11-21-broken-abcd.md").write_text("---\nid: abcd99\ntitle: [x\n---\n")
    for ref in ("abcd12345678", "abcd12"):
        shown = run_cli("show", ref)
        assert shown.returncode == 0 and "Still readable." in shown.stdout, shown.stderr
    broken = run_cli("show", "abcd99")
    assert broken.returncode == 1 and "broken-abcd.md" in broken.stderr
