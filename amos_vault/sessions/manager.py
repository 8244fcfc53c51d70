"""The session manager: create, find, list, change and link sessions, every write locked,
merged and atomic.

A `Session` (amos_vault.sessions.session) is a view of one session file. Every change goes
through `SessionManager._write`,
which takes the session's lock, re-reads the file from disk (so an edit saved by an editor in
the meantime is the base, never overwritten), applies the change, and writes the file
atomically. Ephemeral sessions live in memory only and are never written to the vault.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amos_vault.core.errors import (
    AmbiguousSessionError,
    AmosError,
    ConflictError,
    DuplicateSessionIdError,
    InvalidInputError,
    LineageCycleError,
    ParseError,
    SessionNotFoundError,
)
from amos_vault.files.integrity import Signer, sign_session
from amos_vault.files.links import link_parts
from amos_vault.files.sessionfile import (
    KINDS,
    Message,
    SessionDocument,
    check_text,
    now_utc,
    read_header,
    read_session_file,
)
from amos_vault.files.vault import Vault, replace_file, write_new_file
from amos_vault.sessions.listing import SessionFilter
from amos_vault.sessions.session import Session

_TAG_RE = re.compile(r"^[\w/-]+$")
log = logging.getLogger("amos_vault.sessions.manager")


def slugify(title: str, limit: int = 48) -> str:
    """A file-name-safe ASCII slug of ``title`` (``session`` when nothing is left)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:limit].rstrip("-") or "session"


@dataclass(frozen=True)
class FileProblem:
    """A vault file that could not be read as a session, and why."""

    path: Path
    error: AmosError
    session_id: str | None = None
    """The id in its front-matter, when the file got that far."""


def unreadable_files(ref: str, problems: list[FileProblem]) -> list[FileProblem]:
    """The unreadable session files that an id or id prefix ``ref`` names: by the id in their
    front-matter when it could be read, else by their file name, which ends in the first four
    characters of the id (``…-<id[:4]>.md``, or with a copy's suffix after it)."""
    found = []
    for problem in problems:
        if problem.session_id is not None:
            if problem.session_id.startswith(ref):
                found.append(problem)
            continue
        tail = problem.path.stem.rsplit("-", 1)[-1]
        if len(ref) >= 4 and tail[:4] == ref[:4]:
            found.append(problem)
    return found


