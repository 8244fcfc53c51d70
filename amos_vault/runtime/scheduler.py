"""The daemon's job scheduler; the only module that runs apscheduler (3.x).

Each job of `amos_vault.runtime.jobs` runs on the schedule its settings give ("every 30m", "cron …",
"off"), one run at a time. A job that fails logs why and runs again at its next time. Runs
missed while the machine slept are coalesced: one run on wake, not one per missed slot. The
last run of each job is kept in `.amos/jobs.json`, so a restarted daemon does not run an
interval job again before its time (and runs an overdue one soon after start). The schedule
strings are read by `amos_vault.core.schedule`, which the settings also use to check them.

Stopping: the ``stop`` event (the daemon's own, set by SIGTERM) is the stop check every long
job looks at between its units of work, so `shutdown` waits seconds, not for a whole run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from amos_vault.core.errors import StorageError
from amos_vault.core.schedule import parse_schedule
from amos_vault.files.vault import atomic_write
from amos_vault.runtime.jobs import JOBS, Job, JobControl

if TYPE_CHECKING:
    from amos_vault.mirror import ActiveMirror

log = logging.getLogger("amos_vault.runtime.scheduler")
STATE_FILE = "jobs.json"


class JobScheduler:
    """Runs ``jobs`` for one vault in background threads, once started."""

    def __init__(
        self,
        mirror: ActiveMirror,
        jobs: Mapping[str, Job] = JOBS,
        *,
        startup_delay: float = 30.0,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``: once set, running jobs end at their next unit of work and none starts."""
        self.mirror = mirror
        self.stopping = stop or threading.Event()
        self.jobs = dict(jobs)
        self.startup_delay = startup_delay
        self.state_path = mirror.vault.amos_dir / STATE_FILE
        self._lock = threading.Lock()
        # The job running now, with its progress (for `status`).
        self.running: dict[str, dict[str, Any]] = {}
        self._scheduler: Any = None

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def start(self) -> None:
        """Start the scheduler (again calls do nothing)."""
        if self._scheduler is not None:
            return
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # we log each run ourselves
        scheduler = BackgroundScheduler(timezone=dt.UTC)
        settings = self.mirror.vault.settings
        now = dt.datetime.now(dt.UTC)
        last_runs = self._load()
        for name, job in self.jobs.items():
            try:
                kind, value = parse_schedule(job.schedule(settings))
            except ValueError as exc:  # one bad schedule never stops the other jobs
                log.error("job %s is not scheduled: its schedule %s", name, exc)
                continue
            if kind == "off":
                continue
            options: dict[str, Any] = {}
            if kind == "interval":
                trigger: Any = IntervalTrigger(seconds=value, timezone=dt.UTC)
                first = now + dt.timedelta(seconds=min(self.startup_delay, value))
                last = last_runs.get(name, {}).get("last_run")
                if last:
                    try:
                        due = dt.datetime.fromisoformat(last) + dt.timedelta(seconds=value)
                        first = max(first, due)
                    except ValueError:
                        pass
                options["next_run_time"] = first
            else:
                trigger = CronTrigger.from_crontab(" ".join(value), timezone=dt.UTC)
            scheduler.add_job(
                self.run,
                trigger,
                args=[name],
                id=name,
                name=job.help,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                **options,
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("jobs scheduled: %s", ", ".join(self.describe()) or "none")

    def run(self, name: str) -> str | None:
        """Run one job now (in the caller's thread); failures are logged, not raised."""
        job = self.jobs[name]
        if self.stopping.is_set():
            return None  # shutting down: the job runs at its next time, after a restart
        started = dt.datetime.now(dt.UTC)
        self.running[name] = {"started": started.isoformat(timespec="seconds")}
        try:
            control = JobControl(self.stopping.is_set, self._tracker(name))
            result, ok = job.run(self.mirror, control), True
            log.info("job %s: %s", name, result)
        except StorageError as exc:  # disk full, read-only...: one clear line, no traceback
            result, ok = f"failed: {exc}", False
            log.error("job %s failed: %s (%s); it runs again at its next time", name, exc, exc.hint)
        except Exception as exc:
            result, ok = f"failed: {exc}", False
            log.exception("job %s failed; it runs again at its next time", name)
        finally:
            self.running.pop(name, None)
        try:
            self.record(name, started, result, ok)
        except StorageError as exc:
            log.error("job %s: its result could not be kept: %s", name, exc)
        return result if ok else None

    def _tracker(self, name: str) -> Callable[[int, int], None]:
        """A progress callback that keeps the job's units done and to do, and an estimate
        of the time left (from the rate so far), for `status`."""
        began = time.monotonic()

        def track(done: int, total: int) -> None:
            elapsed = time.monotonic() - began
            left = (total - done) * elapsed / done if done else None
            self.running[name] = {
                **self.running.get(name, {}),
                "done": done,
                "total": total,
                "eta_seconds": round(left) if left is not None else None,
            }

        return track

    def record(self, name: str, started: dt.datetime, result: str, ok: bool) -> None:
        """Keep a job's last run in `.amos/jobs.json` (also for runs made from the CLI)."""
        with self._lock:
            state = self._load()
            state[name] = {
                "last_run": started.isoformat(timespec="seconds"),
                "ok": ok,
                "result": result,
            }
            atomic_write(self.state_path, json.dumps(state, indent=1).encode())

    def describe(self) -> list[str]:
        if self._scheduler is None:
            return []
        return [
            f"{job.id} (next {job.next_run_time:%Y-%m-%d %H:%M:%S}Z)"
            for job in self._scheduler.get_jobs()
            if job.next_run_time is not None
        ]

    def status(self) -> dict[str, Any]:
        """Each job's schedule, next run and last run, for `amosvault status`."""
        settings = self.mirror.vault.settings
        state = self._load()
        next_runs = {}
        if self._scheduler is not None:
            next_runs = {
                job.id: job.next_run_time.isoformat(timespec="seconds")
                for job in self._scheduler.get_jobs()
                if job.next_run_time is not None
            }
        return {
            name: {
                "schedule": job.schedule(settings),
                "next_run": next_runs.get(name),
                **state.get(name, {}),
                **({"running": dict(self.running[name])} if name in self.running else {}),
            }
            for name, job in self.jobs.items()
        }

    def shutdown(self) -> None:
        """Stop scheduling; a job in hand is asked to stop and waited for (it stops at its next
        unit of work, keeping what it finished; its writes are atomic anyway)."""
        self.stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
