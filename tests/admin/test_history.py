"""Memory as of a date (#17): the facts that held then, and search over the vault as its git
history has it, on a real git repository with dated commits."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from amos_vault.admin.gitsync import init_repository
from amos_vault.admin.history import NotVersionedError
from amos_vault.core.errors import InvalidInputError
from amos_vault.interfaces.mcp.tools import VaultTools
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime.client import VaultClient
from tests.conftest import RunCli

FACTS = """\
# Preferences

- Tester drinks green tea in the morning. [type:: preference] [topic:: Tester: drink] \
[first_seen:: 2026-01-05] [valid_from:: 2026-01-05] [valid_to:: 2026-02-15] ^f-0000aaaa
- Tester drinks black coffee in the morning. [type:: preference] [topic:: Tester: drink] \
[first_seen:: 2026-02-15] [valid_from:: 2026-02-15] ^f-0000bbbb
- Tester keeps a vegetable garden. [type:: preference] ^f-0000cccc
"""


def commit(root: Path, when: str, message: str) -> None:
    """Commit everything now in the vault, dated ``when`` (as the daemon's commits are)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "GIT_AUTHOR_NAME": "Tester",
        "GIT_AUTHOR_EMAIL": "tester@localhost",
        "GIT_COMMITTER_NAME": "Tester",
        "GIT_COMMITTER_EMAIL": "tester@localhost",
    }
    for args in (["add", "--all"], ["commit", "--quiet", "-m", message]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)


@pytest.fixture
def history(mirror: ActiveMirror, vault_root: Path) -> dict[str, str]:
    """A git vault with two dated commits: January (tomatoes) and March (peppers, a kayak)."""
    init_repository(vault_root)
    garden = mirror.create_session("Garden")
    garden.add_message("user", "I planted tomatoes along the south fence.")
    commit(vault_root, "2026-01-10T09:00:00+00:00", "January")
    assert garden.path is not None
    text = garden.path.read_text()
    garden.path.write_text(text.replace("tomatoes", "chili peppers"))  # edited by hand since
    kayak = mirror.create_session("Kayak")
    kayak.add_message("user", "I bought a red sea kayak for the summer.")
    commit(vault_root, "2026-03-01T18:30:00+00:00", "March")
    return {"garden": garden.id, "kayak": kayak.id}


def texts(result) -> str:
    return " ".join(hit.text for hit in result.hits)


def test_search_as_of_a_date_reads_the_files_of_the_last_commit_before_it(
    mirror: ActiveMirror, history: dict[str, str]
) -> None:
    now = mirror.search("what did I plant along the fence", sync=True)
    assert "chili peppers" in texts(now) and "tomatoes" not in texts(now)

    january = mirror.search("what did I plant along the fence", as_of=dt.date(2026, 1, 31))
    assert "tomatoes" in texts(january) and "chili peppers" not in texts(january)
    assert january.notice is not None and "2026-01-10 09:00" in january.notice
    assert all(hit.session_id != history["kayak"] for hit in january.hits)  # not written yet
    top = january.hits[0]
    assert top.session_id == history["garden"] and top.kind == "message"
    assert top.path.startswith("sessions/")  # the same paths as in the vault

    march = mirror.search("kayak", as_of=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert march.hits[0].session_id == history["kayak"]
    assert march.notice is not None and "2026-03-01 18:30" in march.notice
    # The end of a date counts: the March commit is on or before 2026-03-01.
    same_day = mirror.search("kayak", as_of=dt.date(2026, 3, 1))
    assert same_day.hits and same_day.hits[0].session_id == history["kayak"]

    with pytest.raises(InvalidInputError, match="history starts on 2026-01-10"):
        mirror.search("tomatoes", as_of=dt.date(2025, 12, 31))


def test_a_vault_that_is_not_a_git_repository_says_so(
    mirror: ActiveMirror, run_cli: RunCli
) -> None:
    mirror.create_session("Garden").add_message("user", "I planted tomatoes.")
    with pytest.raises(NotVersionedError, match="is not a git repository") as raised:
        mirror.search("tomatoes", as_of=dt.date(2026, 1, 31))
    assert raised.value.hint is not None and "--until" in raised.value.hint
    shown = run_cli("search", "tomatoes", "--as-of", "2026-01-31")
    assert shown.returncode == 1 and "is not a git repository" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_cli_and_mcp_search_as_of(
    mirror: ActiveMirror, history: dict[str, str], run_cli: RunCli
) -> None:
    shown = run_cli("search", "planted along the fence", "--as-of", "2026-01-31", "--json")
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    assert "tomatoes" in answer["hits"][0]["text"] and "2026-01-10" in answer["notice"]
    printed = run_cli("search", "planted along the fence", "--as-of", "2026-01-31")
    assert "tomatoes" in printed.stdout and "as committed on 2026-01-10" in printed.stderr
    bad = run_cli("search", "tomatoes", "--as-of", "last winter")
    assert bad.returncode != 0 and "--as-of" in bad.stderr

    tools = VaultTools(VaultClient.of(mirror))
    found = tools.search("planted along the fence", as_of="2026-01-31")
    assert "tomatoes" in found["hits"][0]["text"] and "2026-01-10" in found["notice"]
    today = tools.search("planted along the fence")
    assert "chili peppers" in today["hits"][0]["text"]


def test_facts_as_of_a_date_are_those_valid_then(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    (vault_root / "memory" / "preference.md").write_text(FACTS)

    def ids(as_of: dt.date | None, closed: bool = False) -> list[str]:
        return [f.id for f in mirror.memory.facts(as_of=as_of, include_closed=closed)]

    assert ids(None) == ["f-0000bbbb", "f-0000cccc"]  # today
    assert ids(dt.date(2026, 2, 1)) == ["f-0000aaaa", "f-0000cccc"]
    assert ids(dt.date(2026, 2, 15)) == ["f-0000bbbb", "f-0000cccc"]  # valid_to is exclusive
    assert ids(dt.date(2026, 1, 1)) == ["f-0000cccc"]  # a line with no dates: always known
    assert ids(dt.date(2026, 3, 1), closed=True) == ["f-0000aaaa", "f-0000bbbb", "f-0000cccc"]

    shown = run_cli("facts", "--as-of", "2026-02-01", "--json")
    assert shown.returncode == 0, shown.stderr
    facts = json.loads(shown.stdout)
    assert [f["id"] for f in facts] == ["f-0000aaaa", "f-0000cccc"]
    assert facts[0]["valid_from"] == "2026-01-05" and facts[0]["valid_to"] == "2026-02-15"
    printed = run_cli("facts", "--as-of", "2026-02-01").stdout
    assert "green tea" in printed and "coffee" not in printed and "(closed" not in printed
    listed = run_cli("facts", "--all", "--as-of", "2026-03-01").stdout
    assert "green tea" in listed and "(closed 2026-02-15)" in listed
    none = run_cli("facts", "--as-of", "2025-12-01", "--type", "context")
    assert "No fact held on 2025-12-01" in none.stdout

    tools = VaultTools(VaultClient.of(mirror))
    then = tools.list_facts(as_of="2026-02-01")
    assert then["as_of"] == "2026-02-01"
    assert [f["id"] for f in then["facts"]] == ["f-0000aaaa", "f-0000cccc"]
    assert [f["id"] for f in tools.list_facts()["facts"]] == ["f-0000bbbb", "f-0000cccc"]
    with pytest.raises(InvalidInputError, match="as_of"):
        tools.list_facts(as_of="soon")
