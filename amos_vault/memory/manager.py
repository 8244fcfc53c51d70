"""Long-term memory: consolidation of sessions into memory notes, and the user's controls.

`MemoryManager.plan` reads the memory folder and the sessions due (completed, or idle for
``[consolidation] idle_hours``, and not consolidated since their last message), runs the
summarizer on each, and works out every file change: facts added to ``memory/<type>.md``,
repeated facts confirmed (``last_confirmed``, a new source link), contradicted facts closed
(``valid_to``, ``superseded_by``), a summary note per session (``memory/summaries/…``), and the
session's ``summary`` link. `apply` writes the plan under the vault's memory lock, each file
atomically and only if it is still what the plan was made from (else the plan is made again).

The user's word wins. Which fact lines amos-vault wrote, and how, is remembered in
``.amos/memory-state.json``; a line that differs from that was edited by hand and is never
rewritten (a repeat of it is simply not added again). A line amos-vault wrote that is gone
was deleted by hand: its fingerprint goes to ``memory/forgotten.md``, and a fact with that
wording, or from that message, is never learned again. `forget` does the same on request.
If the state file is lost, every existing line counts as the user's: safe, never destructive.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from amos_vault.core.errors import (
    AmosError,
    ConflictError,
    InvalidInputError,
    ParseError,
    SessionNotFoundError,
)
from amos_vault.files.frontmatter import render_front_matter, split_front_matter
from amos_vault.files.integrity import Signer, sign_note
from amos_vault.files.memorynote import (
    FACT_TYPES,
    FORGOTTEN_NOTE,
    SUMMARIES_FOLDER,
    Fact,
    FactNote,
    Tombstone,
    fact_id_of_link,
    fact_link,
    fingerprint,
    new_fact_id,
    new_tombstone_note,
    parse_tombstones,
    render_summary_body,
    render_tombstone,
    text_hash,
)
from amos_vault.files.sessionfile import now_utc
from amos_vault.files.vault import Vault, atomic_write
from amos_vault.index.embeddings import Embedder
from amos_vault.memory.summarizer import (
    CandidateFact,
    Digest,
    ExtractiveSummarizer,
    OllamaSummarizer,
    SessionText,
    Summarizer,
    same_statement,
)
from amos_vault.sessions.manager import Session, SessionManager
from amos_vault.sessions.privacy import is_loopback, is_private

log = logging.getLogger("amos_vault.memory.manager")

STATE_FILE = "memory-state.json"


class FactNotFoundError(AmosError):
    """No fact or session matches what was given."""


@dataclass(frozen=True)
class FileChange:
    """One file of the vault before and after (None: absent)."""

    path: str
    before: str | None
    after: str | None

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                (self.after or "").splitlines(keepends=True),
                fromfile=f"a/{self.path}" if self.before is not None else "/dev/null",
                tofile=f"b/{self.path}" if self.after is not None else "/dev/null",
            )
        )


@dataclass
class ConsolidationPlan:
    """Everything one consolidation run would change, and why."""

    changes: dict[str, FileChange] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (session id, summary link)
    sessions: list[str] = field(default_factory=list)
    added: list[Fact] = field(default_factory=list)
    confirmed: list[Fact] = field(default_factory=list)
    closed: list[Fact] = field(default_factory=list)
    kept_yours: int = 0  # repeats of facts you edited: left alone
    blocked: int = 0  # candidates you forgot before
    tombstoned: list[str] = field(default_factory=list)  # facts found deleted by hand
    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

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
        return ", ".join(parts)


@dataclass
class ForgetReport:
    facts: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def messages_hash(session: Session) -> str:
    """Hash of what a session said (its front-matter is not part of it)."""
    digest = hashlib.blake2b(digest_size=8)
    for message in session.messages:
        digest.update(f"{message.id}\0{message.role}\0{message.content}\0".encode())
    return digest.hexdigest()


class _Memory:
    """The memory folder as read at one moment: fact notes, tombstones, summaries, state."""

    def __init__(self, vault: Vault, signer: Signer | None = None) -> None:
        self.vault = vault
        self.signer = signer
        self.folder = vault.settings.memory.folder
        self.texts: dict[str, str | None] = {}  # what each touched file held when read
        self.unreadable: list[str] = []
        self.notes: dict[str, FactNote] = {}
        self.summaries: dict[str, tuple[str, dict[str, Any], str]] = {}  # sid -> (path, fm, body)
        root = vault.memory_dir
        for path in sorted(vault.iter_markdown(root)) if root.is_dir() else []:
            rel = vault.relative(path)
            name = rel[len(self.folder) + 1 :]
            if name.lower() == "readme.md" or name == FORGOTTEN_NOTE:
                continue
            text = self._read(rel)
            if text is None:
                continue
            if name.startswith(SUMMARIES_FOLDER + "/"):
                front, body = split_front_matter(text)
                sid = str(front.get("session_id", ""))
                if sid:
                    self.summaries[sid] = (rel, front, body)
            else:
                self.notes[rel] = FactNote.parse(rel, text)
        self.tombstone_path = f"{self.folder}/{FORGOTTEN_NOTE}"
        self.tombstones = parse_tombstones(self._read(self.tombstone_path) or "")
        self.state_path = vault.amos_dir / STATE_FILE
        try:
            self.state: dict[str, Any] = json.loads(self.state_path.read_text())
            if not isinstance(self.state.get("facts"), dict):
                raise ValueError
        except (OSError, ValueError):
            self.state = {"version": 1, "facts": {}}
        self.new_tombstones: list[Tombstone] = []

    def _read(self, rel: str) -> str | None:
        if rel not in self.texts:
            try:
                self.texts[rel] = (self.vault.root / rel).read_text(encoding="utf-8")
            except FileNotFoundError:
                self.texts[rel] = None
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("memory note %s cannot be read (%s); it is left alone", rel, exc)
                self.unreadable.append(rel)
                return None
        return self.texts[rel]

    # -- facts -----------------------------------------------------------------------------
    def all_facts(self) -> list[Fact]:
        return [fact for note in self.notes.values() for fact in note.facts.values()]

    def find(self, fact_id: str) -> tuple[FactNote, int, Fact] | None:
        for note in self.notes.values():
            found = note.by_id(fact_id)
            if found is not None:
                return note, found[0], found[1]
        return None

    def owned(self, note: FactNote, index: int) -> bool:
        """Whether the line is exactly as amos-vault last wrote it (not edited by hand)."""
        fact = note.facts[index]
        record = self.state["facts"].get(fact.id) if fact.id else None
        return isinstance(record, dict) and record.get("line") == text_hash(note.lines[index])

    def record(self, fact: Fact, line: str) -> None:
        self.state["facts"][fact.id] = {
            "line": text_hash(line),
            "fingerprint": fact.fingerprint,
            "sources": list(fact.source_messages),
            "type": fact.type,
        }

    def confirm(
        self,
        note: FactNote,
        index: int,
        sources: Iterable[str],
        when: dt.date,
        confidence: float,
    ) -> Fact:
        """The fact at ``index`` said again: more sources, a later last_confirmed."""
        fact = note.facts[index]
        confirmed = note.replace_at(
            index,
            replace(
                fact,
                sources=tuple(dict.fromkeys([*fact.sources, *sources])),
                last_confirmed=max(fact.last_confirmed or when, when),
                confidence=confidence,
            ),
        )
        self.record(confirmed, note.lines[index])
        return confirmed

    def learned_from(self) -> set[tuple[str, str]]:
        """(type, message id) of every fact known: in the notes, or as amos-vault wrote it."""
        known = {(f.type, m) for f in self.all_facts() for m in f.source_messages}
        for record in self.state["facts"].values():
            for message_id in record.get("sources", ()):
                for fact_type in [record["type"]] if "type" in record else FACT_TYPES:
                    known.add((fact_type, message_id))
        return known

    def note_for(self, fact_type: str) -> FactNote:
        rel = f"{self.folder}/{fact_type}.md"
        if rel in self.unreadable:
            raise ParseError(
                f"{rel} cannot be read as UTF-8 text, so no fact can be added to it",
                hint="save it as UTF-8 (or move it out of the memory folder), then try again",
                path=self.vault.root / rel,
            )
        if rel not in self.notes:
            self._read(rel)
            self.notes[rel] = FactNote.new(rel, fact_type)
        return self.notes[rel]

    def taken_ids(self) -> set[str]:
        return {f.id for f in self.all_facts() if f.id} | set(self.state["facts"])

    # -- tombstones ------------------------------------------------------------------------
    def blocked(self, candidate: CandidateFact) -> bool:
        stones = [*self.tombstones, *self.new_tombstones]
        mark = fingerprint(candidate.text)
        return any(s.fingerprint == mark or candidate.message_id in s.sources for s in stones)

    def bury(self, fact_id: str, mark: str, sources: Iterable[str], kind: str = "fact") -> None:
        self.new_tombstones.append(Tombstone(fact_id, dt.date.today(), mark, tuple(sources), kind))
        self.state["facts"].pop(fact_id, None)

    def hand_deleted(self) -> list[str]:
        """Facts amos-vault wrote that are in no note any more: deleted by hand."""
        if self.unreadable:  # a note we cannot read is not a note deleted
            return []
        present = {f.id for f in self.all_facts() if f.id}
        buried = {s.id for s in self.tombstones}
        gone = []
        for fact_id, record in list(self.state["facts"].items()):
            if fact_id not in present and fact_id not in buried:
                self.bury(fact_id, record.get("fingerprint", ""), record.get("sources", ()))
                gone.append(fact_id)
        return gone

    # -- output ----------------------------------------------------------------------------
    def changes(self) -> dict[str, FileChange]:
        out: dict[str, FileChange] = {}
        for rel, note in self.notes.items():
            after = note.render()
            if after != self.texts.get(rel):
                out[rel] = FileChange(rel, self.texts.get(rel), sign_note(rel, after, self.signer))
        if self.new_tombstones:
            before = self._read(self.tombstone_path)
            lines = (before or "\n".join(new_tombstone_note())).rstrip("\n").split("\n")
            lines += [render_tombstone(s) for s in self.new_tombstones]
            after = "\n".join(lines) + "\n"
            out[self.tombstone_path] = FileChange(self.tombstone_path, before, after)
        return out


def _remote(summarizer: OllamaSummarizer) -> bool:
    """Whether the summarizer's model is on another machine (no model: it falls back anyway)."""
    try:
        return not is_loopback(getattr(summarizer.provider_factory(), "host", None))
    except AmosError:
        return False


