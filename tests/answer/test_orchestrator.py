"""Context, ask, chat, engines, hooks and plugins, with the real `ollama` client talking to
the Ollama-protocol stand-in on 127.0.0.1 (not the real Ollama)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from amos_vault.answer.context import build_context
from amos_vault.answer.dialogue import choose_pattern
from amos_vault.answer.hooks import Hook
from amos_vault.core.config import ContextSettings
from amos_vault.files.sessionfile import parse_session_bytes
from amos_vault.mirror import ActiveMirror
from tests.conftest import RunCli, wait_for
from tests.ollama_standin import OllamaStandIn

EXAMPLE_PLUGIN = Path(__file__).parents[1] / "example_plugin"


@pytest.fixture
def standin() -> Iterator[OllamaStandIn]:
    server = OllamaStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def memory(mirror: ActiveMirror) -> ActiveMirror:
    """A vault with a past conversation, a follow-up linked to it, and facts."""
    trip = mirror.create_session("Trip to Lisbon", tags=["travel"])
    trip.add_message("user", "I love grilled sardines and I hate crowds.")
    trip.add_message("assistant", "Then go to Alfama early in the morning.")
    trip.complete()
    other = mirror.create_session("Garden")
    other.add_message("user", "Tomatoes need sun and daily water.")
    (mirror.vault.memory_dir / "preference.md").write_text(
        "# Preferences\n\n- Prefers window seats on flights pinned:: true\n"
        "- Drinks tea, not coffee\n"
    )
    follow = mirror.create_session("Lisbon restaurants", parent=trip)
    follow.add_message("user", "Let us shortlist restaurants.")
    return mirror


def test_context_has_every_part_with_provenance(memory: ActiveMirror) -> None:
    follow = next(s for s in memory.list_sessions() if s.title == "Lisbon restaurants")
    memory.index()
    context = memory.orchestrator(use_model=False).build_context("Where can I eat fish?", follow)
    sections = [p.section for p in context.pieces]
    assert sections[0] == "identity" and sections[1] == "metadata"
    assert (
        sections[-1] == "immediate" and context.pieces[-1].text == "Let us shortlist restaurants."
    )
    facts = context.section("facts")
    assert (
        facts[0].text == "Prefers window seats on flights"
        and facts[0].path == "memory/preference.md"
    )
    long_term = context.section("long_term")
    assert any("sardines" in p.text for p in long_term)
    sardines = next(p for p in long_term if "sardines" in p.text)
    assert sardines.path and sardines.message_id and sardines.link and sardines.cite
    assert all(p.session_id != follow.id for p in long_term)
    again = memory.orchestrator(use_model=False).build_context("Where can I eat fish?", follow)
    assert again.to_dict() == context.to_dict()  # deterministic


def test_lineage_boost_and_budget_cut(memory: ActiveMirror) -> None:
    memory.index()
    follow = next(s for s in memory.list_sessions() if s.title == "Lisbon restaurants")
    orchestrator = memory.orchestrator(use_model=False)
    boosted = build_context(
        "food",
        orchestrator.search,
        ContextSettings(lineage_boost=5.0),
        session=follow,
        lineage=[s.id for s in follow.lineage()[1:]],
    )
    best = max(boosted.section("long_term"), key=lambda p: p.score)
    assert best.title == "Trip to Lisbon" and best.score > 4
    # A question whose words are in the vault ("food" alone is in no file, and its closest
    # fact is near the nothing-found floor): facts and passages compete for 45 tokens.
    tight = build_context(
        "food and drinks", orchestrator.search, ContextSettings(budget_tokens=45), session=follow
    )
    assert tight.dropped and tight.tokens <= 45 + sum(p.tokens for p in tight.section("immediate"))
    kept = [p.score for p in tight.pieces if p.section not in ("identity", "metadata", "immediate")]
    assert all(d.score <= min(kept, default=float("inf")) for d in tight.dropped)


def test_immediate_turns_are_always_in_and_older_ones_by_relevance(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Long chat")
    for n in range(30):
        session.add_message(
            "user", f"Note {n}: " + ("the cat's name is Miso" if n == 3 else "weather talk")
        )
    mirror.index()
    context = mirror.orchestrator(use_model=False).build_context("what is my cat called", session)
    assert [p.text for p in context.section("immediate")] == [
        m.content for m in session.messages[-10:]
    ]
    assert any("Miso" in p.text for p in context.section("working"))


def test_ask_streams_an_answer_with_sources(memory: ActiveMirror, standin: OllamaStandIn) -> None:
    standin.script.reply = lambda request: "You like grilled sardines [1]. Try Alfama early."
    memory.llm_host = standin.url
    pieces: list[str] = []
    answer = memory.ask("What food do I like?", model="standin:latest", on_piece=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == answer.text
    assert answer.model == "standin:latest" and answer.notice is None
    assert answer.metadata["cited"] == [1]
    system = standin.script.requests[-1]["messages"][0]
    assert (
        system["role"] == "system"
        and "[1]" in system["content"]
        and "sardines" in system["content"]
    )


def test_without_a_model_ask_answers_with_cited_evidence(
    memory: ActiveMirror, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    memory.llm_host = f"http://127.0.0.1:{port}"
    answer = memory.ask("What food do I like?")
    assert answer.model is None and answer.engine == "extractive"
    assert answer.text.startswith("From your vault:") and "sardines" in answer.text
    assert "ollama serve" in (answer.notice or "") and "ollama pull" in (answer.notice or "")


def test_session_send_records_both_turns(memory: ActiveMirror, standin: OllamaStandIn) -> None:
    standin.script.reply = lambda request: "Noted [1]."
    memory.llm_host = standin.url
    session = memory.create_session("Send test")
    with _model(memory, "standin:latest"):
        answer = session.send("Remember I like sardines.")
    messages = memory.load_session(session.id).messages
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content == answer.text == "Noted [1]."
    assert messages[1].metadata["model"] == "standin:latest"


def test_a_chat_turn_without_words_still_reaches_the_model(
    memory: ActiveMirror, standin: OllamaStandIn
) -> None:
    # "?!" asked on its own is put to no model; in a chat, a thumbs-up after an answer is a
    # turn like any other.
    standin.script.reply = lambda request: "Glad it helped."
    memory.llm_host = standin.url
    session = memory.create_session("Thumbs")
    with _model(memory, "standin:latest"):
        session.send("Remember I like sardines.")
        answer = session.send("👍")
    assert answer.text == "Glad it helped." and answer.model == "standin:latest"
    assert len([r for r in standin.script.requests if r["path"] == "/api/chat"]) == 2


class _model:
    """Point the vault's [llm] model at the stand-in's for the block."""

    def __init__(self, mirror: ActiveMirror, model: str) -> None:
        self.config = mirror.vault.root / ".amos" / "config.toml"
        self.mirror, self.model = mirror, model

    def __enter__(self) -> None:
        import dataclasses

        settings = self.mirror.vault.settings
        llm = dataclasses.replace(settings.llm, model=self.model)
        object.__setattr__(
            self.mirror,
            "vault",
            dataclasses.replace(self.mirror.vault, settings=dataclasses.replace(settings, llm=llm)),
        )

    def __exit__(self, *_: object) -> None:
        pass


def test_reflective_engine_reads_tags_and_uncertainty(
    memory: ActiveMirror, standin: OllamaStandIn
) -> None:
    standin.script.reply = lambda request: (
        "You enjoy sardines [Fact] [1]. You might like octopus too [Estimate]. "
        "Your budget is unclear [Unknown]."
    )
    memory.llm_host = standin.url
    session = memory.create_session("Reflect")
    with _model(memory, "standin:latest"):
        answer = memory.orchestrator(engine="reflective").reply(
            session, "Should I plan a food tour?"
        )
    assert answer.metadata["pattern"] == "strategic"
    assert answer.metadata["claims"] == {"fact": 1, "estimate": 1, "unknown": 1}
    assert "might" in answer.metadata["uncertainty"] and "unclear" in answer.metadata["uncertainty"]
    stored = memory.load_session(session.id).messages[-1].metadata
    assert (
        stored["claims"] == {"fact": 1, "estimate": 1, "unknown": 1}
        and stored["engine"] == "reflective"
    )
    system = standin.script.requests[-1]["messages"][0]["content"]
    assert "cite or stay silent" in system and "[Fact]" in system
    assert choose_pattern("What if we moved to the coast?") == "exploratory"
    assert choose_pattern("Write a poem about tea") == "creative"


def test_hooks_run_in_order_and_a_failing_one_is_skipped(
    memory: ActiveMirror, standin: OllamaStandIn
) -> None:
    calls: list[str] = []

    @Hook.on_message_received
    def first(session, message) -> None:
        calls.append(f"received:{message.content}")

    @Hook.on_context_built
    def broken(session, context) -> None:
        raise RuntimeError("a buggy hook")

    @Hook.on_context_built
    def second(session, context) -> None:
        calls.append(f"context:{len(context.pieces)}")

    @Hook.on_response_generated
    def third(session, answer) -> None:
        calls.append(f"answer:{answer.text}")

    try:
        standin.script.reply = lambda request: "Hi."
        memory.llm_host = standin.url
        session = memory.create_session("Hooks")
        with _model(memory, "standin:latest"):
            memory.orchestrator().reply(session, "Hello")
        assert (
            calls[0] == "received:Hello"
            and calls[1].startswith("context:")
            and calls[2] == "answer:Hi."
        )
    finally:
        for hook in (first, broken, second, third):
            Hook.unregister(hook)
    calls.clear()
    with _model(memory, "standin:latest"):
        memory.orchestrator().reply(session, "Again")
    assert calls == []


def test_an_entry_point_plugin_adds_an_engine_and_a_context_processor(
    memory: ActiveMirror, standin: OllamaStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    standin.script.reply = lambda request: "Sardines."
    memory.llm_host = standin.url
    memory.create_session("Account").add_message("user", "My account number is 12345.")
    memory.index()
    with _model(memory, "standin:latest"):
        orchestrator = memory.orchestrator(engine="terse")
        context = orchestrator.build_context("account number")
        answer = orchestrator.answer("What do I like?")
    assert any("#####" in p.text for p in context.pieces) and not any(
        "12345" in p.text for p in context.pieces
    )
    assert answer.metadata == {"engine": "terse", "words": 1}
    assert standin.script.requests[-1]["messages"][0]["content"] == "Answer in one sentence."


def test_cli_ask_context_and_json(
    run_cli: RunCli, standin: OllamaStandIn, vault_root: Path
) -> None:
    made = json.loads(run_cli("new", "Trip", "--json").stdout)
    run_cli("add", made["id"], "I love grilled sardines.")
    standin.script.reply = lambda request: "Sardines [1]."
    asked = run_cli(
        "ask",
        "what",
        "food",
        "do",
        "I",
        "like",
        "--model",
        "standin:latest",
        env={"OLLAMA_HOST": standin.url},
    )
    assert asked.returncode == 0, asked.stderr
    assert (
        asked.stdout.startswith("Sardines [1].")
        and "Sources:" in asked.stdout
        and "[1]" in asked.stdout
    )
    shown = run_cli("context", "sardines", "--json")
    data = json.loads(shown.stdout)
    assert data["budget"] == 4096 and any("sardines" in p["text"] for p in data["pieces"])
    offline = run_cli("ask", "what food do I like", env={"OLLAMA_HOST": "http://127.0.0.1:9"})
    assert offline.returncode == 0 and "From your vault:" in offline.stdout
    assert "ollama serve" in offline.stderr


def test_chat_writes_each_turn_and_survives_a_kill(
    run_cli: RunCli, standin: OllamaStandIn, vault_root: Path
) -> None:
    standin.script.reply = lambda request: "A long considered reply " * 20
    standin.script.delay = 0.01
    env = {**os.environ, "OLLAMA_HOST": standin.url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amos_vault",
            "--vault",
            str(vault_root),
            "chat",
            "--title",
            "Kill me",
            "--model",
            "standin:latest",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write("First thing I said.\n")
    proc.stdin.flush()
    files = lambda: list((vault_root / "sessions").rglob("*kill-me*.md"))  # noqa: E731
    wait_for(lambda: files() and "assistant" in files()[0].read_text(), what="the first reply")
    proc.stdin.write("Second thing I said.\n")
    proc.stdin.flush()
    wait_for(lambda: "Second thing" in files()[0].read_text(), what="the second turn written")
    standin.script.delay = 0.2  # the second reply is slow: kill the chat in the middle of it
    wait_for(
        lambda: any("Second thing" in json.dumps(r) for r in standin.script.requests),
        what="the second reply under way",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    doc = parse_session_bytes(files()[0].read_bytes())
    contents = [(m.role, m.content) for m in doc.messages]
    assert contents[0] == ("user", "First thing I said.")
    assert contents[1][0] == "assistant" and contents[1][1].startswith("A long considered reply")
    assert contents[2] == ("user", "Second thing I said.")


def test_chat_commands(run_cli: RunCli, vault_root: Path) -> None:
    made = json.loads(run_cli("new", "Parent", "--json").stdout)
    done = run_cli(
        "chat",
        "--title",
        "Commands",
        input=f"/context\n/link {made['id']}\n/pause\n",
        env={"OLLAMA_HOST": "http://127.0.0.1:9"},
    )
    assert done.returncode == 0, done.stderr
    assert "Paused" in done.stdout and "Linked" in done.stdout
    listed = json.loads(run_cli("list", "--json").stdout)
    chat = next(s for s in listed if s["title"] == "Commands")
    assert chat["status"] == "paused" and chat["parent_id"] == made["id"]


def test_ask_can_record_the_exchange_and_chat_resumes_a_session(
    run_cli: RunCli, standin: OllamaStandIn, vault_root: Path
) -> None:
    config = vault_root / ".amos" / "config.toml"
    config.write_text(config.read_text().replace("# record_asks = false", "record_asks = true"))
    env = {"OLLAMA_HOST": standin.url}
    standin.script.reply = lambda request: "Recorded answer."
    asked = run_cli("ask", "remember this question", "--model", "standin:latest", env=env)
    assert asked.returncode == 0, asked.stderr
    recorded = [s for s in json.loads(run_cli("list", "--json").stdout) if "ask" in s["tags"]]
    assert len(recorded) == 1 and recorded[0]["status"] == "completed"
    shown = json.loads(run_cli("show", recorded[0]["id"], "--json").stdout)["messages"]
    assert [m["content"] for m in shown] == ["remember this question", "Recorded answer."]

    made = json.loads(run_cli("new", "Ongoing", "--json").stdout)
    run_cli("add", made["id"], "My cat is called Miso.")
    run_cli("pause", made["id"])
    run_cli("resume", made["id"])  # chat asks before resuming (at a terminal; else refuses)
    standin.script.reply = lambda request: "Miso, as you said."
    resumed = run_cli(
        "chat",
        "--session",
        made["id"],
        "--model",
        "standin:latest",
        input="What is my cat called?\n/quit\n",
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr
    turns = standin.script.requests[-1]["messages"]
    assert {"role": "user", "content": "My cat is called Miso."} in turns  # its full context
    messages = json.loads(run_cli("show", made["id"], "--json").stdout)["messages"]
    assert [m["content"] for m in messages][-2:] == ["What is my cat called?", "Miso, as you said."]
    assert json.loads(run_cli("show", made["id"], "--json").stdout)["session"]["status"] == "active"


def test_an_answer_cut_short_keeps_what_arrived(
    memory: ActiveMirror, standin: OllamaStandIn
) -> None:
    standin.script.reply = lambda request: "one two three four five six"
    standin.script.drop_after = 2
    memory.llm_host = standin.url
    answer = memory.ask("anything", model="standin:latest")
    assert answer.text == "one two th" and answer.model == "standin:latest"
    assert "cut short" in (answer.notice or "")


def test_pinned_facts_are_context_not_the_evidence_of_an_answer(memory: ActiveMirror) -> None:
    memory.index()
    memory.llm_host = "http://127.0.0.1:9"
    answer = memory.ask("where did I want to eat sardines?")
    facts = [p for p in answer.context.pieces if p.section == "facts"]
    assert [p.text for p in facts].count("Prefers window seats on flights") == 1
    assert not any("pinned::" in p.text for p in answer.context.pieces)
    assert "sardines" in answer.text and "window seats" not in answer.text


def test_a_failing_plugin_or_bad_host_never_breaks_an_answer(
    memory: ActiveMirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    import amos_vault.answer.orchestrator as orchestrator_module

    def broken(context):
        raise ValueError("processor bug")

    monkeypatch.setattr(
        orchestrator_module, "plugin_context_processors", lambda: [broken, lambda c: None]
    )
    for host in ("ftp://127.0.0.1:1", "http://127.0.0.1:99999", "127.0.0.1:abc"):
        memory.llm_host = host
        answer = memory.ask("sardines?")
        assert answer.engine == "extractive" and "no language model answered" in (
            answer.notice or ""
        )


def test_empty_replies_fall_back_and_repeated_turns_stay(
    memory: ActiveMirror, standin: OllamaStandIn
) -> None:
    memory.llm_host = standin.url
    standin.script.reply = lambda request: ""
    with _model(memory, "standin:latest"):
        answer = memory.ask("sardines?")
    assert answer.engine == "extractive" and "no text" in (answer.notice or "")
    session = memory.create_session("Repeats")
    for text in ("ok", "ok", "Shall we go?"):
        session.add_message("user", text)
        session.add_message("assistant", "Sure.")
    context = memory.orchestrator(use_model=False).build_context("next", session)
    assert [p.text for p in context.section("immediate")] == [m.content for m in session.messages]


def test_the_budget_holds_even_for_the_live_turns(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Long turns")
    for n in range(12):
        session.add_message("user", f"turn {n} " + "word " * 400)
    context = build_context(
        "q", lambda q: _no_hits(), ContextSettings(budget_tokens=1200), session=session
    )
    assert context.tokens <= 1200 or len(context.section("immediate")) == 1
    assert context.section("immediate")[-1].text.startswith("turn 11")
    assert any(p.section == "immediate" for p in context.dropped)


def _no_hits():
    from amos_vault.index.retrieval import SearchResult

    return SearchResult([], "hybrid")


def test_reflective_reading_of_lists_of_citations_and_hedges(memory: ActiveMirror) -> None:
    from amos_vault.answer.dialogue import ReflectiveEngine

    memory.index()
    context = memory.orchestrator(use_model=False).build_context("Where should we eat?")
    reply = (
        "Maybe you liked it [1, 2]. I\u2019m not sure about Porto [Fact][3]. "
        "Likely fish [Estimate: likely]."
    )
    read = ReflectiveEngine().read_reply(context, reply)
    assert read["cited"] == [n for n in (1, 2, 3) if n <= len(context.sources())]
    assert read["claims"] == {"fact": 1, "estimate": 1, "unknown": 0}
    assert {"maybe", "i'm not sure", "likely"} <= set(read["uncertainty"])


def test_chat_refuses_a_completed_session_before_reading_anything(run_cli: RunCli) -> None:
    made = json.loads(run_cli("new", "Done", "--json").stdout)
    run_cli("complete", made["id"])
    done = run_cli("chat", "--session", made["id"], input="a long carefully typed message\n")
    assert done.returncode == 1 and f"chat --parent {made['id']}" in done.stderr
