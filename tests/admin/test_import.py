"""Imports of ChatGPT, Claude and JSON lines exports: branches, idempotency, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from amos_vault.admin.importers import ImportInputError
from amos_vault.mirror import ActiveMirror
from amos_vault.sessions.manager import SessionManager
from amos_vault.sessions.session import Session
from tests.admin.export_fixtures import (
    T0,
    branching_chat,
    claude_conversation,
    claude_message,
    gpt_conversation,
    gpt_message,
    jsonl_lines,
    write_json,
    write_zip,
)
from tests.conftest import DaemonProcess, RunCli, wait_for


def _sessions(mirror: ActiveMirror) -> dict[str, Session]:
    """The vault's sessions by their ``source`` (plus ``#source_branch``)."""
    found, problems = mirror.sessions.scan()
    assert not problems
    by_source = {}
    for session in found:
        meta = session.front_matter
        key = str(meta["source"]) + (f"#{meta['source_branch']}" if "source_branch" in meta else "")
        assert key not in by_source, f"{key} imported twice"
        by_source[key] = session
    return by_source


def _texts(session: Session) -> list[str]:
    return [m.content for m in session.messages]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.md"))}


# -- ChatGPT -----------------------------------------------------------------------------------
def test_chatgpt_branches_become_child_sessions_linked_from_the_fork(
    mirror: ActiveMirror, tmp_path: Path
) -> None:
    export = write_json(tmp_path / "conversations.json", [branching_chat()])
    report = mirror.import_export(export, "chatgpt")

    assert (report.sessions_created, report.branches_created) == (3, 2)
    assert report.messages_created == 7
    assert report.messages_left_out == {"empty": 1, "hidden": 1}
    assert not report.problems
    sessions = _sessions(mirror)
    main = sessions["chatgpt:conv-trip"]
    assert main.title == "Lisbon / Porto trip ✈"
    assert main.status == "completed" and main.parent_id is None
    assert main.tags == ("imported", "chatgpt")
    assert _texts(main) == [
        "Where should we eat in Lisbon?",
        "Try Time Out Market.",
        "And for dessert?",
        "Pasteis de Belem.",
    ]
    assert [m.role for m in main.messages] == ["user", "assistant", "user", "assistant"]
    assert main.messages[1].metadata == {"model": "gpt-4o", "source_id": "a1"}
    assert main.created is not None and main.created.timestamp() == T0
    assert main.messages[0].timestamp.timestamp() == T0 + 10

    regenerated = sessions["chatgpt:conv-trip#a1b"]
    assert regenerated.title == "Lisbon / Porto trip ✈ (regenerated answer)"
    assert _texts(regenerated) == ["Cervejaria Ramiro, for seafood."]
    assert regenerated.parent_id == main.id
    assert main.relative_path is not None
    main_file = main.relative_path.removesuffix(".md")  # linked by its path in the vault
    assert regenerated.parent == f"[[{main_file}]]"
    # It forks after the user's question, which the link points at.
    question = main.messages[0]
    assert regenerated.front_matter["forked_at"] == f"[[{main_file}#^{question.id}]]"

    edited = sessions["chatgpt:conv-trip#u1e"]
    assert edited.title == "Lisbon / Porto trip ✈ (edited prompt)"
    assert _texts(edited) == ["Where should we eat in Porto?", "Cafe Santiago, for a francesinha."]
    assert edited.parent_id == main.id
    assert "forked_at" not in edited.front_matter  # it forks before any visible message

    # A title with '/' and non-ASCII names a safe file in the folder of its creation date.
    assert main.relative_path is not None
    assert main.relative_path.startswith("sessions/2023/11/2023-11-14-lisbon-porto-trip-")
    # Imported sessions are completed and signed, so `verify` vouches for them.
    findings, unsigned = mirror.check_signatures()
    assert unsigned == 0 and [f.state for f in findings] == ["ok"] * 3


