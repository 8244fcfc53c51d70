"""The daemon: keeps one vault's index in sync with its files, live, and answers queries warm.

Start-up: take the vault's daemon lock (one daemon per vault; a lock left by a dead process
is free again, since the kernel drops it with the process), start watching, reconcile through
the one sync path, then serve. The watcher only enqueues paths; the main loop debounces them
and applies the changes; one file's failure is logged and counted, never stops the loop.
SIGTERM and SIGINT finish the change in hand, commit, release the lock and exit 0; the stop
event they set is also the one the scheduled jobs look at between their units of work, so a
long consolidation ends within seconds too (its finished batches kept).

Storage faults: a sync the file system refuses (disk full, read-only, permission denied) is
logged in one line with what to do, and the same changes are retried, after 0.5 s, 1 s, 2 s,
then every 5 s, until they go through; the daemon keeps answering meanwhile. A vault folder
deleted or moved away is not waited for: the daemon says so and exits with status 1, never
re-creating the folder; once the vault is back, the service manager (Restart=on-failure) or
the user starts it again, and its reconcile catches up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import socketserver
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amos_vault.core.errors import (
    AmosError,
    LockTimeoutError,
    StorageError,
    storage_errno,
    storage_error,
)
from amos_vault.files.vault import FileLock, Vault, atomic_write
from amos_vault.index.query import parse_query
from amos_vault.index.search import SearchEngine
from amos_vault.index.sync import SyncReport
from amos_vault.runtime import ipc
from amos_vault.runtime.watcher import VaultWatcher

if TYPE_CHECKING:
    from amos_vault.answer.orchestrator import Orchestrator
    from amos_vault.mirror import ActiveMirror

log = logging.getLogger("amos_vault.runtime.daemon")
RETRY_MAX_SECONDS = 5.0  # a failing sync (disk full, read-only...) is retried at least this often


class DaemonRunningError(AmosError):
    """Another daemon already serves this vault."""


class _DaemonLock:
    """`.amos/daemon.lock`, held (flock) for the daemon's life; `.amos/daemon.pid` says who."""

    def __init__(self, vault: Vault) -> None:
        self.lock = FileLock(vault.amos_dir / "daemon.lock")
        self.pid_path = vault.amos_dir / "daemon.pid"

    def acquire(self) -> None:
        try:
            self.lock.acquire(timeout=0)
        except LockTimeoutError:
            pid = self.pid_path.read_text().strip() if self.pid_path.exists() else "?"
            raise DaemonRunningError(
                f"a daemon (pid {pid}) already serves this vault",
                hint="use it (`amosvault status`), or stop it first",
            ) from None
        try:
            atomic_write(self.pid_path, f"{os.getpid()}\n".encode())
        except BaseException:
            self.lock.release()  # a pid file that cannot be written must not keep the vault locked
            raise

    def release(self) -> None:
        if self.lock.held:
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()
            self.lock.release()


def _same_user(connection: Any) -> bool:
    """Whether the process at the other end of the socket runs as this user (SO_PEERCRED)."""
    import socket
    import struct

    try:
        creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return True  # no peer credentials here: the 0600 socket mode is the guard
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


