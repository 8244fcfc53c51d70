"""Bounded consolidation: a huge message is read as a bounded sample, the due-scan reads a
file only when it changed, and a run stopped between batches keeps the batches it wrote."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from amos_vault.index.embeddings import Embedder
from amos_vault.memory.manager import MemoryManager
from amos_vault.memory.summarizer import (
    MESSAGE_SENTENCE_CAP,
    SIMILARITY_BLOCK,
    SUMMARY_CANDIDATE_CAP,
    SessionText,
    SummaryWork,
    extract_facts,
    summarize,
)
from amos_vault.mirror import ActiveMirror

DAY = dt.datetime(2023, 5, 8, 13, 56, tzinfo=dt.UTC)
TOPICS = ["the build", "the parser", "the cache", "the scheduler", "the index", "the network"]


class CountingEmbedder:
    """The real embedder, counting what it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.embed(texts)


def _huge_message(size: int) -> str:
    """About ``size`` bytes of a pasted log: varied lines with some repeats."""
    lines = []
    total = n = 0
    while total < size:
        line = f"Step {n}: I checked {TOPICS[n % 6]} and {TOPICS[(n * 5) % 7 % 6]} at {n % 97} ms."
        lines.append(line)
        total += len(line) + 1
        n += 1
    return "\n".join(lines)


def _completed(mirror: ActiveMirror, title: str, texts: list[str]) -> None:
    session = mirror.create_session(title)
    for offset, text in enumerate(texts):
        session.add_message("user", text, timestamp=DAY + dt.timedelta(minutes=offset))
    session.complete()


def test_a_2mb_message_is_consolidated_with_bounded_work(
    mirror: ActiveMirror, vault_root: Path, model_dir: Path
) -> None:
    huge = _huge_message(2 * 2**20)
    assert huge.count("\n") > 25_000
    _completed(mirror, "A pasted log", ["I love hiking in the Alps with my sister.", huge])
    assert mirror.engine.embedder is not None
    counting = CountingEmbedder(mirror.engine.embedder)
    manager = MemoryManager(mirror.vault, mirror.sessions, embedder=lambda: counting)

    plan = manager.consolidate()

    assert plan.sessions and any("a long session" in note for note in plan.notes)
    assert sum(counting.calls) <= SUMMARY_CANDIDATE_CAP
    assert max(counting.calls) <= SIMILARITY_BLOCK
    summary = next((vault_root / "memory" / "summaries").glob("*.md")).read_text()
    assert summary.count("^m-") >= 1  # summary lines, each linked to its message
    assert any("hiking" in fact.text for fact in plan.added)

    session = mirror.sessions.resolve(plan.sessions[0])
    text = SessionText(session.title, session.messages)
    work = SummaryWork()
    lines = summarize(text, counting, 5, work=work)
    assert 1 <= len(lines) <= 5 and work.sampled
    assert work.sentences > 25_000
    assert work.candidates <= SUMMARY_CANDIDATE_CAP
    assert work.largest_block <= SIMILARITY_BLOCK * SUMMARY_CANDIDATE_CAP
    # facts: at most the capped sample of each message is read
    assert len(extract_facts(text)) <= 2 * MESSAGE_SENTENCE_CAP


def test_the_due_scan_reads_a_file_only_when_it_changed(mirror: ActiveMirror) -> None:
    for n in range(3):
        _completed(mirror, f"Done {n}", [f"I adopted a cat named Tom number {n}."])
    active = mirror.create_session("Still talking")
    active.add_message("user", "I live in Oslo.", timestamp=dt.datetime.now(dt.UTC))
    memory = mirror.memory
    first = [s.id for s in memory.due()]
    reads = memory.due_scan.reads
    assert reads == 4 and len(first) == 3
    assert [s.id for s in memory.due()] == first and memory.due_scan.reads == reads
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert sorted(s.id for s in memory.due(now=later)) == sorted([*first, active.id])
    active.add_message("user", "I moved to Bergen.")
    memory.due()
    assert memory.due_scan.reads == reads + 1  # only the file that changed
    memory.consolidate()
    assert memory.due() == [] and memory.due_scan.reads == reads + 4  # linked to summaries


def test_a_stopped_run_keeps_its_batches_and_the_next_run_does_the_rest(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    config = vault_root / ".amos" / "config.toml"
    config.write_text("[consolidation]\nbatch_sessions = 4\n")
    mirror = ActiveMirror(vault_root, key_dir=mirror.key_dir)
    for n in range(10):
        _completed(mirror, f"Trip {n}", [f"I visited Lisbon in spring number {n}."])
    finished: list[int] = []

    plan = mirror.memory.consolidate(
        should_stop=lambda: bool(finished), progress=lambda done, total: finished.append(done)
    )

    assert len(plan.sessions) == 4 and plan.left == 6 and finished == [4]
    assert "6 session(s) left for the next run" in plan.summary()
    summaries = vault_root / "memory" / "summaries"
    kept = {path.name: path.read_bytes() for path in summaries.glob("*.md")}
    assert len(kept) == 4
    rest = mirror.memory.consolidate()
    assert len(rest.sessions) == 6 and rest.left == 0
    assert not set(rest.sessions) & set(plan.sessions)
    assert len(list(summaries.glob("*.md"))) == 10
    assert all((summaries / name).read_bytes() == data for name, data in kept.items())
