"""The vector sidecar: one embedding per chunk, keyed by chunk key and content hash.

On disk (under ``.amos/index/vectors/``) the vectors live in immutable segments plus a JSON
manifest naming the live segments and their deleted rows. A change writes a new segment and
fsyncs it before the manifest that points to it is renamed into place, so a crash at any
moment leaves either the old or the new state, never a mix.

Two kinds of segment, so memory and query time stay bounded as a vault grows:
- small (recent commits): float16 vectors in the ``.npz``, int8 with a scale per row in
  memory (`Int8Rows`), scanned exactly;
- large (>= ``ann_rows`` rows, made by merging): the vectors quantised to int8 inside an HNSW
  graph (usearch) in a ``.usearch`` file that is memory-mapped, not loaded: a query visits a
  few hundred of its rows, and only those pages are read.
Small segments are merged into a large one once they hold ``ann_rows`` rows; large segments
are merged pairwise (smallest first) when there are more than `MAX_LARGE`; a segment with
over a quarter of its rows deleted is rewritten. Per-chunk attributes are numpy arrays (no
Python object per chunk), and lookups by key or content hash are binary searches.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amos_vault.core.errors import AmosError
from amos_vault.files.vault import FILE_MODE, atomic_file, atomic_write, ensure_dir, file_stamp
from amos_vault.index.chunks import KINDS, Chunk
from amos_vault.index.engine import best_first
from amos_vault.index.hashcodes import are_hashes, hash_bytes, hashes_as_bytes, hashes_as_hex
from amos_vault.index.quantized import Int8Rows

MANIFEST = "manifest.json"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: small segments only
ANN_ROWS = 20_000  # a segment this large is searched through its HNSW graph
MAX_LARGE = 6  # more large segments than this: the two smallest are merged
MAX_SMALL = 8  # more small segments than this: merged (see `_merge_tier`)
SMALL_TIER = 4  # ...unless the largest holds more than this times the rest: it stays
SAMPLE_ROWS = 2048  # rows whose similarities stand for all of them (standardising scores)
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
_ATTRIBUTES = ("keys", "session_keys", "kinds", "hashes", "authors")


class SidecarError(AmosError):
    """The vector sidecar is missing a file or is damaged (it can always be rebuilt)."""


@dataclass
class Segment:
    """One immutable file of rows (and its HNSW graph, when large)."""

    file: str
    rows: int
    first: int  # its first row in the store's arrays
    deleted: list[int]
    ann: str | None = None  # the .usearch file, for a large segment
    graph: Any = None  # the memory-mapped usearch index
    matrix: Int8Rows | None = None  # a small segment's vectors, scanned exactly

    def entry(self) -> dict[str, object]:
        """The manifest's record of this segment."""
        entry: dict[str, object] = {"file": self.file, "rows": self.rows, "deleted": self.deleted}
        if self.ann:
            entry["ann"] = self.ann
        return entry


