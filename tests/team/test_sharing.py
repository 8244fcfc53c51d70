"""Who may read what, decided from the vault's real files (no database needed)."""

from __future__ import annotations

from amos_vault.index.engines.postgres.sharing import KEPT_HERE, OWNER_ONLY, WITH_TEAM, Sharing
from amos_vault.index.sync import chunk_file
from amos_vault.mirror import ActiveMirror
from tests.team.conftest import share


def _chunks(mirror: ActiveMirror, rel: str):
    data = (mirror.vault.root / rel).read_bytes()
    return chunk_file(mirror.vault, rel, data)[0]


def test_sessions_summaries_and_facts_follow_their_front_matter(mirror: ActiveMirror) -> None:
    vault = mirror.vault
    team, secret, plain = (mirror.create_session(t) for t in ("Team", "Secret", "Plain"))
    for session in (team, secret, plain):
        session.add_message("user", f"Something said in {session.id}")
    share(team)
    share(secret, "private: true")
    rel = {s: vault.relative(s.path) for s in (team, secret, plain)}  # type: ignore[arg-type]
    link = {s: rel[s].removesuffix(".md") + "#^m-1" for s in rel}
    facts = vault.memory_dir / "facts.md"
    facts.write_text(
        "# Facts\n\n"
        f"- From the team session [source:: [[{link[team]}]]]\n"
        f"- From the secret session [source:: [[{link[secret]}]]]\n"
        f"- From the plain session [source:: [[{link[plain]}]]]\n"
        f"- Marked private [source:: [[{link[team]}]]] [private:: true]\n"
        f"- Linked by name only [source:: [[{rel[secret].rsplit('/', 1)[-1][:-3]}#^m-1]]]\n"
        "- Typed by hand, no source\n"
    )
    shared_note = vault.memory_dir / "team-facts.md"
    shared_note.write_text("---\nshared: team\n---\n# Team facts\n\n- The wiki lives on the NAS\n")
    summaries = vault.memory_dir / "summaries"
    summaries.mkdir(parents=True, exist_ok=True)
    for session in (team, secret):
        (summaries / rel[session].rsplit("/", 1)[-1]).write_text("A summary of it.\n")

    sharing = Sharing(vault)
    chunks = _chunks(mirror, vault.relative(facts))
    seen = {c.text: sharing.of_chunk(c) for c in chunks if c.kind == "fact"}
    assert seen == {
        "From the team session": WITH_TEAM,
        "From the secret session": KEPT_HERE,
        "From the plain session": OWNER_ONLY,
        "Marked private": KEPT_HERE,
        "Linked by name only": KEPT_HERE,
        "Typed by hand, no source": OWNER_ONLY,
    }
    note = _chunks(mirror, vault.relative(shared_note))
    assert {sharing.of_chunk(c) for c in note} == {WITH_TEAM}
    for session, expected in ((team, WITH_TEAM), (secret, KEPT_HERE), (plain, OWNER_ONLY)):
        assert {sharing.of_chunk(c) for c in _chunks(mirror, rel[session])} == {expected}
    for session, expected in ((team, WITH_TEAM), (secret, KEPT_HERE)):
        summary = f"memory/summaries/{rel[session].rsplit('/', 1)[-1]}"
        assert {sharing.of_chunk(c) for c in _chunks(mirror, summary)} == {expected}