def test_hidden_null_system_and_multimodal_messages(mirror: ActiveMirror, tmp_path: Path) -> None:
    image = {
        "content_type": "multimodal_text",
        "parts": [
            {
                "content_type": "image_asset_pointer",
                "asset_pointer": "file-service://file-abc",
                "width": 640,
                "height": 480,
            },
            "What is in this picture?",
            {"content_type": "audio_asset_pointer", "asset_pointer": "sediment://audio-1"},
        ],
    }
    instructions = {"content_type": "user_editable_context", "user_profile": "I like fish."}
    chat = gpt_conversation(
        "conv-media",
        "",  # no title: the first thing the user said names it
        [
            ("root", None, None),
            ("sys", "root", gpt_message("sys", "system", "You are terse.", time=T0 + 1)),
            ("ctx", "sys", gpt_message("ctx", "user", content=instructions, time=T0 + 2)),
            ("e", "ctx", gpt_message("e", "system", "   ", time=T0 + 3)),
            ("u1", "e", gpt_message("u1", "user", content=image, time=T0 + 4,
                                    metadata={"attachments": [{"name": "menu.pdf", "id": "f1"}]})),
            ("a1", "u1", gpt_message("a1", "assistant", "A plate of sardines.", time=T0 + 5)),
        ],
        current="a1",
    )  # fmt: skip
    report = mirror.import_export(write_json(tmp_path / "c.json", [chat]), "chatgpt")

    session = _sessions(mirror)["chatgpt:conv-media"]
    assert session.title == "What is in this picture?"
    assert [m.role for m in session.messages] == ["system", "user", "assistant"]
    assert _texts(session)[0] == "You are terse."  # a visible system message is kept
    assert _texts(session)[1] == (
        "[image 640×480: file-service://file-abc]\n\nWhat is in this picture?\n\n"
        "[audio: sediment://audio-1]\n\n[file: menu.pdf]"
    )
    assert report.messages_left_out == {"empty": 2, "hidden": 1}


def _code_interpreter_chat() -> dict[str, Any]:
    code = {"content_type": "code", "language": "python", "text": "print(6 * 7)"}
    output = {"content_type": "execution_output", "text": "42"}
    return gpt_conversation(
        "conv-tools",
        "Arithmetic",
        [
            ("u1", None, gpt_message("u1", "user", "What is six times seven?", time=T0 + 1)),
            ("c1", "u1", gpt_message("c1", "assistant", content=code, recipient="python",
                                     time=T0 + 2)),
            ("o1", "c1", gpt_message("o1", "tool", content=output, name="python", time=T0 + 3)),
            ("a1", "o1", gpt_message("a1", "assistant", "It is 42.", time=T0 + 4)),
        ],
        current="a1",
    )  # fmt: skip


