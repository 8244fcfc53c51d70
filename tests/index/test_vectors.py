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
    scores = reopened.scores(unit(3))
    assert int(np.argmax(scores)) == reopened.row_of(chunk(3).key)
    # float16 on disk: the scores are close to the float32 ones.
    assert abs(float(scores.max()) - 1.0) < 1e-2

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
    assert row is not None and np.allclose(again.matrix[row], unit(1039), atol=1e-2)