class SessionManager:
    """Creates, finds, lists, links and deletes the sessions of one vault."""

    def __init__(self, vault: Vault, identity_id: str | None = None) -> None:
        self.vault = vault
        self.identity_id = identity_id
        self.max_mb = vault.settings.sessions.max_file_mb
        self._ephemeral: dict[str, Session] = {}
        # Set by ActiveMirror: answers Session.send (the orchestrator lives in a higher layer).
        self.responder: Callable[[Session, str, Callable[[str], None] | None], Any] | None = None
        # Set by ActiveMirror: signs a completed session's checksum (None: no key here).
        self.signer: Signer | None = None

    # -- creating --------------------------------------------------------------------------
    def create(
        self,
        title: str,
        parent: Session | str | None = None,
        tags: Iterable[str] = (),
        kind: str | None = None,
        user_id: str | None = None,
    ) -> Session:
        """Create a session (written to the vault at once unless ephemeral)."""
        title = _clean_title(title)
        kind = kind or self.vault.settings.sessions.default_kind
        if kind not in KINDS:
            raise InvalidInputError(
                f"unknown kind {kind!r}", hint=f"use one of: {', '.join(KINDS)}"
            )
        clean_tags = _clean_tags(tags)
        parent_session = self.resolve(parent) if isinstance(parent, str) else parent
        now = now_utc()
        meta: dict[str, Any] = {"id": "", "title": title}
        if self.identity_id:
            meta["identity"] = self.identity_id
        if user_id:
            check_text(user_id, "user id")
            meta["user_id"] = user_id
        meta.update(status="active", kind=kind)
        if parent_session is not None:
            meta["parent"] = _wikilink(parent_session)
            meta["parent_id"] = parent_session.id
        meta.update(created=now, updated=now, tags=clean_tags)
        if kind == "ephemeral":
            meta["id"] = self._unused_id()
            session = Session(self, SessionDocument.new(meta, title), None)
            self._ephemeral[session.id] = session
            return session
        return self.write_new(meta, (), now)

    def write_new(
        self, meta: Mapping[str, Any], messages: Iterable[Message], when: dt.datetime
    ) -> Session:
        """Write a new session file whole, or nothing, never over an existing file: ``meta``
        (its ``id`` is chosen here; its ``title`` names the file) and ``messages``, in the
        folder of ``when``. A completed session is signed, as `Session.complete` does.
        Imports write each session of a conversation this way."""
        title = str(meta["title"])
        folder = self.vault.sessions_dir / f"{when:%Y}" / f"{when:%m}"
        messages = list(messages)
        while True:
            doc = SessionDocument.new({**meta, "id": self._unused_id()}, title)
            for message in messages:
                doc.append_message(message)
            if doc.meta.get("status") == "completed":
                sign_session(doc, self.signer)
            session_id = str(doc.meta["id"])
            path = folder / f"{when:%Y-%m-%d}-{slugify(title)}-{session_id[:4]}.md"
            rendered = doc.render()
            self._check_size(path, rendered)
            if write_new_file(path, rendered):
                return Session(self, doc, path)

    def _unused_id(self) -> str:
        while True:
            candidate = secrets.token_hex(6)
            if not candidate.isdigit() and candidate not in self._ephemeral:
                return candidate

    # -- finding ---------------------------------------------------------------------------
    def scan(self) -> tuple[list[Session], list[FileProblem]]:
        """Every readable session file, and the files that could not be read (with why).

        A session id used by two files is reported as a problem on the later file; both
        sessions are still returned.
        """
        sessions: list[Session] = []
        problems: list[FileProblem] = []
        first_seen: dict[str, Path] = {}
        for path in self.vault.iter_markdown(self.vault.sessions_dir):
            doc = None
            try:
                doc, _ = read_session_file(path, self.max_mb)
                session = Session(self, doc, path)
            except ParseError as exc:
                known_id = doc.meta.get("id") if doc is not None else None
                problems.append(FileProblem(path, exc, str(known_id) if known_id else None))
                continue
            except OSError as exc:
                problems.append(FileProblem(path, ParseError(f"cannot be read: {exc}", path=path)))
                continue
            if session.id in first_seen:
                error = self._duplicate(session.id, [first_seen[session.id], path])
                error.line = doc.key_line("id")
                problems.append(FileProblem(path, error, session.id))
            else:
                first_seen[session.id] = path
            sessions.append(session)
        return sessions, problems

    def load(self, session_id: str) -> Session:
        """The session with exactly this id; `DuplicateSessionIdError` if two files hold it."""
        if session_id in self._ephemeral:
            return self._ephemeral[session_id]
        # Files made here end in -<first 4 of id>.md (a copy made in an editor keeps that
        # stem plus a suffix): read those first, and every file only when none matches.
        matches = []
        for path in self._candidate_paths(session_id):
            try:
                doc, _ = read_session_file(path, self.max_mb)
            except (ParseError, OSError):
                continue
            if str(doc.meta.get("id")) == session_id:
                matches.append(Session(self, doc, path))
        if not matches:
            sessions, problems = self.scan()
            matches = [s for s in sessions if s.id == session_id]
            broken = [p.error for p in problems if p.session_id == session_id]
            if not matches and broken:
                raise broken[0]  # the file with that id cannot be read: say why
        if len(matches) > 1:
            raise self._duplicate(session_id, [s.path for s in matches])
        if not matches:
            raise SessionNotFoundError(
                f"no session has the id {session_id!r}",
                hint="run `amosvault list` to see the sessions",
            )
        return matches[0]

    def _raise_if_unreadable(self, ref: str, problems: list[FileProblem]) -> None:
        """A file that cannot be read but is named by ``ref``: raise its problem, so the user
        learns why the session is not found instead of "no session matches"."""
        # Only once no readable session matches: a file name holds just four characters of
        # the id, so a readable session always wins over an unreadable file's name.
        named = unreadable_files(ref, problems)
        if len(named) == 1:
            raise named[0].error

    def _duplicate(self, session_id: str, paths: list[Path | None]) -> DuplicateSessionIdError:
        names = [self.vault.relative(p) if p else "(memory)" for p in paths]
        return DuplicateSessionIdError(
            f"session id {session_id} is used by {len(names)} files: {' and '.join(names)}",
            hint="give the copy a new id in its front-matter, then run `amosvault doctor`",
            path=paths[-1],
        )

    def _candidate_paths(self, session_id: str) -> list[Path]:
        # New files end in -<first 4 of id>.md: try those before reading every file.
        folder = self.vault.sessions_dir
        if len(session_id) < 4 or not folder.is_dir():
            return []
        listed = set(self.vault.iter_markdown(folder))
        return sorted(p for p in folder.glob(f"**/*-{session_id[:4]}*.md") if p in listed)

    def resolve(self, ref: Session | str) -> Session:
        """A session named by its id, a unique id prefix, its file path, or a link to it
        (``[[sessions/…/file]]``, or ``[[file]]`` as older versions wrote it)."""
        if isinstance(ref, Session):
            return ref
        ref = ref.strip()
        if not ref:
            raise InvalidInputError("no session named", hint="give a session id or file path")
        if ref.startswith("[[") and ref.endswith("]]"):
            ref = link_parts(ref)[0]
        if ref in self._ephemeral:
            return self._ephemeral[ref]
        if "/" in ref or "\\" in ref or ref.endswith(".md") or ref.startswith("."):
            return self._load_path(ref)
        try:
            return self.load(ref)
        except SessionNotFoundError:
            pass  # not a whole id: try it as a prefix, then as a file name
        sessions, problems = self.scan()
        named = [s for s in sessions if s.path is not None and s.path.stem == ref]
        if len(named) == 1:
            return named[0]
        matches = [s for s in [*sessions, *self._ephemeral.values()] if s.id.startswith(ref)]
        found = {s.id: s for s in matches}
        if len(found) == 1 and len(matches) > 1:
            raise self._duplicate(matches[0].id, [s.path for s in matches])
        if len(found) == 1:
            return matches[0]
        if len(found) > 1:
            names = ", ".join(f"{s.id} ({s.title})" for s in list(found.values())[:5])
            raise AmbiguousSessionError(
                f"{ref!r} matches {len(found)} sessions: {names}",
                hint="give more characters of the id",
            )
        self._raise_if_unreadable(ref, problems)
        raise SessionNotFoundError(
            f"no session matches {ref!r}", hint="run `amosvault list` to see the sessions"
        )

    def _load_path(self, ref: str) -> Session:
        path = self.vault.resolve_inside(ref)
        if path.suffix != ".md" and not path.is_file():  # a link's target: no ``.md``
            path = path.with_name(path.name + ".md")
        sessions_dir = self.vault.sessions_dir.resolve()
        if sessions_dir not in path.parents:
            raise SessionNotFoundError(
                f"{ref} is not in the sessions folder ({self.vault.relative(sessions_dir)}/)",
                hint="name a file under the sessions folder, or a session id",
            )
        if not path.is_file():
            raise SessionNotFoundError(f"no session file at {ref}", hint="check the path")
        doc, _ = read_session_file(path, self.max_mb)
        return Session(self, doc, path)

    def list_sessions(self, where: SessionFilter | None = None) -> list[Session]:
        """Sessions (ephemeral ones too) matching ``where``, newest first."""
        sessions, _ = self.scan()
        return (where or SessionFilter()).apply([*sessions, *self._ephemeral.values()])

    # -- changing --------------------------------------------------------------------------
    def write_message_ids(self, session: Session) -> None:
        """Write into the session's file the ids of messages typed by hand without one (they
        are derived when the file is read), so a link to such a message resolves in Obsidian.
        A file that holds every id already is left as it is."""
        if session.path is not None:
            self._write(session, lambda _doc: None, touch=False)

    def _write(
        self, session: Session, change: Callable[[SessionDocument], None], *, touch: bool = True
    ) -> None:
        if session.path is None:  # ephemeral: memory only
            change(session._doc)
            session._doc.meta["updated"] = now_utc()
            session._header = read_header(session._doc, None)
            return
        with self.vault.lock(f"session-{session.id}"):
            for _attempt in range(5):
                path, doc, data = self._read_for_write(session)
                change(doc)
                doc.write_derived_ids()
                if touch:
                    doc.meta["updated"] = now_utc()
                rendered = doc.render()
                if rendered == data:
                    break  # nothing to write
                self._check_size(path, rendered)
                # An editor may have saved while we worked: then start again from its text,
                # so its edit is never overwritten.
                if not _unchanged(path, data):
                    log.debug("%s changed since it was read: re-reading it", path)
                    continue
                try:
                    if replace_file(path, rendered, expected=data):
                        break
                except FileNotFoundError:
                    continue  # deleted or moved this instant: the next read finds out
                # Saved by an editor in the instant between that check and the swap: its
                # save stands; merge with it as above.
                log.info("%s was saved by another program as it was written: merging", path)
            else:
                raise ConflictError(
                    f"{path} keeps changing while amos-vault tries to write it",
                    hint="close the editor that keeps saving it, then try again",
                    path=path,
                )
        session._doc, session._header, session.path = doc, read_header(doc, path), path

    def update(self, ref: Session | str, change: Callable[[SessionDocument], None]) -> Session:
        """Apply ``change`` to a session's document and write it, as every change here is
        written: under the session's lock, from the file as it is on disk now (an editor's
        save is the base, never overwritten), atomically. For changes the methods above do
        not make, such as an import appending messages to a completed session."""
        session = self.resolve(ref)
        self._write(session, change)
        return session

    def _check_size(self, path: Path, rendered: bytes) -> None:
        """Refuse a write that would put the file over sessions.max_file_mb: such a file
        could not be read back (nor shown, listed or indexed)."""
        if len(rendered) > self.max_mb * 2**20:
            raise InvalidInputError(
                f"this would make {self.vault.relative(path)} {len(rendered) / 2**20:.1f} MiB, "
                f"over the {self.max_mb:g} MiB limit for session files "
                "(sessions.max_file_mb); nothing was written",
                hint="split the text over several messages or sessions, or raise "
                "sessions.max_file_mb in .amos/config.toml",
                path=path,
            )

    def _read_for_write(self, session: Session) -> tuple[Path, SessionDocument, bytes]:
        """The session's file as it is now (found again by id if it was moved or renamed)."""
        assert session.path is not None
        # Write to the file itself, never over a symlink (nor out of the vault).
        path = self.vault.resolve_inside(session.path)
        try:
            doc, data = read_session_file(path, self.max_mb)
            if str(doc.meta.get("id")) != session.id:
                raise FileNotFoundError(path)
        except FileNotFoundError:
            moved = self.load(session.id).path  # moved or renamed by the user
            assert moved is not None
            path = moved
            doc, data = read_session_file(path, self.max_mb)
        session.path = path
        return path, doc, data

    def link(self, child: Session | str, parent: Session | str | None) -> Session:
        """Make ``parent`` the parent of ``child`` (None unlinks); refuses to make a cycle."""
        child_session = self.resolve(child)
        parent_session = self.resolve(parent) if parent is not None else None
        if parent_session is not None:
            chain = [s.id for s in self.lineage(parent_session)]
            if child_session.id in chain:
                raise LineageCycleError(
                    f"linking {child_session.id} under {parent_session.id} would make a cycle "
                    f"({' -> '.join([child_session.id, *chain])})",
                    hint="pick a parent that is not a descendant of this session",
                )

        def change(doc: SessionDocument) -> None:
            if parent_session is None:
                doc.meta.pop("parent", None)
                doc.meta.pop("parent_id", None)
            else:
                doc.meta["parent"] = _wikilink(parent_session)
                doc.meta["parent_id"] = parent_session.id

        self._write(child_session, change)
        return child_session

    def set_field(self, ref: Session | str, key: str, value: Any, *, touch: bool = True) -> Session:
        """Set one front-matter key of a session (its other lines, comments included, stay);
        ``touch=False`` for bookkeeping that is no change to the conversation (its ``updated``
        stays, so it still says when the conversation last changed)."""
        session = self.resolve(ref)

        def change(doc: SessionDocument) -> None:
            doc.meta[key] = value

        self._write(session, change, touch=touch)
        return session

    def delete(self, ref: Session | str) -> Session:
        """Delete a session's file (or forget an ephemeral session)."""
        session = self.resolve(ref)
        if session.path is None:
            self._ephemeral.pop(session.id, None)
            return session
        with self.vault.lock(f"session-{session.id}"):
            session.path.unlink()
        return session

    def lineage(self, session: Session) -> list[Session]:
        """``session``, its parent, grandparent... to the root. A cycle raises
        `LineageCycleError`; a parent that no longer exists ends the chain."""
        chain = [session]
        seen = {session.id}
        current = session
        while current.parent_id:
            try:
                parent = self.load(current.parent_id)
            except SessionNotFoundError:
                break
            if parent.id in seen:
                ids = " -> ".join([*(s.id for s in chain), parent.id])
                raise LineageCycleError(
                    f"the parent links form a cycle: {ids}",
                    hint=f"unlink one of them, e.g. `amosvault link {current.id} --none`",
                )
            chain.append(parent)
            seen.add(parent.id)
            current = parent
        return chain


def _unchanged(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _wikilink(session: Session) -> str:
    return session.link if session.path else session.id


def _clean_title(title: str) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInputError("a session needs a title", hint="give a short title")
    title = title.strip()
    check_text(title, "title")
    if "\n" in title or "\r" in title:
        raise InvalidInputError("a title must be one line", hint="remove the line breaks")
    return title


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    cleaned = []
    for tag in tags:
        value = str(tag).strip().lstrip("#")
        if not _TAG_RE.match(value):
            raise InvalidInputError(
                f"tag {tag!r} is not a single word",
                hint="tags hold letters, digits, '_', '-' and '/', as in Obsidian",
            )
        if value not in cleaned:
            cleaned.append(value)
    return cleaned
