"""Sessions: create, find, change and link them, with every write locked, merged and atomic.

A `Session` is a view of one session file. Every change goes through `SessionManager._write`,
which takes the session's lock, re-reads the file from disk (so an edit saved by an editor in
the meantime is the base, never overwritten), applies the change, and writes the file
atomically. Ephemeral sessions live in memory only and are never written to the vault.
"""

from __future__ import annotations

import datetime as dt
import json
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
    InvalidTransitionError,
    LineageCycleError,
    ParseError,
    SessionNotFoundError,
    SessionStateError,
)
from amos_vault.files.integrity import Signer, sign_session
from amos_vault.files.sessionfile import (
    KINDS,
    ROLES,
    Message,
    SessionDocument,
    SessionHeader,
    check_text,
    format_timestamp,
    normalize_metadata,
    now_utc,
    read_header,
    read_session_file,
)
from amos_vault.files.vault import Vault, replace_file, write_new_file

# Lifecycle: Create -> Active -> Paused -> Resumed (active again) -> Completed -> Archived.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "active": ("paused", "completed"),
    "paused": ("active", "completed"),
    "completed": ("archived",),
    "archived": (),
}
ACTION_OF = {"paused": "pause", "active": "resume", "completed": "complete", "archived": "archive"}
EXPORT_FORMATS = ("json", "markdown", "txt")
_TAG_RE = re.compile(r"^[\w/-]+$")
log = logging.getLogger("amos_vault.sessions.manager")


