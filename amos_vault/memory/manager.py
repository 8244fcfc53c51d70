"""Long-term memory: consolidation of sessions into memory notes (the user's controls,
remember and forget, are in `amos_vault.memory.controls`; the memory folder in
`amos_vault.memory.store`).

`MemoryManager.plan` reads the memory folder and the sessions due (completed, or idle for
``[consolidation] idle_hours``, and not consolidated since their last message), runs the
summarizer on each, and works out every file change: facts added to ``memory/<type>.md``,
repeated facts confirmed (``last_confirmed``, a new source link), contradicted facts closed
(``valid_to``, ``superseded_by``), a summary note per session (``memory/summaries/…``), and the
session's ``summary`` link. `apply` writes the plan under the vault's memory lock, each file
atomically and only if it is still what the plan was made from (else the plan is made again).
A fact line edited or deleted by hand is never rewritten or learned again (see the store).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from amos_vault.core.errors import AmosError, ConflictError, InvalidInputError, ParseError
from amos_vault.files.frontmatter import render_front_matter, split_front_matter
from amos_vault.files.integrity import Signer
from amos_vault.files.links import link_parts, link_target, wikilink
from amos_vault.files.memorynote import (
    SUMMARIES_FOLDER,
    SUMMARY_SUFFIX,
    Fact,
    fact_link,
    new_fact_id,
    render_summary_body,
    text_hash,
)
from amos_vault.files.sessionfile import now_utc
from amos_vault.files.vault import Vault
from amos_vault.index.embeddings import Embedder
from amos_vault.memory.controls import MemoryControls
from amos_vault.memory.duescan import DueScan, SessionRecord, messages_hash
from amos_vault.memory.store import FileChange, MemoryFolder, write_changes
from amos_vault.memory.summarizer import (
    Digest,
    ExtractiveSummarizer,
    OllamaSummarizer,
    SessionText,
    StopCheck,
    StopRequested,
    Summarizer,
)
from amos_vault.sessions.manager import SessionManager
from amos_vault.sessions.privacy import is_loopback, is_private
from amos_vault.sessions.session import Session

log = logging.getLogger("amos_vault.memory.manager")


@dataclass
class ConsolidationPlan:
    """Everything one consolidation run would change, and why."""

    changes: dict[str, FileChange] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (session id, summary link)
    renamed: dict[str, str] = field(default_factory=dict)  # summary: new path -> old path
    sessions: list[str] = field(default_factory=list)
    added: list[Fact] = field(default_factory=list)
    confirmed: list[Fact] = field(default_factory=list)
    closed: list[Fact] = field(default_factory=list)
    kept_yours: int = 0  # repeats of facts you edited: left alone
    blocked: int = 0  # candidates you forgot before
    tombstoned: list[str] = field(default_factory=list)  # facts found deleted by hand
    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    left: int = 0  # sessions due but not consolidated: a stop was asked for meanwhile

    def absorb(self, batch: ConsolidationPlan) -> None:
        """Add what one batch did (the run's totals are the sum of its batches)."""
        self.changes.update(batch.changes)
        self.links += batch.links
        self.renamed.update(batch.renamed)
        self.sessions += batch.sessions
        self.added += batch.added
        self.confirmed += batch.confirmed
        self.closed += batch.closed
        self.kept_yours += batch.kept_yours
        self.blocked += batch.blocked
        self.tombstoned += batch.tombstoned
        self.notes += batch.notes
        self.state = batch.state

    @property
    def is_empty(self) -> bool:
        return not self.changes and not self.links

    def diff(self) -> str:
        parts = [change.diff() for change in self.changes.values()]
        parts += [f"session {sid}: front-matter summary: {link}\n" for sid, link in self.links]
        return "".join(parts)

    def summary(self) -> str:
        parts = [
            f"{len(self.sessions)} session(s): {len(self.added)} fact(s) new",
            f"{len(self.confirmed)} confirmed",
            f"{len(self.closed)} closed",
        ]
        if self.kept_yours:
            parts.append(f"{self.kept_yours} repeat(s) of your edited facts left alone")
        if self.blocked:
            parts.append(f"{self.blocked} forgotten fact(s) not learned again")
        if self.tombstoned:
            parts.append(f"{len(self.tombstoned)} hand-deleted fact(s) recorded as forgotten")
        if self.renamed:
            parts.append(f"{len(self.renamed)} summary file(s) renamed apart from their sessions")
        if self.left:
            parts.append(f"stopped early: {self.left} session(s) left for the next run")
        return ", ".join(parts)


def _remote(summarizer: OllamaSummarizer) -> bool:
    """Whether the summarizer's model is on another machine (no model: it falls back anyway)."""
    try:
        return not is_loopback(getattr(summarizer.provider_factory(), "host", None))
    except AmosError:
        return False


def _confirmed(old: float, new: float) -> float:
    """Confidence of a fact said again: the higher of the two, a little more."""
    return round(min(1.0, max(old, new) + 0.05), 2)


class MemoryManager(MemoryControls):
    """Consolidation, facts, remember and forget for one vault."""

    def __init__(
        self,
        vault: Vault,
        sessions: SessionManager,
        *,
        embedder: Callable[[], Embedder | None] = lambda: None,
        provider: Callable[[], Any] | None = None,
        owner_name: str = "",
        signer: Signer | None = None,
    ) -> None:
        self.signer = signer
        self.vault = vault
        self.sessions = sessions
        self.settings = vault.settings.consolidation
        self._embedder = embedder
        self._provider = provider
        self.owner_name = owner_name
        self.due_scan = DueScan(sessions)

    # -- reading ---------------------------------------------------------------------------
    def facts(self, *, include_closed: bool = False, as_of: dt.date | None = None) -> list[Fact]:
        """The facts of the memory notes: current ones only, unless ``include_closed``.

        With ``as_of``, the facts that held on that day (`Fact.valid_on`), as the notes know
        them now; with ``include_closed`` too, also those closed by then."""
        facts = MemoryFolder(self.vault, self.signer).all_facts()
        if as_of is not None:
            return [f for f in facts if f.valid_on(as_of) or (include_closed and f.began(as_of))]
        return facts if include_closed else [f for f in facts if f.current]

    def summarizer(
        self, engine: str | None = None, should_stop: StopCheck | None = None
    ) -> Summarizer:
        """The summarizer ``engine`` names (default: the configured one); ``should_stop`` is
        checked between its blocks of work."""
        name = engine or self.settings.engine
        extractive = ExtractiveSummarizer(
            self._embedder(), self.settings.summary_sentences, should_stop or (lambda: False)
        )
        if name == "extractive":
            return extractive
        if name == "ollama":
            if self._provider is None:
                raise InvalidInputError("the ollama engine needs a model provider")
            return OllamaSummarizer(self._provider, extractive, self.settings.summary_sentences)
        raise InvalidInputError(
            f"unknown summarizer engine {name!r}", hint="use extractive or ollama"
        )

    def due(
        self, now: dt.datetime | None = None, memory: MemoryFolder | None = None
    ) -> list[Session]:
        """Sessions to consolidate: completed/archived, or idle for ``idle_hours``, and not
        consolidated since their last message."""
        found = []
        for record in self._due_records(now, memory):
            try:
                found.append(self.due_scan.load(record.path))
            except (ParseError, OSError):
                continue  # broken since the scan: left out, as the scan leaves it out
        return found

    def _due_records(
        self, now: dt.datetime | None = None, memory: MemoryFolder | None = None
    ) -> list[SessionRecord]:
        """The due sessions' records, from one pass over the files (unchanged ones cached)."""
        memory = memory or MemoryFolder(self.vault, self.signer)
        summaries = memory.summaries

        def consolidated(record: SessionRecord) -> bool:
            entry = summaries.get(record.id)
            return entry is not None and entry[1].get("source_hash") == record.source_hash

        idle = dt.timedelta(hours=self.settings.idle_hours)
        return self.due_scan.due(now or now_utc(), idle, consolidated)

    def _consolidated(self, session: Session, memory: MemoryFolder) -> bool:
        entry = memory.summaries.get(session.id)
        return entry is not None and entry[1].get("source_hash") == messages_hash(session)

    # -- consolidating ---------------------------------------------------------------------
    def plan(
        self,
        targets: Sequence[Session | str] | None = None,
        *,
        engine: str | None = None,
        now: dt.datetime | None = None,
        digests: dict[str, tuple[str, Digest, list[str]]] | None = None,
    ) -> ConsolidationPlan:
        """What consolidating ``targets`` (default: the sessions due) would change.

        ``digests`` (from `digest_all`, made before taking the lock) are used for sessions
        that have not changed since; others are summarized here."""
        memory = MemoryFolder(self.vault, self.signer)
        plan = ConsolidationPlan()
        plan.tombstoned = memory.hand_deleted()
        chosen = self._chosen(targets, now, memory)
        summarizer = self.summarizer(engine) if chosen else None
        for session in chosen:
            assert summarizer is not None
            cached = (digests or {}).get(session.id)
            if cached is not None and cached[0] == messages_hash(session):
                _hash, digest, notes = cached
            else:
                digest, notes = self._digest(session, summarizer)
            plan.notes += notes
            learned = self._learn(session, digest, memory, plan)
            self._summary(session, digest, learned, memory, plan)
            plan.sessions.append(session.id)
        self._rename_old_summaries(memory, plan)
        plan.changes.update(memory.changes())
        # A fact deleted by hand leaves the summaries that listed it (a summary written anew
        # above, for a session consolidated again, already leaves it out).
        for rel, change in memory.summary_changes(plan.tombstoned).items():
            plan.changes.setdefault(rel, change)
        plan.state = memory.state
        return plan

    def _chosen(
        self, targets: Sequence[Session | str] | None, now: dt.datetime | None, memory: MemoryFolder
    ) -> list[Session]:
        if targets is None:
            return self.due(now, memory)
        chosen = [self.sessions.resolve(t) for t in targets]
        return [s for s in chosen if s.path is not None and not self._consolidated(s, memory)]

    def _digest(self, session: Session, summarizer: Summarizer) -> tuple[Digest, list[str]]:
        """What the summarizer makes of ``session``, and notes on how it went."""
        notes = []
        if isinstance(summarizer, OllamaSummarizer) and is_private(session) and _remote(summarizer):
            summarizer = summarizer.fallback  # never sent to a model on another machine
            notes.append(f"{session.id}: private, summarized offline")
        digest = summarizer.digest(
            SessionText(
                session.title,
                session.messages,
                frozenset(self.settings.fact_roles),
                self.owner_name,
            )
        )
        return digest, notes + [f"{session.id}: {note}" for note in digest.notes]

    def digest_all(
        self, targets: Sequence[Session | str] | None = None, *, engine: str | None = None
    ) -> dict[str, tuple[str, Digest, list[str]]]:
        """The summarizer's work for the sessions to consolidate, done without any lock (a
        model may take minutes): session id -> (messages hash, digest, notes)."""
        chosen = self._chosen(targets, None, MemoryFolder(self.vault, self.signer))
        summarizer = self.summarizer(engine) if chosen else None
        out = {}
        for session in chosen:
            assert summarizer is not None
            digest, notes = self._digest(session, summarizer)
            out[session.id] = (messages_hash(session), digest, notes)
        return out

    def _learn(
        self, session: Session, digest: Digest, memory: MemoryFolder, plan: ConsolidationPlan
    ) -> list[Fact]:
        assert session.path is not None
        link = self.vault.relative(session.path).removesuffix(".md")
        learned: list[Fact] = []
        # What the messages taught before this digest: one message can state several facts
        # of a type, all learned now; what it taught before is not learned again.
        taught = memory.learned_from()
        for candidate in digest.facts:
            if candidate.confidence < self.settings.min_confidence:
                continue
            if memory.blocked(candidate):
                plan.blocked += 1
                continue
            if (candidate.type, candidate.message_id) in taught:
                continue  # this message taught it already (a re-consolidation, or you edited it)
            source = f"{link}#^{candidate.message_id}"
            said = candidate.said_on or dt.date.today()
            same = memory.same_fact(candidate)
            if same is not None:
                note, index, fact = same
                if memory.owned(note, index):
                    confidence = _confirmed(fact.confidence, candidate.confidence)
                    fact = memory.confirm(note, index, (source,), said, confidence)
                    plan.confirmed.append(fact)
                else:
                    plan.kept_yours += 1
                learned.append(fact)
                continue
            rivals = memory.rivals(candidate.topic)
            newer = [r for r in rivals if (r[2].valid_from or said) > said]
            note = memory.note_for(candidate.type)
            fact = note.append(
                Fact(
                    text=candidate.text,
                    type=candidate.type,
                    confidence=candidate.confidence,
                    sources=(source,),
                    first_seen=said,
                    last_confirmed=said,
                    valid_from=said,
                    topic=candidate.topic,
                    id=new_fact_id(candidate.type, candidate.text, memory.taken_ids()),
                    # Learned from a private session: kept from remote models like it.
                    extra=(("private", "true"),) if is_private(session) else (),
                    # Said before a fact on the same topic that is already known: it is history.
                    valid_to=min((r[2].valid_from or said) for r in newer) if newer else None,
                    superseded_by=fact_link(newer[0][2]) if newer else "",
                )
            )
            memory.record(fact, note.lines[fact.line - 1])
            plan.added.append(fact)
            learned.append(fact)
            for old_note, old_index, old in rivals:
                if (old.valid_from or said) <= said and memory.owned(old_note, old_index):
                    closed = old_note.replace_at(
                        old_index,
                        replace(old, valid_to=said, superseded_by=fact_link(fact)),
                    )
                    memory.record(closed, old_note.lines[old_index])
                    plan.closed.append(closed)
        return learned

    def _summary_path(
        self, session_link: str, session_id: str, memory: MemoryFolder, plan: ConsolidationPlan
    ) -> str:
        """Where the summary of a session goes: its file name and ``-summary``, a name no
        session file has (a link by file name to either stays unambiguous in Obsidian)."""
        base = f"{memory.folder}/{SUMMARIES_FOLDER}/{Path(session_link).name}"
        rel = f"{base}{SUMMARY_SUFFIX}.md"
        if rel in plan.changes or self._held_by_another(rel, session_id, memory):
            # Another session's file has the same name (in another folder): never share.
            rel = f"{base}-{session_id}{SUMMARY_SUFFIX}.md"
        return rel

    def _held_by_another(self, rel: str, session_id: str, memory: MemoryFolder) -> bool:
        """Whether a file other than this session's summary is at ``rel``."""
        if not (self.vault.root / rel).exists():
            return False
        text = memory.read(rel)
        return text is None or split_front_matter(text)[0].get("session_id") != session_id

    def _rename_old_summaries(self, memory: MemoryFolder, plan: ConsolidationPlan) -> None:
        """Summaries named exactly as their sessions (as older versions wrote them, which made
        every ``[[file-name]]`` link ambiguous) move to their own name; their sessions'
        ``summary`` link follows. Their text stays as it is."""
        for session_id, (rel, front, _body) in sorted(memory.summaries.items()):
            session_link = link_parts(str(front.get("session", "")))[0]
            if not session_link or Path(rel).stem != Path(session_link).name:
                continue
            if rel in plan.changes or session_id in plan.sessions:
                continue  # written anew above, under its new name
            text = memory.read(rel)
            if text is None:
                continue
            new = self._summary_path(session_link, session_id, memory, plan)
            plan.changes[rel] = FileChange(rel, text, None)
            plan.changes[new] = FileChange(new, memory.read(new), text)
            plan.renamed[new] = rel
            plan.links.append((session_id, wikilink(new)))
            plan.notes.append(f"{rel}: renamed {new}, apart from its session's file name")

    def _summary(
        self,
        session: Session,
        digest: Digest,
        learned: list[Fact],
        memory: MemoryFolder,
        plan: ConsolidationPlan,
    ) -> None:
        assert session.path is not None
        session_link = link_target(self.vault.relative(session.path))
        existing = memory.summaries.get(session.id)
        rel = (
            existing[0] if existing else self._summary_path(session_link, session.id, memory, plan)
        )
        if existing is not None and Path(rel).stem == session.path.stem:
            # Named as its session, as older versions did: it moves to its own name.
            new = self._summary_path(session_link, session.id, memory, plan)
            plan.changes[rel] = FileChange(rel, memory.texts.get(rel), None)
            plan.renamed[new] = rel
            rel = new
        before = memory.read(rel) if existing or rel in plan.renamed else None
        body = render_summary_body(session.title, session_link, digest.summary, learned)
        front: dict[str, Any] = dict(existing[1]) if existing else {}
        edited = existing is not None and front.get("body_hash") != text_hash(existing[2])
        if edited:
            assert existing is not None
            body = existing[2]  # your edit of the summary stays; only the record moves on
            plan.notes.append(f"{rel}: edited by hand, kept as it is")
        front.update(
            type="summary",
            session_id=session.id,
            session=wikilink(session_link),
            title=session.title,
            consolidated=now_utc().replace(microsecond=0),
            source_hash=messages_hash(session),
            messages=len(session.messages),
            engine=digest.engine,
        )
        if not edited:
            front["body_hash"] = text_hash(body)
        plan.changes[rel] = FileChange(rel, before, render_front_matter(front, body))
        summary_link = wikilink(rel)
        if session.front_matter.get("summary") != summary_link:
            plan.links.append((session.id, summary_link))

    def apply(self, plan: ConsolidationPlan) -> None:
        """Write ``plan``. Raises `ConflictError` when a file changed since it was planned."""
        # The sessions' links first, then facts, then summaries, then the record of what was
        # written. A summary marks its session as done, so it comes last: a session whose
        # link could not be written (or a crash before its summary) is consolidated again
        # next time, and what its messages taught is not learned twice.
        changes = dict(plan.changes)
        for session_id, link in plan.links:
            try:
                self.sessions.set_field(session_id, "summary", link, touch=False)
            except AmosError as exc:
                log.warning(
                    "could not link session %s to its summary (%s); it is consolidated again "
                    "next time",
                    session_id,
                    exc,
                )
                new = link_parts(link)[0] + ".md"
                changes.pop(new, None)
                changes.pop(plan.renamed.get(new, ""), None)  # a renamed summary stays put
        write_changes(self.vault, changes, plan.state)

    def consolidate(
        self,
        targets: Sequence[Session | str] | None = None,
        *,
        engine: str | None = None,
        dry_run: bool = False,
        show: Callable[[ConsolidationPlan], None] | None = None,
        should_stop: StopCheck | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ConsolidationPlan:
        """Plan and (unless ``dry_run``) apply, under the memory lock; a file changed by
        someone else meanwhile means planning again (three tries).

        Sessions are consolidated ``[consolidation] batch_sessions`` at a time, each batch
        written when done, so a run stopped or killed loses at most one batch's work.
        ``should_stop`` is checked between sessions (and inside a long one): once it says
        so, the sessions digested are written and the rest are left for the next run
        (counted in the plan's ``left``). ``progress(done, total)`` follows each batch. A dry
        run plans everything at once."""
        if dry_run:
            everything = self.digest_all(targets, engine=engine)
            return self._write(targets, engine, everything, dry_run=True, show=show)
        stop = should_stop or (lambda: False)
        batches = self._batches(targets)
        total = sum(len(batch) for batch in batches)
        summarizer = self.summarizer(engine, stop) if total else None
        run = ConsolidationPlan()
        done = 0
        for number, batch in enumerate(batches or [[]]):
            digests: dict[str, tuple[str, Digest, list[str]]] = {}
            chosen: list[Session] = []
            stopped = False
            try:
                for item in batch:
                    if stop():
                        raise StopRequested
                    session = self._loaded(item)
                    if session is None:
                        continue
                    assert summarizer is not None
                    digest, notes = self._digest(session, summarizer)
                    digests[session.id] = (messages_hash(session), digest, notes)
                    chosen.append(session)
            except StopRequested:
                stopped = True
            if chosen or not total:  # no session due: hand-deleted facts are still recorded
                first = show if number == 0 else None
                run.absorb(self._write(chosen, engine, digests, dry_run=False, show=first))
            done += len(chosen) if stopped else len(batch)
            if progress is not None:
                progress(done, total)
            if done < total and (stopped or stop()):
                run.left = total - done
                log.info("consolidation stopped: %d session(s) left for the next run", run.left)
                break
        return run

    def _batches(self, targets: Sequence[Session | str] | None) -> list[list[Session | Path]]:
        """The sessions to consolidate, in batches: those named (resolved now), or the paths
        of those due (each read when its batch comes)."""
        size = self.settings.batch_sessions
        items: list[Session | Path]
        if targets is None:
            items = [record.path for record in self._due_records()]
        else:
            items = list(self._chosen(targets, None, MemoryFolder(self.vault, self.signer)))
        return [items[n : n + size] for n in range(0, len(items), size)]

    def _loaded(self, item: Session | Path) -> Session | None:
        if isinstance(item, Session):
            return item
        try:
            return self.due_scan.load(item)
        except (ParseError, OSError):
            return None  # broken since the scan: left out, as the scan leaves it out

    def _write(
        self,
        targets: Sequence[Session | str] | None,
        engine: str | None,
        digests: dict[str, tuple[str, Digest, list[str]]],
        *,
        dry_run: bool,
        show: Callable[[ConsolidationPlan], None] | None,
    ) -> ConsolidationPlan:
        """Plan ``targets`` from ``digests`` and (unless ``dry_run``) apply, under the memory
        lock; a file changed meanwhile means planning again (three tries)."""
        # The slow part (embedding, or a model) ran before the lock is taken, so `remember`,
        # `forget` and the CLI are never kept waiting on it.
        with self.vault.lock("memory"):
            for attempt in range(3):
                plan = self.plan(targets, engine=engine, digests=digests)
                if show is not None and attempt == 0:
                    show(plan)
                if dry_run or plan.is_empty:
                    return plan
                try:
                    self.apply(plan)
                    return plan
                except ConflictError:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover
