"""Consolidation into memory notes: the format, the extractive and ollama engines, updates,
contradictions, the user's edits and deletions, forget, and the link back to each message."""

from __future__ import annotations

import datetime as dt
import errno
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import amos_vault.sessions.manager as sessions_module
from amos_vault.core.errors import InvalidInputError, storage_error
from amos_vault.files.memorynote import fingerprint, parse_fact_line, render_fact_line
from amos_vault.index.chunks import chunk_note
from amos_vault.index.query import MemoryQuery
from amos_vault.memory.controls import FactNotFoundError
from amos_vault.memory.dates import absolute_dates
from amos_vault.memory.rules import third_person
from amos_vault.memory.summarizer import ExtractiveSummarizer, SessionText, extract_facts
from amos_vault.mirror import ActiveMirror
from amos_vault.sessions.session import Session
from tests.conftest import RunCli
from tests.ollama_standin import OllamaStandIn

DAY = dt.datetime(2023, 5, 8, 13, 56, tzinfo=dt.UTC)


def _session(mirror: ActiveMirror, title: str, lines: list[tuple[str, str]]) -> Session:
    session = mirror.create_session(title)
    for offset, (role, text) in enumerate(lines):
        session.add_message(role, text, timestamp=DAY + dt.timedelta(minutes=offset))
    session.complete()
    return session


def _note(root: Path, name: str) -> str:
    return (root / "memory" / f"{name}.md").read_text()


def _fact_lines(root: Path, name: str) -> list[str]:
    path = root / "memory" / f"{name}.md"
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.startswith("- ")]


# -- the format ------------------------------------------------------------------------------


def test_fact_line_round_trip_keeps_links_and_unknown_fields() -> None:
    line = (
        "- Ana prefers green tea. [type:: preference] [confidence:: 0.80] [topic:: Ana: tea] "
        "[source:: [[sessions/2023/05/a#^m-1a2b3c4d]], [[sessions/b#^m-5e6f7a8b]]] "
        "[first_seen:: 2023-05-08] [last_confirmed:: 2023-06-01] [valid_from:: 2023-05-08] "
        "[mood:: calm] ^f-0a1b2c3d"
    )
    fact = parse_fact_line(line)
    assert fact is not None
    assert fact.text == "Ana prefers green tea."
    assert fact.type == "preference" and fact.confidence == 0.8 and fact.id == "f-0a1b2c3d"
    assert fact.sources == ("sessions/2023/05/a#^m-1a2b3c4d", "sessions/b#^m-5e6f7a8b")
    assert fact.source_messages == ("m-1a2b3c4d", "m-5e6f7a8b")
    assert fact.last_confirmed == dt.date(2023, 6, 1) and fact.current
    assert fact.extra == (("mood", "calm"),)
    assert render_fact_line(fact) == line


def test_hand_written_lines_are_facts_too() -> None:
    fact = parse_fact_line("- I take my coffee black pinned:: true")
    assert fact is not None and fact.text == "I take my coffee black" and fact.pinned
    assert fact.id == "" and fact.type == "knowledge"
    closed = parse_fact_line("* Lives in Oslo [valid_to:: 2020-01-01] [type:: knowledge]")
    assert closed is not None and not closed.current
    assert parse_fact_line("Just a paragraph.") is None


@pytest.mark.parametrize("value", ["[[unclosed", "]]", "]", "a]b["])
def test_an_unbalanced_trailing_value_is_text_and_reads_back_the_same(value: str) -> None:
    # Found by fuzzing: "topic:: [[unclosed" was a field that, written back bracketed, was not.
    fact = parse_fact_line(f"- Caroline likes tea. topic:: {value} ^f-1a2b3c4d")
    assert fact is not None and fact.topic == "" and fact.text.endswith(f"topic:: {value}")
    again = parse_fact_line(render_fact_line(fact))
    assert again is not None and (again.text, again.topic) == (fact.text, fact.topic)


def test_fingerprint_ignores_case_and_punctuation() -> None:
    assert fingerprint("Ana likes  TEA!") == fingerprint("ana likes tea")
    assert fingerprint("Ana likes tea") != fingerprint("Ana likes coffee")


# -- the extractive engine -------------------------------------------------------------------


def test_third_person_and_absolute_dates() -> None:
    assert third_person("I love hiking with my dog", "Ana") == "Ana loves hiking with their dog"
    nurse = third_person("I'm a nurse and I work nights", "Ana")
    assert nurse == "Ana is a nurse and they work nights"
    said = dt.date(2023, 5, 8)  # a Monday
    assert absolute_dates("I went yesterday", said) == "I went on 7 May 2023"
    assert absolute_dates("I ran last Friday", said) == "I ran on 5 May 2023"
    assert absolute_dates("we met last year", said) == "we met in 2022"


def test_extractive_facts_from_first_person_statements(mirror: ActiveMirror) -> None:
    session = _session(
        mirror,
        "Getting to know",
        [
            ("user", "Hi! My favorite color is blue. I love hiking in the Alps."),
            ("assistant", "I love helping you plan trips! What do you like?"),
            ("user", "I work as a nurse at the city hospital. Do you like cats?"),
            ("user", "I went to a pottery class yesterday and made a bowl."),
            ("user", "I'm planning to visit Japan next year with my sister."),
        ],
    )
    text = SessionText(session.title, session.messages, frozenset({"user"}), "Ana")
    facts = extract_facts(text)
    by_text = {f.text: f for f in facts}
    assert "Ana's favorite color is blue." in by_text
    assert by_text["Ana's favorite color is blue."].type == "preference"
    assert by_text["Ana's favorite color is blue."].topic == "Ana: favorite color"
    assert "Ana loves hiking in the Alps." in by_text
    assert "Ana works as a nurse at the city hospital." in by_text
    assert by_text["Ana works as a nurse at the city hospital."].type == "knowledge"
    assert "Ana went to a pottery class on 7 May 2023 and made a bowl." in by_text
    plan = [f for f in facts if f.type == "context" and "Japan" in f.text]
    assert plan and "in 2024" in plan[0].text
    assert not any("helping" in f.text for f in facts)  # the assistant's "I" is not the user
    assert not any(f.text.endswith("?") for f in facts)
    assert all(f.message_id in {m.id for m in session.messages} for f in facts)
    assert extract_facts(text) == facts  # deterministic


def test_extractive_summary_picks_sentences_with_their_message(mirror: ActiveMirror) -> None:
    session = _session(
        mirror,
        "Trip",
        [
            ("user", "We are planning a trip to Lisbon in June. The trip is for our anniversary."),
            ("assistant", "Lisbon in June is lovely. The trip could include Sintra."),
            ("user", "Good idea, Sintra on the trip to Lisbon then."),
        ],
    )
    summarizer = ExtractiveSummarizer(mirror.engine.embedder, summary_sentences=2)
    digest = summarizer.digest(SessionText(session.title, session.messages))
    assert len(digest.summary) == 2
    ids = [m.id for m in session.messages]
    assert all(line.message_id in ids for line in digest.summary)
    positions = [ids.index(line.message_id) for line in digest.summary]
    assert positions == sorted(positions)  # in the conversation's order


# -- consolidation ---------------------------------------------------------------------------


