"""Which sessions are due for consolidation, found in one pass over the session files.

`DueScan` keeps what the due test needs of each session file (its id, status, when it last
changed, a hash of its messages), keyed by the file's stamp (modification and change times,
size, inode). A file unchanged since the last scan is not read again: the hourly job over
10k sessions looks at file stamps, not at their text. Only the sessions found due are read
whole, when they are consolidated (`load`), a batch at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amos_vault.core.errors import ParseError
from amos_vault.files.sessionfile import read_session_file
from amos_vault.sessions.manager import SessionManager
from amos_vault.sessions.session import Session

FileStamp = tuple[int, int, int, int]


def messages_hash(session: Session) -> str:
    """Hash of what a session said (its front-matter is not part of it)."""
    digest = hashlib.blake2b(digest_size=8)
    for message in session.messages:
        digest.update(f"{message.id}\0{message.role}\0{message.content}\0".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    """What the due test needs of one session file."""

    path: Path
    id: str
    status: str
    last: dt.datetime | None  # its last message's time (else the session's last change)
    source_hash: str  # `messages_hash` of the session
    has_messages: bool

    @classmethod
    def of(cls, session: Session) -> SessionRecord:
        """The record of a session read from its file."""
        assert session.path is not None
        last = max((m.timestamp for m in session.messages if m.timestamp), default=session.updated)
        return cls(
            session.path,
            session.id,
            session.status,
            last,
            messages_hash(session),
            bool(session.messages),
        )

    def settled(self, now: dt.datetime, idle: dt.timedelta) -> bool:
        """Completed or archived, or idle for ``idle``."""
        return self.status in ("completed", "archived") or (
            self.last is not None and now - self.last >= idle
        )


def _stamp(path: Path) -> FileStamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_ctime_ns, found.st_size, found.st_ino)


class DueScan:
    """The session files' records, each read again only when its file's stamp changed."""

    def __init__(self, sessions: SessionManager) -> None:
        self.sessions = sessions
        self._known: dict[Path, tuple[FileStamp, SessionRecord | None]] = {}
        self.reads = 0  # files parsed (a test and a log line look at it)

    def records(self) -> list[SessionRecord]:
        """A record per readable session file, in the order `SessionManager.scan` lists them
        (a file that cannot be read is left out, as the scan leaves it out)."""
        vault = self.sessions.vault
        seen: dict[Path, tuple[FileStamp, SessionRecord | None]] = {}
        found: list[SessionRecord] = []
        for path in vault.iter_markdown(vault.sessions_dir):
            stamp = _stamp(path)
            if stamp is None:
                continue
            known = self._known.get(path)
            record = known[1] if known is not None and known[0] == stamp else self._read(path)
            seen[path] = (stamp, record)
            if record is not None:
                found.append(record)
        self._known = seen  # files gone since are forgotten
        return found

    def _read(self, path: Path) -> SessionRecord | None:
        self.reads += 1
        try:
            return SessionRecord.of(self.load(path))
        except (ParseError, OSError):
            return None

    def load(self, path: Path) -> Session:
        """The session in ``path``, read whole. Raises `ParseError` or `OSError`."""
        doc, _ = read_session_file(path, self.sessions.max_mb)
        return Session(self.sessions, doc, path)

    def due(
        self,
        now: dt.datetime,
        idle: dt.timedelta,
        consolidated: Callable[[SessionRecord], bool],
    ) -> list[SessionRecord]:
        """The records of sessions settled and not ``consolidated`` as they are now."""
        return [
            record
            for record in self.records()
            if record.has_messages and record.settled(now, idle) and not consolidated(record)
        ]