def _confirmed(old: float, new: float) -> float:
    """Confidence of a fact said again: the higher of the two, a little more."""
    return round(min(1.0, max(old, new) + 0.05), 2)


class MemoryManager:
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

    # -- reading ---------------------------------------------------------------------------
    def facts(self, *, include_closed: bool = False) -> list[Fact]:
        """The facts of the memory notes (current ones only, unless ``include_closed``)."""
        facts = _Memory(self.vault, self.signer).all_facts()
        return facts if include_closed else [f for f in facts if f.current]

    def summarizer(self, engine: str | None = None) -> Summarizer:
        name = engine or self.settings.engine
        extractive = ExtractiveSummarizer(self._embedder(), self.settings.summary_sentences)
        if name == "extractive":
            return extractive
        if name == "ollama":
            if self._provider is None:
                raise InvalidInputError("the ollama engine needs a model provider")
            return OllamaSummarizer(self._provider, extractive, self.settings.summary_sentences)
        raise InvalidInputError(
            f"unknown summarizer engine {name!r}", hint="use extractive or ollama"
        )

    def due(self, now: dt.datetime | None = None, memory: _Memory | None = None) -> list[Session]:
        """Sessions to consolidate: completed/archived, or idle for ``idle_hours``, and not
        consolidated since their last message."""
        now = now or now_utc()
        memory = memory or _Memory(self.vault, self.signer)
        idle = dt.timedelta(hours=self.settings.idle_hours)
        found, _problems = self.sessions.scan()
        due = []
        for session in found:
            if not session.messages:
                continue
            last = max(
                (m.timestamp for m in session.messages if m.timestamp),
                default=session.updated,
            )
            settled = session.status in ("completed", "archived") or (
                last is not None and now - last >= idle
            )
            if settled and not self._consolidated(session, memory):
                due.append(session)
        return due

    def _consolidated(self, session: Session, memory: _Memory) -> bool:
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
        memory = _Memory(self.vault, self.signer)
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
        plan.changes.update(memory.changes())
        plan.state = memory.state
        return plan

    def _chosen(
        self, targets: Sequence[Session | str] | None, now: dt.datetime | None, memory: _Memory
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
        chosen = self._chosen(targets, None, _Memory(self.vault, self.signer))
        summarizer = self.summarizer(engine) if chosen else None
        out = {}
        for session in chosen:
            assert summarizer is not None
            digest, notes = self._digest(session, summarizer)
            out[session.id] = (messages_hash(session), digest, notes)
        return out

    def _learn(
        self, session: Session, digest: Digest, memory: _Memory, plan: ConsolidationPlan
    ) -> list[Fact]:
        assert session.path is not None
        link = self.vault.relative(session.path).removesuffix(".md")
        learned: list[Fact] = []
        for candidate in digest.facts:
            if candidate.confidence < self.settings.min_confidence:
                continue
            if memory.blocked(candidate):
                plan.blocked += 1
                continue
            if (candidate.type, candidate.message_id) in memory.learned_from():
                continue  # this message taught it already (a re-consolidation, or you edited it)
            source = f"{link}#^{candidate.message_id}"
            said = candidate.said_on or dt.date.today()
            same = self._same(candidate, memory)
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
            rivals = self._rivals(candidate.topic, memory)
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

    @staticmethod
    def _same(candidate: CandidateFact, memory: _Memory) -> tuple[FactNote, int, Fact] | None:
        for note in memory.notes.values():
            for index, fact in note.facts.items():
                if (
                    fact.type == candidate.type
                    and fact.current
                    and same_statement(fact.text, candidate.text)
                ):
                    return note, index, fact
        return None

    @staticmethod
    def _rivals(topic: str, memory: _Memory) -> list[tuple[FactNote, int, Fact]]:
        """Current facts on ``topic``: a new fact on it replaces those said before it."""
        if not topic:
            return []
        return [
            (note, index, fact)
            for note in memory.notes.values()
            for index, fact in note.facts.items()
            if fact.topic == topic and fact.current
        ]

    def _summary(
        self,
        session: Session,
        digest: Digest,
        learned: list[Fact],
        memory: _Memory,
        plan: ConsolidationPlan,
    ) -> None:
        assert session.path is not None
        session_link = self.vault.relative(session.path).removesuffix(".md")
        stem = Path(session_link).name
        existing = memory.summaries.get(session.id)
        rel = existing[0] if existing else f"{memory.folder}/{SUMMARIES_FOLDER}/{stem}.md"
        if existing is None and (rel in plan.changes or (self.vault.root / rel).exists()):
            # Another session's file has the same name (in another folder): never share.
            rel = f"{memory.folder}/{SUMMARIES_FOLDER}/{stem}-{session.id}.md"
        before = memory.texts.get(rel) if existing else None
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
            session=f"[[{session_link}]]",
            title=session.title,
            consolidated=now_utc().replace(microsecond=0),
            source_hash=messages_hash(session),
            messages=len(session.messages),
            engine=digest.engine,
        )
        if not edited:
            front["body_hash"] = text_hash(body)
        plan.changes[rel] = FileChange(rel, before, render_front_matter(front, body))
        summary_link = f"[[{rel.removesuffix('.md')}]]"
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
                self.sessions.set_field(session_id, "summary", link)
            except AmosError as exc:
                log.warning(
                    "could not link session %s to its summary (%s); it is consolidated again "
                    "next time",
                    session_id,
                    exc,
                )
                changes.pop(link.removeprefix("[[").removesuffix("]]") + ".md", None)
        self._write(changes, plan.state)

    def _save_state(self, state: dict[str, Any]) -> None:
        atomic_write(
            self.vault.amos_dir / STATE_FILE,
            json.dumps(state, indent=1, sort_keys=True).encode(),
        )

    def consolidate(
        self,
        targets: Sequence[Session | str] | None = None,
        *,
        engine: str | None = None,
        dry_run: bool = False,
        show: Callable[[ConsolidationPlan], None] | None = None,
    ) -> ConsolidationPlan:
        """Plan and (unless ``dry_run``) apply, under the memory lock; a file changed by
        someone else meanwhile means planning again (three tries)."""
        # The slow part (embedding, or a model) runs before the lock is taken, so `remember`,
        # `forget` and the CLI are never kept waiting on it.
        digests = self.digest_all(targets, engine=engine)
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

    # -- the user's controls ---------------------------------------------------------------
    def remember(
        self,
        text: str,
        *,
        type: str = "knowledge",
        confidence: float = 1.0,
        source: str | None = None,
        topic: str = "",
    ) -> Fact:
        """Add a fact by hand (or for an assistant); a repeat confirms the existing fact."""
        text = " ".join(str(text).split())
        if not text:
            raise InvalidInputError("the fact is empty", hint="give the fact's text")
        if len(text) > 2000:
            raise InvalidInputError("the fact is longer than 2000 characters", hint="shorten it")
        if type not in FACT_TYPES:
            raise InvalidInputError(
                f"unknown fact type {type!r}", hint=f"use one of: {', '.join(FACT_TYPES)}"
            )
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise InvalidInputError(f"confidence must be a number from 0 to 1 (got {confidence!r})")
        sources = (self._message_link(source),) if source else ()
        today = dt.date.today()
        with self.vault.lock("memory"):
            memory = _Memory(self.vault, self.signer)
            memory.hand_deleted()
            mark = fingerprint(text)
            # Asking to remember it overrides having forgotten it.
            lifted = [s for s in memory.tombstones if s.fingerprint == mark]
            # Deleted by hand just now and asked for again: no tombstone for it at all.
            memory.new_tombstones = [s for s in memory.new_tombstones if s.fingerprint != mark]
            candidate = CandidateFact(text, type, float(confidence), "", today, topic)
            same = self._same(candidate, memory)
            if same is not None and same[2].fingerprint == mark:
                note, index, fact = same
                if memory.owned(note, index):
                    best = max(fact.confidence, float(confidence))
                    fact = memory.confirm(note, index, sources, today, best)
            else:
                note = memory.note_for(type)
                fact = note.append(
                    Fact(
                        text=text,
                        type=type,
                        confidence=round(float(confidence), 2),
                        sources=sources,
                        first_seen=today,
                        last_confirmed=today,
                        valid_from=today,
                        topic=topic,
                        id=new_fact_id(type, text, memory.taken_ids()),
                    )
                )
                memory.record(fact, note.lines[fact.line - 1])
                for old_note, old_index, old in self._rivals(topic, memory):
                    if old.id != fact.id and memory.owned(old_note, old_index):
                        closed = old_note.replace_at(
                            old_index, replace(old, valid_to=today, superseded_by=fact_link(fact))
                        )
                        memory.record(closed, old_note.lines[old_index])
            changes = memory.changes()
            if lifted:
                changes[memory.tombstone_path] = self._without_tombstones(memory, lifted, changes)
            self._write(changes, memory.state)
            return fact

    def _without_tombstones(
        self, memory: _Memory, lifted: list[Tombstone], changes: dict[str, FileChange]
    ) -> FileChange:
        current = changes.get(memory.tombstone_path)
        before = memory.texts.get(memory.tombstone_path)
        text = current.after if current else before
        marks = {s.fingerprint for s in lifted}
        kept = [
            line
            for line in (text or "").split("\n")
            if not any(f"[fingerprint:: {m}]" in line for m in marks)
        ]
        return FileChange(memory.tombstone_path, before, "\n".join(kept))

    def _message_link(self, source: str) -> str:
        """``SESSION#m-…`` or ``m-…`` (or a [[link]]) as a link target to that message."""
        ref = source.strip().strip("[]")
        session_ref, _, message_id = ref.rpartition("#")
        message_id = message_id.lstrip("^")
        candidates = (
            [self.sessions.resolve(session_ref)] if session_ref else self.sessions.scan()[0]
        )
        for session in candidates:
            if session.path is not None and any(m.id == message_id for m in session.messages):
                return f"{self.vault.relative(session.path).removesuffix('.md')}#^{message_id}"
        raise InvalidInputError(
            f"no message {message_id!r} found"
            + (f" in session {session_ref}" if session_ref else " in the vault"),
            hint="give the source as SESSION#m-xxxxxxxx (see `amosvault show SESSION`)",
        )

    def forget(self, target: str) -> ForgetReport:
        """Remove a fact (``f-…``) or a session (id, prefix or path) from the vault's files,
        and remember it as forgotten so it is never learned again."""
        report = ForgetReport()
        target = target.strip()
        with self.vault.lock("memory"):
            memory = _Memory(self.vault, self.signer)
            memory.hand_deleted()
            removed: set[str] = set()
            extra: dict[str, FileChange] = {}
            if target.startswith("f-") and memory.find(target) is not None:
                removed.add(target)
            else:
                try:
                    session = self.sessions.resolve(target)
                except SessionNotFoundError:
                    raise FactNotFoundError(
                        f"no fact or session {target!r}",
                        hint="give a fact id (f-…, see `amosvault facts`) or a session id",
                    ) from None
                report.sessions.append(session.id)
                link = (
                    self.vault.relative(session.path).removesuffix(".md") + "#^"
                    if session.path
                    else None
                )
                said = {m.id for m in session.messages}

                def from_session(source: str) -> bool:
                    # Its file's path, or (the file renamed since) one of its message ids.
                    where, _, message_id = source.rpartition("#^")
                    return bool(link and source.startswith(link)) or (
                        message_id in said and not (self.vault.root / f"{where}.md").exists()
                    )

                for note in memory.notes.values():
                    for index, fact in list(note.facts.items()):
                        mine = [s for s in fact.sources if from_session(s)]
                        if not mine:
                            continue
                        if len(mine) == len(fact.sources):
                            removed.add(fact.id)
                        else:
                            kept = tuple(s for s in fact.sources if s not in mine)
                            note.replace_at(index, replace(fact, sources=kept))
                            memory.record(note.facts[index], note.lines[index])
                memory.bury(session.id, "", (m.id for m in session.messages), kind="session")
                summary = memory.summaries.get(session.id)
                if summary is not None:
                    extra[summary[0]] = FileChange(summary[0], memory.texts.get(summary[0]), None)
                if session.path is not None:
                    report.files.append(self.vault.relative(session.path))
            quoted: set[str] = set()  # the messages the forgotten facts came from
            for fact_id in removed:
                found = memory.find(fact_id)
                if found is None:
                    continue
                note, index, fact = found
                note.remove_at(index)
                memory.bury(fact.id or fact_id, fact.fingerprint, fact.source_messages)
                report.facts.append(fact.id)
                quoted.update(f"[[{source}]]" for source in fact.sources)
            # A fact the forgotten one had replaced is current again.
            for note in memory.notes.values():
                for index, fact in list(note.facts.items()):
                    if fact_id_of_link(fact.superseded_by) in removed and memory.owned(note, index):
                        reopened = replace(fact, valid_to=None, superseded_by="")
                        memory.record(note.replace_at(index, reopened), note.lines[index])
            # Summaries list the facts they taught and quote their messages: those lines go too.
            for rel, front, body in memory.summaries.values():
                if rel in extra:
                    continue
                lines = body.split("\n")
                kept_lines = [
                    ln
                    for ln in lines
                    if not ln
                    or (fact_id_of_link(ln) not in removed and not any(q in ln for q in quoted))
                ]
                if len(kept_lines) != len(lines):
                    new_body = "\n".join(kept_lines)
                    front = dict(front)
                    if front.get("body_hash") == text_hash(body):
                        front["body_hash"] = text_hash(new_body)
                    extra[rel] = FileChange(
                        rel, memory.texts.get(rel), render_front_matter(front, new_body)
                    )
            changes = {**memory.changes(), **extra}
            self._write(changes, memory.state)
            report.files += [c.path for c in changes.values()]
            for session_id in report.sessions:
                self.sessions.delete(session_id)
        return report

    def _write(self, changes: dict[str, FileChange], state: dict[str, Any]) -> None:
        """Write each change, checking first that no file changed since it was read."""
        for change in changes.values():
            path = self.vault.resolve_inside(change.path)
            try:
                now: str | None = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                now = None
            except (OSError, UnicodeDecodeError) as exc:
                raise ParseError(
                    f"{change.path} cannot be read ({exc})",
                    hint="save it as UTF-8 text, or move it out of the memory folder",
                    path=path,
                ) from None
            if now != change.before:
                raise ConflictError(
                    f"{change.path} changed while amos-vault was updating memory",
                    hint="run the command again",
                    path=path,
                )
        ordered = sorted(changes.values(), key=lambda c: f"/{SUMMARIES_FOLDER}/" in c.path)
        for change in ordered:
            path = self.vault.resolve_inside(change.path)
            if change.after is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, change.after.encode("utf-8"))
        self._save_state(state)
