"""Every link amos-vault writes or prints names exactly one file, as Obsidian resolves links
(#17): a session and its summary, links printed by add, search and MCP, a parent in another
month's folder, and vaults written by older versions (summaries named as their sessions)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from amos_vault.interfaces.mcp.tools import VaultTools
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime.client import VaultClient
from amos_vault.sessions.session import Session
from tests.conftest import RunCli

LINK = re.compile(r"\[\[([^\]|#]+)(?:#\^?([^\]|]+))?(?:\|[^\]]*)?\]\]")


def obsidian_resolves(root: Path, link: str, source: str) -> list[str]:
    """The files Obsidian could open for ``link`` written in the vault file ``source``: the
    exact path; else the files of that name (or ending in that partial path); among several,
    those in the source's folder, else those with the shortest path. More than one: a tie."""
    match = LINK.fullmatch(link.strip())
    assert match is not None, f"not a wikilink: {link!r}"
    target = match.group(1).strip().removesuffix(".md") + ".md"
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.md")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if target in files:
        return [target]
    named = [f for f in files if f == target or f.endswith("/" + target)]
    if len(named) <= 1:
        return named
    folder = source.rsplit("/", 1)[0] if "/" in source else ""
    here = [f for f in named if (f.rsplit("/", 1)[0] if "/" in f else "") == folder]
    if here:
        return here
    shortest = min(f.count("/") for f in named)
    return [f for f in named if f.count("/") == shortest]


def assert_names(root: Path, link: str, wanted: str, source: str = "elsewhere.md") -> None:
    found = obsidian_resolves(root, link, source)
    assert found == [wanted], f"{link} in {source} resolves to {found}, not [{wanted}]"
    block = LINK.fullmatch(link.strip()).group(2)  # type: ignore[union-attr]
    if block:  # the block the link points at is in that file
        assert re.search(rf"\^{re.escape(block)}\s*$", (root / wanted).read_text(), re.M), link


def _completed(mirror: ActiveMirror, title: str, text: str) -> Session:
    session = mirror.create_session(title)
    session.add_message("user", text)
    session.complete()
    return session


