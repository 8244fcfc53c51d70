"""The scheduled jobs called directly, git commits in a temporary repository, retention, and
the real apscheduler scheduler firing a short interval job."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from amos_vault.admin.gitsync import GitError, commit_vault, init_repository
from amos_vault.core.config import Settings
from amos_vault.core.errors import ConfigError
from amos_vault.core.schedule import parse_schedule
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime.jobs import JOBS, Job
from amos_vault.runtime.scheduler import JobScheduler
from tests.conftest import RunCli, wait_for


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _settle(root: Path) -> None:
    """Make every file of the vault look written a minute ago (settled)."""
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            _age(path, 60)


def test_schedules_parse_and_bad_ones_are_refused(vault_root: Path) -> None:
    assert parse_schedule("every 30m") == ("interval", 1800.0)
    assert parse_schedule("every 1.5h") == ("interval", 5400.0)
    assert parse_schedule("cron 0 3 * * *") == ("cron", ["0", "3", "*", "*", "*"])
    assert parse_schedule("off") == ("off", None)
    (vault_root / ".amos" / "config.toml").write_text('[git]\ncommit_schedule = "hourly"\n')
    with pytest.raises(ConfigError, match=r"git\.commit_schedule"):
        ActiveMirror(vault_root)


def test_init_git_and_the_commit_job(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli
) -> None:
    made = run_cli("init", str(vault_root), "--git")
    assert made.returncode == 0 and "made it a git repository" in made.stdout
    assert ".amos/*" in (vault_root / ".gitignore").read_text()
    session = mirror.create_session("Versioned")
    session.add_message("user", "My favorite editor is Helix.")
    session.complete()
    mirror.memory.consolidate()
    (vault_root / "sessions" / ".half.md.0123abcd.tmp").write_text("half a write")
    _settle(vault_root)
    result = JOBS["commit"].run(mirror)
    assert result.startswith("committed "), result
    files = _git(vault_root, "ls-files").split()
    assert not [f for f in files if f.startswith(".amos/") and f != ".amos/config.toml"]
    assert not [f for f in files if f.endswith(".tmp")]
    assert any(f.startswith("memory/summaries/") for f in files)
    message = _git(vault_root, "log", "-1", "--format=%B")
    assert message.startswith("amos-vault: 1 session(s), facts +1 -0")
    assert "fact +f-" in message and "session: " in message
    assert "Helix" not in message  # ids only: a commit message outlives a forgotten fact
    assert ".amos/config.toml" in files  # the settings are yours, and versioned

    # A file written a moment ago may still be in an editor's hands: it waits.
    session.path.write_text(session.path.read_text() + "\nedited\n")  # type: ignore[union-attr]
    waiting = commit_vault(vault_root, settle=30)
    assert waiting is not None and not waiting.commit and waiting.waiting
    _age(session.path, 60)  # type: ignore[arg-type]
    assert JOBS["commit"].run(mirror).startswith("committed ")
    assert "nothing to commit" in JOBS["commit"].run(mirror)


def test_commit_job_says_when_not_a_repository_or_git_missing(
    mirror: ActiveMirror, vault_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert "not a git repository" in JOBS["commit"].run(mirror)
    init_repository(vault_root)
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GitError, match="git is not installed") as caught:
        JOBS["commit"].run(mirror)
    assert "commit_schedule" in (caught.value.hint or "")


def test_retention_archives_only_when_configured_and_drops_leftovers(
    vault_root: Path, user_dirs: Path
) -> None:
    mirror = ActiveMirror(vault_root, key_dir=user_dirs)
    old = mirror.create_session("Old and done")
    old.add_message("user", "done", timestamp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    old.complete()  # its file is updated today; its last message is what dates it
    recent = mirror.create_session("Recent and done")
    recent.add_message("user", "done too")
    recent.complete()
    leftover = vault_root / "sessions" / ".x.md.0123abcd.tmp"
    leftover.write_text("partial")
    fresh = vault_root / "sessions" / ".y.md.4567cdef.tmp"
    fresh.write_text("in flight")
    _age(leftover, 2 * 3600)
    result = JOBS["retention"].run(mirror)
    assert result == "archived 0 session(s), removed 1 leftover temp file(s)"
    assert not leftover.exists() and fresh.exists()
    assert mirror.load_session(old.id).status == "completed"  # not configured: kept as is

    config = vault_root / ".amos" / "config.toml"
    config.write_text("[retention]\narchive_completed_after_days = 30\n")
    mirror = ActiveMirror(vault_root, key_dir=user_dirs)
    assert JOBS["retention"].run(mirror).startswith("archived 1 session(s)")
    assert mirror.load_session(old.id).status == "archived"


def test_consolidate_job_and_cli_run(mirror: ActiveMirror, run_cli: RunCli) -> None:
    assert JOBS["consolidate"].run(mirror) == "no session due"
    session = mirror.create_session("Job")
    session.add_message("user", "I love rainy Sunday mornings.")
    session.complete()
    result = run_cli("jobs", "run", "consolidate")
    assert result.returncode == 0, result.stderr
    assert "consolidate: 1 session(s): 1 fact(s) new" in result.stdout
    listing = run_cli("jobs")
    assert "consolidate" in listing.stdout and "every 60m" in listing.stdout


def test_the_real_scheduler_fires_a_short_interval_job(mirror: ActiveMirror) -> None:
    runs: list[float] = []
    fired = threading.Event()

    def flaky(_mirror: ActiveMirror, _control: object) -> str:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        fired.set()
        return "ran"

    job = Job("flaky", "a test job", flaky, lambda _settings: "every 1s")
    scheduler = JobScheduler(mirror, {"flaky": job}, startup_delay=0)
    scheduler.start()
    try:
        assert fired.wait(timeout=15), "the scheduler never ran the job twice"
    finally:
        scheduler.shutdown()
    assert len(runs) >= 2  # the failure did not stop it
    state = json.loads((mirror.vault.amos_dir / "jobs.json").read_text())
    assert state["flaky"]["ok"] is True and state["flaky"]["result"] == "ran"


def test_a_restarted_scheduler_waits_for_the_interval(mirror: ActiveMirror) -> None:
    job = Job("hourly", "a test job", lambda m, c: "ran", lambda _settings: "every 1h")
    last = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    (mirror.vault.amos_dir / "jobs.json").write_text(
        json.dumps({"hourly": {"last_run": last.isoformat(), "ok": True, "result": "ran"}})
    )
    scheduler = JobScheduler(mirror, {"hourly": job}, startup_delay=0)
    scheduler.start()
    try:
        next_run = dt.datetime.fromisoformat(scheduler.status()["hourly"]["next_run"])
    finally:
        scheduler.shutdown()
    assert abs((next_run - (last + dt.timedelta(hours=1))).total_seconds()) < 2
    # Off means not scheduled at all.
    off = JobScheduler(mirror, {"off": Job("off", "", lambda m, c: "", lambda s: "off")})
    off.start()
    try:
        assert off.status()["off"]["next_run"] is None
    finally:
        off.shutdown()


def test_every_job_has_a_valid_default_schedule() -> None:
    settings = Settings()
    for job in JOBS.values():
        parse_schedule(job.schedule(settings))


def test_runs_missed_while_asleep_are_coalesced_into_one(mirror: ActiveMirror) -> None:
    runs: list[float] = []
    job = Job(
        "tick", "a test job", lambda m, c: str(runs.append(time.monotonic())), lambda s: "every 2s"
    )
    scheduler = JobScheduler(mirror, {"tick": job}, startup_delay=0.5)
    scheduler.start()
    try:
        from apscheduler.events import EVENT_JOB_EXECUTED

        executed: list[object] = []  # apscheduler says a run is over once its books are done
        scheduler._scheduler.add_listener(executed.append, EVENT_JOB_EXECUTED)
        wait_for(lambda: executed, timeout=10, what="the job's first run")
        assert runs, "the job never ran"
        # The machine "sleeps" through about three slots: the scheduler is held while its
        # clock passes them. To the scheduler that is its job's next run time falling three
        # slots behind the clock, so it is set there (no need to wait the 6 s out).
        scheduler._scheduler.pause()
        before = len(runs)
        asleep_since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=6.5)
        scheduler._scheduler.modify_job("tick", next_run_time=asleep_since)
        scheduler._scheduler.resume()
        wait_for(lambda: len(runs) > before, timeout=1.5, what="the run on wake")
        scheduler.shutdown()  # waits for the run in hand: uncoalesced missed runs would land
        assert len(runs) == before + 1  # one run on wake, not one per missed slot
    finally:
        scheduler.shutdown()
