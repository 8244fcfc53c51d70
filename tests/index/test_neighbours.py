"""A reply inherits a share of the score of the question it answers (``[search]
neighbour_weight``): real files, real Tantivy, the real offline embedding model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from amos_vault.admin.scaffold import init_vault
from amos_vault.index.embeddings import ModelEmbedder
from amos_vault.index.query import MemoryQuery
from amos_vault.index.retrieval import Retriever
from amos_vault.index.search import SearchEngine
from amos_vault.mirror import ActiveMirror
from tests.index.test_search import embedder, make_engine
from tests.team.conftest import use_postgres

__all__ = ["embedder"]  # the session-wide model fixture, shared with test_search

QUESTION = "Which restaurant in Porto did you like best?"
ANSWER = "Cantinho do Avillez, no doubt. Book a table two weeks ahead."
QUERY = MemoryQuery("best restaurant in Porto", k=10, kinds=("message",))
# Two sessions of the same shape: the last message of the second starts on the same line as
# the answer of the first, so a share that ignored files would show.
SESSIONS = {
    "Catching up": [
        ("Ana", "How was the trip to Portugal?"),
        ("Rui", "Wonderful, the light there is something else."),
        ("Ana", QUESTION),
        ("Rui", ANSWER),
        ("Ana", "Noted. My sister is getting married in June."),
        ("Rui", "Congratulations to her! Where is the wedding?"),
    ],
    "Food": [
        ("Ana", "I cooked a risotto with mushrooms last night."),
        ("Rui", "Porto is on my list of cities to see."),
        ("Ana", "My bike needs new brakes before the race."),
        ("Rui", "The library opens at nine on Sundays."),
    ],
}


def chat_about_porto(mirror: ActiveMirror) -> None:
    """A trip chat whose answer shares no word with the question asked about it, and other
    talk around it."""
    for title, turns in SESSIONS.items():
        session = mirror.create_session(title)
        for number, (name, text) in enumerate(turns):
            role = "user" if number % 2 == 0 else "assistant"
            session.add_message(role, text, metadata={"name": name})


def scores(engine: SearchEngine, neighbour_weight: float) -> dict[str, float]:
    """Every message's score for a query in the question's words, by text."""
    settings = dataclasses.replace(engine.vault.settings.search, neighbour_weight=neighbour_weight)
    result = Retriever(engine.engine, engine.embedder, settings).search(QUERY)
    return {hit.text: hit.score for hit in result.hits}


def test_a_reply_ranks_with_the_question_it_answers(
    mirror: ActiveMirror, embedder: ModelEmbedder
) -> None:
    engine = make_engine(mirror, embedder)
    chat_about_porto(mirror)
    engine.sync()
    assert mirror.vault.settings.search.neighbour_weight == 0.4  # on by default
    alone = sorted(scores(engine, 0.0).items(), key=lambda item: -item[1])
    shared = sorted(scores(engine, 0.4).items(), key=lambda item: -item[1])
    assert alone[0][0] == shared[0][0] == QUESTION  # found on its own words either way
    rank_alone = [text for text, _score in alone].index(ANSWER)
    rank_shared = [text for text, _score in shared].index(ANSWER)
    assert rank_shared < rank_alone and rank_shared <= 2


def test_only_a_reply_to_a_question_in_its_own_session_gains(
    mirror: ActiveMirror, embedder: ModelEmbedder
) -> None:
    """A message gains a share of the message right before it in its own session when that
    one asks something (nothing when it scores below average), whatever other files hold."""
    engine = make_engine(mirror, embedder)
    chat_about_porto(mirror)
    engine.sync()
    assert_replies_inherit_from_questions(engine)


def test_the_postgres_engine_shares_alike(
    tmp_path: Path, user_dirs: Path, postgres_url: str
) -> None:
    """The team's engine gives the same shares: positions come from the fields every engine
    returns for a fetched chunk."""
    root = tmp_path / "team"
    init_vault(root, "team", user_dirs)
    use_postgres(root, postgres_url)
    mirror = ActiveMirror(root, key_dir=user_dirs)
    try:
        chat_about_porto(mirror)
        mirror.index()
        assert mirror.engine.team is not None
        assert_replies_inherit_from_questions(mirror.engine)
    finally:
        mirror.engine.close()


def assert_replies_inherit_from_questions(engine: SearchEngine) -> None:
    """Each message's gain is 0.4 times the positive score of the question right before it."""
    alone, shared = scores(engine, 0.0), scores(engine, 0.4)
    assert len(alone) == len(shared) == sum(len(turns) for turns in SESSIONS.values())
    assert shared[ANSWER] > alone[ANSWER] and alone[QUESTION] > 0
    for turns in SESSIONS.values():
        texts = [text for _name, text in turns]
        for before, text in zip(["", *texts], texts, strict=False):
            expected = 0.4 * max(0.0, alone[before]) if "?" in before else 0.0
            assert abs(shared[text] - alone[text] - expected) < 1e-5, text
