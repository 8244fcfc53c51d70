"""Importers: ChatGPT and Claude data exports, and a generic JSON lines format, into sessions.

Owns reading exports (`chatgpt`, `claude`, `jsonl`: each yields conversations one at a time,
streamed, so memory stays bounded whatever the export's size), splitting a conversation's
message tree into branches (`branches`), and the one write path from a conversation to
sessions, idempotent and incremental (`writer`). `common` holds what they share: the
conversation model, reading an export file or .zip, the report and `ImportInputError`.

May import: core, files, sessions (as all of admin: also index and llm, unused here).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

from amos_vault.admin.importers import chatgpt, claude, jsonl
from amos_vault.admin.importers.common import (
    KINDS,
    NAME_OF_KIND,
    ImportInputError,
    ImportReport,
    Item,
    Problem,
)
from amos_vault.admin.importers.writer import ConversationWriter
from amos_vault.core.errors import LockTimeoutError
from amos_vault.sessions.manager import SessionManager

__all__ = ["KINDS", "NAME_OF_KIND", "ImportInputError", "ImportReport", "import_export"]

Reader = Callable[[Path, ImportReport, bool], Iterator[Item]]
READERS: dict[str, Reader] = {
    "chatgpt": chatgpt.read_conversations,
    "claude": claude.read_conversations,
    "jsonl": jsonl.read_conversations,
}
# How long an import waits for another import of the same vault to finish.
IMPORT_LOCK_SECONDS = 5.0


def import_export(
    sessions: SessionManager,
    path: Path | str,
    kind: str,
    *,
    dry_run: bool = False,
    since: dt.datetime | None = None,
    include_tools: bool = False,
    progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import the export at ``path`` (``kind``: chatgpt, claude or jsonl) into the vault's
    sessions; returns what was done (with ``dry_run``, what would be).

    ``since`` leaves out conversations with nothing newer; ``include_tools`` keeps tool
    messages; ``progress`` is called after each conversation. Raises `ImportInputError`
    when the file is not that kind of export (nothing written); a conversation that cannot
    be imported is one line of ``report.problems``, and the others are imported.
    """
    if kind not in READERS:
        raise ImportInputError(
            f"unknown kind of export {kind!r}", hint=f"use one of: {', '.join(KINDS)}"
        )
    source = Path(path).expanduser()
    report = ImportReport(kind=kind, path=str(source), dry_run=dry_run)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(sessions.vault.lock("import", timeout=IMPORT_LOCK_SECONDS))
        except LockTimeoutError:
            raise LockTimeoutError(
                "another import into this vault is running",
                hint="wait for it to finish, then run this one (it skips what that one wrote)",
            ) from None
        writer = ConversationWriter(sessions, report, dry_run=dry_run, since=since)
        for item in READERS[kind](source, report, include_tools):
            if isinstance(item, Problem):
                writer.add_problem(item)
            else:
                writer.write(item)
            if progress is not None:
                progress(report)
    return report
