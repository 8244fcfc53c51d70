"""The vault folder on disk: where things live, safe paths, atomic writes and locks.

Nothing here knows the session format; it only guarantees that what is written lands whole
(temp file in the same folder, fsync, rename) and stays inside the vault.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from amos_vault.core.config import Settings, load_settings
from amos_vault.core.errors import (
    ConflictError,
    LockTimeoutError,
    StorageError,
    UnsafePathError,
    VaultNotFoundError,
    storage_errno,
    storage_error,
)
from amos_vault.files.location import AMOS_DIR, locate_vault

FILE_MODE = 0o600
DIR_MODE = 0o700
# Folders that never hold user notes: derived state, version control, editor state, trash.
IGNORED_DIRS = frozenset({AMOS_DIR, ".git", ".obsidian", ".trash", ".vscode", "node_modules"})

_NOISE_SUFFIXES = (
    "~",
    ".swp",
    ".swx",
    ".swo",
    ".tmp",
    ".temp",
    ".crswap",
    ".part",
    ".bak",
    ".orig",
)


def is_noise(rel: str) -> bool:
    """Whether a vault-relative path is not vault content: temp, swap and backup files,
    hidden files and folders, `.amos/`, editor and OS leftovers. The watcher drops these, and
    the commit job never versions them."""
    parts = [p for p in rel.split("/") if p]
    if not parts:
        return True
    if any(p in IGNORED_DIRS or p.startswith(".") for p in parts[:-1]):
        return True
    name = parts[-1]
    if name in IGNORED_DIRS or name == "4913":  # vim writes 4913 to test a folder
        return True
    return name.startswith((".", "~", "#")) or name.endswith(_NOISE_SUFFIXES)


def find_vault(start: Path) -> Path:
    """Walk up from ``start`` to the first folder holding `.amos/`, as git does for `.git/`."""
    found = locate_vault(start)
    if found is not None:
        return found
    raise VaultNotFoundError(
        f"no vault found in {start.resolve()} or any folder above it",
        hint="run `amosvault init PATH` to create one, or pass --vault PATH (or set AMOS_VAULT)",
    )


@contextlib.contextmanager
def storage_errors(path: Path, *, writing: bool = True) -> Iterator[None]:
    """Turn the file system refusing ``path`` (disk full, read-only, permission denied...)
    into a `StorageError` that says so and what to do next."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        if storage_errno(exc) is None:
            raise
        raise storage_error(exc, path, writing=writing) from exc


def ensure_dir(path: Path) -> None:
    """Create ``path`` (and parents) with owner-only permissions where it is new."""
    with storage_errors(path):
        _ensure_dir(path)


def _ensure_dir(path: Path) -> None:
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)


@contextlib.contextmanager
def _temp_beside(path: Path, mode: int) -> Iterator[_TempFile]:
    """A new temp file beside ``path`` (mode ``mode``), open for the block to write; removed
    if the block raises. What the block does with it once synced is the caller's last step."""
    _ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")  # as secrets does
    handle = open(tmp, "xb", opener=lambda name, flags: os.open(name, flags, mode))  # noqa: SIM115
    temp = _TempFile(tmp, handle, mode)
    try:
        yield temp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        handle.close()


