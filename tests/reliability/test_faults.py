"""Storage faults (disk full, read-only, permission denied, vault deleted), file modes, and
symlinks out of the vault.

The first test runs the short version of `scripts/soak.py faults`: all four faults against
the real CLI and a real daemon subprocess, made the real way where this machine allows it
(tmpfs, read-only bind mount, children without the DAC capabilities) and injected otherwise.
The others pin the pieces in-process: a refused write raises `StorageError` with what to do,
leaves the target as it was and no temp file; a deleted vault is never re-created.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from amos_vault.admin.export import export_data, write_zip
from amos_vault.core.errors import (
    StorageError,
    UnsafePathError,
    VaultNotFoundError,
    storage_errno,
    storage_error,
)
from amos_vault.files.vault import FILE_MODE, Vault, atomic_write, write_new_file
from amos_vault.mirror import ActiveMirror
from tests.conftest import ROOT, RunCli


def test_short_fault_soak(tmp_path: Path) -> None:
    """All four faults, CLI and daemon: clear error, nothing half-written, recovery."""
    figures = tmp_path / "faults.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "soak.py"),
            "faults",
            "--ops",
            "add",
            "--rounds",
            "1",
            "--jobs",
            "2",
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "AMOS_DEBUG"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("faults: disk_full=ok read_only=ok permission_denied=ok "), last
    assert "vault_deleted=ok" in last
    data = json.loads(figures.read_text())
    assert data["ok"] is True
    for fault, result in data["faults"].items():
        assert result["failures"] == [], fault
        assert len(result["recovery_seconds"]["daemon"]) == 1, fault
        assert len(result["recovery_seconds"]["cli"]) == 1, fault
        assert set(result["cli_messages"]) == {"add"}, fault


# -- a refused write, injected in this process -----------------------------------------------
@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every fsync fails with ENOSPC, as on a full disk."""

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    yield


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def test_atomic_write_on_a_full_disk_keeps_the_file_and_no_temp(
    tmp_path: Path, disk_full: None
) -> None:
    target = tmp_path / "note.md"
    target.write_text("old text\n")
    with pytest.raises(StorageError) as info:
        atomic_write(target, b"new text\n")
    assert isinstance(info.value, OSError)  # code that handles I/O failures still sees it
    assert info.value.errno == errno.ENOSPC
    assert "the disk is full" in str(info.value)
    assert info.value.hint and "free some space" in info.value.hint
    assert info.value.path == target
    assert target.read_text() == "old text\n"
    assert _temp_files(tmp_path) == []


def test_new_file_on_a_full_disk_is_not_created(tmp_path: Path, disk_full: None) -> None:
    target = tmp_path / "sessions" / "new.md"
    with pytest.raises(StorageError):
        write_new_file(target, b"text\n")
    assert not target.exists()
    assert _temp_files(tmp_path) == []


def test_zip_export_on_a_full_disk_leaves_no_partial(
    mirror: ActiveMirror, tmp_path: Path, disk_full: None
) -> None:
    target = tmp_path / "out" / "export.zip"
    with pytest.raises(StorageError):
        write_zip(mirror, target)
    assert not target.exists()
    assert _temp_files(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("code", "says", "hint"),
    [
        (errno.ENOSPC, "the disk is full", "free some space"),
        (errno.EROFS, "read-only", "remount it read-write"),
        (errno.EACCES, "permission denied", "chmod"),
    ],
)
def test_storage_error_says_what_happened_and_what_to_do(code: int, says: str, hint: str) -> None:
    error = storage_error(OSError(code, os.strerror(code)), "/v/sessions/a.md")
    assert says in str(error) and str(error).startswith("/v/sessions/a.md: cannot write:")
    assert error.hint and hint in error.hint and "run the command again" in error.hint


def test_native_engine_errors_are_recognised() -> None:
    """Tantivy reports the OS error only in its message, in either Rust form."""
    debug = 'IoError { io_error: Os { code: 28, kind: StorageFull, message: "No space" } }'
    assert storage_errno(ValueError(f"Failed to open file for write: '{debug}'")) == 28
    assert storage_errno(ValueError("Read-only file system (os error 30)")) == 30
    assert storage_errno(ValueError("Schema error: no such field")) is None
    assert storage_errno(OSError(errno.EACCES, "denied")) == errno.EACCES
    assert storage_errno(OSError(errno.EINVAL, "bad")) is None


