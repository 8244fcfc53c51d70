"""Crash soak: kill -9 the daemon while it indexes and while it consolidates, many times.

A temp vault gets realistic sessions (some completed and old, so the daemon's scheduler
consolidates them into memory/*.md). Each round changes the vault while no daemon runs (new
sessions, appended messages, and sometimes a derived index file deleted or a crash's temp
file left behind), starts a real `amosvault daemon` subprocess, waits for a random progress
point of the phase aimed at (an indexing batch, a commit, or the n-th memory file written by
consolidation) plus a random delay, and sends SIGKILL. Then:

  (a) every session and memory file holds exactly one version that was written whole (its
      SHA-256 is one the harness wrote, or one the daemon announced before its atomic write),
      parses (sessionfile / memorynote), and every session holds exactly the messages the
      harness wrote; no temp file is visible as vault content;
  (b) a restarted daemon reaches "watching", settles (consolidation has nothing due, the
      watcher queue is empty), and its answers to a fixed set of queries (over its socket)
      equal those of a fresh rebuild of a copy of the vault.

"Equal" is checked twice. The index content must be exactly a fresh rebuild's: the same
chunks (every stored field), the same vectors (to int8 precision: the vault's config makes
segments of 48 vectors and more HNSW graphs, so kills also land while graphs are built and
merged) and the same manifest of files.
The ranked answers must agree up to near-ties: every hit of the daemon is among the rebuild's
top 30 with a score within SCORE_TOLERANCE, no two hits come in an order the rebuild's scores
contradict by more than that, and a rebuild top-10 hit the daemon left out scores within that
of the daemon's last hit. Scores are not bit-equal even without any crash: Tantivy counts
deleted documents in its BM25 statistics until their segment is merged, so an index updated
in place scores a little differently from a fresh one; `exact` counts the rounds whose
answers were identical (ids in order, scores to 4 places), `max_score_drift` is the largest
score difference seen.

The daemon runs with a thin wrapper (this file, `_daemon` mode) that only writes progress
marks to a log (sync start/end, each batch, each commit, each file the consolidation writes
with its hash) and then runs the unchanged CLI; the marks tell when to kill and what the
daemon was doing when it died. The fresh rebuild runs in this process with the same model;
embeddings are memoized by text, which gives the same vectors as embedding anew (the model
gives bit-identical vectors whatever the batch; `--check-embedder` checks that here).

Usage: python scripts/soak.py crash [--kills 60] [--seed 1] [--sessions 40] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCORE_TOLERANCE = 0.5
QUERIES = (
    "flight hotel booking",
    "what does the user prefer for dinner",
    "python database error",
    "knee workout doctor",
    "budget savings tax",
    "tomatoes compost balcony",
    "guitar lessons",
    "grandma birthday party",
    "favourite",
    "I live in",
)
TOPICS = {
    "travel": "flight hotel train booking itinerary museum beach passport visa luggage city tour",
    "cooking": "recipe oven garlic pasta sauce bake flour butter spices dinner vegetables soup",
    "code": "python function error test deploy database query index cache server bug refactor",
    "health": "sleep running workout doctor diet knee stretch vitamins appointment heart rate",
    "money": "budget savings invoice tax rent mortgage stocks pension expenses salary bank",
    "garden": "tomatoes soil compost seeds watering balcony roses pruning harvest pots shade",
    "music": "guitar chords concert album practice piano playlist rhythm lessons band song",
    "family": "birthday kids school holiday grandma wedding gift weekend visit cousins party",
}
FILLER = tuple(
    [
        "i",
        "think",
        "we",
        "should",
        "maybe",
        "also",
        "consider",
        "the",
        "plan",
        "for",
        "next",
        "week",
        "because",
        "it",
        "would",
        "help",
        "to",
        "keep",
        "things",
        "simple",
        "and",
        "clear",
        "so",
        "that",
        "everyone",
        "knows",
        "what",
        "to",
        "do",
        "and",
        "when",
    ]
)
STATEMENTS = (
    "I love {x}.",
    "I prefer {x} over everything else.",
    "My favourite thing is {x}.",
    "I live in {city}.",
    "I work as a {job}.",
    "I have two {x}.",
    "I don't like {x}.",
)
CITIES = ("Lisbon", "Oslo", "Porto", "Ghent", "Leeds", "Turin", "Graz", "Bergen")
JOBS = ("nurse", "teacher", "plumber", "designer", "baker", "pilot", "librarian")


# -- the daemon wrapper (runs in the daemon process) --------------------------------------
def _daemon_child(marks_path: str, cli_args: list[str]) -> int:
    """Install progress marks, then run the unchanged CLI (`amosvault ... daemon`)."""
    fd = os.open(marks_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def mark(*words: object) -> None:
        os.write(fd, (f"{time.monotonic():.6f} " + " ".join(map(str, words)) + "\n").encode())

    import amos_vault.files.vault as vault_mod
    import amos_vault.index.search as search_mod
    import amos_vault.index.sync as sync_mod
    import amos_vault.runtime.jobs as jobs_mod
    from amos_vault.interfaces import cli
    from amos_vault.memory import store as memory
    from amos_vault.sessions import manager as sessions

    original_sync = search_mod.SearchEngine.sync

    def sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        mark("sync+")
        try:
            return original_sync(self, *args, **kwargs)
        finally:
            mark("sync-")

    search_mod.SearchEngine.sync = sync  # type: ignore[method-assign]
    original_batch, original_commit = sync_mod._apply_batch, sync_mod._commit

    def batch(vault: Any, rels: Any, *args: Any) -> Any:
        rels = list(rels)
        mark("batch", len(rels))
        return original_batch(vault, rels, *args)

    def commit(*args: Any) -> Any:
        mark("commit+")
        original_commit(*args)
        mark("commit-")

    sync_mod._apply_batch, sync_mod._commit = batch, commit  # type: ignore[assignment]

    def announced(original: Any) -> Any:
        def write(path: Path, data: bytes, **options: Any) -> Any:
            # Announce the whole content first: after a kill the file must hold this or the old.
            mark("write+", hashlib.sha256(data).hexdigest(), str(path))
            result = original(path, data, **options)
            mark("write-", str(path))
            return result

        return write

    # Every way the daemon puts a vault file in place (memory notes, session files).
    memory.atomic_write = announced(vault_mod.atomic_write)  # type: ignore[attr-defined]
    sessions.replace_file = announced(vault_mod.replace_file)  # type: ignore[attr-defined]
    sessions.write_new_file = announced(vault_mod.write_new_file)  # type: ignore[attr-defined]
    job = jobs_mod.JOBS["consolidate"]
    original_work = job.work

    def consolidate(mirror: Any, control: Any) -> str:
        mark("consolidate+")
        result = "failed"
        try:
            result = original_work(mirror, control)
            return result
        finally:
            mark("consolidate-", json.dumps(result))

    import dataclasses

    jobs_mod.JOBS["consolidate"] = dataclasses.replace(job, work=consolidate)
    mark("start", os.getpid())
    try:
        cli.main.main(args=cli_args, prog_name="amosvault")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# -- the vault the harness writes --------------------------------------------------------
def _sentence(rng: random.Random, topic: str, words: int) -> str:
    vocabulary = TOPICS[topic].split()
    picks = [rng.choice(vocabulary if rng.random() < 0.4 else FILLER) for _ in range(words)]
    return " ".join(picks).capitalize() + "."


def _message_text(rng: random.Random, topic: str, role: str) -> str:
    if role == "user":
        text = _sentence(rng, topic, rng.randint(6, 18))
        if rng.random() < 0.35:
            statement = rng.choice(STATEMENTS).format(
                x=" ".join(rng.sample(TOPICS[topic].split(), 2)),
                city=rng.choice(CITIES),
                job=rng.choice(JOBS),
            )
            text += " " + statement
        return text
    text = _sentence(rng, topic, rng.randint(12, 35))
    if rng.random() < 0.25:
        text += "\n\n" + "\n".join(f"- {_sentence(rng, topic, rng.randint(3, 8))}" for _ in "ab")
    return text


@dataclass
class Record:
    """What the harness wrote: each file's versions (hashes) and each session's messages."""

    versions: dict[str, set[str]] = field(default_factory=dict)  # rel -> sha256 of versions
    messages: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # rel -> (id, text)
    status: dict[str, str] = field(default_factory=dict)  # rel -> session status

    def wrote(self, rel: str, data: bytes) -> None:
        self.versions.setdefault(rel, set()).add(hashlib.sha256(data).hexdigest())


class VaultWriter:
    """Writes sessions into the vault (only while no daemon runs) and records them."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        from amos_vault.files.vault import Vault

        self.root = root
        self.vault = Vault.open(root)
        self.rng = rng
        self.record = Record()
        self.count = 0

    def _write(self, rel: str, data: bytes) -> None:
        from amos_vault.files.vault import atomic_write

        atomic_write(self.root / rel, data)
        self.record.wrote(rel, data)

    def new_session(self, *, completed: bool, messages: int | None = None) -> str:
        from amos_vault.files.sessionfile import Message, SessionDocument

        rng, number = self.rng, self.count
        self.count += 1
        topic = rng.choice(list(TOPICS))
        if completed:  # old enough that the scheduler consolidates it
            when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=7 * number)
        else:
            when = dt.datetime.now(dt.UTC).replace(microsecond=0)
        sid = f"{0xC0000000 + number:012x}"
        meta = {
            "id": sid,
            "title": f"{topic.capitalize()} chat {number}",
            "status": "completed" if completed else "active",
            "kind": "persistent",
            "created": when,
            "updated": when,
            "tags": [topic],
        }
        doc = SessionDocument.new(meta, meta["title"])
        written = []
        for turn in range(messages if messages is not None else rng.randint(4, 9)):
            role = "user" if turn % 2 == 0 else "assistant"
            message = Message(
                f"m-{turn:08x}",
                role,
                _message_text(rng, topic, role),
                when + dt.timedelta(minutes=turn),
            )
            doc.append_message(message)
            written.append((message.id, message.content))
        rel = f"sessions/{when:%Y}/{when:%m}/{when:%Y-%m-%d}-{topic}-{number:05d}.md"
        self._write(rel, doc.render())
        self.record.messages[rel] = written
        self.record.status[rel] = meta["status"]
        return rel

    def append(self, rel: str, count: int) -> None:
        """Append ``count`` messages to a session (re-read first: the daemon may have linked
        its summary meanwhile)."""
        from amos_vault.files.sessionfile import Message, parse_session_bytes

        doc = parse_session_bytes((self.root / rel).read_bytes())
        topic = rel.rsplit("-", 2)[-2]
        topic = topic if topic in TOPICS else "travel"
        known = self.record.messages[rel]
        for _ in range(count):
            turn = len(known)
            role = "user" if turn % 2 == 0 else "assistant"
            stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
            message = Message(f"m-{turn:08x}", role, _message_text(self.rng, topic, role), stamp)
            doc.append_message(message)
            known.append((message.id, message.content))
        self._write(rel, doc.render())


