"""Watch the vault folder: the event handler only enqueues paths; `drain` debounces them.

Only this module knows watchdog. Editors save in many ways (write in place, write a temp file
and rename it over the original, vim's backup-and-swap dance); every one of them ends with an
event naming the real file, and noise (temp, swap and backup files, hidden folders, `.amos/`)
is dropped here, before anything is queued.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amos_vault.files.vault import is_noise

_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})


class VaultWatcher:
    """Queues the vault-relative paths that changed; a folder's path ends with ``/``."""

    def __init__(self, root: Path) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self.root = root
        self.queue: queue.Queue[str | None] = queue.Queue()
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in _IGNORED_EVENTS:
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a file inside changed: that file's own event says which
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    if raw:
                        watcher._enqueue(os.fsdecode(raw), bool(event.is_directory))

        self._observer = Observer()
        self._observer.schedule(Handler(), str(root), recursive=True)

    def _enqueue(self, absolute: str, is_dir: bool) -> None:
        try:
            rel = Path(absolute).relative_to(self.root).as_posix()
        except ValueError:
            return
        if rel != "." and not is_noise(rel):
            self.queue.put(rel + "/" if is_dir else rel)

    def start(self) -> None:
        """Start watching (events from now on are queued)."""
        self._observer.start()

    def stop(self) -> None:
        """Stop watching and wake any `drain` waiting."""
        self._observer.stop()
        self.queue.put(None)
        if self._observer.is_alive():
            self._observer.join(timeout=5)

    def drain(
        self,
        quiet: float,
        limit: float,
        stop: threading.Event,
        wake: Callable[[], bool] | None = None,
    ) -> list[str]:
        """Wait for changes, then collect them until ``quiet`` seconds pass with none new, or
        ``limit`` seconds since the first. While nothing happens it sleeps, waking once a
        second to see whether ``stop`` was set (a signal handler only sets that event) or
        ``wake()`` is true (then it returns nothing)."""
        while True:
            if stop.is_set() or (wake is not None and wake()):
                return []
            try:
                first = self.queue.get(timeout=1.0)
                break
            except queue.Empty:
                continue
        if first is None or stop.is_set():
            return []
        paths = {first: None}
        deadline = time.monotonic() + limit
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self.queue.get(timeout=min(quiet, remaining))
            except queue.Empty:
                break
            if item is None:
                break
            paths[item] = None
        return list(paths)

    def pending(self) -> int:
        """Paths waiting in the queue."""
        return self.queue.qsize()
