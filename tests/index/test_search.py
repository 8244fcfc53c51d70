"""Search with the real parts: real files, real Tantivy, the real offline embedding model."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from amos_vault.index.embeddings import ModelEmbedder, open_embedder
from amos_vault.index.query import MemoryQuery
from amos_vault.index.search import SearchEngine
from amos_vault.mirror import ActiveMirror
from tests.conftest import RunCli


@pytest.fixture(scope="session")
def embedder() -> ModelEmbedder:
    """The real default model, loaded once for the whole run."""
    from tests.conftest import REAL_MODEL

    return open_embedder("default", REAL_MODEL.parent.parent)


def make_engine(mirror: ActiveMirror, embedder: ModelEmbedder) -> SearchEngine:
    return SearchEngine(mirror.vault, mirror.cache_dir, embedder=embedder)


@pytest.fixture
def lisbon(mirror: ActiveMirror) -> ActiveMirror:
    """A vault with a few real conversations."""
    trip = mirror.create_session("Trip to Lisbon", tags=["travel"])
    trip.add_message("user", "I want three days in Lisbon in May. I love seafood and hate crowds.")
    trip.add_message("assistant", "Go to Alfama early in the morning and eat grilled sardines.")
    garden = mirror.create_session("Vegetable garden", tags=["home"])
    garden.add_message("user", "Which tomatoes grow well on a sunny balcony?")
    garden.add_message("assistant", "Cherry tomatoes in large pots, watered every evening.")
    work = mirror.create_session("Quarterly planning", tags=["work"])
    work.add_message("user", "Draft the roadmap for the search feature: Tantivy plus vectors.")
    return mirror


def ids(result) -> list[str]:
    return [h.chunk_id for h in result.hits]


def test_semantic_match_without_shared_words(lisbon: ActiveMirror, embedder) -> None:
    engine = make_engine(lisbon, embedder)
    report = engine.sync()
    assert report.files == 3 and report.embedded == report.chunks == 8
    result = engine.search(MemoryQuery("what fish does she enjoy eating", k=3, kinds=("message",)))
    assert result.mode == "hybrid" and result.notice is None
    assert "sardines" in result.hits[0].text or "seafood" in result.hits[0].text
    top = result.hits[0]
    assert top.path.startswith("sessions/") and top.message_id.startswith("m-")
    assert top.link == f"[[{top.path.removesuffix('.md')}#^{top.message_id}]]"
    assert (
        (lisbon.vault.root / top.path).read_text().splitlines()[top.line_start - 1].startswith("**")
    )


def test_sync_add_edit_rename_delete_and_unchanged(lisbon: ActiveMirror, embedder) -> None:
    engine = make_engine(lisbon, embedder)
    engine.sync()
    again = engine.sync()
    assert (again.files, again.embedded, again.deleted) == (0, 0, 0)  # unchanged: not re-read

    garden = next(s for s in lisbon.list_sessions() if s.title == "Vegetable garden")
    assert garden.path is not None
    text = garden.path.read_text().replace("sunny balcony", "windy rooftop terrace")
    garden.path.write_text(text)  # a hand edit in an editor
    edited = engine.sync()
    assert edited.files == 1 and edited.embedded == 1  # only the edited message is re-embedded
    hit = engine.search(MemoryQuery("rooftop terrace", k=1)).hits[0]
    assert "windy rooftop terrace" in hit.text

    renamed = garden.path.with_name("garden renamed.md")
    garden.path.rename(renamed)
    moved = engine.sync()
    assert (moved.files, moved.deleted, moved.embedded) == (1, 1, 0)  # vectors reused
    hit = engine.search(MemoryQuery("rooftop terrace", k=1)).hits[0]
    assert hit.path.endswith("garden renamed.md")

    renamed.unlink()
    gone = engine.sync()
    assert gone.deleted == 1
    assert all("garden" not in h.path for h in engine.search(MemoryQuery("tomatoes", k=10)).hits)

    added = lisbon.create_session("Books")
    added.add_message("user", "Recommend a novel about the sea.")
    assert engine.sync().files == 1
    assert engine.search(MemoryQuery("novel", k=1)).hits[0].session_id == added.id


def test_rebuild_from_scratch_gives_the_same_results(lisbon: ActiveMirror, embedder) -> None:
    engine = make_engine(lisbon, embedder)
    engine.sync()
    queries = ["seafood in Lisbon", "tomato pots", "roadmap", "crowds morning", "xyzzy"]
    before = [
        [(h.chunk_id, round(h.score, 4)) for h in engine.search(MemoryQuery(q)).hits]
        for q in queries
    ]
    shutil.rmtree(lisbon.vault.amos_dir / "index")
    fresh = make_engine(lisbon, embedder)
    fresh.sync()
    after = [
        [(h.chunk_id, round(h.score, 4)) for h in fresh.search(MemoryQuery(q)).hits]
        for q in queries
    ]
    assert after == before
    rebuilt = make_engine(lisbon, embedder)
    rebuilt.sync(rebuild=True)
    assert [
        [(h.chunk_id, round(h.score, 4)) for h in rebuilt.search(MemoryQuery(q)).hits]
        for q in queries
    ] == before


def test_filters(lisbon: ActiveMirror, embedder) -> None:
    engine = make_engine(lisbon, embedder)
    engine.sync()
    trip = next(s for s in lisbon.list_sessions() if s.title == "Trip to Lisbon")

    def kinds(**filters) -> set[str]:
        return {
            h.kind
            for h in engine.search(MemoryQuery("Lisbon tomatoes roadmap", k=20, **filters)).hits
        }

    assert kinds(kinds=("session",)) == {"session"}
    assert kinds(kinds=("message",)) == {"message"}
    only_trip = engine.search(MemoryQuery("tomatoes", k=20, sessions=(trip.id,))).hits
    assert only_trip and {h.session_id for h in only_trip} == {trip.id}
    tagged = engine.search(MemoryQuery("pots and plants", k=20, tags=("home",))).hits
    assert tagged and {h.title for h in tagged} == {"Vegetable garden"}
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert engine.search(MemoryQuery("Lisbon", since=future)).hits == []
    assert engine.search(MemoryQuery("Lisbon", until=future)).hits
    assert (
        engine.search(
            MemoryQuery("Lisbon", tags=("home",), kinds=("message",), sessions=(trip.id,))
        ).hits
        == []
    )


HOSTILE = [
    '"unbalanced',
    "title:foo",
    "(((",
    ")",
    "AND OR NOT",
    "*",
    "?",
    "~2",
    "a:b:c",
    "\\",
    "^",
    "[1 TO 2]",
    "{}",
    "+-!",
    "",
    "   ",
    "\x00",
    "\u202e\u2028",
    "🙂 emoji",
    "ünïcödé",
    "x" * 10_000,
    "field:(a OR b) AND -c",
    "'single",
    "sardines^10",
    "/regex.*/",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_query_strings_never_raise(lisbon: ActiveMirror, embedder, query: str) -> None:
    engine = _shared_engine(lisbon, embedder)
    result = engine.search(MemoryQuery(query, k=5))
    assert isinstance(result.hits, list)
    assert engine.search(MemoryQuery("sardines " + query, k=5)).hits


_ENGINES: dict[Path, SearchEngine] = {}


def _shared_engine(mirror: ActiveMirror, embedder) -> SearchEngine:
    engine = make_engine(mirror, embedder)
    engine.sync()
    return engine


def test_damaged_sidecar_is_rebuilt_with_a_message(lisbon: ActiveMirror, embedder) -> None:
    engine = make_engine(lisbon, embedder)
    engine.sync()
    expected = ids(engine.search(MemoryQuery("fish to eat", k=3)))
    vectors = lisbon.vault.amos_dir / "index" / "vectors"
    segment = next(vectors.glob("seg-*.npz"))
    segment.write_bytes(b"not a numpy file")
    damaged = make_engine(lisbon, embedder)
    assert any("damaged" in n for n in damaged.notices)
    report = damaged.sync()
    assert (report.embedded == 0 and report.reused == 0) or report.embedded > 0
    assert ids(damaged.search(MemoryQuery("fish to eat", k=3))) == expected
    (vectors / "manifest.json").write_text("{ not json")
    again = make_engine(lisbon, embedder)
    assert any("damaged" in n for n in again.notices)
    again.sync()
    assert ids(again.search(MemoryQuery("fish to eat", k=3))) == expected


def test_missing_model_falls_back_to_full_text_and_says_so(
    lisbon: ActiveMirror, tmp_path: Path
) -> None:
    engine = SearchEngine(lisbon.vault, tmp_path / "empty-cache")
    assert engine.mode == "full-text"
    assert len(engine.notices) == 1 and "amosvault model install" in engine.notices[0]
    engine.sync()
    result = engine.search(MemoryQuery("sardines", k=3))
    assert result.mode == "full-text" and "model install" in (result.notice or "")
    assert "sardines" in result.hits[0].text
    assert engine.search(MemoryQuery("what fish does she enjoy", k=3)).hits is not None


def test_model_arriving_later_fills_in_the_vectors(
    lisbon: ActiveMirror, tmp_path: Path, embedder
) -> None:
    SearchEngine(lisbon.vault, tmp_path / "empty-cache").sync()
    later = make_engine(lisbon, embedder)
    report = later.sync()
    assert report.embedded == 8
    assert later.search(
        MemoryQuery("what fish does she enjoy eating", k=1, kinds=("message",))
    ).hits


def test_unreadable_session_is_indexed_as_plain_text_and_left_alone(
    mirror: ActiveMirror, embedder
) -> None:
    bad = mirror.vault.sessions_dir / "broken.md"
    data = b"---\ntitle: [unclosed\n---\nThe zeppelin notes survive a broken header.\n"
    bad.write_bytes(data)
    mirror.create_session("Fine").add_message("user", "hello")
    engine = make_engine(mirror, embedder)
    report = engine.sync()
    assert [rel for rel, _e in report.errors] == ["sessions/broken.md"]
    hit = engine.search(MemoryQuery("zeppelin", k=1)).hits[0]
    assert hit.path == "sessions/broken.md" and hit.kind == "note"
    assert bad.read_bytes() == data
    assert engine.status()["errors"] == {"sessions/broken.md": report.errors[0][1]}


def test_memory_notes_are_searchable_facts(mirror: ActiveMirror, embedder) -> None:
    note = mirror.vault.memory_dir / "preference.md"
    note.write_text(
        "# Preferences\n\n- Prefers window seats on long flights\n- Allergic to peanuts\n"
    )
    engine = make_engine(mirror, embedder)
    engine.sync()
    hits = engine.search(
        MemoryQuery("where do I like to sit on a plane", k=2, kinds=("fact",))
    ).hits
    assert hits[0].text == "Prefers window seats on long flights"
    assert (hits[0].path, hits[0].line_start) == ("memory/preference.md", 3)


def test_highlights_point_at_the_matched_words(mirror: ActiveMirror, embedder) -> None:
    session = mirror.create_session("Café")
    session.add_message("user", "Crème brûlée at the café near the château was délicieux")
    engine = make_engine(mirror, embedder)
    engine.sync()
    hit = engine.search(MemoryQuery("château", k=1, kinds=("message",))).hits[0]
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["château"]


def test_library_search_indexes_first(lisbon: ActiveMirror) -> None:
    result = lisbon.search("tomatoes on a balcony")
    assert result.hits and "tomatoes" in result.hits[0].text.lower()
    lisbon.create_session("Later").add_message("user", "The quokka is a small marsupial.")
    assert lisbon.search(MemoryQuery("quokka", k=1)).hits[0].title == "Later"


def test_cli_index_and_search(run_cli: RunCli, vault_root: Path) -> None:
    assert run_cli("new", "Trip to Lisbon", "--tag", "travel").returncode == 0
    session = json.loads(run_cli("list", "--json").stdout)[0]["id"]
    run_cli("add", session, "I love grilled sardines and hate crowds.")
    indexed = run_cli("index")
    assert indexed.returncode == 0, indexed.stderr
    assert "Indexed 1 changed file(s)" in indexed.stdout and "hybrid search" in indexed.stdout
    found = run_cli("search", "fish", "-k", "2", "--json")
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout)
    assert data["mode"] == "hybrid" and "sardines" in data["hits"][0]["text"]
    assert data["hits"][0]["link"].startswith("[[")
    shown = run_cli(
        "search", "sardines", "--kind", "message", "--tag", "travel", "--session", session[:6]
    )
    assert shown.returncode == 0 and "sardines" in shown.stdout and ":" in shown.stdout
    nothing = run_cli("search", "sardines", "--since", "2999-01-01")
    assert nothing.stdout.strip() == "No matches."
    odd = run_cli("search", '"unbalanced (( title:')
    assert odd.returncode == 0 and "Traceback" not in odd.stderr


def test_search_while_another_process_indexes(run_cli: RunCli, vault_root: Path) -> None:
    from amos_vault.files.vault import file_lock

    run_cli("new", "Lisbon")
    session = json.loads(run_cli("list", "--json").stdout)[0]["id"]
    run_cli("add", session, "Grilled sardines by the river.")
    assert run_cli("index").returncode == 0
    with file_lock(vault_root / ".amos" / "locks" / "index.lock", timeout=5):
        busy = run_cli("search", "sardines", "-k", "1")
    assert busy.returncode == 0, busy.stderr
    assert "another process is updating the index" in busy.stderr
    assert "sardines" in busy.stdout


def test_notes_above_the_first_message_are_searchable(mirror: ActiveMirror, embedder) -> None:
    path = mirror.vault.sessions_dir / "notes.md"
    path.write_text(
        "---\nid: notes001\ntitle: With notes\n---\n\n# With notes\n\nThe zebra31 plan.\n\n"
        "**user** · 2026-11-20 10:00:00Z ^m-00000001\n\nhello\n"
    )
    engine = make_engine(mirror, embedder)
    engine.sync()
    hits = engine.search(MemoryQuery("zebra31", k=3)).hits
    assert any(h.kind == "session" and h.path == "sessions/notes.md" for h in hits)
    full_text = SearchEngine(mirror.vault, mirror.cache_dir, use_model=False)
    top = full_text.search(MemoryQuery("zebra31", k=1)).hits[0]
    assert (top.kind, top.text, top.line_start) == ("note", "The zebra31 plan.", 8)


def test_a_message_id_pasted_twice_still_finds_both_messages(
    mirror: ActiveMirror, embedder
) -> None:
    # Found by the concurrency soak: two messages with one ^id were one chunk key, and
    # search (and the vectors) kept only one of them.
    pasted = mirror.vault.sessions_dir / "pasted.md"
    header = "**user** · 2026-12-02 02:26:14Z ^m-08c8318a\n\n"
    pasted.write_text(f"---\nid: p1\n---\n\n{header}About the otter.\n\n{header}About the heron.\n")
    engine = make_engine(mirror, embedder)
    engine.sync()
    for word in ("otter", "heron"):
        hits = engine.search(MemoryQuery(word, k=3, kinds=("message",))).hits
        assert any(word in hit.text for hit in hits), word
    assert engine.status()["vectors"] == engine.status()["chunks"] == 3


def test_free_text_under_the_title_is_its_own_searchable_chunk(
    lisbon: ActiveMirror, embedder
) -> None:
    # #17: text typed under a session's title, outside any message, was not searchable: it
    # is a chunk of its own now, with the session's provenance and its own lines.
    trip = lisbon.list_sessions(tag="travel")[0]
    assert trip.path is not None
    text = trip.path.read_text()
    title_line = "# Trip to Lisbon\n"
    typed = "Budget: 900 euros for the hotel.\nAsk Marta about the tram pass.\n\nPack a raincoat.\n"
    trip.path.write_text(text.replace(title_line, title_line + "\n" + typed, 1))
    lines = trip.path.read_text().splitlines()
    engine = make_engine(lisbon, embedder)
    engine.sync()
    for query, wanted in (("tram pass", "Ask Marta"), ("what should I pack for rain", "raincoat")):
        top = engine.search(MemoryQuery(query, k=3)).hits[0]
        assert top.kind == "note" and wanted in top.text, (query, top)
        assert top.session_id == trip.id and top.path == lisbon.vault.relative(trip.path)
        assert top.title == "Trip to Lisbon"
        shown = lines[top.line_start - 1 : top.line_end]
        assert "\n".join(shown) == top.text
    budget = engine.search(MemoryQuery("hotel budget euros", k=1, kinds=("note",))).hits[0]
    assert (budget.line_start, budget.line_end) == (
        lines.index("Budget: 900 euros for the hotel.") + 1,
        lines.index("Ask Marta about the tram pass.") + 1,
    )
    # Only the session's scope: the free text is found with a session filter too.
    only = engine.search(MemoryQuery("raincoat", k=5, sessions=(trip.id,))).hits
    assert any(h.kind == "note" and "raincoat" in h.text for h in only)


def test_files_json_keeps_each_files_keys_in_one_string_and_reads_the_older_form(
    lisbon: ActiveMirror, embedder: ModelEmbedder
) -> None:
    from amos_vault.index.sync import MANIFEST_VERSION, Manifest

    engine = make_engine(lisbon, embedder)
    engine.sync()
    path = engine.folder / "files.json"
    data = json.loads(path.read_bytes())
    assert data["version"] == MANIFEST_VERSION == 3
    recorded = Manifest.load(path).files
    assert recorded
    for rel, (_hash, _size, _mtime, keys, _error) in data["files"].items():
        assert isinstance(keys, str) and len(bytes.fromhex(keys)) == 8 * len(recorded[rel].keys)
    # What version 2 wrote (each key a number) is read as it is: nothing is indexed again.
    older = {
        "version": 2,
        "schema": data["schema"],
        "files": {
            rel: [*entry[:3], list(recorded[rel].keys), entry[4]]
            for rel, entry in data["files"].items()
        },
    }
    path.write_text(json.dumps(older))
    reopened = make_engine(lisbon, embedder)
    assert {rel: list(r.keys) for rel, r in reopened.manifest.files.items()} == {
        rel: list(r.keys) for rel, r in recorded.items()
    }
    report = reopened.sync()
    assert report.files == 0 and report.deleted == 0 and report.embedded == 0
