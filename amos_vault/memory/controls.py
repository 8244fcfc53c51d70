"""The user's controls over long-term memory: remember a fact, forget a fact or a session.

`forget` removes the fact (or every fact and summary a session taught, and the session) and
records its fingerprint in ``memory/forgotten.md``, so it is never learned again; `remember`
lifts such a tombstone. Both work on the memory folder as `MemoryFolder` reads it, under the
vault's memory lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from amos_vault.core.errors import AmosError, InvalidInputError, SessionNotFoundError
from amos_vault.files.integrity import Signer
from amos_vault.files.links import link_parts, link_target
from amos_vault.files.memorynote import (
    FACT_TYPES,
    Fact,
    Tombstone,
    fact_id_of_link,
    fact_link,
    fingerprint,
    new_fact_id,
)
from amos_vault.files.vault import Vault
from amos_vault.memory.store import FileChange, MemoryFolder, write_changes
from amos_vault.memory.summarizer import CandidateFact
from amos_vault.sessions.manager import SessionManager


class FactNotFoundError(AmosError):
    """No fact or session matches what was given."""


@dataclass
class ForgetReport:
    facts: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


class MemoryControls:
    """Remember and forget, for `MemoryManager` (which provides the vault and the sessions)."""

    vault: Vault
    sessions: SessionManager
    signer: Signer | None

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
            memory = MemoryFolder(self.vault, self.signer)
            gone = memory.hand_deleted()
            mark = fingerprint(text)
            # Asking to remember it overrides having forgotten it.
            lifted = [s for s in memory.tombstones if s.fingerprint == mark]
            # Deleted by hand just now and asked for again: no tombstone for it at all.
            memory.new_tombstones = [s for s in memory.new_tombstones if s.fingerprint != mark]
            candidate = CandidateFact(text, type, float(confidence), "", today, topic)
            same = memory.same_fact(candidate)
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
                for old_note, old_index, old in memory.rivals(topic):
                    if old.id != fact.id and memory.owned(old_note, old_index):
                        closed = old_note.replace_at(
                            old_index, replace(old, valid_to=today, superseded_by=fact_link(fact))
                        )
                        memory.record(closed, old_note.lines[old_index])
            changes = {**memory.summary_changes(gone), **memory.changes()}
            if lifted:
                changes[memory.tombstone_path] = self._without_tombstones(memory, lifted, changes)
            write_changes(self.vault, changes, memory.state)
            return fact

    def _without_tombstones(
        self, memory: MemoryFolder, lifted: list[Tombstone], changes: dict[str, FileChange]
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
        session_ref, message_id = link_parts(source)
        if not message_id:  # "m-…" alone: the message of any session
            session_ref, message_id = "", session_ref
        candidates = (
            [self.sessions.resolve(session_ref)] if session_ref else self.sessions.scan()[0]
        )
        for session in candidates:
            if session.path is not None and any(m.id == message_id for m in session.messages):
                return link_target(self.vault.relative(session.path), message_id)
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
            memory = MemoryFolder(self.vault, self.signer)
            gone = memory.hand_deleted()
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
            # Summaries list the facts they taught and quote their messages: those lines go too
            # (and the lines of facts deleted by hand since).
            extra.update(memory.summary_changes(removed | set(gone), quoted, skip=extra))
            changes = {**memory.changes(), **extra}
            write_changes(self.vault, changes, memory.state)
            report.files += [c.path for c in changes.values()]
            for session_id in report.sessions:
                self.sessions.delete(session_id)
        return report