def slugify(title: str, limit: int = 48) -> str:
    """A file-name-safe ASCII slug of ``title`` (``session`` when nothing is left)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:limit].rstrip("-") or "session"


def allowed_actions(status: str) -> list[str]:
    """CLI verbs allowed from ``status`` (e.g. ``['pause', 'complete']`` for active)."""
    return [ACTION_OF[target] for target in TRANSITIONS.get(status, ())]


class Session:
    """One conversation session, backed by a Markdown file (or memory, when ephemeral)."""

    def __init__(self, manager: SessionManager, doc: SessionDocument, path: Path | None) -> None:
        self._manager = manager
        self._doc = doc
        self._header: SessionHeader = read_header(doc, path)
        self.path = path

    # -- read-only view -------------------------------------------------------------------
    id = property(lambda self: self._header.id, doc="Stable unique id.")
    title = property(lambda self: self._header.title, doc="Title.")
    status = property(lambda self: self._header.status, doc="Lifecycle status.")
    kind = property(lambda self: self._header.kind, doc="persistent or ephemeral.")
    identity = property(lambda self: self._header.identity, doc="Owner identity id.")
    user_id = property(lambda self: self._header.user_id, doc="Application user id, if any.")
    parent_id = property(lambda self: self._header.parent_id, doc="Parent session id.")
    parent = property(lambda self: self._header.parent, doc="Parent as an Obsidian wikilink.")
    created = property(lambda self: self._header.created, doc="Creation time (UTC).")
    updated = property(lambda self: self._header.updated, doc="Last change (UTC).")
    tags = property(lambda self: self._header.tags, doc="Tags.")

    @property
    def messages(self) -> tuple[Message, ...]:
        """The messages, in order."""
        return tuple(self._doc.messages)

    @property
    def front_matter(self) -> dict[str, Any]:
        """A copy of the whole front-matter, unknown keys included."""
        return dict(self._doc.meta)

    @property
    def relative_path(self) -> str | None:
        """The file's path inside the vault, or None for an ephemeral session."""
        return self._manager.vault.relative(self.path) if self.path else None

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, title={self.title!r}, status={self.status!r})"

    def link_to(self, message: Message) -> str:
        """An Obsidian link to ``message``: ``[[file-name#^message-id]]``."""
        stem = self.path.stem if self.path else self.id
        return f"[[{stem}#{message.anchor}]]"

    # -- changes ---------------------------------------------------------------------------
    def add_message(
        self,
        role: str,
        content: str,
        metadata: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
    ) -> Message:
        """Append a message and write it to the file at once; returns the stored message.

        ``timestamp`` (default: now) lets an import keep the time a message was really sent;
        ``metadata`` may carry a ``name`` for multi-party chats (who spoke, beyond the role).
        """
        if role not in ROLES:
            raise InvalidInputError(
                f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}"
            )
        if not isinstance(content, str):
            raise InvalidInputError("message content must be text")
        check_text(content, "message content")
        data = normalize_metadata(metadata)
        when = now_utc() if timestamp is None else _aware(timestamp).replace(microsecond=0)
        added: list[Message] = []

        def append(doc: SessionDocument) -> None:
            status = read_header(doc, self.path).status
            if status != "active":
                hint = (
                    f"resume it first: amosvault resume {self.id}"
                    if status == "paused"
                    else "start a new session, e.g. one linked to it with --parent"
                )
                raise SessionStateError(
                    f"session {self.id} is {status}; messages can only be added while active",
                    hint=hint,
                )
            taken = {m.id for m in doc.messages}
            message_id = _new_message_id(taken)
            message = Message(message_id, role, content, when, data)
            doc.append_message(message)
            added.append(message)

        self._manager._write(self, append)
        return added[-1]  # the message of the attempt that was written

    def send(self, text: str, on_piece: Callable[[str], None] | None = None) -> Any:
        """Say ``text`` in this session and get the answer (an `Answer`): both are written to
        the file, the user's message before the model is asked."""
        if self._manager.responder is None:
            raise SessionStateError(
                "this session was not opened through ActiveMirror, which answers messages",
                hint="open the vault with ActiveMirror(vault) and load the session from it",
            )
        return self._manager.responder(self, text, on_piece)

    def pause(self) -> None:
        """Active -> paused."""
        self._transition("paused")

    def resume(self) -> None:
        """Paused -> active."""
        self._transition("active")

    def complete(self) -> None:
        """Active or paused -> completed."""
        self._transition("completed")

    def archive(self) -> None:
        """Completed -> archived (the file stays in the vault)."""
        self._transition("archived")

    def _transition(self, target: str) -> None:
        def change(doc: SessionDocument) -> None:
            current = read_header(doc, self.path).status
            if target not in TRANSITIONS[current]:
                allowed = allowed_actions(current)
                raise InvalidTransitionError(
                    f"cannot {ACTION_OF[target]} session {self.id}: it is {current}",
                    hint=(
                        f"from {current} you can: {', '.join(allowed)}"
                        if allowed
                        else f"{current} is final; nothing can follow it"
                    ),
                )
            doc.meta["status"] = target
            if target == "completed":  # what it said is sealed with the owner's key
                sign_session(doc, self._manager.signer)

        self._manager._write(self, change)

    # -- derived ---------------------------------------------------------------------------
    def lineage(self) -> list[Session]:
        """This session, its parent, grandparent... up to the root. A cycle raises."""
        return self._manager.lineage(self)

    def get_context(self) -> list[Message]:
        """The messages in order (the orchestrator builds richer context on top)."""
        return list(self._doc.messages)

    def refresh(self) -> None:
        """Re-read the file (picks up hand edits)."""
        if self.path is not None:
            doc, _ = read_session_file(self.path, self._manager.max_mb)
            self._doc, self._header = doc, read_header(doc, self.path)

    def to_dict(self) -> dict[str, Any]:
        """The session's metadata, JSON-ready (no messages)."""

        def stamp(value: dt.datetime | None) -> str | None:
            return format_timestamp(value) if value else None

        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "kind": self.kind,
            "identity": self.identity,
            "user_id": self.user_id,
            "parent_id": self.parent_id,
            "created": stamp(self.created),
            "updated": stamp(self.updated),
            "tags": list(self.tags),
            "path": self.relative_path,
            "messages": len(self._doc.messages),
        }

    def export(self, fmt: str = "markdown") -> str:
        """The session as ``json``, ``markdown`` (the file itself) or ``txt`` (a transcript)."""
        if fmt == "json":
            data = {"session": self.to_dict(), "front_matter": _jsonable(self._doc.meta)}
            data["messages"] = [m.to_dict() for m in self._doc.messages]
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if fmt == "markdown":
            return self._doc.render().decode("utf-8")
        if fmt == "txt":
            parts = [f"{self.title}\n{'=' * len(self.title)}\n"]
            for m in self._doc.messages:
                parts.append(f"[{format_timestamp(m.timestamp)}] {m.role}:\n{m.content}\n")
            return "\n".join(parts)
        raise InvalidInputError(
            f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}"
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _new_message_id(taken: set[str]) -> str:
    while True:
        candidate = f"m-{secrets.token_hex(4)}"
        if candidate not in taken:
            return candidate


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
            if not matches:
                self._raise_if_unreadable(session_id, problems)
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
        """A session named by its id, a unique id prefix, or its file path."""
        if isinstance(ref, Session):
            return ref
        ref = ref.strip()
        if not ref:
            raise InvalidInputError("no session named", hint="give a session id or file path")
        if ref in self._ephemeral:
            return self._ephemeral[ref]
        if "/" in ref or "\\" in ref or ref.endswith(".md") or ref.startswith("."):
            return self._load_path(ref)
        try:
            return self.load(ref)
        except SessionNotFoundError:
            pass  # not a whole id: try it as a prefix
        sessions, problems = self.scan()
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

    def list_sessions(
        self,
        status: str | None = None,
        tag: str | None = None,
        user_id: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Session]:
        """Sessions matching every given filter, newest first. ``since``/``until`` bound
        the creation time (inclusive)."""
        sessions, _ = self.scan()
        return filter_sessions(
            [*sessions, *self._ephemeral.values()], status, tag, user_id, since, until
        )

    # -- changing --------------------------------------------------------------------------
    def _write(self, session: Session, change: Callable[[SessionDocument], None]) -> None:
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
                doc.meta["updated"] = now_utc()
                rendered = doc.render()
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

    def set_field(self, ref: Session | str, key: str, value: Any) -> Session:
        """Set one front-matter key of a session (its other lines, comments included, stay)."""
        session = self.resolve(ref)

        def change(doc: SessionDocument) -> None:
            doc.meta[key] = value

        self._write(session, change)
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


def filter_sessions(
    sessions: Iterable[Session],
    status: str | None = None,
    tag: str | None = None,
    user_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[Session]:
    """Sessions matching every given filter, newest first (by creation time)."""
    tag = tag.lstrip("#") if tag else tag
    chosen = [
        s
        for s in sessions
        if (status is None or s.status == status)
        and (tag is None or tag in s.tags)
        and (user_id is None or s.user_id == user_id)
        and (since is None or (s.created is not None and s.created >= _aware(since)))
        and (until is None or (s.created is not None and s.created <= _aware(until)))
    ]
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(chosen, key=lambda s: (s.created or floor, s.id), reverse=True)


def _unchanged(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _wikilink(session: Session) -> str:
    return f"[[{session.path.stem}]]" if session.path else session.id


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