@dataclass
class _TempFile:
    """A temp file being written: its name, its open handle, the mode it must end with."""

    path: Path
    handle: BinaryIO
    mode: int

    def sync(self) -> None:
        """Flush and fsync what was written, close the handle, and set the mode (the umask
        may have narrowed it)."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.chmod(self.path, self.mode)


def _kept_mode(path: Path) -> int:
    """The mode a write to ``path`` gives it: the existing file's, or 0600 for a new one."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return FILE_MODE


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary handle whose bytes land at ``path`` whole, when the block ends, or not at all.

    The bytes go to a temp file in the same folder; when the block ends they are fsynced, the
    temp file is renamed over ``path`` and the folder is fsynced so the rename survives a
    crash. If the block (or any of those steps) raises, the temp file is removed and ``path``
    is as it was: never half-written. ``mode`` defaults to the existing file's mode, 0600 for
    a new file. A refusal of the file system raises `StorageError`.
    """
    try:
        with storage_errors(path):
            with _temp_beside(path, _kept_mode(path) if mode is None else mode) as temp:
                try:
                    yield temp.handle
                except Exception as exc:
                    # The block's own error (e.g. reading another file) is not about ``path``:
                    # it passes through unchanged, once the temp file is gone.
                    raise _BlockError(exc) from exc
                temp.sync()
                os.replace(temp.path, path)
            _fsync_dir(path.parent)
    except _BlockError as wrapped:
        raise wrapped.error from None


class _BlockError(Exception):
    """Carries an error of the caller's block past `storage_errors` (see `atomic_file`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    The bytes go to a temp file in the same folder, are fsynced, then renamed over the target,
    and the folder is fsynced so the rename survives a crash. A new file gets mode 0600; an
    existing file keeps its mode. A refusal of the file system raises `StorageError`, and
    leaves the target as it was and no temp file behind.
    """
    with atomic_file(path) as handle:
        handle.write(data)


def replace_file(path: Path, data: bytes, expected: bytes) -> bool:
    """Put ``data`` at ``path`` whole or not at all, but only over ``expected``.

    Like `atomic_write`, but the last step swaps the temp file and ``path`` in one atomic step
    (Linux ``renameat2(RENAME_EXCHANGE)``), so the file that was there the instant before is
    still at hand. If it is not ``expected`` (another program, e.g. an editor, which takes
    no lock of ours, saved after the caller's last look), it is swapped straight back: the
    other program's save stays, ours is dropped, and this returns False so the caller can
    re-read and merge. Where the system cannot swap, it is a plain rename (the caller's own
    check just before is all there is). `FileNotFoundError` when ``path`` is gone;
    `StorageError` when the file system refuses (and no temp file is left).
    """
    mode = path.stat().st_mode & 0o777
    try:
        with storage_errors(path):
            return _swap_in(path, data, expected, mode)
    except StorageError as exc:
        if exc.errno == errno.ENOENT and path.parent.is_dir():
            raise FileNotFoundError(errno.ENOENT, "moved or deleted meanwhile", str(path)) from exc
        raise


def _swap_in(path: Path, data: bytes, expected: bytes, mode: int) -> bool:
    with _temp_beside(path, mode) as temp:
        temp.handle.write(data)
        temp.sync()
        if not _exchange(temp.path, path):
            os.replace(temp.path, path)
            _fsync_dir(path.parent)
            return True
    tmp = temp.path  # now holding the file that was at ``path``
    if tmp.read_bytes() == expected:
        tmp.unlink()
        _fsync_dir(path.parent)
        return True
    _exchange(tmp, path)  # their save back in place; ours was on disk for microseconds
    if tmp.read_bytes() != data:  # yet another save landed in those microseconds: keep it
        raise ConflictError(
            f"{path} was saved twice by another program while amos-vault wrote it; "
            f"the other version is kept as {tmp.name}",
            hint="compare the two, keep what you want, then try again",
            path=path,
        )
    tmp.unlink()
    _fsync_dir(path.parent)
    return False


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None


def _exchange(first: Path, second: Path) -> bool:
    """Swap the names ``first`` and ``second`` atomically; False where that is not possible."""
    global _renameat2
    if _renameat2 is None:
        try:
            _renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", False)
        except (OSError, AttributeError):
            _renameat2 = False
    if not _renameat2:
        return False
    a, b = os.fsencode(first), os.fsencode(second)
    if _renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # this file system (or kernel) cannot swap: a plain rename does
    raise OSError(code, os.strerror(code), str(second))


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of ``path``, or None: it changes whenever the file is replaced."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_new_file(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` unless it exists; returns whether it was written.

    The data is written and fsynced to a temp file first, then hard-linked into place: the
    link fails if anything took the name meanwhile, so nothing is ever overwritten. A refusal
    of the file system raises `StorageError` and leaves no file behind.
    """
    with storage_errors(path):
        if path.exists() or path.is_symlink():
            return False
        with _temp_beside(path, FILE_MODE) as temp:
            temp.handle.write(data)
            temp.sync()
            try:
                os.link(temp.path, path)
            except FileExistsError:
                return False
            finally:
                temp.path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return True


class FileLock:
    """An exclusive advisory lock (flock) on ``path``, created if missing.

    The kernel drops it when the holder closes it or dies, so a lock left by a process that
    died is free again. Held from `acquire` to `release`: for a block (`file_lock`) or for a
    process's life (the daemon's).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd >= 0

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds (0: one try), polling; raises
        `LockTimeoutError` when another process holds it all that time."""
        path = self.path
        with storage_errors(path):
            try:
                _ensure_dir(path.parent)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            except OSError as exc:
                # A read-only vault can still be read: flock works on a read-only descriptor.
                if exc.errno not in (errno.EROFS, errno.EACCES) or not path.is_file():
                    raise
                fd = os.open(path, os.O_RDONLY)
        try:
            deadline = time.monotonic() + timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise LockTimeoutError(
                            f"another process has held {path.name} for over {timeout:g} s",
                            hint="wait for it to finish, or raise sessions.lock_timeout_seconds",
                            path=path,
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (nothing happens when it is not held)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block.

    Waits at most ``timeout`` seconds, polling, then raises `LockTimeoutError`.
    """
    lock = FileLock(path)
    lock.acquire(timeout)
    try:
        yield
    finally:
        lock.release()


def _visible_dir(name: str) -> bool:
    return name not in IGNORED_DIRS and not name.startswith(".")


@dataclass(frozen=True)
class Vault:
    """A vault folder and its settings."""

    root: Path
    settings: Settings

    @classmethod
    def open(cls, root: Path | str) -> Vault:
        """Open the vault at ``root`` (which must hold `.amos/`) and read its settings."""
        path = Path(root).expanduser().resolve()
        if not path.exists():
            raise VaultNotFoundError(
                f"the vault folder {path} does not exist (was it moved or deleted?)",
                hint="restore it, or point --vault / AMOS_VAULT at where it is now "
                f"(`amosvault init {path}` would start a new, empty vault there)",
            )
        if not path.is_dir():
            raise VaultNotFoundError(
                f"{path} is a file, not a vault folder",
                hint="point --vault / AMOS_VAULT at the vault's folder (the one holding "
                f"{AMOS_DIR}/), or run `amosvault init FOLDER` to create one",
            )
        if not (path / AMOS_DIR).is_dir():
            raise VaultNotFoundError(
                f"{path} is not a vault (it has no {AMOS_DIR}/ folder)",
                hint=f"run `amosvault init {path}` to create one there",
            )
        return cls(root=path, settings=load_settings(path))

    @property
    def amos_dir(self) -> Path:
        return self.root / AMOS_DIR

    @property
    def sessions_dir(self) -> Path:
        return self.root / self.settings.sessions.folder

    @property
    def memory_dir(self) -> Path:
        return self.root / self.settings.memory.folder

    @property
    def identity_path(self) -> Path:
        return self.root / "identity.md"

    def lock(
        self, name: str, timeout: float | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """An exclusive cross-process lock named ``name`` under `.amos/locks/` (waiting at most
        ``timeout`` seconds, by default sessions.lock_timeout_seconds)."""
        if not self.amos_dir.is_dir():  # never re-create a vault deleted meanwhile
            raise VaultNotFoundError(
                f"the vault {self.root} is gone (deleted or moved while in use)",
                hint="restore the vault folder, or point --vault / AMOS_VAULT at its new place",
            )
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        wait = self.settings.sessions.lock_timeout_seconds if timeout is None else timeout
        return file_lock(self.amos_dir / "locks" / f"{safe}.lock", wait)

    def relative(self, path: Path) -> str:
        """``path`` relative to the vault root, with forward slashes."""
        return path.relative_to(self.root).as_posix()

    def resolve_inside(self, path: Path | str) -> Path:
        """Resolve ``path`` (relative to the vault, or absolute) and refuse anything outside.

        Symlinks are resolved first, so a link pointing out of the vault is refused too.
        """
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise UnsafePathError(
                f"{path} is outside the vault {self.root}",
                hint="name a file inside the vault, or a session by its id",
                path=str(path),
            )
        return resolved

    def iter_markdown(self, folder: Path) -> Iterator[Path]:
        """Markdown files under ``folder``, sorted, as `is_listed` decides."""
        if not folder.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if _visible_dir(d))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if self.is_listed(path, folder):
                    yield path

    def is_listed(self, path: Path, folder: Path) -> bool:
        """Whether ``path`` is one of ``folder``'s Markdown files: not hidden, not in an
        ignored folder, and, if a symlink, pointing inside the vault at a file that is not
        listed already under ``folder`` itself."""
        try:
            parts = path.relative_to(folder).parts
        except ValueError:
            return False
        if not parts or not all(_visible_dir(p) for p in parts[:-1]):
            return False
        name = parts[-1]
        if not name.endswith(".md") or name.startswith("."):
            return False
        if path.is_symlink():
            try:
                target = self.resolve_inside(path)
            except UnsafePathError:
                return False  # never follow a link out of the vault
            return folder.resolve() not in target.parents
        return path.is_file()

    def outside_links(self, folder: Path) -> list[Path]:
        """Symlinked Markdown files under ``folder`` that point outside the vault."""
        found = []
        if folder.is_dir():
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS and d[0] != "."]
                for name in filenames:
                    path = Path(dirpath) / name
                    if name.endswith(".md") and path.is_symlink():
                        try:
                            self.resolve_inside(path)
                        except UnsafePathError:
                            found.append(path)
        return sorted(found)
