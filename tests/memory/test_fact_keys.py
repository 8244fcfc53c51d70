"""Facts as further search keys of the messages they were drawn from (real files, real
Tantivy, the real embedding model): a question the fact answers finds the message it came
from, and a fact shown in results stands beside that message."""

from __future__ import annotations

import pytest

from amos_vault.index.query import MemoryQuery
from amos_vault.mirror import ActiveMirror
from amos_vault.sessions.session import Session
from tests.conftest import RunCli

QUESTION = "Which city did Ana move to?"


@pytest.fixture
def moving(mirror: ActiveMirror) -> Session:
    """A chat where the move is told in words the question does not use."""
    session = mirror.create_session("Catching up")
    for text in (
        "Ana's sister visited Lisbon last week and loved the city.",
        "We should move the book club meeting to Thursday.",
        "Ana said the city library has a new reading room.",
        "Got the keys today! Boxes everywhere, but the view of the Douro is worth it.",
        "The tram to the old town was packed again this morning.",
    ):
        session.add_message("user", text)
    session.complete()
    return session


def _keys_message(session: Session) -> str:
    return next(m.id for m in session.messages if "keys" in m.content)


def test_a_question_answered_only_by_a_fact_finds_the_message_it_came_from(
    mirror: ActiveMirror, moving: Session
) -> None:
    told = _keys_message(moving)

    def found(kinds: tuple[str, ...] = ()) -> tuple[int, float]:
        """Where the message ranks among the messages found, and its score."""
        hits = mirror.search(MemoryQuery(QUESTION, k=10, kinds=kinds)).hits
        messages = [h for h in hits if h.kind == "message"]
        place = [h.message_id for h in messages].index(told)
        return place, messages[place].score

    alone = found(("message",))
    assert found()[0] == alone[0] > 1  # its words and meaning miss it
    mirror.memory.remember("Ana moved to Porto.", source=f"{moving.id}#{told}")
    hits = mirror.search(MemoryQuery(QUESTION, k=1)).hits  # every kind, as the CLI asks
    assert (hits[0].kind, hits[0].message_id) == ("message", told)
    assert found(("message",))[1] > alone[1]  # asked for messages only: the fact still counts
    only = mirror.search(MemoryQuery(QUESTION, k=5, kinds=("message",))).hits
    assert all(h.kind == "message" for h in only)


def test_a_fact_hit_stands_beside_its_message_as_one_result(
    mirror: ActiveMirror, moving: Session
) -> None:
    told = _keys_message(moving)
    fact = mirror.memory.remember("Ana moved to Porto.", source=f"{moving.id}#{told}")
    hits = mirror.search(MemoryQuery(QUESTION, k=1, kinds=("message", "fact"))).hits
    assert [(h.kind, h.message_id) for h in hits] == [("message", told), ("fact", fact.id)]
    assert hits[1].attached_to == hits[0].chunk_id and hits[1].sources == fact.sources
    assert hits[1].to_dict()["attached_to"] == hits[0].chunk_id
    everything = mirror.search(MemoryQuery(QUESTION, k=3)).hits  # every kind, as the CLI asks
    assert [h.message_id for h in everything].count(fact.id) == 1


def test_a_fact_without_a_source_is_a_result_of_its_own(mirror: ActiveMirror) -> None:
    fact = mirror.memory.remember("Ana moved to Porto.")
    hits = mirror.search(MemoryQuery(QUESTION, k=1)).hits
    assert [(h.kind, h.message_id, h.attached_to) for h in hits] == [("fact", fact.id, "")]


def test_a_search_narrowed_to_a_session_keeps_to_its_messages(
    mirror: ActiveMirror, moving: Session
) -> None:
    told = _keys_message(moving)
    other = mirror.create_session("Elsewhere")
    other.add_message("user", "Nothing to see here.")
    other.complete()
    mirror.memory.remember("Ana moved to Porto.", source=f"{moving.id}#{told}")
    hits = mirror.search(MemoryQuery(QUESTION, k=5, sessions=(other.id,))).hits
    assert {h.session_id for h in hits} == {other.id}


def test_the_cli_shows_a_fact_under_the_message_it_found(
    mirror: ActiveMirror, moving: Session, run_cli: RunCli
) -> None:
    told = _keys_message(moving)
    mirror.memory.remember("Ana moved to Porto.", source=f"{moving.id}#{told}")
    shown = run_cli("search", QUESTION, "-k", "1")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("1. Catching up")
    assert not any(line.startswith("2. ") for line in lines), "-k 1 shows one hit"
    assert "Got the keys today" in lines[2] and lines[3].startswith("   fact: Ana moved to Porto.")