def test_tool_messages_stay_out_unless_include_tools(
    run_cli: RunCli, vault_root: Path, tmp_path: Path
) -> None:
    export = write_json(tmp_path / "conversations.json", [_code_interpreter_chat()])
    done = run_cli("import", "chatgpt", str(export))
    assert done.returncode == 0, done.stderr
    assert "sessions: 1 were created" in done.stdout
    assert "2 tool message (--include-tools keeps it)" in done.stdout
    mirror = ActiveMirror(vault_root)
    assert _texts(_sessions(mirror)["chatgpt:conv-tools"]) == [
        "What is six times seven?",
        "It is 42.",
    ]

    other = tmp_path / "other-vault"
    assert run_cli("init", str(other), vault=False).returncode == 0
    done = run_cli("--vault", str(other), "import", "chatgpt", str(export), "--include-tools",
                   vault=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    session = _sessions(ActiveMirror(other))["chatgpt:conv-tools"]
    assert _texts(session) == [
        "What is six times seven?",
        "```python\nprint(6 * 7)\n```",
        "[code-interpreter output]\n```\n42\n```",
        "It is 42.",
    ]
    assert session.messages[1].metadata["tool"] == "python"
    assert session.messages[2].metadata["name"] == "python"  # the author search shows


def test_missing_times_follow_the_message_before(mirror: ActiveMirror, tmp_path: Path) -> None:
    chat = gpt_conversation(
        "conv-times",
        "No clock",
        [
            ("u1", None, gpt_message("u1", "user", "first", time=T0 + 100)),
            ("a1", "u1", gpt_message("a1", "assistant", "second", time=None)),
        ],
        current="a1",
    )
    untimed = gpt_conversation(
        "conv-untimed",
        "No clock at all",
        [("u1", None, gpt_message("u1", "user", "when?"))],
        current="u1",
        create_time=None,
        update_time=None,
    )
    mirror.import_export(write_json(tmp_path / "c.json", [chat, untimed]), "chatgpt")
    sessions = _sessions(mirror)
    times = [m.timestamp.timestamp() for m in sessions["chatgpt:conv-times"].messages]
    assert times == [T0 + 100, T0 + 100]
    assert sessions["chatgpt:conv-untimed"].messages[0].timestamp is not None


# -- idempotent and incremental --------------------------------------------------------------
def test_importing_the_same_export_again_writes_nothing(
    run_cli: RunCli, vault_root: Path, tmp_path: Path
) -> None:
    export = write_zip(
        tmp_path / "chatgpt-export.zip",
        {"conversations.json": [branching_chat()], "chat.html": "<html></html>", "user.json": {}},
    )
    assert run_cli("import", "chatgpt", str(export)).returncode == 0
    before = _files(vault_root / "sessions")
    assert len(before) == 3

    again = run_cli("import", "chatgpt", str(export), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["sessions_created"] == report["sessions_updated"] == 0
    assert report["sessions_unchanged"] == 3
    assert _files(vault_root / "sessions") == before


def test_a_newer_export_appends_new_messages_and_keeps_the_users_edits(
    mirror: ActiveMirror, tmp_path: Path
) -> None:
    first = branching_chat()
    mirror.import_export(write_json(tmp_path / "old.json", [first]), "chatgpt")
    main = _sessions(mirror)["chatgpt:conv-trip"]
    assert main.path is not None
    # The user corrects an imported answer by hand.
    text = main.path.read_text(encoding="utf-8")
    main.path.write_text(text.replace("Pasteis de Belem.", "Pasteis de Belem, in Belem."))

    newer = copy.deepcopy(first)
    newer["mapping"]["a2"]["children"] = ["u3"]
    newer["mapping"]["u3"] = {
        "id": "u3",
        "parent": "a2",
        "children": ["a3"],
        "message": gpt_message("u3", "user", "How do we get there?", time=T0 + 60),
    }
    newer["mapping"]["a3"] = {
        "id": "a3",
        "parent": "u3",
        "children": [],
        "message": gpt_message("a3", "assistant", "Tram 15.", time=T0 + 70),
    }
    newer["current_node"] = "a3"
    # The regenerated answer got a follow-up too.
    newer["mapping"]["a1b"]["children"] = ["u4"]
    newer["mapping"]["u4"] = {
        "id": "u4",
        "parent": "a1b",
        "children": [],
        "message": gpt_message("u4", "user", "Is it expensive?", time=T0 + 80),
    }
    report = mirror.import_export(write_json(tmp_path / "new.json", [newer]), "chatgpt")

    assert (report.sessions_created, report.sessions_updated) == (0, 2)
    assert (report.sessions_unchanged, report.messages_appended) == (1, 3)
    sessions = _sessions(mirror)
    assert _texts(sessions["chatgpt:conv-trip"]) == [
        "Where should we eat in Lisbon?",
        "Try Time Out Market.",
        "And for dessert?",
        "Pasteis de Belem, in Belem.",  # the edit stands
        "How do we get there?",
        "Tram 15.",
    ]
    assert _texts(sessions["chatgpt:conv-trip#a1b"])[-1] == "Is it expensive?"
    # The untouched session is signed again with its new message; the edited one still
    # shows that it changed after it was signed.
    states = {f.path: f.state for f in mirror.check_signatures()[0]}
    assert states[sessions["chatgpt:conv-trip#a1b"].relative_path] == "ok"
    assert states[sessions["chatgpt:conv-trip"].relative_path] == "changed"


def test_a_user_going_back_to_an_older_branch_appends_to_that_branch(
    mirror: ActiveMirror, tmp_path: Path
) -> None:
    first = branching_chat()
    mirror.import_export(write_json(tmp_path / "old.json", [first]), "chatgpt")
    newer = copy.deepcopy(first)
    newer["mapping"]["a1e"]["children"] = ["u5"]
    newer["mapping"]["u5"] = {
        "id": "u5",
        "parent": "a1e",
        "children": [],
        "message": gpt_message("u5", "user", "Open on Sundays?", time=T0 + 90),
    }
    newer["current_node"] = "u5"  # the Porto branch is now the one shown
    report = mirror.import_export(write_json(tmp_path / "new.json", [newer]), "chatgpt")

    assert (report.sessions_created, report.sessions_updated, report.messages_appended) == (0, 1, 1)
    sessions = _sessions(mirror)
    assert _texts(sessions["chatgpt:conv-trip#u1e"])[-1] == "Open on Sundays?"
    assert len(sessions["chatgpt:conv-trip"].messages) == 4


def test_an_interrupted_import_resumes(
    mirror: ActiveMirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = [branching_chat("conv-1"), branching_chat("conv-2")]
    export = write_json(tmp_path / "conversations.json", chats)
    real_write = SessionManager.write_new
    calls = {"n": 0}

    def crash_on_the_fifth(self: SessionManager, *args: Any, **kwargs: Any) -> Session:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(SessionManager, "write_new", crash_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        mirror.import_export(export, "chatgpt")
    assert len(_sessions(mirror)) == 4
    monkeypatch.setattr(SessionManager, "write_new", real_write)

    report = mirror.import_export(export, "chatgpt")
    assert (report.sessions_created, report.sessions_unchanged) == (2, 4)
    sessions = _sessions(mirror)
    assert len(sessions) == 6
    # The branch written on the second run links to the main session of the first.
    assert sessions["chatgpt:conv-2#u1e"].parent_id == sessions["chatgpt:conv-2"].id


def test_dry_run_and_since(run_cli: RunCli, vault_root: Path, tmp_path: Path) -> None:
    recent = branching_chat("conv-new")
    old = gpt_conversation(
        "conv-old",
        "Old chat",
        [("u1", None, gpt_message("u1", "user", "hello", time=T0 - 86_400 * 400))],
        current="u1",
        create_time=T0 - 86_400 * 400,
        update_time=T0 - 86_400 * 400,
    )
    export = write_json(tmp_path / "conversations.json", [old, recent])
    dry = run_cli("import", "chatgpt", str(export), "--dry-run", "--since", "2023-01-01")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: nothing was written." in dry.stdout
    assert "sessions: 3 would be created (2 of them branches)" in dry.stdout
    assert "1 older than --since" in dry.stdout
    assert not list((vault_root / "sessions").rglob("*.md"))

    done = run_cli("import", "chatgpt", str(export), "--since", "2023-01-01", "--json")
    report = json.loads(done.stdout)
    assert report["sessions_created"] == 3
    assert report["conversations_skipped"] == {"older than --since": 1}


def test_imported_sessions_are_due_for_consolidation_and_found_by_search(
    mirror: ActiveMirror, tmp_path: Path, model_dir: Path
) -> None:
    mirror.import_export(write_json(tmp_path / "c.json", [branching_chat()]), "chatgpt")
    assert len(mirror.memory.due()) == 3
    hits = mirror.search("francesinha in Porto").hits
    assert hits and "francesinha" in hits[0].text
    assert hits[0].title == "Lisbon / Porto trip ✈ (edited prompt)"


# -- Claude ------------------------------------------------------------------------------------
def test_claude_export_with_blocks_attachments_and_an_edit(
    mirror: ActiveMirror, tmp_path: Path
) -> None:
    root = "00000000-0000-4000-8000-000000000000"
    tool = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "name": "web_search", "input": {"query": "Lisbon trams"}},
        {"type": "tool_result", "name": "web_search", "content": [{"type": "text", "text": "…"}]},
        {"type": "text", "text": "Tram 28 is the classic."},
    ]
    chat = claude_conversation(
        "claude-1",
        "Trams/buses in Lisbon",
        [
            claude_message("h1", "human", "Which tram?", parent=root,
                           attachments=[{"file_name": "map.txt", "extracted_content": "..."}],
                           files=[{"file_name": "photo.jpg"}]),
            claude_message("b1", "assistant", "Let me look.", content=tool, parent="h1",
                           created_at="2024-03-01T10:00:05Z"),
            claude_message("h1e", "human", "Which bus?", parent=root,
                           created_at="2024-03-01T10:01:00Z"),
            claude_message("b1e", "assistant", "Bus 728.", parent="h1e",
                           created_at="2024-03-01T10:01:05Z"),
        ],
    )  # fmt: skip
    plain = claude_conversation(
        "claude-2",
        "Plain",
        [
            {"uuid": "p1", "sender": "human", "text": "only text, no blocks", "created_at": None},
            {"uuid": "p2", "sender": "assistant", "text": "fine"},
        ],
    )
    export = write_zip(tmp_path / "claude.zip", {"conversations.json": [chat, plain]})
    report = mirror.import_export(export, "claude")
    assert not report.problems
    sessions = _sessions(mirror)
    main = sessions["claude:claude-1"]  # the last message ends the main branch
    assert _texts(main) == ["Which bus?", "Bus 728."]
    edit = sessions["claude:claude-1#h1"]
    assert edit.title == "Trams/buses in Lisbon (edited prompt)"
    assert edit.parent_id == main.id
    assert _texts(edit) == [
        "Which tram?\n\n[attachment: map.txt]\n\n[file: photo.jpg]",
        "Let me look.\n\nTram 28 is the classic.",
    ]
    assert _texts(sessions["claude:claude-2"]) == ["only text, no blocks", "fine"]
    assert sessions["claude:claude-2"].created is not None


# -- JSON lines --------------------------------------------------------------------------------
def test_jsonl_conversations_in_runs_of_lines(mirror: ActiveMirror, tmp_path: Path) -> None:
    def line(conv: str, role: str, text: str, **more: Any) -> dict[str, Any]:
        return {"conversation": conv, "role": role, "text": text, **more}

    export = jsonl_lines(
        tmp_path / "chats.jsonl",
        [
            line("a", "user", "hi", title="Greetings", time="2024-01-01T10:00:00Z"),
            line("a", "assistant", "hello", time=1704103205, model="llama3.2"),
            line("a", "tool", "(search results)"),
            line("b", "user", "second chat", id="b-1"),
            line("a", "user", "back to the first", time="2024-01-02T09:00:00+02:00"),
        ],
    )
    report = mirror.import_export(export, "jsonl")
    assert (report.sessions_created, report.sessions_updated) == (2, 1)
    sessions = _sessions(mirror)
    first = sessions["jsonl:a"]
    assert first.title == "Greetings"
    assert _texts(first) == ["hi", "hello", "back to the first"]
    assert first.messages[1].metadata["model"] == "llama3.2"
    assert first.messages[2].timestamp.isoformat() == "2024-01-02T07:00:00+00:00"
    assert sessions["jsonl:b"].messages[0].metadata["source_id"] == "b-1"

    again = mirror.import_export(export, "jsonl")
    assert (again.sessions_created, again.messages_appended) == (0, 0)


def test_messages_deleted_from_the_end_of_a_session_stay_deleted(
    mirror: ActiveMirror, tmp_path: Path
) -> None:
    def line(text: str, role: str = "user") -> dict[str, Any]:
        return {"conversation": "d", "role": role, "text": text, "time": "2024-01-01T10:00:00Z"}

    lines = [line("keep this"), line("an answer to delete", "assistant"), line("delete me too")]
    export = jsonl_lines(tmp_path / "chats.jsonl", lines)
    mirror.import_export(export, "jsonl")
    session = _sessions(mirror)["jsonl:d"]
    assert session.path is not None
    text = session.path.read_text()
    session.path.write_text(text[: text.index("**assistant**")].rstrip() + "\n")
    again = mirror.import_export(export, "jsonl")
    assert (again.sessions_created, again.messages_appended) == (0, 0)
    assert _texts(_sessions(mirror)["jsonl:d"]) == ["keep this"]
    newer = jsonl_lines(tmp_path / "newer.jsonl", [*lines, line("a new message")])
    appended = mirror.import_export(newer, "jsonl")
    assert appended.messages_appended == 1
    assert _texts(_sessions(mirror)["jsonl:d"]) == ["keep this", "a new message"]


# -- bad input ---------------------------------------------------------------------------------
def test_not_an_export_is_one_clear_line(run_cli: RunCli, vault_root: Path, tmp_path: Path) -> None:
    cases = {
        "notes.txt": ("just some notes\n", "not JSON, so not a ChatGPT export"),
        "object.json": ('{"user": 1}', "holds a JSON object, not a ChatGPT export"),
        "claude.json": (
            json.dumps([claude_conversation("x", "y", [])]),
            "is a Claude export, not a ChatGPT one",
        ),
        "empty.json": ("", "is empty"),
        "cut.json": ('[{"title": "a", "mapp', "is not a complete JSON file"),
    }
    for name, (text, said) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        done = run_cli("import", "chatgpt", str(path))
        assert done.returncode == 1, name
        lines = done.stderr.strip().split("\n")
        assert said in lines[0] and lines[0].startswith("error: "), (name, done.stderr)
        assert len(lines) == 2 and lines[1].startswith("  "), done.stderr  # and a hint
    claude = run_cli("import", "chatgpt", str(tmp_path / "claude.json"))
    assert "amosvault import claude" in claude.stderr

    zipped = write_zip(tmp_path / "photos.zip", {"photo.json": {}})
    done = run_cli("import", "claude", str(zipped))
    assert done.returncode == 1
    assert "is a zip archive without conversations.json" in done.stderr
    done = run_cli("import", "jsonl", str(tmp_path / "claude.json"))
    assert "not in the JSON lines format: line 1" in done.stderr
    assert not list((vault_root / "sessions").rglob("*.md"))


def test_broken_conversations_are_named_and_the_rest_imported(
    run_cli: RunCli, vault_root: Path, tmp_path: Path
) -> None:
    cycle = gpt_conversation(
        "conv-cycle",
        "Loop",
        [
            ("x", "y", gpt_message("x", "user", "x", time=T0)),
            ("y", "x", gpt_message("y", "assistant", "y", time=T0)),
        ],
        current="x",
    )
    text = json.dumps([cycle, branching_chat("conv-ok"), branching_chat("conv-ok"), 42])
    export = tmp_path / "conversations.json"
    export.write_text(text + "\n", encoding="utf-8")
    done = run_cli("import", "chatgpt", str(export))
    assert done.returncode == 1
    problems = done.stderr.split("Problems (3):\n")[1].rstrip().split("\n")
    assert problems[0] == (
        "  conversation conv-cycle (Loop): its message tree has a cycle: message x is its "
        "own ancestor; nothing of it was written"
    )
    assert problems[1] == (
        "  conversation conv-ok (Lisbon / Porto trip ✈): appears twice in the export; the "
        "second copy is left out"
    )
    assert problems[2] == "  item 4 of the export is a int, not a conversation"
    assert "sessions: 3 were created" in done.stdout
    assert len(_files(vault_root / "sessions")) == 3

    # A truncated export: what came before the break is imported, the break is one line.
    export.write_text(text[: text.rindex('"conv-ok"')])  # in the third conversation
    other = tmp_path / "v2"
    assert run_cli("init", str(other), vault=False).returncode == 0
    done = run_cli("--vault", str(other), "import", "chatgpt", str(export), vault=False)
    assert done.returncode == 1
    assert "the export breaks off after 2 conversation(s)" in done.stderr
    assert len(_files(other / "sessions")) == 3


def test_duplicate_message_ids_and_bad_lines(mirror: ActiveMirror, tmp_path: Path) -> None:
    chat = claude_conversation(
        "claude-dup",
        "Twice",
        [
            claude_message("m1", "human", "one"),
            claude_message("m1", "assistant", "one again"),
            claude_message("m2", "assistant", "two"),
        ],
    )
    report = mirror.import_export(write_json(tmp_path / "c.json", [chat]), "claude")
    assert report.problems == [
        "conversation claude-dup (Twice): message id m1 appears twice; the second copy was left out"
    ]
    assert _texts(_sessions(mirror)["claude:claude-dup"]) == ["one", "two"]

    export = jsonl_lines(
        tmp_path / "chats.jsonl",
        [
            {"conversation": "a", "role": "user", "text": "fine"},
            {"conversation": "b", "role": "user", "text": "first"},
            '{"conversation": "b", "role": "user", "te',
            {"conversation": "c", "role": "user", "text": "fine too"},
        ],
    )
    report = mirror.import_export(export, "jsonl")
    assert report.problems == [
        "conversation b: line 3 is not a JSON object; the conversation was left out"
    ]
    assert {"jsonl:a", "jsonl:c"} <= set(_sessions(mirror))
    assert "jsonl:b" not in _sessions(mirror)


def test_the_library_raises_typed_errors(mirror: ActiveMirror, tmp_path: Path) -> None:
    with pytest.raises(ImportInputError, match="there is no file"):
        mirror.import_export(tmp_path / "missing.json", "chatgpt")
    with pytest.raises(ImportInputError, match="unknown kind of export"):
        mirror.import_export(tmp_path, "bard")


def test_the_daemon_indexes_an_import_as_it_lands(
    run_cli: RunCli, vault_root: Path, tmp_path: Path, model_dir: Path
) -> None:
    chats = [branching_chat(f"conv-{n}") for n in range(10)]
    chats[7]["mapping"]["a1e"]["message"]["content"]["parts"] = ["The okapi cafe, in Porto."]
    export = write_json(tmp_path / "conversations.json", chats)
    daemon = DaemonProcess(vault_root)
    try:
        daemon.wait_ready()
        done = run_cli("import", "chatgpt", str(export))
        assert done.returncode == 0, done.stderr
        daemon.wait_found("okapi cafe", lambda hits: any("okapi" in h["text"] for h in hits))
        # "files" counts a file once its batch is applied; "files_indexed" once its sync ends.
        wait_for(
            lambda: (daemon.status() or {}).get("files_indexed", 0) >= 30,
            what="30 files indexed",
        )
        wait_for(lambda: (daemon.status() or {}).get("queue") == 0, what="the queue to drain")
        status = daemon.status()
        assert status is not None and status["files_indexed"] == 30  # each file once
        assert status["files"] == 30
        # Nothing is left to embed: `index` (done by the daemon) finds no work.
        again = run_cli("index", "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["report"]["embedded"] == 0
    finally:
        daemon.stop()


def test_a_line_repeated_in_a_later_run_of_lines_is_kept(
    mirror: ActiveMirror, tmp_path: Path
) -> None:
    def line(conv: str, text: str) -> dict[str, Any]:
        return {"conversation": conv, "role": "user", "text": text}

    export = jsonl_lines(
        tmp_path / "chats.jsonl",
        [line("e", "ok"), line("f", "elsewhere"), line("e", "ok"), line("e", "done")],
    )
    report = mirror.import_export(export, "jsonl")
    assert not report.problems
    assert _texts(_sessions(mirror)["jsonl:e"]) == ["ok", "ok", "done"]
    again = mirror.import_export(export, "jsonl")
    assert (again.sessions_created, again.messages_appended) == (0, 0)


def test_a_damaged_zip_member_is_one_problem_line_not_a_crash(
    run_cli: RunCli, tmp_path: Path
) -> None:
    export = write_zip(
        tmp_path / "export.zip",
        {"conversations.json": [branching_chat("c-1"), branching_chat("c-2")]},
    )
    data = bytearray(export.read_bytes())
    spot = data.index(b'"c-2"') + 1
    data[spot] ^= 0x01  # one flipped bit in the stored member: its CRC no longer matches
    export.write_bytes(bytes(data))
    done = run_cli("import", "chatgpt", str(export))
    assert "this is a bug" not in done.stderr and "Traceback" not in done.stderr
    assert done.returncode == 1 and "breaks off" in done.stdout + done.stderr

    header = bytearray(export.read_bytes())
    header[header.index(b"conversations.json")] ^= 0x20  # the member's own header damaged
    export.write_bytes(bytes(header))
    refused = run_cli("import", "chatgpt", str(export))
    assert refused.returncode == 1 and "is a damaged zip archive" in refused.stderr
