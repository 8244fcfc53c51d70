"""The one atomic writer and the one file lock, at their edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from amos_vault.core.errors import StorageError
from amos_vault.files.vault import Vault, atomic_file


def test_an_error_of_the_writing_block_passes_through_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "export.zip"
    target.write_bytes(b"old")
    other = PermissionError(13, "Permission denied", str(tmp_path / "a-note-it-reads.md"))
    with pytest.raises(PermissionError) as caught, atomic_file(target) as handle:
        handle.write(b"half")
        raise other
    assert caught.value is other  # not a StorageError blaming the export target
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["export.zip"]  # no temp file left


def test_the_daemon_lock_is_let_go_when_its_pid_file_cannot_be_written(
    vault_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amos_vault.runtime import daemon

    def refuse(path: Path, data: bytes) -> None:
        raise StorageError("the disk is full", path=path)

    lock = daemon._DaemonLock(Vault.open(vault_root))
    with monkeypatch.context() as patch:
        patch.setattr(daemon, "atomic_write", refuse)
        with pytest.raises(StorageError):
            lock.acquire()
    again = daemon._DaemonLock(Vault.open(vault_root))
    again.acquire()  # the vault is not left locked by the failed start
    again.release()
