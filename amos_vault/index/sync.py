"""The one sync path: plan the changes between the vault's files and the index, then apply.

`plan_changes` compares the files on disk with the manifest of what was indexed (size and
mtime first, then the content hash), and `apply_changes` re-chunks changed files, embeds only
chunks whose text has no vector yet, and updates the full-text index and the vector sidecar.
`amosvault index`, the daemon's start-up reconcile and its watcher all go through here.

Crash safety: the full-text index and the sidecar each commit atomically, and the manifest is
written after both. A crash in between leaves files that look changed, so the next run applies
them again; applying is idempotent (delete the file's chunks, add them again).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from array import array
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amos_vault.core.errors import AmosError
from amos_vault.files.memorynote import FORGOTTEN_NOTE, SUMMARIES_FOLDER
from amos_vault.files.sessionfile import parse_session_bytes, read_header
from amos_vault.files.vault import Vault, atomic_write, file_stamp
from amos_vault.index.chunks import Chunk, chunk_note, chunk_session
from amos_vault.index.embeddings import Embedder
from amos_vault.index.engine import IndexEngine
from amos_vault.index.fulltext import SCHEMA_VERSION

MANIFEST_VERSION = 3  # 3: each file's chunk keys as one hex string
READABLE_MANIFESTS = (2, 3)
COMMIT_EVERY_SECONDS = 30.0  # a long first index commits as it goes: a crash loses little


@dataclass(slots=True)
class FileRecord:
    """What was indexed from one file."""

    hash: str
    size: int
    mtime_ns: int
    keys: Sequence[int]  # an ``array("Q")`` in a manifest: 8 bytes a key, not ~40
    error: str | None = None  # why it was indexed as plain text, if it was


def _keys_text(keys: Sequence[int]) -> str:
    """Chunk keys as the hex of their 8 little-endian bytes each (how files.json keeps
    them: one string per file, not a Python int per chunk while it is read)."""
    packed = keys if isinstance(keys, array) else array("Q", keys)
    if sys.byteorder == "big":
        packed = array("Q", packed)
        packed.byteswap()
    return packed.tobytes().hex()


def _keys_of(text: str) -> array[int]:
    """The chunk keys written by `_keys_text`."""
    keys = array("Q")
    keys.frombytes(bytes.fromhex(text))
    if sys.byteorder == "big":
        keys.byteswap()
    return keys


@dataclass
class Manifest:
    """The files indexed, by vault-relative path (``.amos/index/files.json``)."""

    path: Path
    files: dict[str, FileRecord] = field(default_factory=dict)

    stamp: tuple[int, int, int] | None = None  # the file as last read or written

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read the manifest; a missing, damaged or outdated one means nothing is indexed.
        (Version 2 listed each key as a number; it is read as it is, and saved as 3.)"""
        stamp = file_stamp(path)
        try:
            data = json.loads(path.read_bytes())
            version = data.get("version")
            if version not in READABLE_MANIFESTS or data.get("schema") != SCHEMA_VERSION:
                return cls(path)
            keys_of = _keys_of if version == MANIFEST_VERSION else lambda keys: array("Q", keys)
            files = {
                rel: FileRecord(digest, size, mtime_ns, keys_of(keys), error)
                for rel, (digest, size, mtime_ns, keys, error) in data["files"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, OverflowError):
            return cls(path)
        return cls(path, files, stamp)

    def is_current(self) -> bool:
        """Whether the file on disk is still the one this manifest was read from or wrote."""
        return self.stamp is not None and file_stamp(self.path) == self.stamp

    def save(self) -> None:
        """Write the manifest atomically (compact: a list per file, no sorting)."""
        files = {
            rel: [r.hash, r.size, r.mtime_ns, _keys_text(r.keys), r.error]
            for rel, r in self.files.items()
        }
        data = {"version": MANIFEST_VERSION, "schema": SCHEMA_VERSION, "files": files}
        atomic_write(self.path, json.dumps(data, separators=(",", ":")).encode())
        self.stamp = file_stamp(self.path)


@dataclass
class Plan:
    """What `apply_changes` has to do."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def to_index(self) -> list[str]:
        """Files to (re)chunk: added, then changed."""
        return self.added + self.changed

    def is_empty(self) -> bool:
        """Nothing to do."""
        return not (self.added or self.changed or self.deleted)


@dataclass
class SyncReport:
    """What `apply_changes` did."""

    files: int = 0
    deleted: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False  # asked to stop: what was done is committed, the rest waits


Progress = Callable[[int, int, SyncReport], None]  # (files done, files to do, report so far)


def indexed_files(vault: Vault) -> dict[str, Path]:
    """The files search covers: session files and memory notes, by relative path."""
    found = {}
    for folder in (vault.sessions_dir, vault.memory_dir):
        for path in vault.iter_markdown(folder):
            if is_indexed_name(path.name) and not _is_tombstones(vault, path):
                found[vault.relative(path)] = path
    return found


def _is_tombstones(vault: Vault, path: Path) -> bool:
    """The list of forgotten things holds fingerprints, not memory: it is never indexed."""
    return path == vault.memory_dir / FORGOTTEN_NOTE


def is_indexed_name(name: str) -> bool:
    """Whether a file of this name is indexed (a folder's README explains, it is not memory)."""
    return name.endswith(".md") and not name.startswith(".") and name.lower() != "readme.md"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def plan_changes(
    vault: Vault,
    manifest: Manifest,
    vector_keys: Container[int] | None = None,
    only: Iterable[str] | None = None,
) -> Plan:
    """Compare the files on disk with ``manifest``.

    A file whose size and mtime are unchanged is not read. With ``vector_keys`` (the live keys
    of the sidecar), an unchanged file some of whose chunks lack a vector counts as changed,
    which is how vectors are filled in once a model becomes available. With ``only`` (vault-
    relative paths, e.g. from file events), just those files are looked at.
    """
    plan = Plan()
    if only is None:
        on_disk = indexed_files(vault)
        gone = set(manifest.files) - set(on_disk)
    else:
        on_disk, gone = {}, set()
        for rel in dict.fromkeys(only):
            path = vault.root / rel
            if path.is_file() and _covered(vault, rel):
                on_disk[rel] = path
            elif rel in manifest.files:
                gone.add(rel)
            elif not rel.endswith(".md") and (path.is_dir() or not path.exists()):
                # A folder created, moved or deleted: look over what is (or was) inside.
                prefix = rel.rstrip("/") + "/"
                inside = _indexed_under(vault, path)
                on_disk.update(inside)
                gone.update(r for r in manifest.files if r.startswith(prefix) and r not in inside)
    for rel, path in on_disk.items():
        _compare(rel, path, manifest.files.get(rel), vector_keys, plan)
    plan.deleted = sorted(gone)
    return plan


def _indexed_under(vault: Vault, path: Path) -> dict[str, Path]:
    """The indexed files inside one folder of the vault (none when it is not a folder)."""
    if not path.is_dir():
        return {}
    found = {}
    for folder in (vault.sessions_dir, vault.memory_dir):
        if path == folder or folder in path.parents:
            for file in vault.iter_markdown(path):
                if (
                    is_indexed_name(file.name)
                    and not _is_tombstones(vault, file)
                    and vault.is_listed(file, folder)
                ):
                    found[vault.relative(file)] = file
    return found


def _covered(vault: Vault, rel: str) -> bool:
    """The same rule as the full scan (`indexed_files`), for one path."""
    path = vault.root / rel
    return (
        is_indexed_name(path.name)
        and not _is_tombstones(vault, path)
        and any(vault.is_listed(path, folder) for folder in (vault.sessions_dir, vault.memory_dir))
    )


def _compare(
    rel: str,
    path: Path,
    record: FileRecord | None,
    vector_keys: Container[int] | None,
    plan: Plan,
) -> None:
    try:
        stat = path.stat()
    except OSError:
        return
    if record is None:
        plan.added.append(rel)
        return
    same = record.size == stat.st_size and record.mtime_ns == stat.st_mtime_ns
    if not same:
        try:
            same = record.hash == _digest(path.read_bytes())
        except OSError:
            same = False
        if same:  # touched but not changed: remember the new mtime
            record.mtime_ns = stat.st_mtime_ns
    if same and vector_keys is not None and not all(k in vector_keys for k in record.keys):
        same = False
    if same:
        plan.unchanged += 1
    else:
        plan.changed.append(rel)


def chunk_file(vault: Vault, rel: str, data: bytes) -> tuple[list[Chunk], str | None]:
    """The chunks of one file, and why it was read as plain text (None when it was not)."""
    path = vault.root / rel
    memory = vault.settings.memory.folder + "/"
    if rel.startswith(memory + SUMMARIES_FOLDER + "/"):
        return chunk_note(rel, data.decode("utf-8", "replace"), kind_of_items="note"), None
    if rel.startswith(memory):
        return chunk_note(rel, data.decode("utf-8", "replace")), None
    try:
        doc = parse_session_bytes(data, path)  # the bytes whose hash is recorded
        return chunk_session(rel, doc, read_header(doc, path)), None
    except AmosError as exc:
        text = data.decode("utf-8", "replace").replace("\x00", "")
        return chunk_note(rel, text, kind_of_items="note"), str(exc)


def apply_changes(
    vault: Vault,
    plan: Plan,
    engine: IndexEngine,
    embedder: Embedder | None,
    manifest: Manifest,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SyncReport:
    """Bring the index and the sidecar in line with ``plan``; saves ``manifest``.

    One file's failure is recorded in the report and never stops the others. When
    ``should_stop`` turns true, the batch in hand is finished and committed, and the rest is
    left for the next run.
    """
    report = SyncReport()
    started = last_commit = time.monotonic()
    for rel in plan.deleted:
        record = manifest.files.pop(rel, None)
        engine.remove_file(rel, record.keys if record else ())
        report.deleted += 1
    todo = plan.to_index
    for start in range(0, len(todo), 64):
        if should_stop is not None and should_stop():
            report.stopped = True
            break
        _apply_batch(vault, todo[start : start + 64], engine, embedder, manifest, report)
        report.files = min(len(todo), start + 64)
        if progress:
            progress(report.files, len(todo), report)
        if time.monotonic() - last_commit > COMMIT_EVERY_SECONDS:
            _commit(engine, manifest)
            last_commit = time.monotonic()
    _commit(engine, manifest)
    report.seconds = time.monotonic() - started
    return report


def _commit(engine: IndexEngine, manifest: Manifest) -> None:
    engine.commit()
    manifest.save()  # after the engine: a crash in between re-applies these files


def _apply_batch(
    vault: Vault,
    rels: Iterable[str],
    engine: IndexEngine,
    embedder: Embedder | None,
    manifest: Manifest,
    report: SyncReport,
) -> None:
    chunked: list[tuple[str, FileRecord, list[Chunk]]] = []
    for rel in rels:
        path = vault.root / rel
        try:
            stat = path.stat()
            if stat.st_size > vault.settings.sessions.max_file_mb * 2**20:
                data, chunks = b"", list[Chunk]()  # never read: it is over the size limit
                limit = vault.settings.sessions.max_file_mb
                error: str | None = (
                    f"file is {stat.st_size / 2**20:.1f} MiB, over the {limit:g} MiB limit; "
                    "not indexed"
                )
            else:
                data = path.read_bytes()
                chunks, error = chunk_file(vault, rel, data)
        except Exception as exc:
            report.errors.append((rel, str(exc)))
            old = manifest.files.pop(rel, None)
            engine.remove_file(rel, old.keys if old else ())
            continue
        if error:
            report.errors.append((rel, error))
        record = FileRecord(
            _digest(data),
            stat.st_size,
            stat.st_mtime_ns,
            array("Q", [c.key for c in chunks]),
            error,
        )
        chunked.append((rel, record, chunks))
    if engine.semantic and embedder is not None:
        _embed(chunked, engine, embedder, report)
    for rel, record, chunks in chunked:
        old = manifest.files.get(rel)
        # Vectors of chunks still in the file stay (set above when their text changed).
        engine.remove_file(rel, sorted(set(old.keys) - set(record.keys)) if old else ())
        engine.add_chunks(chunks)
        manifest.files[rel] = record
        report.chunks += len(chunks)


def _embed(
    chunked: list[tuple[str, FileRecord, list[Chunk]]],
    engine: IndexEngine,
    embedder: Embedder,
    report: SyncReport,
) -> None:
    missing: dict[str, list[Chunk]] = {}
    for _rel, _record, chunks in chunked:
        for chunk in chunks:
            if engine.has_vector(chunk.key, chunk.hash):
                continue
            reusable = engine.vector_for(chunk.hash)
            if reusable is not None:
                engine.set_vector(chunk, reusable)
                report.reused += 1
            else:
                missing.setdefault(chunk.embed_text, []).append(chunk)
    if not missing:
        return
    texts = list(missing)
    embedded = embedder.embed(texts)
    for text, vector in zip(texts, embedded, strict=True):
        for chunk in missing[text]:
            engine.set_vector(chunk, np.asarray(vector))
    report.embedded += len(texts)