def test_cli_reports_a_full_disk_without_a_traceback(run_cli: RunCli, tmp_path: Path) -> None:
    """An OSError from anywhere (here: fsync of the export) is a clear message, not a bug."""
    code = (
        "import errno, os, sys\n"
        "def fsync(fd): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
        "os.fsync = fsync\n"
        "from amos_vault.interfaces.cli import main\n"
        "main(prog_name='amosvault')\n"
    )
    out = tmp_path / "out.json"
    session = run_cli("new", "Full disk", "--json")
    assert session.returncode == 0, session.stderr
    vault = str(tmp_path / "vault")
    done = subprocess.run(
        [sys.executable, "-c", code, "--vault", vault, "export", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "the disk is full" in lines[0], done.stderr
    assert "free some space" in lines[1]
    assert "Traceback" not in done.stderr and "bug" not in done.stderr
    assert not out.exists()


# -- a vault deleted while in use ---------------------------------------------------------------
def test_a_deleted_vault_is_never_re_created(vault_root: Path) -> None:
    vault = Vault.open(vault_root)
    for path in sorted(vault_root.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    vault_root.rmdir()
    with pytest.raises(VaultNotFoundError) as info, vault.lock("index"):
        pass
    assert "is gone" in str(info.value)
    assert not vault_root.exists()
    with pytest.raises(VaultNotFoundError) as opened:
        Vault.open(vault_root)
    assert "does not exist" in str(opened.value) and "moved or deleted" in str(opened.value)


# -- file modes ----------------------------------------------------------------------------------
def test_everything_the_tool_writes_is_owner_only(
    mirror: ActiveMirror, run_cli: RunCli, vault_root: Path, tmp_path: Path
) -> None:
    """Sessions, memory notes, .amos state (index, vectors, locks, manifests) and export
    files are 0600; folders 0700."""
    session = mirror.create_session("Modes")
    session.add_message("user", "I prefer green tea in the morning.")
    mirror.memory.remember("The vault keeps its files private")
    mirror.index()
    mirror.memory.consolidate([session.id], engine="extractive")
    exports = tmp_path / "exports"
    assert run_cli("export", session.id, "-o", str(exports / "one.md")).returncode == 0
    write_zip(mirror, exports / "all.zip")
    atomic_write(exports / "all.json", json.dumps(export_data(mirror)).encode())
    wrong = []
    for folder in (vault_root, exports):
        for path in [folder, *folder.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if path.is_symlink():
                continue
            want = 0o700 if path.is_dir() else FILE_MODE
            if mode != want:
                wrong.append(f"{path.relative_to(tmp_path)}: {mode:o}")
    assert wrong == []
    assert (vault_root / "memory").is_dir() and any((vault_root / "memory").rglob("*.md"))
    assert any((vault_root / ".amos" / "index" / "tantivy").iterdir())


# -- symlinks out of the vault ---------------------------------------------------------------------
def test_a_memory_note_linked_out_of_the_vault_is_never_followed(
    mirror: ActiveMirror, vault_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("---\ntitle: Private\n---\n# Knowledge\n\n- a private note\n")
    before = outside.read_bytes()
    link = vault_root / "memory" / "knowledge.md"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    with pytest.raises(UnsafePathError):
        mirror.memory.remember("Never written through a link")
    assert outside.read_bytes() == before
    assert link.is_symlink()
    assert all("private note" not in f.text for f in mirror.memory.facts())
    mirror.index()
    hits = mirror.search("a private note", sync=False).hits
    assert all("private" not in h.text for h in hits)


def test_a_folder_linked_out_of_the_vault_is_not_listed_nor_indexed(
    mirror: ActiveMirror, vault_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    mirror.create_session("Inside").add_message("user", "inside words")
    source = next((vault_root / "sessions").rglob("*.md"))
    (outside / "copy.md").write_bytes(
        source.read_bytes().replace(b"inside words", b"smuggled words")
    )
    (vault_root / "sessions" / "linked").symlink_to(outside, target_is_directory=True)
    assert [s.title for s in mirror.list_sessions()] == ["Inside"]
    mirror.index()
    hits = mirror.search("smuggled words", sync=False).hits
    assert hits and all("linked" not in h.path and "smuggled" not in h.text for h in hits)


def test_a_new_session_never_writes_through_a_dangling_link(tmp_path: Path) -> None:
    outside = tmp_path / "target.md"
    link = tmp_path / "vault-file.md"
    link.symlink_to(outside)
    assert write_new_file(link, b"text\n") is False
    assert not outside.exists() and link.is_symlink()


def test_a_scheduled_job_on_a_full_disk_logs_one_line_and_goes_on(
    mirror: ActiveMirror, disk_full: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Even keeping the job's result fails here (.amos/jobs.json): said in one line, and the
    scheduler's thread goes on (nothing raised)."""
    from amos_vault.runtime.scheduler import JobScheduler

    with caplog.at_level("ERROR", logger="amos_vault.runtime.scheduler"):
        JobScheduler(mirror).run("retention")
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all(r.exc_info is None for r in errors)  # no traceback
    assert any("disk is full" in r.getMessage() for r in errors)
