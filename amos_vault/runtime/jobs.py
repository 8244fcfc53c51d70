"""The scheduled jobs, as plain functions of an `ActiveMirror`: the daemon's scheduler runs them
on their schedule, `amosvault jobs run NAME` runs one now. Each returns one line saying what it
did; a job that has nothing to do says so.

Every job takes a `JobControl`: a long one (consolidation, retention) looks at its stop check
between its units of work (a session, a batch), so the daemon's SIGTERM ends it within seconds
and what it finished is kept, and reports its progress there (`amosvault status` shows it).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amos_vault.core.config import Settings
from amos_vault.core.errors import AmosError
from amos_vault.files.sessionfile import now_utc

if TYPE_CHECKING:
    from amos_vault.mirror import ActiveMirror

_LEFTOVER = re.compile(r"^\.[^/]+\.[0-9a-f]{8}\.tmp$")
StopCheck = Callable[[], bool]


def _never() -> bool:
    return False


def _untracked(done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class JobControl:
    """What a running job looks at between its units of work: whether to stop (keeping what
    it finished), and where to report its progress (units done of units to do)."""

    should_stop: StopCheck = _never
    progress: Callable[[int, int], None] = _untracked


@dataclass(frozen=True)
class Job:
    name: str
    help: str
    work: Callable[[ActiveMirror, JobControl], str]
    schedule: Callable[[Settings], str]

    def run(self, mirror: ActiveMirror, control: JobControl | None = None) -> str:
        """Run the job (to the end, unless ``control`` asks it to stop); one line of result."""
        return self.work(mirror, control or JobControl())


def consolidate(mirror: ActiveMirror, control: JobControl) -> str:
    """Summarize and mine the sessions that are due, a batch at a time (each batch written
    when done); a stop request leaves the rest for the next run."""
    plan = mirror.memory.consolidate(should_stop=control.should_stop, progress=control.progress)
    if not plan.sessions and not plan.tombstoned and not plan.left:
        return "no session due"
    return plan.summary() + "".join(f"; {note}" for note in plan.notes)


def commit(mirror: ActiveMirror, control: JobControl) -> str:
    """Commit the vault's settled changes when it is a git repository."""
    from amos_vault.admin.gitsync import commit_vault

    report = commit_vault(mirror.vault.root)
    if report is None:
        return "the vault is not a git repository (`amosvault init --git` makes it one)"
    waiting = f"; {len(report.waiting)} file(s) still being written wait" if report.waiting else ""
    if not report.commit:
        return "nothing to commit" + waiting
    return f"committed {report.commit}: {report.message.splitlines()[0]}" + waiting


def retention(mirror: ActiveMirror, control: JobControl) -> str:
    """Archive long-completed sessions (when configured); delete leftover temp files."""
    settings = mirror.vault.settings.retention
    archived = 0
    failed = 0
    if settings.archive_completed_after_days > 0:
        cutoff = now_utc() - dt.timedelta(days=settings.archive_completed_after_days)
        for session in mirror.list_sessions(status="completed"):
            if control.should_stop():
                break  # the rest are archived next time
            # The last message dates it: a summary link written later does not.
            stamps = [m.timestamp for m in session.messages if m.timestamp]
            last = max(stamps) if stamps else session.updated
            if last is not None and last < cutoff:
                try:
                    session.archive()
                    archived += 1
                except AmosError:
                    failed += 1  # e.g. a file being edited: it is archived next time
    dropped = 0
    oldest = time.time() - settings.drop_leftovers_after_hours * 3600
    vault = mirror.vault
    for folder in (vault.sessions_dir, vault.memory_dir, vault.amos_dir):
        if not folder.is_dir():
            continue
        for path in folder.rglob(".*.tmp"):
            if _LEFTOVER.match(path.name) and path.is_file() and path.stat().st_mtime < oldest:
                path.unlink(missing_ok=True)
                dropped += 1
    again = f" ({failed} could not be archived now; next time)" if failed else ""
    return f"archived {archived} session(s), removed {dropped} leftover temp file(s){again}"


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "consolidate",
            "summaries and facts from settled sessions",
            consolidate,
            lambda s: s.consolidation.schedule,
        ),
        Job("commit", "git commit of the vault's changes", commit, lambda s: s.git.commit_schedule),
        Job("retention", "archiving and clean-up", retention, lambda s: s.retention.schedule),
    )
}
