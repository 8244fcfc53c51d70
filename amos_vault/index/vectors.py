"""The vector sidecar: one embedding per chunk, keyed by chunk key and content hash.

On disk (under ``.amos/index/vectors/``) the vectors are float16 segments (``.npz``) plus a
JSON manifest naming the live segments and their deleted rows. A change writes a new segment
and fsyncs it before the manifest that points to it is renamed into place, so a crash at any
moment leaves either the old or the new state, never a mix. Deleted rows are dropped by
compaction once they pile up. In memory the vectors are float32, and search is an exact dot
product with numpy (fine up to about a million chunks).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amos_vault.core.errors import AmosError
from amos_vault.files.vault import FILE_MODE, atomic_file, atomic_write, file_stamp
from amos_vault.index.chunks import KINDS, Chunk

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}


class SidecarError(AmosError):
    """The vector sidecar is missing a file or is damaged (it can always be rebuilt)."""


class VectorStore:
    """Vectors of chunks, with the few per-chunk attributes ranking needs."""

    def __init__(self, folder: Path, model_id: str, dim: int) -> None:
        self.folder = folder
        self.model_id = model_id
        self.dim = dim
        self.keys = np.zeros(0, np.uint64)
        self.session_keys = np.zeros(0, np.uint64)
        self.kinds = np.zeros(0, np.uint8)
        self.hashes: list[str] = []
        self.authors: list[str] = []
        self.matrix = np.zeros((0, dim), np.float32)
        self._buffer = self.matrix
        self.alive = np.zeros(0, bool)
        self._row_of: dict[int, int] = {}
        self._row_of_hash: dict[str, int] = {}
        self._segments: list[dict[str, object]] = []  # {"file", "rows", "first", "deleted"}
        self._next_segment = 0
        self._pending: list[tuple[Chunk, np.ndarray]] = []
        self._pending_deletes: set[int] = set()
        self._manifest_stamp: tuple[int, int, int] | None = None
        self._derived: dict[object, Any] = {}
        self._derived_version: tuple[int, int, int] | None = None

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, model_id: str, dim: int) -> VectorStore:
        """Load the sidecar; an empty store when there is none or it holds another model's
        vectors. Raises `SidecarError` when files are missing or damaged."""
        store = cls(folder, model_id, dim)
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            return store
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("version") != FORMAT_VERSION:
                return store
            if manifest["model_id"] != model_id or manifest["dim"] != dim:
                return store  # another model: every vector must be recomputed
            store._next_segment = int(manifest["next_segment"])
            total = sum(int(entry.get("rows", 0)) for entry in manifest["segments"])
            store._buffer = np.empty((total, dim), np.float32)  # no regrowth while loading
            store.matrix = store._buffer[:0]
            for entry in manifest["segments"]:
                store._load_segment(entry["file"], set(entry["deleted"]))
            store._manifest_stamp = file_stamp(manifest_path)
        except SidecarError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SidecarError(
                f"the vector sidecar is damaged ({exc})",
                hint="it is rebuilt from the vault on the next `amosvault index`",
                path=folder,
            ) from exc
        return store

    def _load_segment(self, name: str, deleted: set[int]) -> None:
        path = self.folder / name
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise SidecarError(f"vector segment {name} is missing", path=path) from None
        rows = len(arrays["keys"])
        if arrays["vectors"].shape != (rows, self.dim):
            raise SidecarError(f"vector segment {name} has the wrong shape", path=path)
        first = len(self.keys)
        alive = np.ones(rows, bool)
        alive[list(deleted)] = False
        self._append_rows(arrays, alive)
        self._segments.append(
            {"file": name, "rows": rows, "first": first, "deleted": sorted(deleted)}
        )

    def _append_rows(self, arrays: dict[str, np.ndarray], alive: np.ndarray) -> None:
        first = len(self.keys)
        self.keys = np.concatenate([self.keys, arrays["keys"].astype(np.uint64)])
        self.session_keys = np.concatenate([self.session_keys, arrays["session_keys"]])
        self.kinds = np.concatenate([self.kinds, arrays["kinds"]])
        self.hashes += [str(h) for h in arrays["hashes"]]
        self.authors += [str(a) for a in arrays["authors"]]
        self.matrix = self._grown(arrays["vectors"])  # float16 rows are converted in place
        self.alive = np.concatenate([self.alive, alive])
        for offset in np.flatnonzero(alive):
            row = first + int(offset)
            self._row_of[int(self.keys[row])] = row
            self._row_of_hash[self.hashes[row]] = row

    def _grown(self, rows: np.ndarray) -> np.ndarray:
        """The matrix with ``rows`` appended. The buffer grows by half again when full, so
        frequent small commits (the daemon's) do not copy every vector each time."""
        used = len(self.matrix)
        needed = used + len(rows)
        if needed > len(self._buffer):
            bigger = np.empty(
                (max(needed, int(len(self._buffer) * 1.5) + 64), self.dim), np.float32
            )
            bigger[:used] = self.matrix
            self._buffer = bigger
        self._buffer[used:needed] = rows
        return self._buffer[:needed]

    # -- queries about content -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._row_of)

    def has(self, key: int, content_hash: str) -> bool:
        """Whether chunk ``key`` already has the vector of this exact content."""
        if key in self._pending_deletes:
            return False
        row = self._row_of.get(key)
        return row is not None and self.hashes[row] == content_hash

    def vector_for(self, content_hash: str) -> np.ndarray | None:
        """A stored vector of text with this hash (from any chunk), to avoid re-embedding."""
        row = self._row_of_hash.get(content_hash)
        return None if row is None else self.matrix[row]

    def key_view(self) -> Container[int]:
        """The live keys, without copying them (for membership tests)."""
        return self._row_of.keys()

    def live_keys(self) -> set[int]:
        """Keys of every live row."""
        return set(self._row_of)

    def row_of(self, key: int) -> int | None:
        """The matrix row of chunk ``key``."""
        return self._row_of.get(key)

    # -- changes ---------------------------------------------------------------------------
    def upsert(self, chunk: Chunk, vector: np.ndarray) -> None:
        """Set the vector of ``chunk`` (applied at `commit`; a later call wins)."""
        self._pending_deletes.discard(chunk.key)
        self._pending.append((chunk, np.asarray(vector, np.float32)))

    def delete(self, keys: Sequence[int]) -> None:
        """Drop the vectors of these chunk keys (applied at `commit`; a later call wins)."""
        dropped = {int(k) for k in keys}
        if dropped:
            self._pending = [(c, v) for c, v in self._pending if c.key not in dropped]
            self._pending_deletes.update(dropped)

    def commit(self) -> None:
        """Apply pending changes in memory and on disk (crash-safe)."""
        if not self._pending and not self._pending_deletes:
            return
        replaced = {c.key for c, _v in self._pending}
        for key in self._pending_deletes | replaced:
            row = self._row_of.pop(key, None)
            if row is not None:
                self.alive[row] = False
                if self._row_of_hash.get(self.hashes[row]) == row:
                    del self._row_of_hash[self.hashes[row]]
        latest = {c.key: (c, v) for c, v in self._pending}
        self._pending, self._pending_deletes = [], set()
        new_files: list[str] = []
        if latest:
            arrays = _arrays_of(list(latest.values()), self.dim)
            name = self._write_segment(arrays)
            new_files.append(name)
            first = len(self.keys)
            self._append_rows(arrays, np.ones(len(latest), bool))
            self._segments.append(
                {"file": name, "rows": len(latest), "first": first, "deleted": []}
            )
        for segment in self._segments:
            first, rows = int(segment["first"]), int(segment["rows"])  # type: ignore[call-overload]
            segment["deleted"] = np.flatnonzero(~self.alive[first : first + rows]).tolist()
        dead = int((~self.alive).sum())
        if dead > 0.25 * len(self.alive):
            self._compact()  # rewrite everything without the dead rows
        elif len(self._segments) > 8:
            self._merge_tail()  # the small recent segments become one; the big first stays
        else:
            self._write_manifest()

    def _write_segment(self, arrays: dict[str, np.ndarray]) -> str:
        name = f"seg-{self._next_segment:06d}.npz"
        self._next_segment += 1
        stored = {k: v.astype(np.float16) if k == "vectors" else v for k, v in arrays.items()}
        save: Any = np.savez  # its stub types **arrays as flags
        with atomic_file(self.folder / name, mode=FILE_MODE) as handle:
            save(handle, **stored)  # a full disk leaves no half segment behind
        return name

    def _write_manifest(self) -> None:
        manifest = {
            "version": FORMAT_VERSION,
            "model_id": self.model_id,
            "dim": self.dim,
            "next_segment": self._next_segment,
            "segments": [
                {"file": s["file"], "rows": s["rows"], "deleted": s["deleted"]}
                for s in self._segments
            ],
        }
        atomic_write(self.folder / MANIFEST, json.dumps(manifest).encode())
        self._manifest_stamp = file_stamp(self.folder / MANIFEST)
        self._remove_unreferenced()

    def is_stale(self) -> bool:
        """Whether another process committed to this sidecar since we loaded or wrote it."""
        return file_stamp(self.folder / MANIFEST) != self._manifest_stamp

    def _remove_unreferenced(self) -> None:
        live = {str(s["file"]) for s in self._segments}
        for path in self.folder.iterdir():
            # Only our own leftovers: segments no longer referenced, temp files of a crash.
            ours = path.name.startswith(("seg-", ".seg-", f".{MANIFEST}"))
            if ours and path.name not in live:
                with contextlib.suppress(OSError):
                    path.unlink()
            elif path.name in live:  # written by an older version with the umask's mode
                with contextlib.suppress(OSError):
                    if path.stat().st_mode & 0o077:
                        path.chmod(FILE_MODE)

    def _rows_arrays(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "keys": self.keys[rows],
            "session_keys": self.session_keys[rows],
            "kinds": self.kinds[rows],
            "hashes": np.array([self.hashes[r] for r in rows], dtype="U32"),
            "authors": np.array([self.authors[r] for r in rows] or [""], dtype=str)[: len(rows)],
            "vectors": self.matrix[rows],
        }
        return arrays

    def _merge_tail(self) -> None:
        """Write the segments after the first as one (dead rows kept, and listed as deleted,
        so the rows in memory keep their places); only the small recent rows are rewritten."""
        first = int(self._segments[1]["first"])  # type: ignore[call-overload]
        rows = np.arange(first, len(self.keys))
        name = self._write_segment(self._rows_arrays(rows))
        deleted = np.flatnonzero(~self.alive[first:]).tolist()
        self._segments = [
            self._segments[0],
            {"file": name, "rows": len(rows), "first": first, "deleted": deleted},
        ]
        self._write_manifest()

    def _compact(self) -> None:
        rows = np.flatnonzero(self.alive)
        arrays = self._rows_arrays(rows)
        name = self._write_segment(arrays)
        fresh = VectorStore(self.folder, self.model_id, self.dim)
        fresh._next_segment = self._next_segment
        fresh._append_rows(arrays, np.ones(len(rows), bool))
        fresh._segments = [{"file": name, "rows": len(rows), "first": 0, "deleted": []}]
        self.__dict__.update(fresh.__dict__)
        self._write_manifest()

    # -- search ----------------------------------------------------------------------------
    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of ``query`` with every row (dead rows score -inf)."""
        if not len(self.keys):
            return np.zeros(0, np.float32)
        result = self.matrix @ np.asarray(query, np.float32)
        result[self._cached("dead", lambda: np.flatnonzero(~self.alive))] = -np.inf
        return result

    def author_array(self) -> np.ndarray:
        """Authors of all rows as one array, cached."""
        array: np.ndarray = self._cached("authors", lambda: np.asarray(self.authors, dtype=object))
        return array

    def kind_mask(self, kinds: Sequence[str]) -> np.ndarray:
        """Live rows whose chunk kind is one of ``kinds`` (every live row when none given).
        Cached until the rows change: callers must not modify it."""
        codes = sorted(_KIND_CODE[k] for k in kinds if k in _KIND_CODE)

        def build() -> np.ndarray:
            if not kinds:
                return self.alive.copy()
            return self.alive & np.isin(self.kinds, codes)

        mask: np.ndarray = self._cached(("kinds", *codes), build)
        return mask

    def _cached(self, name: object, build: Any) -> Any:
        """A value derived from the rows, kept until the rows change (queries reuse it)."""
        version = (len(self.keys), int(self.alive.sum()), id(self.alive))
        if self._derived_version != version:
            self._derived.clear()
            self._derived_version = version
        if name not in self._derived:
            self._derived[name] = build()
        return self._derived[name]


def _arrays_of(items: list[tuple[Chunk, np.ndarray]], dim: int) -> dict[str, np.ndarray]:
    chunks = [c for c, _v in items]
    return {
        "keys": np.array([c.key for c in chunks], np.uint64),
        "session_keys": np.array([c.session_key for c in chunks], np.uint64),
        "kinds": np.array([_KIND_CODE[c.kind] for c in chunks], np.uint8),
        "hashes": np.array([c.hash for c in chunks], dtype="U32"),
        "authors": np.array([c.author for c in chunks] or [""], dtype=str)[: len(chunks)],
        "vectors": np.stack([v for _c, v in items]).astype(np.float32).reshape(-1, dim),
    }
