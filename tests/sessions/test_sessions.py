"""Sessions through the library API: lifecycle, linking, listing, nothing lost on writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amos_vault.core.errors import (
    AmbiguousSessionError,
    InvalidInputError,
    InvalidTransitionError,
    LineageCycleError,
    SessionNotFoundError,
    SessionStateError,
)
from amos_vault.files.sessionfile import parse_session_bytes
from amos_vault.mirror import ActiveMirror


def test_create_writes_a_readable_file_with_full_front_matter(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Plan the MVP", tags=["work", "#mvp"], user_id="app-user-7")
    assert session.path is not None and session.path.is_file()
    rel = session.relative_path
    assert rel is not None and rel.startswith("sessions/")
    assert rel.endswith(f"-plan-the-mvp-{session.id[:4]}.md")
    assert oct(session.path.stat().st_mode & 0o777) == "0o600"
    assert oct(session.path.parent.stat().st_mode & 0o777) == "0o700"
    meta = parse_session_bytes(session.path.read_bytes()).meta
    assert meta["id"] == session.id
    assert meta["title"] == "Plan the MVP"
    assert meta["identity"] == mirror.identity.identity_id  # type: ignore[union-attr]
    assert meta["user_id"] == "app-user-7"
    assert meta["status"] == "active" and meta["kind"] == "persistent"
    assert meta["tags"] == ["work", "mvp"]
    assert isinstance(meta["created"], dt.datetime) and isinstance(meta["updated"], dt.datetime)
    assert "&id" not in session.path.read_text()  # no YAML anchors, even for equal values


def test_messages_are_stored_in_order_and_reloaded(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Chat")
    first = session.add_message("user", "Hello **there**\n\n```py\nprint(1)\n```")
    second = session.add_message("assistant", "Hi!", metadata={"model": "llama3.2", "tokens": 3})
    again = mirror.load_session(session.id)
    assert again.messages == (first, second)
    assert again.messages[1].metadata == {"model": "llama3.2", "tokens": 3}
    assert first.id != second.id and first.id.startswith("m-")
    assert session.link_to(first) == f"[[{session.relative_path[:-3]}#^{first.id}]]"  # type: ignore[index]
    assert f"^{first.id}" in session.path.read_text()  # type: ignore[union-attr]
    assert again.get_context() == [first, second]


def test_lifecycle_follows_the_allowed_transitions(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Lifecycle")
    assert session.status == "active"
    session.pause()
    assert session.status == "paused"
    with pytest.raises(SessionStateError, match="paused"):
        session.add_message("user", "not while paused")
    session.resume()
    session.add_message("user", "back again")
    session.complete()
    with pytest.raises(InvalidTransitionError) as info:
        session.resume()
    assert "from completed you can: archive" in (info.value.hint or "")
    session.archive()
    assert mirror.load_session(session.id).status == "archived"
    assert session.path is not None and session.path.exists()  # archived sessions stay as files
    with pytest.raises(InvalidTransitionError) as final:
        session.pause()
    assert "final" in (final.value.hint or "")
    with pytest.raises(SessionStateError):
        session.add_message("user", "too late")


def test_ephemeral_sessions_are_never_written(mirror: ActiveMirror, vault_root: Path) -> None:
    before = sorted(p for p in vault_root.rglob("*") if p.is_file())
    session = mirror.create_session("Scratch", kind="ephemeral")
    session.add_message("user", "keep this out of the vault")
    session.pause()
    assert session.path is None
    assert mirror.load_session(session.id) is session
    assert session.export("txt").count("keep this out of the vault") == 1
    after = sorted(p for p in vault_root.rglob("*") if p.is_file() and ".amos" not in p.parts)
    assert after == [p for p in before if ".amos" not in p.parts]
    assert ActiveMirror(vault_root).list_sessions() == []


def test_lineage_walks_to_the_root_and_cycles_are_errors(mirror: ActiveMirror) -> None:
    root = mirror.create_session("Root")
    child = mirror.create_session("Child", parent=root)
    grandchild = mirror.create_session("Grandchild", parent=child.id)
    assert [s.id for s in grandchild.lineage()] == [grandchild.id, child.id, root.id]
    assert grandchild.front_matter["parent"] == f"[[{child.relative_path[:-3]}]]"  # type: ignore[index]
    with pytest.raises(LineageCycleError):
        mirror.link_sessions(root, grandchild)
    # A cycle made by hand is detected, not followed forever.
    assert root.path is not None
    text = root.path.read_text().replace("tags: []", f"parent_id: {grandchild.id}\ntags: []")
    root.path.write_text(text)
    with pytest.raises(LineageCycleError, match="cycle"):
        mirror.load_session(grandchild.id).lineage()


def test_list_filters_and_prefix_lookup(mirror: ActiveMirror) -> None:
    a = mirror.create_session("Alpha", tags=["work"], user_id="u1")
    b = mirror.create_session("Beta", tags=["home"], user_id="u2")
    b.complete()
    assert {s.id for s in mirror.list_sessions()} == {a.id, b.id}
    assert [s.id for s in mirror.list_sessions(status="completed")] == [b.id]
    assert [s.id for s in mirror.list_sessions(tag="work")] == [a.id]
    assert [s.id for s in mirror.list_sessions(user_id="u2")] == [b.id]
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert mirror.list_sessions(since=future) == []
    assert len(mirror.list_sessions(until=future)) == 2
    assert mirror.load_session(a.id[:6]).id == a.id
    assert mirror.load_session(a.relative_path).id == a.id  # type: ignore[arg-type]
    with pytest.raises(SessionNotFoundError):
        mirror.load_session("zzzz")


def test_ambiguous_prefix_is_reported(mirror: ActiveMirror) -> None:
    sessions = [mirror.create_session(f"S{i}") for i in range(40)]
    by_first = {}
    for s in sessions:
        by_first.setdefault(s.id[0], []).append(s)
    prefix = next(k for k, v in by_first.items() if len(v) > 1)
    with pytest.raises(AmbiguousSessionError, match="matches"):
        mirror.load_session(prefix)


def test_invalid_input_is_refused(mirror: ActiveMirror) -> None:
    with pytest.raises(InvalidInputError):
        mirror.create_session("   ")
    with pytest.raises(InvalidInputError):
        mirror.create_session("two\nlines")
    with pytest.raises(InvalidInputError):
        mirror.create_session("ok", tags=["has space"])
    session = mirror.create_session("ok")
    with pytest.raises(InvalidInputError):
        session.add_message("robot", "x")
    with pytest.raises(InvalidInputError):
        session.add_message("user", "nul \x00 byte")
    with pytest.raises(InvalidInputError):
        session.add_message("user", "x", metadata={"bad": object()})
    assert session.messages == ()


def test_an_edit_saved_by_an_editor_meanwhile_is_kept(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Edited")
    session.add_message("user", "first draft")
    assert session.path is not None
    # An editor saves the file between our read and our next write.
    text = session.path.read_text()
    text = text.replace("first draft", "first draft, corrected by hand")
    text += "\n**user** · 2026-11-20 11:00:00Z ^m-byhand01\n\nTyped in the editor.\n"
    session.path.write_text(text)
    session.add_message("assistant", "reply from the app")
    contents = [m.content for m in mirror.load_session(session.id).messages]
    assert contents == [
        "first draft, corrected by hand",
        "Typed in the editor.",
        "reply from the app",
    ]


def test_a_session_moved_by_the_user_is_found_again(mirror: ActiveMirror, vault_root: Path) -> None:
    session = mirror.create_session("Movable")
    assert session.path is not None
    target = vault_root / "sessions" / "renamed in obsidian.md"
    session.path.rename(target)
    session.add_message("user", "still works")
    assert session.path == target
    assert mirror.load_session(session.id).messages[-1].content == "still works"


def test_delete_removes_only_that_file(mirror: ActiveMirror) -> None:
    keep = mirror.create_session("Keep")
    drop = mirror.create_session("Drop")
    mirror.delete_session(drop.id)
    assert drop.path is not None and not drop.path.exists()
    assert [s.id for s in mirror.list_sessions()] == [keep.id]


def test_export_formats(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Export me", tags=["x"])
    session.add_message("user", "question")
    session.add_message("assistant", "answer")
    data = json.loads(session.export("json"))
    assert data["session"]["title"] == "Export me"
    assert [m["content"] for m in data["messages"]] == ["question", "answer"]
    assert session.export("markdown") == session.path.read_text()  # type: ignore[union-attr]
    txt = session.export("txt")
    assert "user:\nquestion" in txt and "assistant:\nanswer" in txt
    with pytest.raises(InvalidInputError):
        session.export("pdf")


def test_identity_signs_and_verifies_claims(mirror: ActiveMirror, user_dirs: Path) -> None:
    identity = mirror.identity
    assert identity is not None
    assert identity.identity_id.startswith("mdna_usr_") and len(identity.identity_id) == 25
    assert identity.identity_type == "user"
    claim = {"session": "abc", "sha256": "00ff"}
    signature = mirror.sign(claim)
    assert mirror.verify(claim, signature)
    assert not mirror.verify({**claim, "sha256": "11ee"}, signature)
    assert not mirror.verify(claim, "not base64!")
    key = user_dirs / "keys" / f"{identity.identity_id}.pem"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert not any(p.suffix == ".pem" for p in mirror.vault.root.rglob("*"))


APPENDER = textwrap.dedent(
    """
    import sys
    from amos_vault.mirror import ActiveMirror
    mirror = ActiveMirror(sys.argv[1])
    session = mirror.load_session(sys.argv[2])
    for i in range(200):
        session.add_message("user", f"{sys.argv[3]}-{i}")
    """
)


def test_two_processes_appending_at_once_lose_nothing(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    session = mirror.create_session("Contended")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(vault_root), session.id, name], env=env
        )
        for name in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    messages = mirror.load_session(session.id).messages
    contents = [m.content for m in messages]
    assert len(contents) == 400
    assert sorted(contents) == sorted(f"{n}-{i}" for n in "ab" for i in range(200))
    for name in "ab":  # each writer's messages keep their own order
        mine = [c for c in contents if c.startswith(name)]
        assert mine == [f"{name}-{i}" for i in range(200)]
    assert len({m.id for m in messages}) == 400


def test_an_editor_save_during_a_write_is_not_overwritten(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Race")
    session.add_message("user", "first")
    assert session.path is not None
    path = session.path
    saved = []

    def change(doc) -> None:
        if not saved:  # an editor saves between our read and our rename
            path.write_text(path.read_text().replace("first", "first, edited by hand"))
            saved.append(True)
        doc.meta["status"] = "paused"

    mirror.sessions._write(session, change)
    again = mirror.load_session(session.id)
    assert again.status == "paused" and again.messages[0].content == "first, edited by hand"


def _save_as_editor(path: Path, text: str) -> None:
    """Save ``text`` the way editors do: a temp file renamed over the file."""
    tmp = path.with_name(f".{path.name}.editor.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_an_editor_save_in_the_instant_before_the_rename_is_merged(
    mirror: ActiveMirror, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the concurrency soak: an editor that saves after the last check and before
    # the rename (the writer's fsync is in between) had its edit overwritten.
    import amos_vault.sessions.manager as sessions_module

    session = mirror.create_session("Window")
    session.add_message("user", "first")
    assert session.path is not None
    path = session.path
    real = sessions_module.replace_file
    calls = []

    def editor_saves_first(target: Path, data: bytes, expected: bytes) -> bool:
        if not calls:
            text = target.read_text().replace("first", "first, edited by hand")
            _save_as_editor(target, text + "\n**user** · 2026-12-02 10:00:00Z\n\nTyped.\n")
        calls.append(target)
        return real(target, data, expected)

    monkeypatch.setattr(sessions_module, "replace_file", editor_saves_first)
    with caplog.at_level("INFO", logger="amos_vault.sessions.manager"):
        added = session.add_message("assistant", "the reply")
    messages = mirror.load_session(session.id).messages
    assert [m.content for m in messages] == ["first, edited by hand", "Typed.", "the reply"]
    assert messages[-1].id == added.id and len(calls) == 2
    assert "merging" in caplog.text
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_a_broken_editor_save_in_that_instant_is_kept_and_reported(
    mirror: ActiveMirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    import amos_vault.sessions.manager as sessions_module
    from amos_vault.core.errors import ParseError

    session = mirror.create_session("Broken")
    assert session.path is not None
    real = sessions_module.replace_file
    broken = "---\nid: [unclosed\n---\nhalf-typed front-matter\n"

    def editor_saves_first(target: Path, data: bytes, expected: bytes) -> bool:
        if not target.read_text().startswith(broken):
            _save_as_editor(target, broken)
        return real(target, data, expected)

    monkeypatch.setattr(sessions_module, "replace_file", editor_saves_first)
    with pytest.raises(ParseError):
        session.add_message("user", "never written over their text")
    assert session.path.read_text() == broken


def test_two_saves_in_that_instant_keep_both_and_say_so(
    mirror: ActiveMirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    import amos_vault.files.vault as vault_module
    from amos_vault.core.errors import ConflictError

    session = mirror.create_session("Twice")
    assert session.path is not None
    path = session.path
    real = vault_module._exchange
    swaps: list[int] = []

    def saves_around_each_swap(first: Path, second: Path) -> bool:
        swaps.append(1)
        if len(swaps) <= 2:  # an editor saves before our swap, and again before the swap back
            _save_as_editor(path, path.read_text() + f"\nsave {len(swaps)}\n")
        return real(first, second)

    monkeypatch.setattr(vault_module, "_exchange", saves_around_each_swap)
    with pytest.raises(ConflictError) as info:
        session.add_message("user", "not written")
    kept = [p for p in path.parent.iterdir() if p.name.startswith(".")]
    assert len(kept) == 1 and kept[0].name in str(info.value)
    assert path.read_text().endswith("save 1\n")
    assert kept[0].read_text().endswith("save 2\n")


def test_bad_settings_are_refused_with_the_key(vault_root: Path) -> None:
    from amos_vault.core.errors import ConfigError
    from amos_vault.files.vault import Vault

    config = vault_root / ".amos" / "config.toml"
    for text, key in [
        ('[sessions]\nfolder = "../outside"\n', "sessions.folder"),
        ("[sessions]\nmax_file_mb = -1\n", "sessions.max_file_mb"),
        ("[search]\ncandidates = 0\n", "search.candidates"),
        ('[sessions]\ndefault_kind = "forever"\n', "sessions.default_kind"),
        ('[search]\nbm25_weight = "high"\n', "search.bm25_weight"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ]:
        config.write_text(text)
        with pytest.raises(ConfigError) as info:
            Vault.open(vault_root)
        assert key in str(info.value), (text, str(info.value))
