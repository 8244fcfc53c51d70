"""The vault as it stood on a date, for ``search --as-of``: the files of the last git commit
at or before it, written out under ``.amos/history/<commit>/`` and indexed there.

Only a vault that is a git repository has a past to read (`amosvault init --git`, and the
daemon's commits); any other says so (`NotVersionedError`). The copy is derived state like
the index: it is made once per commit (its index seeded from the vault's own, so unchanged
text is not embedded again), the last few are kept for the next question, and deleting
``.amos/history/`` loses nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from amos_vault.admin.gitsync import commit_at, export_commit, first_commit_time, is_repository
from amos_vault.core.errors import AmosError, InvalidInputError
from amos_vault.files.location import AMOS_DIR
from amos_vault.files.vault import Vault

HISTORY_DIR = "history"
KEPT = 3  # copies of past commits kept for the next question
READY = ".ready"  # written last: a copy without it is unfinished (a crash), made again


class NotVersionedError(InvalidInputError):
    """The vault is not a git repository, so how its files stood on a date is not known."""


@dataclass(frozen=True)
class PastVault:
    """The vault's files as committed at ``commit`` (``committed``: when), opened as a vault."""

    vault: Vault
    commit: str
    committed: dt.datetime

    def describe(self) -> str:
        """``the vault as committed on 2026-11-20 10:02 UTC (1a2b3c4d)``."""
        return f"the vault as committed on {self.committed:%Y-%m-%d %H:%M} UTC ({self.commit[:8]})"


def vault_as_of(vault: Vault, when: dt.datetime) -> PastVault:
    """The vault as its last commit at or before ``when`` left it (made under
    ``.amos/history/`` on first use). Raises `NotVersionedError` for a vault that is not a
    git repository, and `InvalidInputError` for a date before its first commit."""
    if not is_repository(vault.root):
        raise NotVersionedError(
            f"{vault.root} is not a git repository, so how its files stood on "
            f"{when:%Y-%m-%d} is not known",
            hint="search without --as-of (--until DATE keeps what is dated up to then); "
            "`amosvault init --git` starts the vault's history from now on",
        )
    found = commit_at(vault.root, when)
    if found is None:
        first = first_commit_time(vault.root)
        raise InvalidInputError(
            f"the vault has no commit on or before {when:%Y-%m-%d %H:%M} UTC"
            + (f": its history starts on {first:%Y-%m-%d}" if first else ": it has no commit yet"),
            hint="give a later date"
            if first
            else "commit the vault first: `amosvault jobs run commit` (the daemon does it on "
            "its schedule)",
        )
    commit, committed = found
    folder = vault.amos_dir / HISTORY_DIR / commit
    if not (folder / READY).exists():
        _materialise(vault, commit, folder)
    _prune(folder.parent, keep=folder)
    return PastVault(Vault.open(folder), commit, committed)


def _materialise(vault: Vault, commit: str, folder: Path) -> None:
    """Write the commit's files into ``folder`` (through a temp folder, renamed when whole)."""
    temp = folder.with_name(f".{commit}.{os.getpid()}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        export_commit(vault.root, commit, temp)
        amos = temp / AMOS_DIR
        amos.mkdir(exist_ok=True)
        config = vault.amos_dir / "config.toml"
        if not (amos / "config.toml").exists() and config.exists():
            shutil.copy2(config, amos / "config.toml")  # not committed: today's settings
        index = vault.amos_dir / "index"
        if index.is_dir():
            # Seeded with today's index: files unchanged since are not read again, and text
            # that is still the same keeps its vectors (they are matched by content hash).
            with vault.lock("index"):
                shutil.copytree(index, amos / "index", ignore=shutil.ignore_patterns("*.lock"))
        (temp / READY).write_text(commit + "\n")
        shutil.rmtree(folder, ignore_errors=True)  # an unfinished copy left by a crash
        temp.rename(folder)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise AmosError(
            f"the vault as of commit {commit[:8]} could not be written out: {exc}",
            hint=f"free some disk space, or delete {folder.parent}",
        ) from exc
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _prune(history: Path, keep: Path) -> None:
    """Keep the ``KEPT`` copies used last (``keep`` among them), delete the others."""
    copies = [p for p in history.iterdir() if p.is_dir() and not p.name.startswith(".")]
    keep.touch()
    copies.sort(key=lambda p: (p == keep, p.stat().st_mtime), reverse=True)
    for old in copies[KEPT:]:
        shutil.rmtree(old, ignore_errors=True)