# -- the daemon, as a subprocess -----------------------------------------------------------
class DaemonProcess:
    """One `amosvault daemon` run (through the marks wrapper)."""

    def __init__(self, root: Path, marks: Path, log: Path) -> None:
        self.root, self.marks = root, marks
        self.offset = marks.stat().st_size if marks.exists() else 0
        self.log = log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("AMOS_VAULT", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "_daemon",
                str(marks),
                "--vault",
                str(root),
                "daemon",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(root),
        )

    def lines(self) -> list[list[str]]:
        """The marks this run wrote so far, split in words (time first)."""
        try:
            with self.marks.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        text = data.decode("utf-8", "replace")
        complete = text[: text.rfind("\n") + 1]
        return [line.split(" ") for line in complete.splitlines()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log.close()

    def ask(self, message: dict[str, Any], timeout: float = 60.0) -> dict[str, Any] | None:
        from amos_vault.runtime import ipc

        try:
            return ipc.request(self.root / ".amos", message, timeout=timeout)
        except ipc.DaemonUnavailable:
            return None


def phase_at(lines: Sequence[Sequence[str]]) -> str:
    """What the daemon was doing at its last mark: consolidation, indexing, or idle."""
    consolidating = syncing = 0
    for words in lines:
        kind = words[1]
        consolidating += {"consolidate+": 1, "consolidate-": -1}.get(kind, 0)
        syncing += {"sync+": 1, "sync-": -1}.get(kind, 0)
    if consolidating > 0:
        return "consolidation"
    if syncing > 0:
        return "indexing"
    return "idle"


# -- checks ----------------------------------------------------------------------------------
def announced_versions(marks: Path, root: Path) -> dict[str, set[str]]:
    """The contents the daemons announced (hash), by vault-relative path."""
    found: dict[str, set[str]] = {}
    if not marks.exists():
        return found
    for line in marks.read_text("utf-8", "replace").splitlines():
        words = line.split(" ", 3)
        if len(words) == 4 and words[1] == "write+":
            path = Path(words[3])
            if root in path.parents:
                found.setdefault(path.relative_to(root).as_posix(), set()).add(words[2])
    return found


def check_files(root: Path, record: Record, marks: Path) -> list[str]:
    """Problems with the vault's files (an empty list: every file is intact)."""
    from amos_vault.core.errors import AmosError
    from amos_vault.files.memorynote import FactNote
    from amos_vault.files.sessionfile import parse_session_bytes, read_header
    from amos_vault.files.vault import Vault

    problems: list[str] = []
    vault = Vault.open(root)
    announced = announced_versions(marks, root)
    seen: set[str] = set()
    for folder in (vault.sessions_dir, vault.memory_dir):
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                if name.startswith("."):
                    if name.endswith(".tmp") and vault.is_listed(path, folder):
                        problems.append(f"{rel}: a temp file is listed as vault content")
                    continue
                if not name.endswith(".md"):
                    problems.append(f"{rel}: unexpected file in the vault")
                    continue
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                versions = record.versions.get(rel, set()) | announced.get(rel, set())
                template = rel.startswith("memory/") and rel not in announced
                if not template and digest not in versions:
                    problems.append(f"{rel}: content is none of the versions written whole")
                try:
                    if rel.startswith("sessions/"):
                        seen.add(rel)
                        doc = parse_session_bytes(data, path)
                        read_header(doc, path)
                        got = [(m.id, m.content) for m in doc.messages]
                        if got != record.messages.get(rel):
                            problems.append(f"{rel}: messages differ from those written")
                    else:
                        note = FactNote.parse(rel, data.decode("utf-8"))
                        for index, line in enumerate(note.lines):
                            if line.startswith("- ") and "^f-" in line and index not in note.facts:
                                problems.append(f"{rel}:{index + 1}: a fact line does not parse")
                except (AmosError, UnicodeDecodeError) as exc:
                    problems.append(f"{rel}: does not parse: {exc}")
    for rel in sorted(set(record.messages) - seen):
        problems.append(f"{rel}: missing")
    return problems


def check_links(root: Path) -> list[str]:
    """Problems with the links between sessions and their summaries, once settled: each
    summary's session links to it, and each session's link leads to a summary."""
    from amos_vault.files.frontmatter import split_front_matter
    from amos_vault.files.sessionfile import parse_session_bytes

    problems: list[str] = []
    links: dict[str, tuple[str, Any]] = {}  # session id -> (file, its summary link)
    for path in sorted((root / "sessions").rglob("*.md")):
        meta = parse_session_bytes(path.read_bytes(), path).meta
        links[str(meta.get("id"))] = (path.relative_to(root).as_posix(), meta.get("summary"))
    for path in sorted((root / "memory" / "summaries").glob("*.md")):
        rel = path.relative_to(root).as_posix()
        session_id = str(split_front_matter(path.read_text("utf-8"))[0].get("session_id"))
        if session_id in links and links[session_id][1] != f"[[{rel.removesuffix('.md')}]]":
            problems.append(f"{links[session_id][0]}: not linked to its summary {rel}")
    for session_file, link in links.values():
        if link and not (root / f"{str(link).strip('[]')}.md").is_file():
            problems.append(f"{session_file}: its summary link {link} leads nowhere")
    return problems


def _said(hit: dict[str, Any]) -> list[str]:
    if hit.get("kind") == "message" and hit.get("message_id"):
        return [f"{hit['path'].removesuffix('.md')}#^{hit['message_id']}"]
    return [str(s) for s in hit.get("sources") or ()]


def _known(hit: dict[str, Any], score: dict[str, float]) -> str:
    if hit["chunk_id"] in score:
        return str(hit["chunk_id"])
    return next((ref for ref in _said(hit) if ref in score), str(hit["chunk_id"]))


def compare_hits(
    got: Sequence[dict[str, Any]], want: Sequence[dict[str, Any]], k: int = 10
) -> tuple[bool, bool, float]:
    """(equal up to near-ties, identical, largest score difference): daemon ``got`` (top k)
    against the rebuild's ``want`` (top 3k)."""
    # A fact shown beside the message it found is part of that message's result.
    got = [h for h in got if not h.get("attached_to")]
    want = [h for h in want if not h.get("attached_to")]
    score = {h["chunk_id"]: float(h["score"]) for h in want}
    # A fact and the message it restates show once, whichever ranks first: near-tied, either
    # may be the one shown, so each stands for the other.
    for hit in want:
        for ref in _said(hit):
            score.setdefault(ref, float(hit["score"]))
    got = [{**h, "chunk_id": _known(h, score)} for h in got]
    identical = [(h["chunk_id"], h["score"]) for h in got] == [
        (h["chunk_id"], h["score"]) for h in want[:k]
    ]
    if len(got) != len(want[:k]) or any(h["chunk_id"] not in score for h in got):
        return False, identical, float("inf")
    drift = max((abs(float(h["score"]) - score[h["chunk_id"]]) for h in got), default=0.0)
    mine = [score[h["chunk_id"]] for h in got]
    ordered = all(a >= b - SCORE_TOLERANCE for i, a in enumerate(mine) for b in mine[i + 1 :])
    ids = {h["chunk_id"] for h in got} | {ref for h in got for ref in _said(h)}
    floor = min(mine, default=0.0)
    boundary = all(
        float(h["score"]) <= floor + SCORE_TOLERANCE
        for h in want[:k]
        if h["chunk_id"] not in ids and not ids & set(_said(h))
    )
    return drift <= SCORE_TOLERANCE and ordered and boundary, identical, drift


class Approximately:
    """A vector that equals another within int8 quantisation: a chunk's vector is float16 in
    a recent segment and int8 in an HNSW graph, and which one holds it depends on the order
    of commits and merges, not on the content."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = np.asarray(vector, np.float32)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Approximately) and bool(
            np.allclose(self.vector, other.vector, atol=0.02)
        )

    __hash__ = None  # type: ignore[assignment]


def index_content(amos_dir: Path, embedder: Any) -> tuple[Any, Any, Any]:
    """What an index holds: every chunk's stored fields, every live vector, the manifest."""
    from amos_vault.index.fulltext import SearchIndex
    from amos_vault.index.query import Filters
    from amos_vault.index.sync import Manifest
    from amos_vault.index.vectors import VectorStore

    folder = amos_dir / "index"
    index = SearchIndex(folder / "tantivy")
    keys = sorted(index.keys_matching(Filters()))
    chunks = {
        key: sorted((name, tuple(map(str, values))) for name, values in doc.items())
        for key, doc in index.fetch(keys).items()
    }
    store = VectorStore.open(folder / "vectors", embedder.model_id, embedder.dim)
    vectors = {
        key: (store.hash_of(row), Approximately(store.vectors_of(np.array([row]))[0]))
        for key, row in ((k, store.row_of(k)) for k in store.live_keys())
        if row is not None
    }
    manifest = {
        rel: (r.hash, r.size, sorted(r.keys), r.error)
        for rel, r in Manifest.load(folder / "files.json").files.items()
    }
    return chunks, vectors, manifest


class MemoEmbedder:
    """The model, memoized by text (it gives the same vector for a text in any batch)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            for text, row in zip(missing, self.inner.embed(missing), strict=True):
                self.memo[text] = row
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            out[i] = self.memo[text]
        return out


def rebuild_results(root: Path, work: Path, embedder: Any) -> dict[str, list[dict[str, Any]]]:
    """Search results of a fresh index of a copy of the vault's files."""
    from amos_vault.core.environment import user_cache_dir
    from amos_vault.files.vault import Vault
    from amos_vault.index.query import MemoryQuery
    from amos_vault.index.search import SearchEngine

    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns(".*.tmp")
    for name in ("sessions", "memory"):
        if (root / name).is_dir():
            shutil.copytree(root / name, work / name, ignore=ignore, symlinks=True)
    for name in ("identity.md",):
        if (root / name).exists():
            shutil.copy2(root / name, work / name)
    (work / ".amos").mkdir(mode=0o700)
    shutil.copy2(root / ".amos" / "config.toml", work / ".amos" / "config.toml")
    engine = SearchEngine(Vault.open(work), user_cache_dir(), embedder=embedder)
    engine.sync(rebuild=True)
    return {q: [h.to_dict() for h in engine.search(MemoryQuery(q, k=30)).hits] for q in QUERIES}


def _brief(hits: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{h['chunk_id'].rsplit('/', 1)[-1]}={h['score']}" for h in hits)


def daemon_results(daemon: DaemonProcess) -> dict[str, list[dict[str, Any]]] | None:
    from amos_vault.index.query import MemoryQuery, query_to_json

    out = {}
    for q in QUERIES:
        answer = daemon.ask({"op": "search", "query": query_to_json(MemoryQuery(q, k=10))})
        if answer is None:
            return None
        out[q] = answer["hits"]
    return out


def settle(daemon: DaemonProcess, timeout: float) -> str | None:
    """Wait until the daemon watches, has nothing queued, and a whole consolidation pass found
    no session due after its last other activity; returns why not (None once settled).

    With the job every second and a vault of hundreds of sessions, a pass that finds nothing
    due takes about half of each second, so those passes do not count as activity."""
    from amos_vault.files.vault import Vault
    from amos_vault.index.sync import Manifest, plan_changes

    deadline = time.monotonic() + timeout
    vault = Vault.open(daemon.root)
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            return f"the daemon exited with status {daemon.proc.returncode}"
        status = (daemon.ask({"op": "status"}, timeout=10) or {}).get("status")
        lines = daemon.lines()
        if (
            status is not None
            and status.get("phase") == "watching"
            and not status.get("queue")
            and _quiet_after_noop_pass(lines)
        ):
            now = time.monotonic()
            if quiet_since is None:
                quiet_since = now
            if now - quiet_since > 0.6:
                manifest = Manifest.load(vault.amos_dir / "index" / "files.json")
                if plan_changes(vault, manifest).is_empty():
                    return None
                quiet_since = None
        else:
            quiet_since = None
        time.sleep(0.2)
    return f"the daemon did not settle within {timeout:g} s"


def _noop_pass(words: list[str]) -> bool:
    return words[1] == "consolidate+" or (
        words[1] == "consolidate-" and json.loads(" ".join(words[2:])) == "no session due"
    )


def _quiet_after_noop_pass(lines: list[list[str]]) -> bool:
    """No sync is open, nothing but no-op consolidation passes for 0.6 s, and one such pass
    began and ended after the last other mark."""
    activity = [w for w in lines if not _noop_pass(w)]
    syncing = sum({"sync+": 1, "sync-": -1}.get(w[1], 0) for w in activity)
    last_activity = float(activity[-1][0]) if activity else 0.0
    starts = [float(w[0]) for w in lines if w[1] == "consolidate+"]
    first = next((start for start in starts if start > last_activity), None)
    full_pass = first is not None and any(
        float(w[0]) > first for w in lines if w[1] == "consolidate-"
    )
    marks_clock = time.monotonic()  # the marks are stamped with time.monotonic() too
    return syncing <= 0 and full_pass and marks_clock - last_activity > 0.6


# -- the soak --------------------------------------------------------------------------------
CONFIG = """
[consolidation]
schedule = "every 1s"

[search]
graph_rows = 48

[git]
commit_schedule = "off"

[retention]
schedule = "off"
"""


@dataclass
class Figures:
    tried: int = 0
    survived: int = 0
    indexing: int = 0
    consolidation: int = 0
    idle: int = 0
    files_intact_rounds: int = 0
    search_equal: int = 0
    restarts_ok: int = 0
    exact: int = 0
    index_equal: int = 0
    max_score_drift: float = 0.0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sessions: int = 0
    messages: int = 0
    memory_files: int = 0
    facts_lines: int = 0

    def line(self) -> str:
        intact = "yes" if self.files_intact_rounds == self.tried else "no"
        return (
            f"crash: kills survived={self.survived}/{self.tried} (indexing={self.indexing}, "
            f"consolidation={self.consolidation}, idle={self.idle}) files_intact={intact} "
            f"index_equal_rebuild={self.index_equal}/{self.tried} "
            f"search_equal_rebuild={self.search_equal}/{self.tried} "
            f"(exact={self.exact}, max_score_drift={self.max_score_drift:.4f}) "
            f"restarts={self.restarts_ok}/{self.tried} "
            f"vault: {self.sessions} sessions, {self.messages} messages, "
            f"{self.memory_files} memory files; {self.seconds:.0f} s"
        )


def mutate(writer: VaultWriter, rng: random.Random, target: str, root: Path) -> str:
    """Give the next daemon work; returns what was done."""
    done = []
    record = writer.record
    if target == "consolidation":
        count = rng.randint(3, 6)
        for _ in range(count):
            writer.new_session(completed=True)
        done.append(f"{count} completed sessions")
        completed = [r for r, s in record.status.items() if s == "completed"]
        if completed and rng.random() < 0.5:
            rel = rng.choice(completed)
            writer.append(rel, 2)  # changed since consolidated: due again
            done.append("appended to a consolidated session")
    else:
        count = rng.randint(2, 5)
        for _ in range(count):
            writer.new_session(completed=rng.random() < 0.3)
        done.append(f"{count} sessions")
        active = [r for r, s in record.status.items() if s == "active"]
        for rel in rng.sample(active, min(len(active), rng.randint(1, 3))):
            writer.append(rel, rng.randint(1, 3))
        done.append("appended messages")
        index = root / ".amos" / "index"
        damage = rng.choice(
            ["manifest", "manifest", "tmp", "none", "vectors" if rng.random() < 0.3 else "tmp"]
        )
        if damage == "manifest":  # the record of what was indexed is gone: re-index all
            (index / "files.json").unlink(missing_ok=True)
        elif damage == "vectors":  # the sidecar's manifest is gone: re-embed (memo'd) all
            (index / "vectors" / "manifest.json").unlink(missing_ok=True)
        elif damage == "tmp":  # temp files as a crash mid-write leaves them
            for folder in (root / "sessions", root / "memory", index):
                if folder.is_dir():
                    leftover = folder / f".crash-{rng.randrange(1 << 30):08x}.md.0badf00d.tmp"
                    leftover.write_bytes(b"---\nhalf a fi")
        done.append(f"damage={damage}")
    return ", ".join(done)


def wait_for(daemon: DaemonProcess, predicate: Any, timeout: float) -> list[list[str]] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = daemon.lines()
        if predicate(lines):
            return lines
        if daemon.proc.poll() is not None:
            return None
        time.sleep(0.005)
    return None


def kill_round(daemon: DaemonProcess, rng: random.Random, target: str) -> str:
    """Wait for a random progress point of ``target`` and kill; returns the phase hit."""
    if target == "consolidation":
        # The n-th file consolidation writes (memory notes, summaries, session links).
        nth = rng.randint(1, 6)

        def point(lines: Sequence[Sequence[str]]) -> bool:
            started = [i for i, w in enumerate(lines) if w[1] == "consolidate+"]
            if not started:
                return False
            writes = [w for w in lines[started[-1] :] if w[1] == "write+"]
            ended = any(w[1] == "consolidate-" for w in lines[started[-1] :])
            return len(writes) >= nth or (ended and not writes)

        timeout = 120.0
    else:
        how = rng.choice(["batch", "commit", "delay"])
        nth = rng.randint(1, 3)

        def point(lines: Sequence[Sequence[str]]) -> bool:
            if how == "batch":
                return sum(w[1] == "batch" for w in lines) >= nth
            if how == "commit":
                return any(w[1] == "commit+" for w in lines)
            return any(w[1] == "sync+" for w in lines)

        timeout = 120.0
    lines = wait_for(daemon, point, timeout)
    if lines is not None:
        delay = rng.choice([0.0, rng.uniform(0, 0.02), rng.uniform(0, 0.3), rng.uniform(0, 1.5)])
        if delay:
            time.sleep(delay)
        # The phase may have ended during the delay: then kill the moment it runs again
        # (a watcher sync after consolidation's writes, the next consolidation run).
        wait_for(daemon, lambda lines: phase_at(lines) == target, 20.0)
    daemon.kill()
    return phase_at(daemon.lines())


def run(args: argparse.Namespace) -> Figures:
    from amos_vault.admin.scaffold import init_vault
    from amos_vault.core.environment import user_cache_dir
    from amos_vault.index.embeddings import open_embedder

    started = time.monotonic()
    rng = random.Random(args.seed)
    figures = Figures()
    work = Path(tempfile.mkdtemp(prefix="amos-crash-"))
    root = work / "vault"
    try:
        init_vault(root, "Crash", work / "keys")
        (root / ".amos" / "config.toml").write_text(CONFIG)
        writer = VaultWriter(root, rng)
        for number in range(args.sessions):
            writer.new_session(completed=number % 3 != 0)
        marks, log = work / "marks.log", work / "daemon.log"
        embedder = MemoEmbedder(
            open_embedder("default", user_cache_dir(), threads=1, batch_size=32)
        )
        if args.check_embedder:
            sample = [t for msgs in writer.record.messages.values() for _i, t in msgs][:40]
            alone = np.concatenate([embedder.inner.embed([t]) for t in sample])
            if not np.array_equal(alone, embedder.inner.embed(sample)):
                figures.failures.append("the model's vectors depend on the batch")
        for round_number in range(args.kills):
            want = (
                ("indexing", "consolidation")[round_number % 2]
                if args.phase == "both"
                else args.phase
            )
            what = mutate(writer, rng, want, root)
            daemon = DaemonProcess(root, marks, log)
            phase = kill_round(daemon, rng, want)
            figures.tried += 1
            setattr(figures, phase, getattr(figures, phase) + 1)
            problems = check_files(root, writer.record, marks)
            restart = DaemonProcess(root, marks, log)
            try:
                why = settle(restart, args.settle_timeout)
                if why is None:
                    figures.restarts_ok += 1
                    problems += check_files(root, writer.record, marks)
                    problems += check_links(root)
                    got = daemon_results(restart)
                    want_hits = rebuild_results(root, work / "rebuild", embedder)
                    mine = index_content(root / ".amos", embedder)
                    fresh = index_content(work / "rebuild" / ".amos", embedder)
                    for part, a, b in zip(
                        ("chunks", "vectors", "manifest"), mine, fresh, strict=True
                    ):
                        if a != b:
                            extra, lost = len(set(a) - set(b)), len(set(b) - set(a))
                            changed = sum(a[x] != b[x] for x in set(a) & set(b))
                            problems.append(
                                f"index {part} differ from a fresh rebuild "
                                f"({extra} extra, {lost} missing, {changed} different)"
                            )
                    if not any(p.startswith("index ") for p in problems):
                        figures.index_equal += 1
                    results = {
                        q: compare_hits(got[q], want_hits[q]) if got else (False, False, 9.0)
                        for q in QUERIES
                    }
                    bad = [q for q, r in results.items() if not r[0]]
                    if not bad:
                        figures.search_equal += 1
                        figures.exact += all(r[1] for r in results.values())
                        drift = max(r[2] for r in results.values())
                        figures.max_score_drift = max(figures.max_score_drift, drift)
                    else:
                        problems.append(f"search differs from a fresh rebuild for {bad}")
                        for q in bad[:2]:
                            print(f"    {q!r}: daemon {_brief(got[q] if got else [])}", flush=True)
                            print(f"    {q!r}: rebuild {_brief(want_hits[q])}", flush=True)
                else:
                    problems.append(why)
            finally:
                restart.stop()
            intact = not [p for p in problems if ":" in p.split(" ")[0]]
            figures.files_intact_rounds += intact
            ok = not problems
            figures.survived += ok
            status = "ok" if ok else "FAILED: " + "; ".join(problems[:5])
            print(
                f"round {round_number + 1:3d}: aim {want:13s} killed in {phase:13s} "
                f"({what}) {status}",
                flush=True,
            )
            if not ok:
                figures.failures.append(f"round {round_number + 1}: {'; '.join(problems[:5])}")
        figures.sessions = len(writer.record.messages)
        figures.messages = sum(len(m) for m in writer.record.messages.values())
        memory = root / "memory"
        notes = [p for p in memory.rglob("*.md")] if memory.is_dir() else []
        figures.memory_files = len(notes)
        figures.facts_lines = sum(p.read_text().count("^f-") for p in notes)
    finally:
        figures.seconds = time.monotonic() - started
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return figures


def main(argv: list[str]) -> int:
    if argv[:1] == ["_daemon"]:
        return _daemon_child(argv[1], argv[2:])
    parser = argparse.ArgumentParser(
        prog="soak.py crash", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=60, help="kills to try (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=40, help="sessions to start with")
    parser.add_argument("--phase", choices=["both", "indexing", "consolidation"], default="both")
    parser.add_argument("--settle-timeout", type=float, default=240.0)
    parser.add_argument("--check-embedder", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--json", dest="json_path", help="write the figures here")
    args = parser.parse_args(argv)
    figures = run(args)
    both = args.phase != "both" or (figures.indexing and figures.consolidation)
    failed = (
        figures.survived != figures.tried
        or figures.search_equal != figures.tried
        or figures.index_equal != figures.tried
        or not both
        or figures.tried == 0
        or bool(figures.failures)
    )
    if args.json_path:
        data = {k: v for k, v in figures.__dict__.items()}
        Path(args.json_path).write_text(json.dumps(data, indent=1) + "\n")
    for failure in figures.failures[:20]:
        print(f"  {failure}", file=sys.stderr)
    print(figures.line())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
