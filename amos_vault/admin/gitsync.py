"""Version history: the vault as a git repository, committed now and then by the daemon.

Only vault content is committed, and only once settled: what the watcher ignores (temp,
swap and backup files, editor and OS leftovers, `.obsidian/`, `.trash/`, derived state under
`.amos/`) never is, whatever the `.gitignore` says, and a file changed in the last few seconds
waits for the next run (an editor may be writing it). The config file is committed: it is yours.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from amos_vault.admin.scaffold import template_dir
from amos_vault.core.environment import child_environment
from amos_vault.core.errors import AmosError
from amos_vault.files.location import AMOS_DIR
from amos_vault.files.vault import is_noise, write_new_file

# Versioned although hidden or under .amos/: the user's own settings and ignore rules.
VERSIONED_HIDDEN = frozenset({f"{AMOS_DIR}/config.toml", ".gitignore"})
SETTLE_SECONDS = 2.0


class GitError(AmosError):
    """git is missing, or a git command failed."""


@dataclass
class CommitReport:
    commit: str = ""
    message: str = ""
    files: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # changed too recently: next time


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise GitError(
            "git is not installed, so the vault cannot be versioned",
            hint='install git (e.g. `apt install git`), or set [git] commit_schedule = "off"',
        )
    env = child_environment({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def is_repository(root: Path) -> bool:
    return (root / ".git").exists()


def init_repository(root: Path) -> bool:
    """Make ``root`` a git repository that ignores derived state; False when it was one."""
    write_new_file(root / ".gitignore", (template_dir() / ".gitignore").read_bytes())
    if is_repository(root):
        return False
    _git(root, "init", "--quiet")
    return True


def _identity_args(root: Path) -> list[str]:
    """A committer identity when the user has none configured (git refuses to commit)."""
    if _git(root, "config", "user.email", check=False).stdout.strip():
        return []
    return ["-c", "user.name=amos-vault", "-c", "user.email=amos-vault@localhost"]


def commit_vault(root: Path, settle: float = SETTLE_SECONDS) -> CommitReport | None:
    """Commit the vault's settled changes; None when it is not a git repository."""
    if not is_repository(root):
        return None
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
    entries = [e for e in status.stdout.split("\0") if e]
    report = CommitReport()
    now = time.time()
    paths: list[str] = []
    skip_next = False
    for entry in entries:
        if skip_next:  # the source path of a rename
            skip_next = False
            continue
        code, path = entry[:2], entry[3:]
        skip_next = "R" in code or "C" in code
        if is_noise(path) and path not in VERSIONED_HIDDEN:
            continue
        try:
            changed = (root / path).stat().st_mtime
        except FileNotFoundError:
            changed = 0.0  # deleted: settled by definition
        if now - changed < settle:
            report.waiting.append(path)
            continue
        paths.append(path)
    if not paths:
        return report
    _git(root, "add", "--all", "--", *paths)
    # --no-renames: one status and one path per entry (a rename is a deletion and an addition).
    staged = _git(root, "diff", "--cached", "--no-renames", "--name-status", "-z").stdout.split(
        "\0"
    )
    report.files = [p for p in staged[1::2] if p]
    if not report.files:
        return report
    report.message = _message(root, report.files)
    _git(root, *_identity_args(root), "commit", "--quiet", "-m", report.message)
    report.commit = _git(root, "rev-parse", "--short", "HEAD").stdout.strip()
    return report


def _message(root: Path, files: list[str]) -> str:
    """ "amos-vault: 2 session(s), facts +3 -1 ~0, 1 memory note(s)" (only what changed) and
    a body naming each."""
    diff = _git(root, "diff", "--cached", "-U0", "--no-color").stdout
    plus = set(re.findall(r"^\+\s*- .*\[type::.*\^(f-[0-9a-z]+)$", diff, re.M))
    minus = set(re.findall(r"^-\s*- .*\[type::.*\^(f-[0-9a-z]+)$", diff, re.M))
    # Ids only, never the fact's words: a commit message outlives a fact you later forget.
    added, removed, changed = sorted(plus - minus), sorted(minus - plus), sorted(plus & minus)
    sessions = [f for f in files if f.startswith("sessions/") and f.endswith(".md")]
    notes = [f for f in files if f.startswith("memory/")]
    others = [f for f in files if f not in sessions and f not in notes]
    counts = [f"{len(sessions)} session(s)"] if sessions else []
    if added or removed or changed:
        counts.append(f"facts +{len(added)} -{len(removed)} ~{len(changed)}")
    if notes:
        counts.append(f"{len(notes)} memory note(s)")
    if others:
        counts.append(f"{len(others)} other file(s)")
    body = [f"session: {Path(f).stem}" for f in sessions]
    body += [f"fact +{fid}" for fid in added]
    body += [f"fact -{fid}" for fid in removed]
    body += [f"fact ~{fid}" for fid in changed]
    body += [f"file: {f}" for f in notes if "summaries/" in f]
    body += [f"file: {f}" for f in others]
    return "amos-vault: " + ", ".join(counts) + ("\n\n" + "\n".join(body) if body else "")


def commit_at(root: Path, when: dt.datetime) -> tuple[str, dt.datetime] | None:
    """The last commit (by commit time) at or before ``when`` and its time; None when the
    repository has none that early (or no commit at all)."""
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    found = _git(root, "log", "-1", "--format=%H %ct", f"--before={stamp}", check=False)
    if found.returncode != 0 or not found.stdout.strip():
        return None
    commit, seconds = found.stdout.split()
    return commit, dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def first_commit_time(root: Path) -> dt.datetime | None:
    """When the repository's first commit was made (None: no commit yet)."""
    found = _git(root, "log", "--reverse", "--format=%ct", check=False)
    lines = found.stdout.split() if found.returncode == 0 else []
    return dt.datetime.fromtimestamp(int(lines[0]), dt.UTC) if lines else None


def export_commit(root: Path, commit: str, destination: Path) -> None:
    """Write the files of ``commit`` into the folder ``destination`` (made if absent)."""
    destination.mkdir(parents=True, exist_ok=True)
    archive = destination / ".commit.tar"
    _git(root, "archive", "--format=tar", "-o", str(archive), commit)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    archive.unlink()
