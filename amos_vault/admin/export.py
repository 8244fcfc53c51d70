"""Export of a whole vault: every session, every fact and the owner's public identity.

Two forms, both documented in the README:

* ``json``: one object ``{"format": "amos-vault-export", "version": 1, "exported_at",
  "identity", "sessions": [...], "facts": [...], "notes": [...], "unreadable": [...]}``; each
  session is its `Session.export("json")` form (metadata, front-matter, messages), each fact
  its fields with source links, each other memory note its path and text.
* ``zip``: the vault's own files as they are (sessions/, memory/, identity.md), which open in
  any editor or in Obsidian, plus ``export.json`` (the JSON form above) at the top.

Never exported: derived state under `.amos/`, and the private key (it is not in the vault).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any, Protocol

from amos_vault.files.identity import Identity
from amos_vault.files.memorynote import Fact
from amos_vault.files.vault import FILE_MODE, Vault, atomic_file
from amos_vault.sessions.manager import SessionManager


class FactSource(Protocol):
    """Where the facts come from (the memory manager; admin does not import memory)."""

    def facts(self, *, include_closed: bool = ...) -> list[Fact]: ...


class ExportSource(Protocol):
    """What an export reads: an `ActiveMirror` is one."""

    @property
    def vault(self) -> Vault: ...
    @property
    def sessions(self) -> SessionManager: ...
    @property
    def memory(self) -> FactSource: ...
    @property
    def identity(self) -> Identity | None: ...


FORMAT_NAME = "amos-vault-export"
FORMAT_VERSION = 1


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def export_data(mirror: ExportSource) -> dict[str, Any]:
    """The whole vault as one JSON-ready mapping."""
    sessions, problems = mirror.sessions.scan()
    facts = mirror.memory.facts(include_closed=True)
    fact_notes = {f.note for f in facts}
    notes = []
    unreadable = [
        {"path": mirror.vault.relative(p.path), "problem": str(p.error)} for p in problems
    ]
    for path in sorted(mirror.vault.iter_markdown(mirror.vault.memory_dir)):
        rel = mirror.vault.relative(path)
        if rel in fact_notes:
            continue
        try:
            notes.append({"path": rel, "text": path.read_text(encoding="utf-8")})
        except (OSError, UnicodeDecodeError) as exc:
            unreadable.append({"path": rel, "problem": str(exc)})
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "vault": str(mirror.vault.root),
        "identity": mirror.identity.to_dict() if mirror.identity else None,
        "sessions": [json.loads(s.export("json")) for s in sessions],
        "facts": [
            {
                "id": f.id,
                "text": f.text,
                "type": f.type,
                "confidence": f.confidence,
                "topic": f.topic,
                "sources": list(f.sources),
                "first_seen": _date(f.first_seen),
                "last_confirmed": _date(f.last_confirmed),
                "valid_from": _date(f.valid_from),
                "valid_to": _date(f.valid_to),
                "superseded_by": f.superseded_by,
                "pinned": f.pinned,
                "note": f.note,
                "line": f.line,
            }
            for f in facts
        ],
        "notes": notes,
        "unreadable": unreadable,
    }


def write_zip(mirror: ExportSource, target: Path) -> int:
    """Write the vault's files and ``export.json`` to ``target``; returns the file count."""
    vault = mirror.vault
    data = export_data(mirror)
    folders = (vault.sessions_dir, vault.memory_dir)
    files = [path for folder in folders for path in vault.iter_markdown(folder)]
    if vault.identity_path.is_file():
        files.append(vault.identity_path)
    # A crash or a full disk leaves no half-written archive, under the name or beside it.
    with (
        atomic_file(target, mode=FILE_MODE) as raw,
        zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.writestr("export.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        for path in sorted(files):
            archive.write(path, vault.relative(path))
    return len(files) + 1