def test_a_session_and_its_summary_have_names_apart_and_every_link_is_unique(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    session = _completed(mirror, "Colors", "My favorite color is blue.")
    plan = mirror.memory.consolidate()
    assert plan.sessions == [session.id] and plan.added
    session.refresh()
    assert session.path is not None
    summary = next((vault_root / "memory" / "summaries").glob("*.md"))
    assert summary.stem != session.path.stem  # a name no session file has
    rel = session.relative_path
    assert rel is not None
    summary_rel = summary.relative_to(vault_root).as_posix()
    # The session's summary link, and every link in the summary and the facts.
    assert_names(vault_root, session.front_matter["summary"], summary_rel, rel)
    for note in [summary, *(vault_root / "memory").glob("*.md")]:
        note_rel = note.relative_to(vault_root).as_posix()
        for found in LINK.finditer(note.read_text()):
            wanted = found.group(1).removesuffix(".md") + ".md"
            assert_names(vault_root, found.group(0), wanted, note_rel)
    # A link to the message by the session's file name alone (as older versions printed it,
    # and people type) is no longer a tie with the summary.
    bare = f"[[{session.path.stem}#^{session.messages[0].id}]]"
    assert_names(vault_root, bare, rel, "memory/preference.md")


def test_links_printed_by_add_search_and_mcp_name_one_file(
    run_cli: RunCli, vault_root: Path, mirror: ActiveMirror
) -> None:
    done = _completed(mirror, "Old trip", "We ate grilled sardines in Lisbon.")
    mirror.memory.consolidate()  # its summary now exists beside it
    assert done.relative_path is not None
    live = mirror.create_session("Old trip")  # same title: a file name alike but the id
    added = run_cli("add", live.id, "Sardines again, by the river.")
    assert added.returncode == 0, added.stderr
    printed = LINK.search(added.stdout)
    assert printed is not None and live.relative_path is not None
    assert_names(vault_root, printed.group(0), live.relative_path)

    found = json.loads(run_cli("search", "sardines", "--json").stdout)["hits"]
    assert {hit["kind"] for hit in found} >= {"message", "note"}  # summaries are hits too
    for hit in found:
        assert_names(vault_root, hit["link"], hit["path"])

    tools = VaultTools(VaultClient.of(mirror))
    for hit in tools.search("sardines")["hits"]:
        assert_names(vault_root, hit["link"], hit["path"])
    appended = tools.append_message(live.id, "user", "And the tram?")
    assert_names(vault_root, appended["link"], live.relative_path)
    for message in tools.read_session(done.id)["messages"]:
        assert_names(vault_root, message["link"], done.relative_path)
    started = tools.start_session("Follow-up", parent=done.id)
    assert_names(vault_root, started["link"], started["path"])
    context = tools.context("sardines")
    for piece in context["pieces"]:
        if piece["link"]:
            assert_names(vault_root, piece["link"], piece["path"])


def test_a_parent_in_another_months_folder_is_linked_to_one_file(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    when = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
    parent = mirror.sessions.write_new(
        {"title": "January plan", "status": "completed", "kind": "persistent"}, (), when
    )
    parent.refresh()
    _completed(mirror, "Filler", "Nothing much.")
    mirror.memory.consolidate([parent.id])  # the parent's summary exists
    child = mirror.create_session("Follow-up", parent=parent.id)
    assert child.path is not None and parent.path is not None
    assert child.path.parent != parent.path.parent  # another month's folder
    assert parent.relative_path is not None and child.relative_path is not None
    assert_names(
        vault_root, child.front_matter["parent"], parent.relative_path, child.relative_path
    )
    relinked = mirror.link_sessions(child, parent.id)
    assert_names(vault_root, relinked.front_matter["parent"], parent.relative_path)


def test_old_summaries_named_as_their_sessions_are_renamed_and_old_links_still_read(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    session = _completed(mirror, "Tea", "I love green tea.")
    mirror.memory.consolidate()
    session.refresh()
    assert session.path is not None and session.relative_path is not None
    # The vault as an older version left it: the summary named as its session, linked so.
    summary = next((vault_root / "memory" / "summaries").glob("*.md"))
    old = summary.with_name(session.path.name)
    summary.rename(old)
    old_link = f"[[memory/summaries/{session.path.stem}]]"
    mirror.sessions.set_field(session.id, "summary", old_link)
    text = old.read_text() + "A line I added by hand.\n"
    old.write_text(text)
    bare = f"[[{session.path.stem}#^{session.messages[0].id}]]"
    # The defect: a tie (or the wrong file) for a link by the session's file name.
    assert obsidian_resolves(vault_root, bare, "memory/preference.md") != [session.relative_path]

    plan = mirror.memory.consolidate()  # nothing due: only the rename
    assert not plan.sessions and len(plan.renamed) == 1
    assert not old.exists()
    renamed = vault_root / next(iter(plan.renamed))
    assert renamed.read_text() == text  # moved as it was, a hand edit included
    session.refresh()
    assert_names(vault_root, session.front_matter["summary"], next(iter(plan.renamed)))
    assert_names(vault_root, bare, session.relative_path, "memory/preference.md")
    assert mirror.memory.consolidate().is_empty  # done once

    # Old links are still read where a session or message is named.
    assert mirror.load_session(f"[[{session.path.stem}]]").id == session.id
    assert mirror.load_session(f"[[{session.relative_path.removesuffix('.md')}]]").id == session.id
    remembered = run_cli("remember", "Tea is best green.", "--source", bare)
    assert remembered.returncode == 0, remembered.stderr
    fact = next(f for f in mirror.memory.facts() if f.text == "Tea is best green.")
    assert fact.sources == (
        f"{session.relative_path.removesuffix('.md')}#^{session.messages[0].id}",
    )
