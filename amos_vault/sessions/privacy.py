"""Private sessions: `private: true` in a session's front-matter keeps what it says (its
messages, its summary, the facts learned from it) away from any model that is not on this
machine. Local models (a loopback host) see everything, as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from amos_vault.files.memorynote import SUMMARIES_FOLDER, FactNote
from amos_vault.files.vault import Vault
from amos_vault.sessions.session import Session


def is_private(session: Session) -> bool:
    return session.front_matter.get("private") is True


def is_loopback(host: str | None) -> bool:
    """Whether a model server address is this machine (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    name = urlsplit(host if "://" in host else f"http://{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class PrivateRefs:
    """What must not reach a remote model: session ids, files, fact ids."""

    sessions: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    facts: set[str] = field(default_factory=set)

    def covers(self, session_id: str | None, path: str | None, item_id: str | None) -> bool:
        return (
            (session_id is not None and session_id in self.sessions)
            or (path is not None and path in self.paths)
            or (item_id is not None and item_id in self.facts)
        )


def private_refs(vault: Vault, sessions: Iterable[Session]) -> PrivateRefs:
    refs = PrivateRefs()
    for session in sessions:
        if is_private(session) and session.path is not None:
            refs.sessions.add(session.id)
            rel = vault.relative(session.path)
            refs.paths.add(rel)
            stem = rel.rsplit("/", 1)[-1]
            refs.paths.add(f"{vault.settings.memory.folder}/{SUMMARIES_FOLDER}/{stem}")
    folder = vault.memory_dir
    for path in vault.iter_markdown(folder) if folder.is_dir() else []:
        try:
            note = FactNote.parse(vault.relative(path), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        for fact in note.facts.values():
            if fact.id and dict(fact.extra).get("private") == "true":
                refs.facts.add(fact.id)
    return refs