class VectorStore:
    """Vectors of chunks, with the few per-chunk attributes ranking needs."""

    def __init__(self, folder: Path, model_id: str, dim: int, ann_rows: int = ANN_ROWS) -> None:
        self.folder = folder
        self.model_id = model_id
        self.dim = dim
        self.ann_rows = ann_rows
        self.keys = np.zeros(0, np.uint64)
        self.session_keys = np.zeros(0, np.uint64)
        self.kinds = np.zeros(0, np.uint8)
        self.hashes = np.zeros(0, "S12")
        self.author_codes = np.zeros(0, np.uint32)
        self.author_names: list[str] = [""]
        self._author_code: dict[str, int] = {"": 0}
        self.alive = np.zeros(0, bool)
        self._segments: list[Segment] = []
        self._next_segment = 0
        self._pending: list[tuple[Chunk, np.ndarray]] = []
        self._pending_deletes: set[int] = set()
        self._manifest_stamp: tuple[int, int, int] | None = None
        self._derived: dict[object, Any] = {}
        self._derived_version: tuple[int, int, int] | None = None

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, model_id: str, dim: int, ann_rows: int = ANN_ROWS) -> VectorStore:
        """Load the sidecar; an empty store when there is none or it holds another model's
        vectors. Raises `SidecarError` when files are missing or damaged."""
        store = cls(folder, model_id, dim, ann_rows)
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            return store
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("version") not in READABLE_VERSIONS:
                return store
            if manifest["model_id"] != model_id or manifest["dim"] != dim:
                return store  # another model: every vector must be recomputed
            store._next_segment = int(manifest["next_segment"])
            loaded = [store._read_segment(entry) for entry in manifest["segments"]]
            for segment, arrays in loaded:
                store._append(segment, arrays)
            store._manifest_stamp = file_stamp(manifest_path)
        except SidecarError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise SidecarError(
                f"the vector sidecar is damaged ({exc})",
                hint="it is rebuilt from the vault on the next `amosvault index`",
                path=folder,
            ) from exc
        return store

    def _read_segment(self, entry: dict[str, Any]) -> tuple[Segment, dict[str, np.ndarray]]:
        name = str(entry["file"])
        path = self.folder / name
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise SidecarError(f"vector segment {name} is missing", path=path) from None
        rows = len(arrays["keys"])
        segment = Segment(name, rows, 0, [int(r) for r in entry["deleted"]], entry.get("ann"))
        if segment.ann:
            segment.graph = self._open_graph(segment.ann, rows)
        elif arrays["vectors"].shape != (rows, self.dim):
            raise SidecarError(f"vector segment {name} has the wrong shape", path=path)
        if not are_hashes(arrays["hashes"]):
            raise SidecarError(f"vector segment {name} has malformed content hashes", path=path)
        return segment, arrays

    def _open_graph(self, name: str, rows: int) -> Any:
        from usearch.index import Index

        path = self.folder / name
        if not path.is_file():
            raise SidecarError(f"vector graph {name} is missing", path=path)
        graph = Index.restore(str(path), view=True)
        if graph is None or len(graph) != rows or graph.ndim != self.dim:
            raise SidecarError(f"vector graph {name} does not match its segment", path=path)
        return graph

    def _append(self, segment: Segment, arrays: dict[str, np.ndarray]) -> None:
        """Add a segment's rows to the arrays (its ``first`` is set here)."""
        segment.first = len(self.keys)
        alive = np.ones(segment.rows, bool)
        alive[segment.deleted] = False
        authors = [str(a) for a in arrays["authors"][: segment.rows]]
        codes = np.fromiter((self._code_of(a) for a in authors), np.uint32, segment.rows)
        self.keys = np.concatenate([self.keys, arrays["keys"].astype(np.uint64)])
        self.session_keys = np.concatenate(
            [self.session_keys, arrays["session_keys"].astype(np.uint64)]
        )
        self.kinds = np.concatenate([self.kinds, arrays["kinds"].astype(np.uint8)])
        self.hashes = np.concatenate([self.hashes, hashes_as_bytes(arrays["hashes"])])
        self.author_codes = np.concatenate([self.author_codes, codes])
        self.alive = np.concatenate([self.alive, alive])
        if segment.graph is None and segment.matrix is None:
            # Rounded as stored (float16) first: the same codes whether the rows come from a
            # commit or from the file.
            stored = np.asarray(arrays["vectors"])
            segment.matrix = Int8Rows.of(stored.astype(np.float16, copy=False))
        self._segments.append(segment)

    def _code_of(self, author: str) -> int:
        code = self._author_code.get(author)
        if code is None:
            code = self._author_code[author] = len(self.author_names)
            self.author_names.append(author)
        return code

    # -- queries about content -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._cached("live", lambda: int(self.alive.sum())))

    def _lookup(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Live rows sorted by ``keys`` or ``hashes``: (sorted values, their rows)."""

        def build() -> tuple[np.ndarray, np.ndarray]:
            rows = np.flatnonzero(self.alive).astype(np.int32)  # half the memory of int64
            values = getattr(self, name)[rows]
            order = np.argsort(values, kind="stable")
            return values[order], rows[order]

        result: tuple[np.ndarray, np.ndarray] = self._cached(("lookup", name), build)
        return result

    def rows_of(self, keys: Sequence[int] | np.ndarray) -> np.ndarray:
        """The live rows of these chunk keys (-1 where a key has no vector)."""
        values, rows = self._lookup("keys")
        wanted = np.asarray(keys, np.uint64)
        if not len(values) or not len(wanted):
            return np.full(len(wanted), -1, np.int64)
        where = np.searchsorted(values, wanted).clip(0, len(values) - 1)
        return np.where(values[where] == wanted, rows[where], -1).astype(np.int64)

    def row_of(self, key: int) -> int | None:
        """The row of chunk ``key``."""
        row = int(self.rows_of([key])[0])
        return None if row < 0 else row

    def _row_of_hash(self, content_hash: str) -> int | None:
        values, rows = self._lookup("hashes")
        wanted = np.bytes_(hash_bytes(content_hash))
        where = int(np.searchsorted(values, wanted))
        return int(rows[where]) if where < len(values) and values[where] == wanted else None

    def has(self, key: int, content_hash: str) -> bool:
        """Whether chunk ``key`` already has the vector of this exact content."""
        if key in self._pending_deletes:
            return False
        row = self.row_of(key)
        return row is not None and self.hashes[row] == hash_bytes(content_hash)

    def hash_of(self, row: int) -> str:
        """The content hash of the text whose vector is in ``row``."""
        return str(hashes_as_hex(self.hashes[row : row + 1])[0].decode())

    def author_of(self, row: int) -> str:
        """The author of the chunk in ``row``."""
        return self.author_names[int(self.author_codes[row])]

    def vector_for(self, content_hash: str) -> np.ndarray | None:
        """A stored vector of text with this hash (from any chunk), to avoid re-embedding."""
        row = self._row_of_hash(content_hash)
        return None if row is None else self.vectors_of(np.array([row]))[0]

    def key_view(self) -> Container[int]:
        """The live keys, for membership tests (no copy per call)."""
        return _KeyView(self)

    def live_keys(self) -> set[int]:
        """Keys of every live row."""
        return {int(k) for k in self.keys[self.alive]}

    def authors(self) -> set[str]:
        """Every author with a live chunk (cached until the rows change)."""

        def build() -> set[str]:
            codes = np.unique(self.author_codes[self.alive])
            return {self.author_names[int(c)] for c in codes} - {""}

        names: set[str] = self._cached("authors", build)
        return names

    def stats(self) -> dict[str, int]:
        """Segments, those with a graph, and rows deleted but not yet dropped."""
        return {
            "vector_segments": len(self._segments),
            "graph_segments": sum(1 for s in self._segments if s.graph is not None),
            "deleted_rows": int(len(self.alive) - np.count_nonzero(self.alive)),
        }

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
        latest = {c.key: (c, v) for c, v in self._pending}
        gone = self.rows_of(sorted(self._pending_deletes | set(latest)))
        self.alive[gone[gone >= 0]] = False
        self._pending, self._pending_deletes = [], set()
        if latest:
            arrays = _arrays_of(list(latest.values()), self.dim)
            large = len(latest) >= self.ann_rows  # a big batch (first index) goes straight in
            self._append(self._write_segment(arrays, graph=large), arrays)
        for segment in self._segments:
            span = self.alive[segment.first : segment.first + segment.rows]
            segment.deleted = np.flatnonzero(~span).tolist()
        self._merge()
        self._write_manifest()

    def _merge(self) -> None:
        """Keep few segments: rewrite mostly-dead ones, merge the small ones into a large
        one, and the two smallest large ones while there are too many."""
        small = [s for s in self._segments if s.graph is None]
        large = [s for s in self._segments if s.graph is not None]
        groups: list[list[Segment]] = [[s] for s in large if len(s.deleted) > s.rows // 4]
        live_small = sum(s.rows - len(s.deleted) for s in small)
        mostly_dead = any(len(s.deleted) > s.rows // 4 for s in small)
        if live_small >= self.ann_rows or mostly_dead:
            groups.append(small)  # into a graph, or their dead rows dropped
        elif len(small) > MAX_SMALL:
            groups.append(_merge_tier(small))
        merged = {id(s) for group in groups for s in group}
        rest = sorted((s for s in large if id(s) not in merged), key=lambda s: s.rows)
        while len(rest) + sum(1 for g in groups if len(g) > 0) > MAX_LARGE and len(rest) >= 2:
            groups.append(rest[:2])
            rest = rest[2:]
        for group in groups:
            if group:
                self._rewrite(group)

    def _rewrite(self, group: list[Segment]) -> None:
        """Replace ``group`` by one segment of its live rows (rows keep their order)."""
        rows = np.concatenate(
            [s.first + np.flatnonzero(self.alive[s.first : s.first + s.rows]) for s in group]
        )
        extra = None
        if len(rows):
            arrays = self._rows_arrays(rows)
            arrays["vectors"] = self.vectors_of(rows, raw=True)
            extra = (self._write_segment(arrays, graph=len(rows) >= self.ann_rows), arrays)
        self.alive[rows] = False  # the old rows: dead, then dropped below
        gone = {id(s) for s in group}
        self._rebuild([s for s in self._segments if id(s) not in gone], extra)

    def _rebuild(
        self, keep: list[Segment], extra: tuple[Segment, dict[str, np.ndarray]] | None
    ) -> None:
        """The arrays of ``keep`` (their live rows in place) plus one new segment."""
        old = {name: getattr(self, name) for name in (*_ATTRIBUTES[:-1], "author_codes")}
        alive = self.alive
        self.keys = np.zeros(0, np.uint64)
        self.session_keys = np.zeros(0, np.uint64)
        self.kinds = np.zeros(0, np.uint8)
        self.hashes = np.zeros(0, "S12")
        self.author_codes = np.zeros(0, np.uint32)
        self.alive = np.zeros(0, bool)
        self._segments = []
        for segment in keep:
            span = slice(segment.first, segment.first + segment.rows)
            arrays = {name: values[span] for name, values in old.items() if name != "author_codes"}
            arrays["authors"] = np.array(
                [self.author_names[int(c)] for c in old["author_codes"][span]] or [""], dtype=str
            )
            segment.deleted = np.flatnonzero(~alive[span]).tolist()
            self._append(segment, arrays)
        if extra is not None:
            self._append(*extra)

    def _write_segment(self, arrays: dict[str, np.ndarray], graph: bool = False) -> Segment:
        name = f"seg-{self._next_segment:06d}.npz"
        self._next_segment += 1
        rows = len(arrays["keys"])
        stored = {k: v for k, v in arrays.items() if k != "vectors"}
        segment = Segment(name, rows, 0, [])
        if graph:
            segment.ann = name.replace(".npz", ".usearch")
            vectors = arrays["vectors"]
            if vectors.dtype != np.int8:  # as stored in a small segment: the same codes
                vectors = vectors.astype(np.float16).astype(np.float32)  # either way
            segment.graph = self._write_graph(segment.ann, vectors)
        else:
            stored["vectors"] = np.asarray(arrays["vectors"], np.float32).astype(np.float16)
        save: Any = np.savez  # its stub types **arrays as flags
        with atomic_file(self.folder / name, mode=FILE_MODE) as handle:
            save(handle, **stored)  # a full disk leaves no half segment behind
        return segment

    def _write_graph(self, name: str, vectors: np.ndarray) -> Any:
        """Build the HNSW graph of ``vectors`` (row numbers as keys), write it atomically,
        and map it back from the file."""
        from usearch.index import Index

        graph = Index(ndim=self.dim, metric="ip", dtype="i8", connectivity=16, expansion_add=64)
        graph.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=os.cpu_count() or 1)
        ensure_dir(self.folder)
        target = self.folder / name
        temporary = self.folder / f".{name}.tmp"
        graph.save(str(temporary))
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
        return self._open_graph(name, len(vectors))

    def _write_manifest(self) -> None:
        manifest = {
            "version": FORMAT_VERSION,
            "model_id": self.model_id,
            "dim": self.dim,
            "next_segment": self._next_segment,
            "segments": [s.entry() for s in self._segments],
        }
        atomic_write(self.folder / MANIFEST, json.dumps(manifest).encode())
        self._manifest_stamp = file_stamp(self.folder / MANIFEST)
        self._remove_unreferenced()

    def is_stale(self) -> bool:
        """Whether another process committed to this sidecar since we loaded or wrote it."""
        return file_stamp(self.folder / MANIFEST) != self._manifest_stamp

    def _remove_unreferenced(self) -> None:
        live = {s.file for s in self._segments} | {s.ann for s in self._segments if s.ann}
        for path in self.folder.iterdir():
            # Only our own leftovers: segments no longer referenced, temp files of a crash.
            # (A reader that mapped a removed graph keeps its pages until it reloads.)
            ours = path.name.startswith(("seg-", ".seg-", f".{MANIFEST}"))
            if ours and path.name not in live:
                with contextlib.suppress(OSError):
                    path.unlink()
            elif path.name in live:  # written by an older version with the umask's mode
                with contextlib.suppress(OSError):
                    if path.stat().st_mode & 0o077:
                        path.chmod(FILE_MODE)

    def _rows_arrays(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        authors = [self.author_names[int(c)] for c in self.author_codes[rows]]
        return {
            "keys": self.keys[rows],
            "session_keys": self.session_keys[rows],
            "kinds": self.kinds[rows],
            "hashes": hashes_as_hex(self.hashes[rows]),
            "authors": np.array(authors or [""], dtype=str)[: len(rows)],
        }

    # -- search ----------------------------------------------------------------------------
    def _segment_of(self, rows: np.ndarray) -> np.ndarray:
        firsts = np.array([s.first for s in self._segments], np.int64)
        return np.searchsorted(firsts, rows, side="right") - 1

    def vectors_of(self, rows: np.ndarray, raw: bool = False) -> np.ndarray:
        """Vectors of these rows, unit length (float32). With ``raw``, a large segment's rows
        come as its int8 codes when every row is from large segments (merging re-adds them
        as they are), else as float32."""
        rows = np.asarray(rows, np.int64)
        owners = self._segment_of(rows)
        from_graphs = all(self._segments[o].graph is not None for o in np.unique(owners))
        if raw and from_graphs and len(rows):
            out8 = np.empty((len(rows), self.dim), np.int8)
            for owner in np.unique(owners):
                picked = owners == owner
                out8[picked] = self._codes(self._segments[owner], rows[picked])
            return out8
        out = np.empty((len(rows), self.dim), np.float32)
        for owner in np.unique(owners):
            segment, picked = self._segments[owner], owners == owner
            local = rows[picked] - segment.first
            if segment.matrix is not None:
                out[picked] = segment.matrix.vectors(local)
            else:
                codes = self._codes(segment, rows[picked]).astype(np.float32)
                norms = np.linalg.norm(codes, axis=1, keepdims=True)
                out[picked] = codes / np.where(norms > 0, norms, 1.0)
        return out

    def _codes(self, segment: Segment, rows: np.ndarray) -> np.ndarray:
        local = (rows - segment.first).astype(np.uint64)
        return np.asarray(segment.graph.get(local, dtype=np.int8), np.int8).reshape(-1, self.dim)

    def similarities(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine similarity of ``query`` with these rows."""
        if not len(rows):
            return np.zeros(0, np.float32)
        return self.vectors_of(rows) @ np.asarray(query, np.float32)

    def nearest(self, query: np.ndarray, mask: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The (up to) ``n`` live rows in ``mask`` most similar to ``query``: rows and
        cosine similarities, best first. Large segments answer through their graph (over-
        fetching past deleted and masked-out rows), small ones by an exact scan."""
        query = np.asarray(query, np.float32)
        found_rows: list[np.ndarray] = []
        in_scope = max(int(np.count_nonzero(mask)), 1)
        for segment in self._segments:
            span = slice(segment.first, segment.first + segment.rows)
            wanted = mask[span]
            inside = int(wanted.sum())
            if not inside:
                continue
            if segment.matrix is not None:
                # Scored a block at a time (`Int8Rows`), never copied whole; all rows unless
                # few are in scope, as scoring all costs about what picking them first does.
                local = np.flatnonzero(wanted)
                if 4 * inside < segment.rows:  # few rows in scope (facts among messages)
                    scores = segment.matrix.scores(query, local)
                else:
                    scores = segment.matrix.scores(query)[local]
                found_rows.append(segment.first + local[best_first(scores, n)])
            elif inside <= 4 * n:  # few rows in scope: scoring them all is cheaper
                found_rows.append(segment.first + np.flatnonzero(wanted))
            else:
                # Its share of the n, doubled (the nearest rows are not spread evenly), and
                # more past the rows outside the scope (deleted, other kinds).
                share = min(n, max(2 * n * inside // in_scope, 50))
                fetch = min(segment.rows, -(-share * segment.rows // inside))
                matches = segment.graph.search(query, fetch, exact=False)
                local = np.asarray(matches.keys, np.int64)
                local = local[wanted[local]]
                found_rows.append(segment.first + local[:share])
        if not found_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = np.concatenate(found_rows)
        scores = self.similarities(query, rows)  # one scale for every segment
        best = best_first(scores, n)
        return rows[best], scores[best]

    def similarity_sample(self) -> tuple[np.ndarray, Int8Rows]:
        """Up to `SAMPLE_ROWS` live rows picked at random, and their vectors as int8 (cached
        until the rows change): the similarities of a query with them estimate its mean and
        spread over every row, for standardising scores without scoring every row."""

        def build() -> tuple[np.ndarray, Int8Rows]:
            live = np.flatnonzero(self.alive)
            if len(live) > SAMPLE_ROWS:
                picked = np.random.default_rng(len(live)).choice(live, SAMPLE_ROWS, False)
                live = np.sort(picked)
            return live, Int8Rows.of(self.vectors_of(live))

        sample: tuple[np.ndarray, Int8Rows] = self._cached("sample", build)
        return sample

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

    def _cached(self, name: object, build: Callable[[], Any]) -> Any:
        """A value derived from the rows, kept until the rows change (queries reuse it)."""
        version = (len(self.keys), int(np.count_nonzero(self.alive)), id(self.alive))
        if self._derived_version != version:
            self._derived.clear()
            self._derived_version = version
        if name not in self._derived:
            self._derived[name] = build()
        return self._derived[name]


def _merge_tier(small: list[Segment]) -> list[Segment]:
    """Which of too many small segments to merge: all but the largest when it holds more than
    `SMALL_TIER` times the rows of the others together, else all. Merging the largest too
    rewrote its thousands of rows once every nine saves (at 120k chunks, ~16k rows: 24 MB of
    vectors read, written and held twice each time, the peak of a daemon's save)."""
    by_size = sorted(small, key=lambda s: s.rows)
    if by_size[-1].rows > SMALL_TIER * sum(s.rows for s in by_size[:-1]):
        return by_size[:-1]
    return by_size


class _KeyView:
    """Membership of live keys, answered from the sorted lookup (no set of every key)."""

    def __init__(self, store: VectorStore) -> None:
        self.values, _rows = store._lookup("keys")

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int) or not len(self.values) or key < 0 or key >= 2**64:
            return False
        where = int(np.searchsorted(self.values, np.uint64(key)))
        return where < len(self.values) and int(self.values[where]) == key


def _arrays_of(items: list[tuple[Chunk, np.ndarray]], dim: int) -> dict[str, np.ndarray]:
    chunks = [c for c, _v in items]
    return {
        "keys": np.array([c.key for c in chunks], np.uint64),
        "session_keys": np.array([c.session_key for c in chunks], np.uint64),
        "kinds": np.array([_KIND_CODE[c.kind] for c in chunks], np.uint8),
        "hashes": np.array([c.hash.encode() for c in chunks], dtype="S32"),
        "authors": np.array([c.author for c in chunks] or [""], dtype=str)[: len(chunks)],
        "vectors": np.stack([v for _c, v in items]).astype(np.float32).reshape(-1, dim),
    }
