"""The memory folder as one moment's read: fact notes, summaries, tombstones, and the record
of what amos-vault wrote; and the writing of changes to them.

The user's word wins. Which fact lines amos-vault wrote, and how, is remembered in
``.amos/memory-state.json``; a line that differs from that was edited by hand and is never
rewritten (a repeat of it is simply not added again). A line amos-vault wrote that is gone
was deleted by hand: its fingerprint goes to ``memory/forgotten.md``, and a fact with that
wording, or from that message, is never learned again. If the state file is lost, every
existing line counts as the user's: safe, never destructive.

Every change is written atomically, and only if the file is still what it was when read. A
signed note you edited since it was signed is signed again with your edit, and the note's
front-matter records what was accepted (when, by whose key, which lines).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
from collections.abc import Collection, Container, Iterable
from dataclasses import dataclass, replace
from typing import Any

from amos_vault.core.errors import ConflictError, ParseError
from amos_vault.files.frontmatter import (
    read_front_matter,
    render_front_matter,
    split_front_matter,
)
from amos_vault.files.integrity import (
    Signer,
    edited_since_signing,
    record_accepted_edit,
    sign_note,
)
from amos_vault.files.memorynote import (
    FACT_TYPES,
    FORGOTTEN_NOTE,
    SUMMARIES_FOLDER,
    Fact,
    FactNote,
    Tombstone,
    fact_id_of_link,
    fingerprint,
    new_tombstone_note,
    parse_tombstones,
    render_tombstone,
    text_hash,
)
from amos_vault.files.vault import Vault, atomic_write
from amos_vault.memory.summarizer import CandidateFact, same_statement

log = logging.getLogger("amos_vault.memory.store")

STATE_FILE = "memory-state.json"


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


class MemoryFolder:
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
        # Each fact line as amos-vault last wrote it, as read (``state`` changes as we work).
        self._loaded_lines: dict[str, str] = {
            fid: str(record.get("line"))
            for fid, record in self.state["facts"].items()
            if isinstance(record, dict)
        }
        self.new_tombstones: list[Tombstone] = []

    def read(self, rel: str) -> str | None:
        """The text of the vault file ``rel`` as first read in this moment (None: absent or
        unreadable)."""
        return self._read(rel)

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

    def same_fact(self, candidate: CandidateFact) -> tuple[FactNote, int, Fact] | None:
        """The current fact of the candidate's type that says the same, if there is one."""
        for note in self.notes.values():
            for index, fact in note.facts.items():
                if (
                    fact.type == candidate.type
                    and fact.current
                    and same_statement(fact.text, candidate.text)
                ):
                    return note, index, fact
        return None

    def rivals(self, topic: str) -> list[tuple[FactNote, int, Fact]]:
        """Current facts on ``topic``: a new fact on it replaces those said before it."""
        if not topic:
            return []
        return [
            (note, index, fact)
            for note in self.notes.values()
            for index, fact in note.facts.items()
            if fact.topic == topic and fact.current
        ]

    # -- tombstones ------------------------------------------------------------------------
    def blocked(self, candidate: CandidateFact) -> bool:
        stones = [*self.tombstones, *self.new_tombstones]
        mark = fingerprint(candidate.text)
        return any(s.fingerprint == mark or candidate.message_id in s.sources for s in stones)

    def bury(self, fact_id: str, mark: str, sources: Iterable[str], kind: str = "fact") -> None:
        self.new_tombstones.append(Tombstone(fact_id, dt.date.today(), mark, tuple(sources), kind))
        self.state["facts"].pop(fact_id, None)

    def summary_changes(
        self,
        facts: Collection[str],
        quoted: Collection[str] = (),
        skip: Container[str] = (),
    ) -> dict[str, FileChange]:
        """The summaries (but those in ``skip``) without the lines that link a fact of
        ``facts`` (forgotten, or deleted by hand: no dangling link, no text the user removed)
        or quote a message of ``quoted``."""
        out: dict[str, FileChange] = {}
        for rel, front, body in self.summaries.values():
            if rel in skip:
                continue
            lines = body.split("\n")
            kept = [
                line
                for line in lines
                if not line
                or (fact_id_of_link(line) not in facts and not any(q in line for q in quoted))
            ]
            if len(kept) != len(lines):
                new_body = "\n".join(kept)
                meta = dict(front)
                if meta.get("body_hash") == text_hash(body):
                    meta["body_hash"] = text_hash(new_body)
                out[rel] = FileChange(rel, self.texts.get(rel), render_front_matter(meta, new_body))
        return out

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

    def _accept_edit(self, rel: str, before: str, after: str) -> str:
        """``after`` recording that the user's edit of ``before`` (the note as they left it) is
        signed now: when, by whose key, and which fact lines differ from what amos-vault wrote
        (as `owned` decides, against the record as it was read)."""
        edited = FactNote.parse(rel, before)
        lines = [
            index + 1
            for index, fact in edited.facts.items()
            if (self._loaded_lines.get(fact.id) if fact.id else None)
            != text_hash(edited.lines[index])
        ]
        when = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return record_accepted_edit(after, when, self._owner_id(), lines)

    def _owner_id(self) -> str:
        try:
            text = self.vault.identity_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return "the vault owner"
        return str(read_front_matter(text).meta.get("identity_id") or "the vault owner")

    # -- output ----------------------------------------------------------------------------
    def changes(self) -> dict[str, FileChange]:
        out: dict[str, FileChange] = {}
        for rel, note in self.notes.items():
            after, before = note.render(), self.texts.get(rel)
            if after != before:
                if before is not None and self.signer is not None and edited_since_signing(before):
                    after = self._accept_edit(rel, before, after)
                out[rel] = FileChange(rel, before, sign_note(rel, after, self.signer))
        if self.new_tombstones:
            before = self._read(self.tombstone_path)
            lines = (before or "\n".join(new_tombstone_note())).rstrip("\n").split("\n")
            lines += [render_tombstone(s) for s in self.new_tombstones]
            after = "\n".join(lines) + "\n"
            out[self.tombstone_path] = FileChange(self.tombstone_path, before, after)
        return out


def write_changes(vault: Vault, changes: dict[str, FileChange], state: dict[str, Any]) -> None:
    """Write each change, and then the record of what amos-vault wrote (``state``), checking
    first that no file changed since it was read; `ConflictError` when one did."""
    for change in changes.values():
        path = vault.resolve_inside(change.path)
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
        path = vault.resolve_inside(change.path)
        if change.after is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write(path, change.after.encode("utf-8"))
    atomic_write(
        vault.amos_dir / STATE_FILE,
        json.dumps(state, indent=1, sort_keys=True).encode(),
    )
