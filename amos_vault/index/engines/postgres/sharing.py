"""Who may read a chunk in the team's database, decided from the vault's files.

- A session is private to its owner unless its front-matter says ``shared: team``; a session
  with ``private: true`` never leaves the machine (its chunks are never written).
- A session's summary (``memory/summaries/<session file>``) follows its session.
- A fact (a memory note's line) is shared when its note says ``shared: team``, or when every
  session it was learned from is shared; it is never written when it says ``private: true``
  or comes from a private session (as `sessions.privacy` keeps them from remote models).
- Anything else (a note of the user's own) is private to its owner.

The database enforces what this decides (row-level security on ``owner`` and ``shared``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amos_vault.files.frontmatter import read_front_matter
from amos_vault.files.memorynote import SUMMARIES_FOLDER
from amos_vault.files.vault import Vault, file_stamp
from amos_vault.index.chunks import Chunk

TEAM = "team"


@dataclass(frozen=True)
class Visibility:
    """Whether a file's chunks may be written, and whether the team may read them."""

    written: bool
    shared: bool


KEPT_HERE = Visibility(written=False, shared=False)
OWNER_ONLY = Visibility(written=True, shared=False)
WITH_TEAM = Visibility(written=True, shared=True)


def _visibility(meta: dict[str, Any]) -> Visibility:
    if meta.get("private") is True:
        return KEPT_HERE
    return WITH_TEAM if str(meta.get("shared", "")).strip().lower() == TEAM else OWNER_ONLY


class Sharing:
    """Decides the `Visibility` of chunks from their files' front-matter (cached by file
    stamp, so a sync reads each front-matter once)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._files: dict[str, tuple[tuple[int, int, int] | None, Visibility]] = {}
        self._sessions_by_name: dict[str, str] | None = None

    def _of_file(self, rel: str) -> Visibility:
        path = self.vault.root / rel
        stamp = file_stamp(path)
        cached = self._files.get(rel)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            text = _head(path)
        except OSError:
            text = ""
        found = _visibility(read_front_matter(text).meta)
        self._files[rel] = (stamp, found)
        return found

    def _session_named(self, name: str) -> str | None:
        """The session file with this file name (summaries are named after their session)."""
        if self._sessions_by_name is None:
            folder = self.vault.sessions_dir
            files = self.vault.iter_markdown(folder) if folder.is_dir() else iter(())
            self._sessions_by_name = {p.name: self.vault.relative(p) for p in files}
        return self._sessions_by_name.get(name)

    def _source_file(self, source: str) -> str:
        """The session file of a fact's source link: ``sessions/…/file#^m-…``, or a link by
        file name alone, as Obsidian writes it."""
        stem = source.split("#", 1)[0]
        rel = stem if stem.endswith(".md") else stem + ".md"
        if (self.vault.root / rel).is_file():
            return rel
        return self._session_named(rel.rsplit("/", 1)[-1]) or rel

    def forget(self) -> None:
        """Drop what was cached (call at the start of each sync)."""
        self._files.clear()
        self._sessions_by_name = None

    def of_chunk(self, chunk: Chunk) -> Visibility:
        """The visibility of one chunk."""
        memory = self.vault.settings.memory.folder + "/"
        if not chunk.path.startswith(memory):
            return self._of_file(chunk.path)
        summaries = memory + SUMMARIES_FOLDER + "/"
        if chunk.path.startswith(summaries):
            session = self._session_named(chunk.path.rsplit("/", 1)[-1])
            return self._of_file(session) if session else OWNER_ONLY
        note = self._of_file(chunk.path)
        if not note.written:
            return KEPT_HERE
        if chunk.kind == "fact":
            return self._of_fact(chunk, note)
        return note

    def _of_fact(self, chunk: Chunk, note: Visibility) -> Visibility:
        if chunk.private:
            return KEPT_HERE
        sessions = [self._of_file(self._source_file(source)) for source in chunk.sources]
        if any(not s.written for s in sessions):
            return KEPT_HERE  # learned from a private session: stays with it
        if note.shared or (sessions and all(s.shared for s in sessions)):
            return WITH_TEAM
        return OWNER_ONLY


def _head(path: Path, limit: int = 65536) -> str:
    """The start of a file, enough for its front-matter."""
    with path.open("rb") as handle:
        return handle.read(limit).decode("utf-8", "replace")
