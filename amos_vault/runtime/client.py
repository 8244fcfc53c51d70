"""`VaultClient`: the daemon when one serves the vault, else the same work in-process.

The CLI and the MCP server both go through it. A daemon has the model warm and is the
index's one writer, so searches, contexts and re-indexing go to it when it answers on the
vault's socket; otherwise the client opens the vault (`ActiveMirror`) on first need and does
the work here. Importing this module stays cheap: a command that only asks the daemon never
loads the index, the model or the vault's files.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amos_vault.index.query import MemoryQuery, query_to_json
from amos_vault.runtime import ipc

if TYPE_CHECKING:
    from amos_vault.index.sync import Progress
    from amos_vault.mirror import ActiveMirror

DAEMON = "daemon"
IN_PROCESS = "in-process"


class VaultClient:
    """One vault as an application uses it: asks its daemon, or does the work in-process.

    Every answer says who served it (``served_by``: "daemon" or "in-process"). Safe to call
    from several threads: the in-process index and model are used by one caller at a time.
    """

    def __init__(
        self, root: Path, mirror: ActiveMirror | None = None, *, use_daemon: bool = True
    ) -> None:
        """``root`` is the vault's folder; ``mirror`` the vault already opened, if it is
        (otherwise it is opened on first in-process use); ``use_daemon=False``: never ask
        the daemon (it was just asked and did not answer)."""
        self.root = root
        self._mirror = mirror
        self._use_daemon = use_daemon
        self._engine_lock = threading.Lock()  # in-process index and model: one user at a time
        # A write of ours the daemon's index may not have yet (its watcher debounces).
        self._unsynced = False

    @classmethod
    def of(cls, mirror: ActiveMirror) -> VaultClient:
        """A client of the vault ``mirror`` has open."""
        return cls(mirror.vault.root, mirror)

    @property
    def mirror(self) -> ActiveMirror:
        """The vault, opened in this process (on first use)."""
        if self._mirror is None:
            from amos_vault.mirror import ActiveMirror

            self._mirror = ActiveMirror(self.root)
        return self._mirror

    # -- the daemon ------------------------------------------------------------------------
    def ask_daemon(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The daemon's answer to ``message``, or None when no daemon serves this vault.

        After `wrote`, the daemon re-indexes first, so our own writes are searchable at
        once, not after its watcher's debounce.
        """
        amos = self.root / ".amos"
        if not self._use_daemon:
            return None
        try:
            if self._unsynced:
                # Cleared first: a write made during the re-index sets it again.
                self._unsynced = False
                try:
                    ipc.request(amos, {"op": "reindex"}, timeout=ipc.ANSWER_TIMEOUT)
                except BaseException:
                    self._unsynced = True
                    raise
            return ipc.request(amos, message, timeout=ipc.ANSWER_TIMEOUT)
        except ipc.DaemonUnavailable:
            return None

    def wrote(self) -> None:
        """Say that this process changed the vault's files (see `ask_daemon`)."""
        self._unsynced = True

    def daemon_status(self) -> dict[str, Any] | None:
        """What the daemon reports of itself, or None when no daemon serves this vault."""
        answer = self.ask_daemon({"op": "status"})
        return answer["status"] if answer is not None else None

    # -- reading ---------------------------------------------------------------------------
    def search(
        self,
        query: MemoryQuery,
        progress: Progress | None = None,
        as_of: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Hybrid search, in JSON form: ``mode``, ``notice``, ``hits``, ``served_by``.

        In-process, the index is brought up to date first (``progress`` sees it), and the
        answer also says how many changed files were indexed (``indexed``) or that another
        process holds the index, which is then searched as it is (``index_busy``).

        With ``as_of``, the vault as it stood then is searched here, in-process (the daemon
        keeps today's index): see `ActiveMirror.search`; the notice says which commit.
        """
        if as_of is not None:
            with self._engine_lock:
                past = self.mirror.search(query, as_of=as_of)
            return {
                "mode": past.mode,
                "notice": past.notice,
                "hits": [hit.to_dict() for hit in past.hits],
                "served_by": IN_PROCESS,
                "indexed": 0,
                "index_busy": False,
            }
        answer = self.ask_daemon({"op": "search", "query": query_to_json(query)})
        if answer is not None:
            return {
                "mode": answer.get("mode"),
                "notice": answer.get("notice"),
                "hits": answer["hits"],
                "served_by": DAEMON,
            }
        with self._engine_lock:
            report = self.mirror.refresh_index(progress)
            result = self.mirror.engine.search(query)
        return {
            "mode": result.mode,
            "notice": result.notice,
            "hits": [hit.to_dict() for hit in result.hits],
            "served_by": IN_PROCESS,
            "indexed": report.files if report is not None else 0,
            "index_busy": report is None,
        }

    def context(self, question: str, session_id: str | None = None) -> dict[str, Any]:
        """The context a model would get for ``question`` (within the session
        ``session_id``), in JSON form, with ``served_by``; no model is used."""
        answer = self.ask_daemon({"op": "context", "question": question, "session": session_id})
        if answer is not None:
            return {**answer["context"], "served_by": DAEMON}
        with self._engine_lock:
            mirror = self.mirror
            mirror.refresh_index()
            session = mirror.load_session(session_id) if session_id else None
            built = mirror.orchestrator(use_model=False).build_context(question, session)
        return {**built.to_dict(), "served_by": IN_PROCESS}

    # -- keeping the index up to date ------------------------------------------------------
    def reindex(
        self, rebuild: bool = False, progress: Progress | None = None, wait: float | None = None
    ) -> dict[str, Any]:
        """Bring the index up to date (``rebuild``: from scratch): ``report`` (a `SyncReport`
        as a dict), ``status`` (the engine's) and ``served_by``. In-process, another writer
        is waited for ``wait`` seconds (None: the configured lock timeout), then
        `LockTimeoutError` is raised."""
        answer = self.ask_daemon({"op": "reindex", "rebuild": rebuild})
        if answer is not None:
            return {"report": answer["report"], "status": answer["status"], "served_by": DAEMON}
        with self._engine_lock:
            report = self.mirror.index(progress, rebuild=rebuild, wait=wait)
            status = self.mirror.engine.status()
        return {"report": report.__dict__, "status": status, "served_by": IN_PROCESS}

    def refresh_index(self, wait: float | None = 1.0) -> str:
        """After a change to the files: bring the index up to date now, by the daemon when
        one runs; in-process, an index another process holds for more than ``wait`` seconds
        is left as it is (the next search brings it up to date). Returns who did it."""
        self.wrote()  # so the daemon re-indexes before it answers the ping
        if self.ask_daemon({"op": "ping"}) is not None:
            return DAEMON
        with self._engine_lock:
            self.mirror.refresh_index(wait=wait)
        return IN_PROCESS