def test_consolidation_writes_facts_and_a_summary_linked_both_ways(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    session = _session(
        mirror,
        "Colors",
        [("user", "My favorite color is blue."), ("assistant", "Blue is calm.")],
    )
    assert session.path is not None
    text = re.sub(
        r"(?m)^updated: .*$", "updated: 2023-05-08 14:00:00+00:00", session.path.read_text()
    )
    session.path.write_text(text)  # the conversation's last change, as an editor left it
    before = session.path.read_text()
    plan = mirror.memory.consolidate()
    assert plan.sessions == [session.id] and len(plan.added) == 1
    fact = plan.added[0]
    line = _fact_lines(vault_root, "preference")[0]
    assert line.startswith("- Tester's favorite color is blue. [type:: preference]")
    link = re.search(r"\[source:: \[\[(.*?)\]\]\]", line).group(1)  # type: ignore[union-attr]
    file_part, anchor = link.split("#^")
    assert (vault_root / f"{file_part}.md") == session.path
    assert anchor == session.messages[0].id
    assert f"^{fact.id}" in line and "[first_seen:: 2023-05-08]" in line

    summaries = list((vault_root / "memory" / "summaries").glob("*.md"))
    assert len(summaries) == 1
    summary = summaries[0].read_text()
    assert f"session_id: {session.id}" in summary
    assert f"[[{file_part}]]" in summary and f"#^{fact.id}" in summary
    session.refresh()
    rel = summaries[0].relative_to(vault_root).as_posix().removesuffix(".md")
    assert session.front_matter["summary"] == f"[[{rel}]]"
    after = session.path.read_text()  # type: ignore[union-attr]
    # Only the summary key changed in the session file: not when it was last changed (that
    # is the conversation's, not consolidation's), and every message is intact.
    assert re.search(r"(?m)^updated: 2023-05-08 14:00:00\+00:00$", session.path.read_text())
    assert [m.content for m in session.messages] == ["My favorite color is blue.", "Blue is calm."]
    assert after.split("# Colors", 1)[1] == before.split("# Colors", 1)[1]

    again = mirror.memory.consolidate()
    assert again.is_empty and not again.sessions  # nothing new: nothing done


def test_a_session_that_cannot_be_linked_is_consolidated_again_next_time(
    mirror: ActiveMirror, vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _session(mirror, "Tea", [("user", "I love green tea.")])
    before = session.path.read_bytes()  # type: ignore[union-attr]

    def disk_full(path: Path, data: bytes, expected: bytes) -> bool:
        raise storage_error(OSError(errno.ENOSPC, "No space left on device"), path)

    with monkeypatch.context() as patch:
        patch.setattr(sessions_module, "replace_file", disk_full)
        mirror.memory.consolidate()
    # The session file is as it was, and without its summary the session is still due.
    assert session.path.read_bytes() == before  # type: ignore[union-attr]
    assert not list((vault_root / "memory" / "summaries").glob("*.md"))
    assert [s.id for s in mirror.memory.due()] == [session.id]
    assert len(_fact_lines(vault_root, "preference")) == 1

    again = mirror.memory.consolidate()  # the disk has room again
    assert again.sessions == [session.id] and not again.added  # learned once, not twice
    session.refresh()
    summaries = list((vault_root / "memory" / "summaries").glob("*.md"))
    rel = summaries[0].relative_to(vault_root).as_posix().removesuffix(".md")
    assert session.front_matter["summary"] == f"[[{rel}]]"
    assert len(_fact_lines(vault_root, "preference")) == 1
    assert mirror.memory.due() == []


def test_only_settled_sessions_are_due(mirror: ActiveMirror) -> None:
    active = mirror.create_session("Still talking")
    active.add_message("user", "I love green tea.", timestamp=dt.datetime.now(dt.UTC))
    assert mirror.memory.due() == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    assert [s.id for s in mirror.memory.due(now=later)] == [active.id]
    # Consolidating it by name works at once; a new message makes it due again.
    mirror.memory.consolidate([active.id])
    assert mirror.memory.due(now=later) == []
    active.add_message("user", "I also love black coffee.", timestamp=dt.datetime.now(dt.UTC))
    assert [s.id for s in mirror.memory.due(now=later)] == [active.id]


def test_a_repeated_fact_is_confirmed_not_duplicated(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    first = _session(mirror, "One", [("user", "I love hiking in the mountains.")])
    mirror.memory.consolidate()
    second = mirror.create_session("Two")
    second.add_message(
        "user",
        "Like I said, I really love hiking in the mountains!",
        timestamp=DAY + dt.timedelta(days=30),
    )
    second.complete()
    plan = mirror.memory.consolidate()
    assert len(plan.confirmed) == 1 and not plan.added
    lines = _fact_lines(vault_root, "preference")
    assert len(lines) == 1
    assert first.messages[0].id in lines[0] and second.messages[0].id in lines[0]
    assert "[last_confirmed:: 2023-06-07]" in lines[0] and "[first_seen:: 2023-05-08]" in lines[0]


def test_a_contradicting_fact_closes_the_old_one(mirror: ActiveMirror, vault_root: Path) -> None:
    _session(mirror, "Before", [("user", "My favorite color is blue.")])
    mirror.memory.consolidate()
    later = mirror.create_session("After")
    later.add_message("user", "My favorite color is green now.", timestamp=DAY + dt.timedelta(10))
    later.complete()
    plan = mirror.memory.consolidate()
    assert len(plan.added) == 1 and len(plan.closed) == 1
    old, new = _fact_lines(vault_root, "preference")
    assert "blue" in old and "[valid_to:: 2023-05-18]" in old
    assert f"[superseded_by:: [[memory/preference#^{plan.added[0].id}]]]" in old
    assert "green" in new and "valid_to" not in new
    current = [f.text for f in mirror.memory.facts()]
    assert current == ["Tester's favorite color is green now."]
    assert len(mirror.memory.facts(include_closed=True)) == 2


def test_a_fact_edited_by_hand_is_never_rewritten(mirror: ActiveMirror, vault_root: Path) -> None:
    _session(mirror, "One", [("user", "I love hiking in the mountains.")])
    mirror.memory.consolidate()
    path = vault_root / "memory" / "preference.md"
    edited = path.read_text().replace("[confidence:: 0.80]", "[confidence:: 0.99]")
    path.write_text(edited)
    repeat = mirror.create_session("Two")
    repeat.add_message("user", "I love hiking in the mountains.", timestamp=DAY)
    repeat.complete()
    plan = mirror.memory.consolidate()
    assert plan.kept_yours == 1 and not plan.added and not plan.confirmed
    assert path.read_text() == edited


def test_a_fact_deleted_by_hand_is_never_learned_again(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    _session(mirror, "One", [("user", "I love hiking in the mountains.")])
    fact = mirror.memory.consolidate().added[0]
    path = vault_root / "memory" / "preference.md"
    path.write_text("\n".join(ln for ln in path.read_text().splitlines() if fact.id not in ln))
    repeat = mirror.create_session("Two")
    repeat.add_message("user", "I love hiking in the mountains!", timestamp=DAY)
    repeat.complete()
    plan = mirror.memory.consolidate()
    assert plan.tombstoned == [fact.id] and plan.blocked == 1 and not plan.added
    stones = (vault_root / "memory" / "forgotten.md").read_text()
    assert fact.id in stones and fingerprint(fact.text) in stones
    assert "hiking" not in stones  # only a fingerprint, never the forgotten words
    assert _fact_lines(vault_root, "preference") == []


def test_forget_removes_a_fact_from_files_and_index(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    _session(mirror, "One", [("user", "I love kayaking on quiet lakes.")])
    fact = mirror.memory.consolidate().added[0]
    mirror.index()
    hits = mirror.search(MemoryQuery("kayaking", kinds=("fact",))).hits
    assert [h.message_id for h in hits] == [fact.id]

    refused = run_cli("forget", fact.id)  # no terminal, no --yes: refuses
    assert refused.returncode != 0 and "--yes" in refused.stderr
    result = run_cli("forget", fact.id, "--yes")
    assert result.returncode == 0, result.stderr
    assert "Forgot 1 fact(s)" in result.stdout
    assert "kayaking" not in (vault_root / "memory" / "preference.md").read_text()
    summary = next((vault_root / "memory" / "summaries").glob("*.md")).read_text()
    assert fact.id not in summary
    assert mirror.search(MemoryQuery("kayaking", kinds=("fact",))).hits == []
    missing = run_cli("forget", "f-00000000", "--yes")
    assert missing.returncode == 1 and "no fact or session" in missing.stderr


def test_forget_a_session_removes_it_its_summary_and_its_facts(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    keep = _session(mirror, "Keep", [("user", "I love green tea in the morning.")])
    drop = _session(mirror, "Drop", [("user", "My favorite band is the Weird Owls.")])
    mirror.memory.consolidate()
    report = mirror.memory.forget(drop.id)
    assert report.sessions == [drop.id] and len(report.facts) == 1
    assert not drop.path.exists()  # type: ignore[union-attr]
    assert keep.path.exists()  # type: ignore[union-attr]
    assert "Weird Owls" not in "".join(p.read_text() for p in (vault_root / "memory").rglob("*.md"))
    assert [f.text for f in mirror.memory.facts()] == ["Tester loves green tea in the morning."]
    assert len(list((vault_root / "memory" / "summaries").glob("*.md"))) == 1
    with pytest.raises(FactNotFoundError):
        mirror.memory.forget("nothing-like-this")


def test_a_session_edit_during_consolidation_is_kept(mirror: ActiveMirror) -> None:
    session = _session(mirror, "Edited", [("user", "I love long walks by the sea.")])
    plan = mirror.memory.plan()
    # The user edits the session in an editor after the plan was made.
    path = session.path
    assert path is not None
    path.write_text(path.read_text() + "\nA note I added by hand.\n")
    mirror.memory.apply(plan)
    text = path.read_text()
    assert "A note I added by hand." in text and "summary: '[[memory/summaries/" in text


def test_a_memory_note_changed_meanwhile_means_planning_again(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    _session(mirror, "One", [("user", "I love hiking in the mountains.")])
    mirror.memory.consolidate()
    _session(mirror, "Two", [("user", "I love sailing at dawn.")])
    plan = mirror.memory.plan()
    path = vault_root / "memory" / "preference.md"
    path.write_text(path.read_text() + "- I prefer tea to coffee\n")
    from amos_vault.core.errors import ConflictError

    with pytest.raises(ConflictError):
        mirror.memory.apply(plan)
    mirror.memory.consolidate()  # plans again on the new text
    text = path.read_text()
    assert "- I prefer tea to coffee" in text and "sailing" in text


def test_remember_adds_confirms_and_validates(mirror: ActiveMirror, vault_root: Path) -> None:
    session = _session(mirror, "Source", [("user", "I am allergic to peanuts.")])
    fact = mirror.memory.remember(
        "Tester is allergic to peanuts",
        type="knowledge",
        confidence=0.9,
        source=f"{session.id}#{session.messages[0].id}",
    )
    assert fact.id.startswith("f-") and fact.note == "memory/knowledge.md"
    line = _fact_lines(vault_root, "knowledge")[0]
    assert session.messages[0].id in line and "[confidence:: 0.90]" in line
    again = mirror.memory.remember("tester is allergic to peanuts!", type="knowledge")
    assert again.id == fact.id and len(_fact_lines(vault_root, "knowledge")) == 1
    with pytest.raises(InvalidInputError):
        mirror.memory.remember("x", type="opinion")
    with pytest.raises(InvalidInputError):
        mirror.memory.remember("x", confidence=2)
    with pytest.raises(InvalidInputError):
        mirror.memory.remember("x", source="m-00000000")
    # Forgotten, then remembered on purpose: the tombstone is lifted.
    mirror.memory.forget(fact.id)
    back = mirror.memory.remember("Tester is allergic to peanuts", type="knowledge")
    assert back.text == "Tester is allergic to peanuts"
    assert fingerprint(back.text) not in (vault_root / "memory" / "forgotten.md").read_text()


def test_facts_are_searchable_and_closed_ones_marked(mirror: ActiveMirror) -> None:
    _session(mirror, "Before", [("user", "My favorite city is Porto.")])
    mirror.memory.consolidate()
    later = mirror.create_session("After")
    later.add_message("user", "My favorite city is Kyoto.", timestamp=DAY + dt.timedelta(days=3))
    later.complete()
    mirror.memory.consolidate()
    hits = mirror.search(MemoryQuery("favorite city", kinds=("fact",))).hits
    assert len(hits) == 2
    closed = mirror.search(MemoryQuery("favorite city", kinds=("fact",), status="superseded"))
    assert [h.text for h in closed.hits] == ["Tester's favorite city is Porto."]
    current = mirror.search(MemoryQuery("favorite city", kinds=("fact",), status="current"))
    assert [h.text for h in current.hits] == ["Tester's favorite city is Kyoto."]


def test_cli_dry_run_shows_the_diff_and_writes_nothing(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    _session(mirror, "Dry", [("user", "My favorite fruit is mango.")])
    dry = run_cli("consolidate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+- Tester's favorite fruit is mango." in dry.stdout
    assert "Would consolidate 1 session(s): 1 fact(s) new" in dry.stdout
    assert not (vault_root / "memory" / "preference.md").exists()
    real = run_cli("consolidate")
    assert real.returncode == 0, real.stderr
    assert "Consolidated 1 session(s)" in real.stdout
    assert "mango" in _note(vault_root, "preference")
    listed = run_cli("facts", "--json")
    assert json.loads(listed.stdout)[0]["text"] == "Tester's favorite fruit is mango."
    nothing = run_cli("consolidate")
    assert "Nothing to consolidate" in nothing.stdout


# -- the ollama engine -----------------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[OllamaStandIn]:
    server = OllamaStandIn().start()
    yield server
    server.stop()


def _ollama_mirror(vault_root: Path, user_dirs: Path, url: str) -> ActiveMirror:
    config = vault_root / ".amos" / "config.toml"
    config.write_text(
        f'[llm]\nhost = "{url}"\nmodel = "standin:latest"\ntimeout_seconds = 10\n'
        '[consolidation]\nengine = "ollama"\n'
    )
    return ActiveMirror(vault_root, key_dir=user_dirs)


def test_ollama_engine_uses_the_schema_and_validates(
    vault_root: Path, user_dirs: Path, standin: OllamaStandIn
) -> None:
    mirror = _ollama_mirror(vault_root, user_dirs, standin.url)
    session = _session(mirror, "Model", [("user", "I adopted a cat named Miso last week.")])
    message_id = session.messages[0].id
    answers = iter(
        [
            json.dumps(
                {
                    "summary": [],
                    "facts": [
                        {"text": "x", "type": "context", "confidence": 0.9, "source": "m-bogus"}
                    ],
                }
            ),
            json.dumps(
                {
                    "summary": [{"text": "Tester adopted a cat.", "source": message_id}],
                    "facts": [
                        {
                            "text": "Tester adopted a cat named Miso around 1 May 2023.",
                            "type": "context",
                            "confidence": 0.85,
                            "source": message_id,
                            "topic": "Tester: pet",
                        }
                    ],
                }
            ),
        ]
    )
    standin.script.reply = lambda request: next(answers)
    plan = mirror.memory.consolidate()
    assert [f.text for f in plan.added] == ["Tester adopted a cat named Miso around 1 May 2023."]
    assert plan.notes == []
    chats = [r for r in standin.script.requests if r["path"] == "/api/chat"]
    assert len(chats) == 2  # the invalid answer was retried once
    assert chats[0]["format"]["required"] == ["summary", "facts"]
    assert "not a message id" in chats[1]["messages"][-1]["content"]
    summary = next((vault_root / "memory" / "summaries").glob("*.md")).read_text()
    assert "engine: ollama" in summary and "Tester adopted a cat." in summary


def test_ollama_engine_falls_back_to_extractive(
    vault_root: Path, user_dirs: Path, standin: OllamaStandIn
) -> None:
    mirror = _ollama_mirror(vault_root, user_dirs, standin.url)
    _session(mirror, "Fallback", [("user", "My favorite tea is sencha.")])
    standin.script.reply = lambda request: "not json at all"
    plan = mirror.memory.plan()
    assert [f.text for f in plan.added] == ["Tester's favorite tea is sencha."]
    assert "not valid" in plan.notes[0] and "extractive" in plan.notes[0]
    standin.stop()  # unreachable now
    unreachable = mirror.memory.plan()
    assert "could not be used" in unreachable.notes[0]
    assert [f.text for f in unreachable.added] == ["Tester's favorite tea is sencha."]


# -- regressions from review -----------------------------------------------------------------


def _later(mirror: ActiveMirror, title: str, text: str, days: int) -> Session:
    session = mirror.create_session(title)
    session.add_message("user", text, timestamp=DAY + dt.timedelta(days=days))
    session.complete()
    return session


def test_a_negation_or_another_value_is_not_a_confirmation(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    _session(mirror, "One", [("user", "I like strong coffee in the morning.")])
    mirror.memory.consolidate()
    _later(mirror, "Two", "I don't like strong coffee in the morning anymore.", 5)
    plan = mirror.memory.consolidate()
    assert not plan.confirmed and len(plan.added) == 1
    _later(mirror, "Three", "I live in Oslo with my wife.", 6)
    mirror.memory.consolidate()
    moved = mirror.memory.consolidate([_later(mirror, "Four", "I live in Bergen now.", 9).id])
    assert [f.text for f in moved.closed] == ["Tester lives in Oslo with their wife."]
    assert [f.text for f in moved.added] == ["Tester lives in Bergen now."]


def test_reconsolidating_an_older_session_never_brings_a_replaced_fact_back(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    first = _session(mirror, "Before", [("user", "My favorite color is blue.")])
    mirror.memory.consolidate()
    _later(mirror, "After", "My favorite color is green.", 30)
    mirror.memory.consolidate()
    # The old session gets one more message and is consolidated again.
    first.refresh()
    path = first.path
    assert path is not None
    path.write_text(path.read_text().replace("status: completed", "status: active"))
    mirror.load_session(first.id).add_message("user", "Thanks!", timestamp=DAY)
    plan = mirror.memory.consolidate([first.id])
    assert not plan.added and not plan.closed and not plan.confirmed
    assert [f.text for f in mirror.memory.facts()] == ["Tester's favorite color is green."]


def test_an_older_statement_learned_late_is_written_closed(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    newer = _later(mirror, "Newer", "My favorite color is green.", 30)
    older = _session(mirror, "Older", [("user", "My favorite color is blue.")])
    mirror.memory.consolidate([newer.id])
    plan = mirror.memory.consolidate([older.id])
    assert len(plan.added) == 1 and not plan.closed
    assert plan.added[0].valid_to == dt.date(2023, 6, 7)
    assert [f.text for f in mirror.memory.facts()] == ["Tester's favorite color is green."]


def test_a_fact_corrected_by_hand_does_not_come_back(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    session = _session(mirror, "Colors", [("user", "My favorite color is blue.")])
    mirror.memory.consolidate()
    note = vault_root / "memory" / "preference.md"
    note.write_text(note.read_text().replace("is blue.", "is navy."))
    session.refresh()
    path = session.path
    assert path is not None
    path.write_text(path.read_text().replace("status: completed", "status: active"))
    mirror.load_session(session.id).add_message("user", "Anyway.", timestamp=DAY)
    plan = mirror.memory.consolidate([session.id])
    assert not plan.added
    assert [f.text for f in mirror.memory.facts()] == ["Tester's favorite color is navy."]


def test_an_unreadable_memory_note_is_never_overwritten(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    note = vault_root / "memory" / "knowledge.md"
    data = "- Ana speaks Norwegian. [type:: knowledge]\n- Ana was born in Tromsø\n".encode(
        "latin-1"
    )
    note.write_bytes(data)
    from amos_vault.core.errors import ParseError

    with pytest.raises(ParseError, match="UTF-8"):
        mirror.memory.remember("Ana speaks Portuguese", type="knowledge")
    assert note.read_bytes() == data
    _session(mirror, "Work", [("user", "I work as a pilot for a small airline.")])
    with pytest.raises(ParseError):
        mirror.memory.consolidate()
    assert note.read_bytes() == data


def test_sessions_with_the_same_file_name_get_their_own_summaries(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    for folder, color in (("a", "blue"), ("b", "green")):
        (vault_root / "sessions" / folder).mkdir()
        (vault_root / "sessions" / folder / "notes.md").write_text(
            f"---\nid: same{folder}0001\ntitle: Notes {folder}\nstatus: completed\n---\n\n"
            f"**user** · 2023-05-08 10:00:00Z ^m-0000000{ord(folder)}\n\n"
            f"My favorite tea is {color}.\n"
        )
    plan = mirror.memory.consolidate()
    assert len(plan.sessions) == 2
    summaries = sorted(p.name for p in (vault_root / "memory" / "summaries").glob("*.md"))
    assert len(summaries) == 2
    assert mirror.memory.consolidate().is_empty  # and nothing conflicts afterwards


def test_forget_removes_quotes_of_the_fact_and_reopens_what_it_replaced(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    _session(mirror, "Before", [("user", "My favorite color is blue.")])
    mirror.memory.consolidate()
    _later(mirror, "After", "My favorite color is green.", 30)
    green = mirror.memory.consolidate().added[0]
    mirror.memory.forget(green.id)
    texts = "".join(p.read_text() for p in (vault_root / "memory").rglob("*.md"))
    assert "green" not in texts
    assert [f.text for f in mirror.memory.facts()] == ["Tester's favorite color is blue."]


def test_nested_facts_and_double_colons_survive(mirror: ActiveMirror, vault_root: Path) -> None:
    fact = mirror.memory.remember("Ana's favorite C++ feature is std::move", type="preference")
    assert [f.text for f in mirror.memory.facts()] == ["Ana's favorite C++ feature is std::move"]
    note = vault_root / "memory" / "preference.md"
    lines = note.read_text().splitlines()
    grouped = [ln if fact.id not in ln else "  " + ln for ln in lines]
    note.write_text("\n".join([*grouped[:-1], "- Programming", grouped[-1]]) + "\n")
    plan = mirror.memory.plan()
    assert plan.tombstoned == []  # moved under a heading item of yours: not deleted
    assert fact.id in [f.id for f in mirror.memory.facts()]


def test_a_fact_and_its_message_are_one_result_the_fact_beside_the_message(
    mirror: ActiveMirror,
) -> None:
    session = _session(mirror, "Fruit", [("user", "My favorite fruit is mango.")])
    fact = mirror.memory.consolidate().added[0]
    query = MemoryQuery("favorite fruit mango", k=1, kinds=("message", "fact"))
    hits = mirror.search(query).hits
    assert [h.message_id for h in hits] == [session.messages[0].id, fact.id]
    assert hits[1].attached_to == hits[0].chunk_id  # the evidence, and what was learned from it
    facts = mirror.search(MemoryQuery("favorite fruit mango", kinds=("fact",))).hits
    assert facts[0].sources == fact.sources  # a fact hit says where it comes from
    assert not facts[0].attached_to  # no message asked for: it stands alone


def test_a_fenced_code_block_in_a_note_is_neither_a_fact_nor_a_chunk(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    fact = mirror.memory.remember("I prefer tabs over spaces.", type="preference")
    note = vault_root / "memory" / "preference.md"
    fence = ["", "How I clean up:", "", "```sh", "- rm -rf example", "* also not a fact", "```"]
    note.write_text(note.read_text() + "\n".join(fence) + "\n")
    assert [f.id for f in mirror.memory.facts()] == [fact.id]
    chunks = chunk_note("memory/preference.md", note.read_text())
    assert [(c.kind, c.text) for c in chunks] == [("fact", "I prefer tabs over spaces.")]
    mirror.index()
    hits = mirror.search(MemoryQuery("rm -rf example", k=50)).hits
    assert not any("rm -rf" in hit.text for hit in hits)  # (or nothing found at all)
    assert [h.message_id for h in mirror.search(MemoryQuery("tabs spaces")).hits] == [fact.id]


def test_a_fact_added_after_a_fence_left_open_is_still_a_fact(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    first = mirror.memory.remember("I prefer tabs over spaces.", type="preference")
    note = vault_root / "memory" / "preference.md"
    note.write_text(note.read_text() + "\n```\n- rm -rf example\n")  # never closed
    second = mirror.memory.remember("I drink my coffee black.", type="preference")
    assert [f.id for f in mirror.memory.facts()] == [first.id, second.id]
    assert "- rm -rf example\n```\n" in note.read_text()  # the fence closed before the fact


def test_a_fact_deleted_by_hand_leaves_the_summary_that_listed_it(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    session = mirror.create_session("Editors")
    session.add_message("user", "My favorite editor is Helix.")
    session.complete()
    mirror.memory.consolidate()
    fact = next(f for f in mirror.memory.facts() if "Helix" in f.text)
    summary = next((vault_root / "memory" / "summaries").glob("*.md"))
    assert f"#^{fact.id}|" in summary.read_text()
    note = vault_root / fact.note
    note.write_text("\n".join(ln for ln in note.read_text().split("\n") if fact.id not in ln))

    other = mirror.create_session("Later")
    other.add_message("user", "I live in Lisbon.")
    other.complete()
    mirror.memory.consolidate()  # notices the deletion
    text = summary.read_text()
    assert fact.id not in text and "Helix" not in text.split("## Facts learned")[-1]
    assert "Session: [[" in text  # the rest of the summary stays
