"""The PostgreSQL engine end to end: two vaults of two identities in one database."""

from __future__ import annotations

from amos_vault.index.query import MemoryQuery
from amos_vault.mirror import ActiveMirror
from tests.team.conftest import TeamVault, share


def _texts(mirror: ActiveMirror, text: str, **filters: object) -> list[str]:
    result = mirror.search(MemoryQuery(text, k=20, **filters), sync=False)  # type: ignore[arg-type]
    return [hit.text for hit in result.hits]


def _fill(mirror: ActiveMirror, title: str, lines: list[str]):
    session = mirror.create_session(title)
    for line in lines:
        session.add_message("user", line)
    return session


def test_each_finds_its_own_and_the_shared_text_never_the_others_private(
    team_vault: TeamVault,
) -> None:
    alice, bob = team_vault("alice"), team_vault("bob")
    _fill(alice, "Alice private", ["The launch code for the aquarium is walrus"])
    shared = _fill(alice, "Alice team notes", ["The team offsite is in Lisbon in October"])
    share(shared)
    _fill(bob, "Bob private", ["My dentist appointment is on the walrus day"])
    kept = _fill(bob, "Bob secret", ["The aquarium walrus password is kept here"])
    share(kept, "private: true")

    report = alice.index()
    assert report.chunks > 0 and not report.errors
    bob.index()

    assert any("launch code" in t for t in _texts(alice, "walrus aquarium"))
    assert any("Lisbon" in t for t in _texts(bob, "where is the team offsite"))
    bob_sees = " ".join(_texts(bob, "walrus aquarium launch code"))
    assert "launch code" not in bob_sees
    assert "dentist" in bob_sees
    alice_sees = " ".join(_texts(alice, "dentist walrus password"))
    assert "dentist" not in alice_sees and "password is kept" not in alice_sees
    assert "password is kept" not in bob_sees  # private: true never left the machine
    status = bob.engine.status()
    assert status["engine"] == "postgres" and status["files"] >= 2


def test_resync_is_idempotent(team_vault: TeamVault) -> None:
    alice = team_vault("alice")
    _fill(alice, "Garden", ["Tomatoes need watering every morning", "Basil likes sun"])
    first = alice.index()
    before = alice.engine.status()
    again = alice.index()
    assert first.chunks > 0 and again.chunks == 0 and again.embedded == 0
    assert alice.engine.status() == before
    rebuilt = alice.index(rebuild=True)
    assert rebuilt.chunks == first.chunks
    assert alice.engine.status() == before
    hits = _texts(alice, "how often do tomatoes need water")
    assert hits and "Tomatoes" in hits[0]


def test_a_fact_finds_the_message_it_came_from_as_in_the_embedded_engine(
    team_vault: TeamVault,
) -> None:
    alice = team_vault("alice")
    session = _fill(
        alice,
        "Catching up",
        [
            "Ana's sister visited Lisbon last week and loved the city.",
            "Ana said the city library has a new reading room.",
            "Got the keys today! Boxes everywhere, but the view of the Douro is worth it.",
        ],
    )
    told = session.messages[2].id
    fact = alice.memory.remember("Ana moved to Porto.", source=f"{session.id}#{told}")
    alice.index()
    hits = alice.search(MemoryQuery("Which city did Ana move to?", k=1), sync=False).hits
    assert [(h.kind, h.message_id) for h in hits] == [("message", told), ("fact", fact.id)]
    assert hits[1].attached_to == hits[0].chunk_id
