"""Injected file-system faults, for where a real one cannot be made (no root, no tmpfs mount).

`install()` patches the `os` functions amos-vault writes through, in this process only, so
that while the flag file named by ``AMOS_FAULT_SPEC`` exists, writes under the named folder
fail with the named errno, as the kernel would fail them:

* ENOSPC (disk full): data does not reach the disk, so ``os.write`` and ``os.fsync`` of a file
  under the folder fail (creating an empty file still works, as on a full tmpfs).
* EROFS (read-only) and EACCES (permission denied): opening a file for writing, creating,
  renaming, linking and removing anything under the folder fail.

Reads are never touched. ``AMOS_FAULT_SPEC`` is JSON: ``{"errno": 28, "under": "/path",
"flag": "/path/outside/the/folder"}``. The soak (tests/soak/soak_faults.py) starts the CLI and
the daemon through `bootstrap`, which installs this before amos-vault runs.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

SPEC_VARIABLE = "AMOS_FAULT_SPEC"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def bootstrap(argv_name: str = "amosvault") -> str:
    """Python source (for ``python -c``) that installs the fault, then runs the CLI."""
    here = str(Path(__file__).resolve().parent)
    return (
        "import sys\n"
        f"sys.path.insert(0, {here!r})\n"
        "import fault_inject\n"
        "fault_inject.install()\n"
        "from amos_vault.interfaces.cli import main\n"
        f"main(prog_name={argv_name!r})\n"
    )


def install() -> None:
    """Patch `os` as ``AMOS_FAULT_SPEC`` says (nothing when it is not set)."""
    raw = os.environ.get(SPEC_VARIABLE)
    if not raw:
        return
    spec = json.loads(raw)
    code = int(spec["errno"])
    under = os.path.realpath(spec["under"])
    flag = spec["flag"]

    def active(path: Any) -> bool:
        if not os.path.exists(flag):
            return False
        try:
            full = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return full == under or full.startswith(under + os.sep)

    def fd_active(fd: int) -> bool:
        try:
            return active(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return False

    def fail(path: Any) -> None:
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    real = {name: getattr(os, name) for name in _PATCHED}

    if code == errno.ENOSPC:

        def write(fd: int, data: Any) -> int:
            if fd_active(fd):
                fail(os.readlink(f"/proc/self/fd/{fd}"))
            return int(real["write"](fd, data))

        def fsync(fd: Any) -> None:
            number = fd if isinstance(fd, int) else fd.fileno()
            if fd_active(number):
                fail(os.readlink(f"/proc/self/fd/{number}"))
            real["fsync"](fd)

        os.write = write
        os.fsync = fsync
        return

    def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: Any = None) -> int:
        if flags & _WRITE_FLAGS and active(path):
            fail(path)
        return int(real["open"](path, flags, mode, dir_fd=dir_fd))

    def one_path(name: str) -> Any:
        def patched(path: Any, *args: Any, **kwargs: Any) -> Any:
            if active(path):
                fail(path)
            return real[name](path, *args, **kwargs)

        return patched

    def two_paths(name: str) -> Any:
        def patched(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            if active(src) or active(dst):
                fail(dst)
            return real[name](src, dst, *args, **kwargs)

        return patched

    os.open = open_
    for name in ("mkdir", "unlink", "remove", "rmdir", "chmod"):
        setattr(os, name, one_path(name))
    for name in ("replace", "rename", "link", "symlink"):
        setattr(os, name, two_paths(name))
    _patch_builtin_open(active, fail)


_PATCHED = (
    "write",
    "fsync",
    "open",
    "mkdir",
    "unlink",
    "remove",
    "rmdir",
    "chmod",
    "replace",
    "rename",
    "link",
    "symlink",
)


def _patch_builtin_open(active: Any, fail: Any) -> None:
    """``open(path, "w")`` (and `Path.open`, `Path.write_text`) go through `io.open`."""
    import builtins
    import io

    real_open = io.open

    def patched(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | bytes | os.PathLike) and set(mode) & set("wax+") and active(file):
            fail(file)
        return real_open(file, mode, *args, **kwargs)

    builtins.open = patched
    io.open = patched