class Daemon:
    """One vault's daemon. `run` blocks until stopped."""

    def __init__(self, mirror: ActiveMirror, *, quiet: float = 0.05, limit: float = 0.5) -> None:
        """``mirror`` is the vault, opened: the daemon serves its search engine (opened in
        `run`, so its model loads once) and builds contexts with its wiring."""
        self.mirror = mirror
        self.vault = mirror.vault
        self.quiet, self.limit = quiet, limit
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.engine: SearchEngine | None = None
        self.watcher: VaultWatcher | None = None
        self.started = dt.datetime.now(dt.UTC)
        self.state: dict[str, Any] = {
            "syncs": 0,
            "files_indexed": 0,
            "failures": 0,
            "last_sync": None,
            "queries": 0,
            "phase": "starting",
            "last_error": None,
        }
        self._failing = 0  # failed syncs in a row: the retry delay grows with it
        self._sync_began = time.monotonic()
        self.errors: dict[str, str] = {}
        self._context_builder: Orchestrator | None = None
        # Called once the index is reconciled (the job scheduler starts here).
        self.on_ready: list[Callable[[], None]] = []
        # Called when the daemon stops, before its lock is released (the scheduler's shutdown).
        self.on_stop: list[Callable[[], None]] = []
        # More for `status` (the scheduler's jobs), each called when status is asked.
        self.extra_status: dict[str, Callable[[], Any]] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def request_stop(self, *_args: object) -> None:
        """Ask the loop to finish the change in hand and exit (safe in a signal handler: it
        only sets an event, which the loop looks at within a second)."""
        self.stop.set()

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or `request_stop`); returns the exit status."""
        lock = _DaemonLock(self.vault)
        lock.acquire()
        server = None
        code = 0
        try:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self.request_stop)
                signal.signal(signal.SIGINT, self.request_stop)
            self.engine = self.mirror.engine
            for notice in self.engine.notices:
                log.warning("%s", notice)
            self.watcher = VaultWatcher(self.vault.root)
            self.watcher.start()  # before the reconcile: edits made during it are queued
            server = self._serve()
            log.info("serving %s (pid %d)", self.vault.root, os.getpid())
            self.state["phase"] = "reconciling"
            self._sync(None)
            self.state["phase"] = "watching"
            self.ready.set()
            for start in self.on_ready:
                self._run_hook(start)
            while not self.stop.is_set():
                paths = self.watcher.drain(self.quiet, self.limit, self.stop, self._vault_gone)
                if self._vault_gone():
                    log.error(
                        "the vault folder %s was deleted or moved; the daemon stops. Restore "
                        "it (or run `amosvault init` there), then start the daemon again",
                        self.vault.root,
                    )
                    code = 1
                    break
                if paths and not self.stop.is_set():
                    self._sync(None if "" in paths else paths)
        finally:
            self.state["phase"] = "stopping"
            if self.watcher is not None:
                self.watcher.stop()
            if server is not None:
                server.shutdown()
                server.server_close()
                with contextlib.suppress(FileNotFoundError):
                    ipc.socket_path(self.vault.amos_dir).unlink()
            for stop in self.on_stop:
                self._run_hook(stop)
            lock.release()
            log.info("stopped")
        return code

    def _vault_gone(self) -> bool:
        """Whether the vault folder (or its `.amos/`) was deleted or moved away."""
        return not self.vault.amos_dir.is_dir()

    def _run_hook(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            log.exception("a start-up or stop hook failed; the daemon goes on without it")

    def _sync(self, paths: list[str] | None) -> None:
        assert self.engine is not None
        started = self._sync_began = time.monotonic()
        try:
            report = self.engine.sync(
                progress=self._log_progress if paths is None else None,
                wait=5.0,
                only=paths,
                should_stop=self.stop.is_set,
            )
        except LockTimeoutError:
            self.state.pop("indexing", None)
            log.warning("the index is busy (another writer); retrying those changes")
            if paths and self.watcher is not None:
                for path in paths:
                    self.watcher.queue.put(path)
            return
        except Exception as exc:  # logged and counted; the loop goes on
            self.state.pop("indexing", None)
            self.state["failures"] += 1
            self._failing += 1
            delay = min(RETRY_MAX_SECONDS, 0.5 * 2.0 ** (self._failing - 1))
            if self._vault_gone():
                return  # the loop says so and stops
            if storage_errno(exc) is not None:  # disk full, read-only...: say it in one line
                error = exc if isinstance(exc, StorageError) else storage_error(exc)
                self.state["last_error"] = str(error)
                log.error("sync failed: %s (%s); retrying in %.1f s", error, error.hint, delay)
            else:
                self.state["last_error"] = f"{type(exc).__name__}: {exc}"
                log.exception("sync failed (will retry those changes): %s", exc)
            if self.watcher is not None:  # "" asks the loop for a full reconcile
                for path in paths or [""]:
                    self.watcher.queue.put(path)
            self.stop.wait(delay)  # do not spin; a stop request still ends the wait at once
            return
        if self._failing:
            log.info("sync works again after %d failed attempt(s)", self._failing)
            self._failing = 0
            self.state["last_error"] = None
        self._record(report, paths, time.monotonic() - started)

    def _record(self, report: SyncReport, paths: list[str] | None, seconds: float) -> None:
        self.state.pop("indexing", None)
        self.state["syncs"] += 1
        self.state["files_indexed"] += report.files
        self.state["last_sync"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for path in paths or []:
            self.errors.pop(path, None)
        for path, error in report.errors:
            self.errors[path] = error
            log.warning("%s: %s", path, error)
        if report.files or report.deleted:
            log.info(
                "indexed %d file(s), removed %d, %d chunks, %d embedded, in %.2f s",
                report.files,
                report.deleted,
                report.chunks,
                report.embedded,
                seconds,
            )

    def _log_progress(self, done: int, total: int, report: SyncReport) -> None:
        elapsed = time.monotonic() - self._sync_began
        left = (total - done) * elapsed / done if done else None
        self.state["indexing"] = {
            "done": done,
            "total": total,
            "chunks": report.chunks,
            "eta_seconds": round(left) if left is not None else None,
        }
        if done == total or done % 640 == 0:
            log.info(
                "reconcile: %d/%d files, %d chunks%s",
                done,
                total,
                report.chunks,
                f", about {left:.0f} s left" if left is not None and done < total else "",
            )

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What `amosvault status` prints."""
        engine = self.engine
        info: dict[str, Any] = {
            "running": True,
            "pid": os.getpid(),
            "vault": str(self.vault.root),
            "started": self.started.isoformat(timespec="seconds"),
            "queue": self.watcher.pending() if self.watcher else 0,
            "errors": dict(self.errors),
            **self.state,
        }
        for key, report in self.extra_status.items():
            try:
                info[key] = report()
            except Exception as exc:  # a status must answer even when a part cannot
                info[key] = {"error": str(exc)}
        if engine is not None:
            with engine.guard:
                counts = engine.status()  # either engine: embedded or postgres
                info.update(
                    files=counts["files"],
                    chunks=counts["chunks"],
                    vectors=counts["vectors"],
                    mode=engine.mode,
                    model=engine.embedder.model_id if engine.embedder else None,
                    notices=list(engine.notices),
                )
        return info

    # -- the local API ---------------------------------------------------------------------
    def _serve(self) -> socketserver.ThreadingUnixStreamServer:
        path = ipc.socket_path(self.vault.amos_dir)
        if path.exists():  # left by a daemon that died: we hold the lock, so it is stale
            path.unlink()
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def handle(self) -> None:
                if not _same_user(self.connection):
                    log.warning("refused a connection from another user")
                    self.wfile.write(ipc.encode({"ok": False, "error": "not your vault"}))
                    return
                try:
                    message = ipc.read_message(self.rfile)
                except (ValueError, UnicodeDecodeError) as exc:
                    self.wfile.write(ipc.encode({"ok": False, "error": f"bad request: {exc}"}))
                    return
                except OSError:
                    return
                if message is not None:
                    self.wfile.write(ipc.encode(daemon.answer(message)))

        old_umask = os.umask(0o177)  # the socket is created 0600: owner only
        try:
            with ipc.unix_address(path) as address:
                server = socketserver.ThreadingUnixStreamServer(address, Handler)
        finally:
            os.umask(old_umask)
        server.daemon_threads = True
        os.chmod(path, 0o600)
        mode = path.stat().st_mode & 0o777
        if mode != 0o600 or path.stat().st_uid != os.getuid():
            server.server_close()
            raise AmosError(
                f"the daemon socket {path} is mode {mode:o}, not 600 (owner only)",
                hint="the file system of the vault may not keep Unix permissions; "
                "put the vault on one that does",
                path=path,
            )
        threading.Thread(target=server.serve_forever, name="amos-socket", daemon=True).start()
        return server

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request; never raises."""
        op = message.get("op")
        try:
            if op == "ping":
                return {"ok": True, "pid": os.getpid()}
            if op == "status":
                return {"ok": True, "status": self.status()}
            if op == "search":
                return self._answer_search(message)
            if op == "reindex":
                return self._answer_reindex(message)
            if op == "context":
                return self._answer_context(message)
            return {
                "ok": False,
                "error": f"unknown op {op!r}",
                "hint": "ops: ping, status, search, context, reindex",
            }
        except AmosError as exc:
            return {"ok": False, "error": exc.message, "hint": exc.hint}
        except Exception as exc:
            log.exception("request %r failed", op)
            return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}

    def _ready_engine(self) -> SearchEngine:
        assert self.engine is not None  # made before the socket opens
        return self.engine

    def _answer_search(self, message: dict[str, Any]) -> dict[str, Any]:
        query = parse_query(message.get("query"))
        result = self._ready_engine().search(query)
        if self.state["phase"] == "reconciling":
            note = "the daemon is still indexing changes made while it was down"
            result.notice = f"{result.notice}; {note}" if result.notice else note
        self.state["queries"] += 1
        return {
            "ok": True,
            "mode": result.mode,
            "notice": result.notice,
            "hits": [hit.to_dict() for hit in result.hits],
        }

    def _answer_context(self, message: dict[str, Any]) -> dict[str, Any]:
        question, session_ref = message.get("question"), message.get("session")
        if not isinstance(question, str) or not question.strip():
            raise AmosError("bad request: 'question' must be a non-empty string")
        if session_ref is not None and not isinstance(session_ref, str):
            raise AmosError("bad request: 'session' must be a session id")
        orchestrator = self._orchestrator()
        session = orchestrator.sessions.resolve(session_ref) if session_ref else None
        return {"ok": True, "context": orchestrator.build_context(question, session).to_dict()}

    def _orchestrator(self) -> Orchestrator:
        if self._context_builder is None:
            # The basic engine and no model: the daemon's answers are contexts, not replies.
            self._context_builder = self.mirror.orchestrator(engine="basic", use_model=False)
        return self._context_builder

    def _answer_reindex(self, message: dict[str, Any]) -> dict[str, Any]:
        engine = self._ready_engine()
        report = engine.sync(rebuild=bool(message.get("rebuild")), wait=60.0)
        self._record(report, None, report.seconds)
        return {"ok": True, "report": report.__dict__, "status": engine.status()}
