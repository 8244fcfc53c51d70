"""The vector sidecar on its own: crash-safe commits, deletions, compaction, model changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from amos_vault.index.chunks import Chunk
from amos_vault.index.vectors import SidecarError, VectorStore


def chunk(n: int, text: str | None = None) -> Chunk:
    body = text or f"text {n}"
    return Chunk(f"message:s.md#m-{n}", "message", "s.md", body, body, body, n, n, session_id="s")


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_commit_reopen_delete_and_compact(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    store = VectorStore(folder, "model-a", 8)
    for n in range(10):
        store.upsert(chunk(n), unit(n))
    store.commit()
    reopened = VectorStore.open(folder, "model-a", 8)
    assert len(reopened) == 10 and reopened.has(chunk(3).key, chunk(3).hash)
    rows, scores = reopened.nearest(unit(3), reopened.kind_mask(()), 3)
    assert int(rows[0]) == reopened.row_of(chunk(3).key)
    # float16 on disk: the scores are close to the float32 ones.
    assert abs(float(scores[0]) - 1.0) < 1e-2

    reopened.delete([chunk(n).key for n in range(2)])
    reopened.commit()
    assert len(VectorStore.open(folder, "model-a", 8)) == 8
    assert len(list(folder.glob("seg-*.npz"))) == 1  # 2 dead of 10: no compaction yet

    reopened.delete([chunk(n).key for n in range(2, 6)])
    reopened.upsert(chunk(20), unit(20))
    reopened.commit()  # over a quarter dead: compacted into one segment
    assert len(list(folder.glob("seg-*.npz"))) == 1
    final = VectorStore.open(folder, "model-a", 8)
    assert final.live_keys() == {chunk(n).key for n in (6, 7, 8, 9, 20)}
    assert len(final.keys) == 5  # no dead rows left


def test_a_later_call_wins_between_delete_and_upsert(tmp_path: Path) -> None:
    store = VectorStore(tmp_path, "m", 8)
    store.upsert(chunk(1), unit(1))
    store.commit()
    store.delete([chunk(1).key])  # e.g. a file renamed: old path deleted...
    store.upsert(chunk(1), unit(1))  # ...and the same chunk added again
    store.commit()
    assert VectorStore.open(tmp_path, "m", 8).has(chunk(1).key, chunk(1).hash)
    store.upsert(chunk(2), unit(2))
    store.delete([chunk(2).key])
    store.commit()
    assert chunk(2).key not in VectorStore.open(tmp_path, "m", 8).live_keys()


def test_vectors_are_reusable_by_content_hash(tmp_path: Path) -> None:
    store = VectorStore(tmp_path, "m", 8)
    store.upsert(chunk(1, "same words"), unit(1))
    store.commit()
    assert np.allclose(store.vector_for(chunk(99, "same words").hash), unit(1), atol=1e-2)  # type: ignore[arg-type]
    assert store.vector_for(chunk(99, "other words").hash) is None


def test_hashes_are_bytes_in_memory_and_hex_text_in_the_files(tmp_path: Path) -> None:
    store = VectorStore(tmp_path, "m", 8, ann_rows=20)
    chunks = [chunk(n) for n in range(30)]
    for c in chunks:
        store.upsert(c, unit(c.line_start))
    store.commit()  # 30 rows >= 20: merged into a graph segment, hashes written back out
    assert store.hashes.dtype == np.dtype("S12")
    again = VectorStore.open(tmp_path, "m", 8, ann_rows=20)
    on_disk = set()
    for segment in tmp_path.glob("seg-*.npz"):
        with np.load(segment) as data:
            on_disk |= {h.decode() for h in data["hashes"]}
    assert on_disk == {c.hash for c in chunks}
    assert all(again.has(c.key, c.hash) for c in chunks)
    assert {again.hash_of(again.row_of(c.key) or 0) for c in chunks} == on_disk


def test_an_interrupted_commit_leaves_the_previous_state(tmp_path: Path) -> None:
    tmp_path = tmp_path / "vectors"
    store = VectorStore(tmp_path, "m", 8)
    store.upsert(chunk(1), unit(1))
    store.commit()
    manifest = (tmp_path / "manifest.json").read_bytes()
    # A crash after the new segment was written but before the manifest was renamed:
    (tmp_path / "seg-000099.npz").write_bytes(b"half-written")
    (tmp_path / ".seg-000100.npz.tmp").write_bytes(b"partial")
    reopened = VectorStore.open(tmp_path, "m", 8)
    assert reopened.live_keys() == {chunk(1).key}
    assert (tmp_path / "manifest.json").read_bytes() == manifest
    reopened.upsert(chunk(2), unit(2))
    reopened.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "seg-000000.npz",
        "seg-000001.npz",
    ]


def test_another_model_starts_empty_and_damage_is_reported(tmp_path: Path) -> None:
    store = VectorStore(tmp_path, "model-a", 8)
    store.upsert(chunk(1), unit(1))
    store.commit()
    assert len(VectorStore.open(tmp_path, "model-b", 8)) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / manifest["segments"][0]["file"]).unlink()
    with pytest.raises(SidecarError, match="missing"):
        VectorStore.open(tmp_path, "model-a", 8)


def test_many_small_commits_keep_few_segments_and_every_vector(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    store = VectorStore(folder, "m", 8)
    for n in range(100):
        store.upsert(chunk(n), unit(n))
    store.commit()
    for n in range(40):  # the daemon's pattern: one edited chunk per commit
        store.upsert(chunk(n % 5, f"edit {n}"), unit(1000 + n))
        store.commit()
        assert len(list(folder.glob("seg-*.npz"))) <= 9
    again = VectorStore.open(folder, "m", 8)
    assert again.live_keys() == {chunk(n).key for n in range(100)}
    assert again.has(chunk(4).key, chunk(4, "edit 39").hash)
    row = again.row_of(chunk(4).key)
    assert row is not None and np.allclose(
        again.vectors_of(np.array([row]))[0], unit(1039), atol=1e-2
    )


def test_saves_merge_the_small_segments_without_rewriting_a_much_larger_one(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "vectors"
    store = VectorStore(folder, "m", 8)
    for n in range(100):
        store.upsert(chunk(n), unit(n))
    store.commit()
    (first,) = folder.glob("seg-*.npz")
    for n in range(100, 120):  # one new message per save
        store.upsert(chunk(n), unit(n))
        store.commit()
        # its 100 rows are not read and written again while the others hold under a quarter
        assert first.exists()
        assert len(list(folder.glob("seg-*.npz"))) <= 9
    again = VectorStore.open(folder, "m", 8)
    assert again.live_keys() == {chunk(n).key for n in range(120)}
    row = again.row_of(chunk(117).key)
    assert row is not None and np.allclose(
        again.vectors_of(np.array([row]))[0], unit(117), atol=1e-2
    )


def test_large_segments_are_searched_through_their_graph_and_survive_reopening(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "vectors"
    store = VectorStore(folder, "m", 8, ann_rows=50)
    for batch in range(4):  # 4 x 40 rows: small segments, merged into a graph at 50
        for n in range(batch * 40, batch * 40 + 40):
            store.upsert(chunk(n), unit(n))
        store.commit()
    graphs = sorted(p.name for p in folder.glob("seg-*.usearch"))
    assert graphs, "the merged rows are held in an HNSW graph"
    store.delete([chunk(n).key for n in range(10)])
    store.upsert(chunk(7, "changed"), unit(700))
    store.commit()
    again = VectorStore.open(folder, "m", 8, ann_rows=50)
    assert again.live_keys() == {chunk(n).key for n in range(10, 160)} | {chunk(7).key}
    for n in (12, 99, 159):  # each row is its own nearest neighbour, whatever its segment
        rows, scores = again.nearest(unit(n), again.kind_mask(()), 5)
        assert int(again.keys[rows[0]]) == chunk(n).key and scores[0] > 0.98
    rows, _scores = again.nearest(unit(3), again.kind_mask(()), 200)
    assert chunk(3).key not in {int(k) for k in again.keys[rows]}  # deleted: never returned
    # int8 in the graph: a reused vector is close to the original.
    reused = again.vector_for(chunk(120).hash)
    assert reused is not None and float(reused @ unit(120)) > 0.98
    assert again.has(chunk(7).key, chunk(7, "changed").hash)
    assert not again.has(chunk(7).key, chunk(7).hash)


def test_a_missing_graph_is_reported_and_temp_files_of_a_crash_are_removed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "vectors"
    store = VectorStore(folder, "m", 8, ann_rows=20)
    for n in range(30):
        store.upsert(chunk(n), unit(n))
    store.commit()
    (folder / ".seg-000099.usearch.tmp").write_bytes(b"half")  # a crash while writing one
    store.upsert(chunk(40), unit(40))
    store.commit()
    assert not (folder / ".seg-000099.usearch.tmp").exists()
    graph = next(folder.glob("seg-*.usearch"))
    graph.unlink()
    with pytest.raises(SidecarError, match="missing"):
        VectorStore.open(folder, "m", 8, ann_rows=20)


def test_a_sidecar_written_by_the_previous_version_is_read_and_upgraded(tmp_path: Path) -> None:
    # Version 1: every segment an .npz with float16 vectors and hashes as unicode.
    folder = tmp_path / "vectors"
    folder.mkdir()
    chunks = [chunk(n) for n in range(30)]
    np.savez(
        folder / "seg-000000.npz",
        keys=np.array([c.key for c in chunks], np.uint64),
        session_keys=np.array([c.session_key for c in chunks], np.uint64),
        kinds=np.zeros(30, np.uint8),
        hashes=np.array([c.hash for c in chunks], dtype="U32"),
        authors=np.array(["user"] * 30, dtype=str),
        vectors=np.stack([unit(n) for n in range(30)]).astype(np.float16),
    )
    manifest = {
        "version": 1,
        "model_id": "m",
        "dim": 8,
        "next_segment": 1,
        "segments": [{"file": "seg-000000.npz", "rows": 30, "deleted": [29]}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    old = VectorStore.open(folder, "m", 8, ann_rows=20)
    assert len(old) == 29 and old.has(chunks[5].key, chunks[5].hash)
    assert old.authors() == {"user"}
    old.upsert(chunk(40), unit(40))
    old.commit()  # the next commit writes the current format (here: a graph, 30 >= 20)
    new = VectorStore.open(folder, "m", 8, ann_rows=20)
    assert json.loads((folder / "manifest.json").read_text())["version"] == 2
    assert new.live_keys() == {c.key for c in chunks[:29]} | {chunk(40).key}
    rows, scores = new.nearest(unit(5), new.kind_mask(()), 3)
    assert int(new.keys[rows[0]]) == chunks[5].key and scores[0] > 0.98
