"""What an answer shows and lists (issue #17): evidence by relevance, each quoted source once,
no passages of negative relevance in the context, and no hits for a query without words.
The model, where there is one, is the Ollama-protocol stand-in on 127.0.0.1 (not Ollama)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from amos_vault.index.query import NO_WORDS, NOTHING_FOUND, MemoryQuery
from amos_vault.interfaces.mcp.tools import VaultTools
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime.client import VaultClient
from tests.conftest import RunCli
from tests.ollama_standin import OllamaStandIn

NO_MODEL = {"OLLAMA_HOST": "http://127.0.0.1:9"}
CITE = re.compile(r"^\[(\d+)\]", re.MULTILINE)


@pytest.fixture
def standin() -> Iterator[OllamaStandIn]:
    server = OllamaStandIn().start()
    yield server
    server.stop()


_DAYS = itertools.count(1)


def _say(mirror: ActiveMirror, title: str, *lines: str) -> None:
    """A completed session, each message a day after the one said before it."""
    session = mirror.create_session(title)
    for line in lines:
        when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=next(_DAYS))
        session.add_message("user", line, timestamp=when)
    session.complete()


@pytest.fixture
def trips(mirror: ActiveMirror) -> ActiveMirror:
    """Older passages that share a word with the question, the best one newest (so it gets
    the highest source number), and notes about something else entirely."""
    _say(mirror, "Soup", "A miso soup with tofu and spring onion.")
    _say(mirror, "Training", "The marathon plan keeps a high-carb diet in the last week.")
    _say(mirror, "Knee", "My left knee hurts after running; the physio said rest and ice.")
    _say(mirror, "Physio", "Knee exercises: wall sits and step-ups, three sets each.")
    _say(
        mirror,
        "Vet visit",
        "The vet said Miso the cat needs a low-phosphorus kidney diet from now on.",
    )
    _say(mirror, "Kyoto", "We booked the Hiiragiya ryokan in Kyoto for two nights in April.")
    for n in range(6):
        _say(mirror, f"Sardines {n}", f"Grilled sardines at place number {n} in Lisbon.")
    mirror.index()
    return mirror


def test_evidence_is_shown_best_first(trips: ActiveMirror) -> None:
    answer = trips.ask("What diet did the vet give Miso the cat?")
    assert answer.engine == "extractive"
    scores = [p.score for p in answer.sources]
    assert scores == sorted(scores, reverse=True), scores
    first = answer.text.splitlines()[1]
    assert "vet said Miso" in first, answer.text


def test_only_the_quoted_sources_are_listed_each_once(trips: ActiveMirror) -> None:
    answer = trips.ask("Where did I eat grilled sardines in Lisbon?")
    shown = [int(n) for n in CITE.findall(answer.text)]
    assert len(answer.context.sources()) > len(shown) > 0
    assert [p.cite for p in answer.sources] == shown
    assert [s["cite"] for s in answer.to_dict()["sources"]] == shown


def test_ask_lists_under_sources_what_it_quotes(trips: ActiveMirror, run_cli: RunCli) -> None:
    done = run_cli("ask", "Where did I eat grilled sardines in Lisbon?", env=NO_MODEL)
    assert done.returncode == 0, done.stderr
    answer, _, listed = done.stdout.partition("Sources:")
    shown = CITE.findall(answer)
    assert shown and re.findall(r"^\s+\[(\d+)\]", listed, re.MULTILINE) == shown
    data = json.loads(run_cli("ask", "--json", "grilled sardines", env=NO_MODEL).stdout)
    assert [str(s["cite"]) for s in data["sources"]] == CITE.findall(data["answer"])


def test_a_model_answer_lists_the_sources_it_cites(
    trips: ActiveMirror, standin: OllamaStandIn
) -> None:
    trips.llm_host = standin.url
    standin.script.reply = lambda request: "You had them at place 2 [2], and at [2, 1]."
    answer = trips.ask("Where did I eat grilled sardines?", model="standin:latest")
    assert [p.cite for p in answer.sources] == [1, 2]
    standin.script.reply = lambda request: "Somewhere in Lisbon."
    answer = trips.ask("Where did I eat grilled sardines?", model="standin:latest")
    assert answer.sources == answer.context.sources()  # cites none: every numbered source


def test_context_leaves_out_passages_of_negative_relevance(trips: ActiveMirror) -> None:
    context = trips.orchestrator(use_model=False).build_context("Which ryokan did we book?")
    long_term = context.section("long_term")
    assert any("ryokan" in p.text for p in long_term)
    assert not [p.text for p in long_term if "knee" in p.text.lower()]
    assert all(p.score >= 0 or "ryokan" in p.text for p in long_term)


def test_a_query_without_words_finds_nothing_and_says_why(
    trips: ActiveMirror, run_cli: RunCli, vault_root: Path
) -> None:
    result = trips.search("?!...")
    assert result.hits == [] and result.notice == NO_WORDS
    done = run_cli("search", "?!...")
    assert done.returncode == 0 and "No matches." in done.stdout
    assert NO_WORDS in done.stderr
    data = json.loads(run_cli("search", "--json", "?!...").stdout)
    assert data["hits"] == [] and data["notice"] == NO_WORDS
    asked = run_cli("ask", "?!", env=NO_MODEL)
    assert asked.returncode == 0 and NO_WORDS in asked.stdout and "Sources:" not in asked.stdout
    found = VaultTools(VaultClient(vault_root, trips)).search("?!...")
    assert found["hits"] == [] and found["notice"] == NO_WORDS


def test_an_answer_that_only_quotes_the_vault_is_not_found_again(trips: ActiveMirror) -> None:
    # No model: the chat's answer is the evidence list, written to the session. Searching
    # finds the passage once, not again as the answer's copy of it.
    chat = trips.create_session("Chat")
    answer = chat.send("What diet did the vet give Miso the cat?")
    assert answer.engine == "extractive" and "low-phosphorus" in answer.text
    trips.index()
    hits = trips.search(MemoryQuery("low-phosphorus kidney diet", k=10)).hits
    assert [h.title for h in hits if "low-phosphorus" in h.text] == ["Vet visit"]
    assert chat.id not in {h.session_id for h in hits if h.kind == "message" and h.role != "user"}


def test_a_question_without_words_is_not_put_to_the_model(
    trips: ActiveMirror, standin: OllamaStandIn, run_cli: RunCli
) -> None:
    trips.llm_host = standin.url
    answer = trips.ask("?!", model="standin:latest")
    assert answer.text == f"Nothing to look up: {NO_WORDS}." and answer.notice is None
    assert not [r for r in standin.script.requests if r["path"] == "/api/chat"]
    asked = run_cli("ask", "?!", env=NO_MODEL)  # no model either: no note about one
    assert NO_WORDS in asked.stdout and "language model" not in asked.stderr


def test_words_in_no_file_with_no_meaning_close_find_nothing(
    trips: ActiveMirror, run_cli: RunCli, vault_root: Path
) -> None:
    nonsense = "zorblax quiffenwhorp"
    result = trips.search(nonsense)
    assert result.hits == [] and result.notice is not None and NOTHING_FOUND in result.notice
    done = run_cli("search", nonsense)
    assert done.returncode == 0 and "No matches." in done.stdout
    assert NOTHING_FOUND in " ".join(done.stderr.split())
    data = json.loads(run_cli("search", "--json", nonsense).stdout)
    assert data["hits"] == []
    asked = run_cli("ask", nonsense, env=NO_MODEL)
    assert asked.returncode == 0, asked.stderr
    assert "holds nothing about this" in asked.stdout and "Sources:" not in asked.stdout
    found = VaultTools(VaultClient(vault_root, trips)).search(nonsense)
    assert found["hits"] == [] and NOTHING_FOUND in found["notice"]
    # A word that is in a file is found whatever the floor; so is a meaning close enough.
    assert trips.search("ryokan").hits
    assert trips.search("where do we sleep in Japan").hits[0].title == "Kyoto"
