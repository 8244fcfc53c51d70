"""Faults: disk full, read-only vault, permission denied, vault deleted under the daemon.

For each fault, against the real CLI (`amosvault new/add/index/consolidate/remember/export`,
each a subprocess) and against a real daemon subprocess:

(a) the fault gives a clear error: the CLI exits non-zero with ``error: ...`` saying what
    happened plus a line saying what to do, and no traceback; the daemon logs it in one line
    and keeps serving (ping and search answer). A deleted vault is the exception: the daemon
    logs that the vault is gone and exits with status 1 (never re-creating the folder); the
    service manager (Restart=on-failure) or the user starts it again once it is back.
(b) nothing is half-written: every vault file is byte-for-byte what it was before the failed
    operation, no temp or partial file is left anywhere (also not under .amos/), and after
    recovery every session and memory note parses (`check_vault`).
(c) recovery once the fault is gone: the same CLI operation succeeds, and the daemon indexes
    the change (a search through its socket finds it); the time from lifting the fault to
    that hit is the recovery time.

How each fault is made, the real way where this machine allows it (root with mount):

* disk_full: the vault lives on a small tmpfs, filled to the last block by a filler file;
  else ENOSPC injected into write/fsync under the vault (tests/soak/fault_inject.py).
* read_only: the vault is a bind mount; the fault binds it again on top and remounts that
  read-only (a running daemon's open lock file forbids remounting the first one), lifted by
  unmounting it. The daemon's change arrives through the writable original path, as from
  another machine; else EROFS injected.
* permission_denied: every folder of the vault chmod 0500; the CLI and the daemon run
  without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (setpriv or capsh) when we are root, so the
  mode really denies; else EACCES injected.
* vault_deleted: the vault folder is removed (rm -rf) and later restored from a copy.

Usage: python scripts/soak.py faults [--faults a,b] [--ops new,add,...] [--rounds N]
       [--mechanism auto|inject] [--jobs N] [--json PATH] [--keep DIR]
Ends with one line: ``faults: disk_full=ok read_only=ok ... (recovery median X s, max Y s)``,
exit status 1 if any fault is not ok.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fault_inject

from amos_vault.admin.doctor import check_vault
from amos_vault.admin.scaffold import init_vault
from amos_vault.core.environment import user_cache_dir
from amos_vault.files.vault import Vault
from amos_vault.index.models import DEFAULT_MODEL_NAME, default_model_dir
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime import ipc

FAULTS = ("disk_full", "read_only", "permission_denied", "vault_deleted")
OPS = ("new", "add", "index", "consolidate", "remember", "export")
# What the first line of the error must say, per fault (lower case).
SAYS = {
    "disk_full": ("disk is full",),
    "read_only": ("read-only",),
    "permission_denied": ("permission denied",),
    "vault_deleted": ("does not exist", "not a vault", "no vault found", "is gone"),
}
ERRNO = {"disk_full": errno.ENOSPC, "read_only": errno.EROFS, "permission_denied": errno.EACCES}
STRAY = re.compile(r"(\.tmp|\.partial)$|^\.tmp")  # our temp files, and tantivy's
WAIT = 60.0  # the longest any one condition is waited for


def _wait(condition: Callable[[], Any], timeout: float = WAIT, step: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something true, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=180, **kwargs)


# -- how faults are made here ----------------------------------------------------------------
def can_mount(base: Path) -> bool:
    """Whether we may mount a tmpfs (root, and a sandbox that allows it)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = base / "probe-mount"
    probe.mkdir(exist_ok=True)
    ok = _run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)]).returncode == 0
    if ok:
        _run(["umount", str(probe)])
    probe.rmdir()
    return ok


def unprivileged_prefix(base: Path) -> list[str] | None:
    """A command prefix that runs a child without the capabilities that let root ignore file
    modes (so chmod 000 really denies); [] when we are not root; None when there is none."""
    if os.geteuid() != 0:
        return []
    probe = base / "probe-denied"
    probe.mkdir(exist_ok=True)
    probe.chmod(0)
    candidates = []
    if shutil.which("setpriv"):
        candidates.append(["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"])
    if shutil.which("capsh"):
        drop = "cap_dac_override,cap_dac_read_search,cap_fowner"
        candidates.append(["capsh", f"--drop={drop}", "--"])
    try:
        for prefix in candidates:
            if prefix[0] == "capsh":
                test = [*prefix, "-c", f"ls {probe}"]
            else:
                test = [*prefix, "ls", str(probe)]
            if _run(test).returncode != 0 and _run(["ls", str(probe)]).returncode == 0:
                return prefix
        return None
    finally:
        probe.chmod(0o700)
        probe.rmdir()


@dataclass
class Plan:
    """The mechanism chosen for each fault on this machine."""

    disk_full: str
    read_only: str
    permission_denied: str
    prefix: list[str]

    @classmethod
    def choose(cls, base: Path, force_inject: bool) -> Plan:
        mount = not force_inject and can_mount(base)
        prefix = None if force_inject else unprivileged_prefix(base)
        if prefix is None:
            permission = "inject"
        elif not prefix:
            permission = "chmod"
        else:
            permission = Path(prefix[0]).name
        return cls(
            disk_full="tmpfs" if mount else "inject",
            read_only="remount" if mount else "inject",
            permission_denied=permission,
            prefix=prefix or [],
        )

    def of(self, fault: str) -> str:
        return str(getattr(self, fault, "rm -rf"))


# -- one vault under one fault ---------------------------------------------------------------
@dataclass
class Target:
    """A vault with a way to break it and mend it, and to run the CLI and the daemon on it."""

    fault: str
    mechanism: str
    base: Path
    env: dict[str, str]
    prefix: list[str]
    root: Path = field(init=False)  # the vault as the CLI and the daemon see it
    real: Path = field(init=False)  # the same folder through a path that stays writable
    exports: Path = field(init=False)
    broken: bool = False
    _mounts: list[Path] = field(default_factory=list)
    _backup: Path | None = None

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True)
        self.flag = self.base / "fault-on"  # for an injected fault: present = fault on
        if self.mechanism == "tmpfs":
            disk = self.base / "disk"
            disk.mkdir()
            self._mount(["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(disk)], disk)
            self.real = self.root = disk / "vault"
            self.exports = disk / "exports"
        elif self.mechanism == "remount":
            self.real = self.base / "real"
            self.root = self.base / "vault"
            self.real.mkdir(mode=0o700)
            self.root.mkdir(mode=0o700)
            self._mount(["--bind", str(self.real), str(self.root)], self.root)
            self.exports = self.root / "exports"
        else:
            self.real = self.root = self.base / "vault"
            self.exports = (
                self.base / "exports" if self.fault == "vault_deleted" else self.root / "exports"
            )
        key_dir = Path(self.env["XDG_CONFIG_HOME"]) / "amos-vault"
        init_vault(self.real, "Soak", key_dir)
        self.key_dir = key_dir
        self.exports_real = (
            self.real / self.exports.relative_to(self.root)
            if self.exports.is_relative_to(self.root)
            else self.exports
        )
        self.exports_real.mkdir(mode=0o700, exist_ok=True)

    def _mount(self, args: list[str], where: Path) -> None:
        done = _run(["mount", *args])
        if done.returncode != 0:
            raise RuntimeError(f"mount {' '.join(args)} failed: {done.stderr.strip()}")
        self._mounts.append(where)

    def close(self) -> None:
        self.mend()
        for where in reversed(self._mounts):
            _run(["umount", "-l", str(where)])

    # -- the child processes -------------------------------------------------------------
    def command(self, *args: str) -> list[str]:
        prefix = self.prefix if self.fault == "permission_denied" else []
        if self.mechanism == "inject":
            boot = [sys.executable, "-c", fault_inject.bootstrap()]
        else:
            boot = [sys.executable, "-m", "amos_vault"]
        return [*prefix, *boot, "--vault", str(self.root), *args]

    def child_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.pop("AMOS_DEBUG", None)
        if self.mechanism == "inject":
            spec = {"errno": ERRNO[self.fault], "under": str(self.root), "flag": str(self.flag)}
            env[fault_inject.SPEC_VARIABLE] = json.dumps(spec)
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(self.command(*args), env=self.child_env(), cwd=self.base)

    def mirror(self) -> ActiveMirror:
        """The vault through the always-writable path, in this process (never faulted)."""
        return ActiveMirror(self.real, key_dir=self.key_dir, cache_dir=user_cache_dir())

    # -- break and mend ------------------------------------------------------------------
    def break_(self) -> None:
        """Make the fault happen."""
        assert not self.broken
        self.broken = True
        if self.mechanism == "inject":
            self.flag.write_text("on\n")
        elif self.mechanism == "tmpfs":
            _fill(self.root.parent / "filler")
        elif self.mechanism == "remount":
            # A fresh bind of the same folder on top, remounted read-only: a plain remount is
            # refused while the daemon holds a file open for writing (its lock), and every
            # path the daemon opens from now on goes through the read-only mount.
            self._mount(["--bind", str(self.real), str(self.root)], self.root)
            done = _run(["mount", "-o", "remount,ro,bind", str(self.root)])
            if done.returncode != 0:
                raise RuntimeError(f"remount read-only failed: {done.stderr.strip()}")
        elif self.fault == "permission_denied":
            _chmod_folders(self.root, 0o500)
        elif self.fault == "vault_deleted":
            self._backup = self.base / "backup"
            if self._backup.exists():
                shutil.rmtree(self._backup)
            shutil.copytree(self.root, self._backup, ignore=_sockets)
            shutil.rmtree(self.root)

    def mend(self) -> None:
        """Take the fault away."""
        if not self.broken:
            return
        self.broken = False
        if self.mechanism == "inject":
            self.flag.unlink(missing_ok=True)
        elif self.mechanism == "tmpfs":
            (self.root.parent / "filler").unlink(missing_ok=True)
        elif self.mechanism == "remount":
            done = _run(["umount", str(self.root)])
            if done.returncode != 0:
                raise RuntimeError(f"umount of the read-only bind failed: {done.stderr.strip()}")
            self._mounts.pop()
        elif self.fault == "permission_denied":
            _chmod_folders(self.root, 0o700)
        elif self.fault == "vault_deleted":
            assert self._backup is not None
            if self.root.exists():  # something re-created it: that is itself a failure
                shutil.rmtree(self.root)
            shutil.copytree(self._backup, self.root)


def _sockets(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(".sock") or n in ("daemon.pid", "daemon.lock")]


def _fill(filler: Path) -> None:
    """Write ``filler`` until the disk is full (then fill the last scraps byte by byte)."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 14, 1 << 10, 64, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)


def _chmod_folders(root: Path, mode: int) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        os.chmod(dirpath, mode)


# -- what must hold ----------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, bytes]:
    """Every vault file outside .amos/ (the user's files), by relative path."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".amos" or not path.is_file() or path.is_symlink():
            continue
        files[rel.as_posix()] = path.read_bytes()
    return files


def strays(*folders: Path) -> list[str]:
    """Temp or partial files left anywhere under ``folders`` (also under .amos/)."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [str(p) for p in folder.rglob("*") if STRAY.search(p.name)]
    return sorted(found)


def clear_error(fault: str, result: subprocess.CompletedProcess[str]) -> str | None:
    """Why ``result`` is not a clear failure for ``fault``, or None when it is."""
    err = result.stderr.strip()
    lines = err.splitlines()
    if result.returncode == 0:
        return "exit status 0 under the fault"
    if "Traceback" in err:
        return "a traceback: " + lines[-1][:200]
    if not lines or not lines[0].startswith("error: "):
        return f"no `error:` line: {err[:200]!r}"
    if "this is a bug" in err or "unexpected" in lines[0]:
        return f"reported as a bug: {lines[0][:200]!r}"
    if not any(word in lines[0].lower() for word in SAYS[fault]):
        return f"does not say what happened: {lines[0][:200]!r}"
    if len(lines) != 2 or not lines[1].strip():
        return f"not one error line plus one line saying what to do: {err[:300]!r}"
    return None


def parses(target: Target) -> list[str]:
    """Problems `check_vault` finds (every session and memory note must parse)."""
    return [f"{p.path}: {p.message}" for p in check_vault(Vault.open(target.real))]


# -- the CLI under a fault ---------------------------------------------------------------------
class CliRound:
    """Each CLI operation once under the fault, then again once it is gone."""

    def __init__(self, target: Target, ops: list[str]) -> None:
        self.target = target
        self.ops = ops
        self.failures: list[str] = []
        self.recoveries: list[float] = []
        self.messages: dict[str, str] = {}  # what each command said under the fault
        self.session = target.mirror().create_session("Otters and the river")
        self.session.add_message("user", "Otters hold hands while they sleep on the river.")

    def prepare(self, op: str, token: str) -> list[str]:
        """Make ``op`` have real work to do; return its arguments."""
        mirror = self.target.mirror()
        if op == "index":
            mirror.create_session(f"Pending {token}").add_message("user", f"pending {token}")
        if op == "consolidate":
            mirror.load_session(self.session.id).add_message("user", f"I like {token} tea.")
        export = self.target.exports / f"export-{token}.json"
        return {
            "new": ["new", f"Session {token}"],
            "add": ["add", self.session.id, f"words about {token}"],
            "index": ["index"],
            "consolidate": ["consolidate", self.session.id, "--engine", "extractive", "--quiet"],
            "remember": ["remember", f"The soak token is {token}"],
            "export": ["export", self.session.id, "--format", "json", "-o", str(export)],
        }[op]

    def run(self) -> None:
        target = self.target
        for number, op in enumerate(self.ops):
            token = f"zq{op}{number}{os.getpid() % 1000}"
            args = self.prepare(op, token)
            before = snapshot(target.real)
            target.break_()
            try:
                result = target.cli(*args)
            finally:
                if target.fault == "vault_deleted" and target.root.exists():
                    self.failures.append(f"cli {op}: re-created the deleted vault folder")
                target.mend()
            self.messages[op] = " | ".join(result.stderr.strip().splitlines()[:2])
            why = clear_error(target.fault, result)
            if why:
                self.failures.append(f"cli {op}: {why}")
            after = snapshot(target.real)
            if after != before:
                changed = sorted(set(before) ^ set(after)) or [
                    k for k in before if before[k] != after.get(k)
                ]
                self.failures.append(f"cli {op}: files changed by a failed command: {changed}")
            left = strays(target.real, target.exports_real)
            if left:
                self.failures.append(f"cli {op}: temp files left: {left}")
            started = time.monotonic()
            again = target.cli(*args)
            if again.returncode != 0:
                self.failures.append(
                    f"cli {op}: still fails once the fault is gone: {again.stderr.strip()[:300]}"
                )
            else:
                self.recoveries.append(time.monotonic() - started)
        problems = parses(target) + strays(target.real, target.exports_real)
        self.failures += [f"cli: after recovery: {p}" for p in problems]


# -- the daemon under a fault ------------------------------------------------------------------
class DaemonRun:
    """A real daemon subprocess on the target's vault, its log in a file."""

    def __init__(self, target: Target, name: str) -> None:
        self.target = target
        self.log_path = target.base / f"daemon-{name}.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            target.command("daemon"),
            env=target.child_env(),
            cwd=target.base,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        try:
            ipc.request(self.target.root / ".amos", {"op": "ping"}, timeout=5)
            status = ipc.request(self.target.root / ".amos", {"op": "status"}, timeout=5)
        except Exception:
            return False
        return bool(status["status"].get("phase") == "watching")

    def ready(self) -> bool:
        return _wait(lambda: self.answers() or self.process.poll() is not None) is True

    def recovered(self, token: str) -> bool:
        """The change is searchable and the daemon's last sync worked (with an injected fault,
        Tantivy's own writes are not faulted, so a hit alone would not prove recovery)."""
        if not self.finds(token):
            return False
        try:
            status = ipc.request(self.target.root / ".amos", {"op": "status"}, timeout=5)
        except Exception:
            return False
        return status["status"].get("last_error") is None

    def finds(self, token: str) -> bool:
        query = {"text": token, "k": 5}
        try:
            answer = ipc.request(
                self.target.root / ".amos", {"op": "search", "query": query}, timeout=10
            )
        except Exception:
            return False
        return token in json.dumps(answer["hits"])

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


@contextlib.contextmanager
def paused(process: subprocess.Popen[Any]) -> Iterator[None]:
    """The daemon stopped (SIGSTOP) for the block: its events wait in the kernel."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def daemon_rounds(target: Target, rounds: int) -> tuple[list[str], list[float]]:
    """Break the vault under a running daemon ``rounds`` times; failures and recovery times."""
    if target.fault == "vault_deleted":
        return daemon_vault_deleted(target, rounds)
    failures: list[str] = []
    recoveries: list[float] = []
    daemon = DaemonRun(target, "faults")
    try:
        if not daemon.ready():
            return [f"daemon did not start: {daemon.text()[-500:]}"], []
        for number in range(rounds):
            token = f"zqdaemon{number}x{os.getpid() % 1000}"
            mark = len(daemon.text())
            with paused(daemon.process):
                session = target.mirror().create_session(f"Daemon {token}")
                session.add_message("user", f"the daemon must index {token}")
                before = snapshot(target.real)
                target.break_()
            said = _wait(lambda: _fault_line(target.fault, daemon.text()[mark:]))  # noqa: B023
            if not said:
                failures.append(f"daemon round {number}: no clear log line about the fault")
            if daemon.process.poll() is not None:
                failures.append(f"daemon round {number}: exited under the fault")
                break
            if not daemon.answers():
                failures.append(f"daemon round {number}: stopped answering under the fault")
            if snapshot(target.real) != before:
                failures.append(f"daemon round {number}: changed the user's files")
            started = time.monotonic()
            target.mend()
            if _wait(lambda: daemon.recovered(token)):  # noqa: B023
                recoveries.append(time.monotonic() - started)
            else:
                failures.append(f"daemon round {number}: change not indexed after the fault")
            left = strays(target.real)
            if left:
                failures.append(f"daemon round {number}: temp files left: {left}")
        if "Traceback" in daemon.text():
            failures.append("daemon: a traceback in its log")
    finally:
        target.mend()
        code = daemon.stop()
    if code != 0:
        failures.append(f"daemon: exit status {code} on SIGTERM")
    return failures, recoveries


def _fault_line(fault: str, log: str) -> str | None:
    for line in log.splitlines():
        if "ERROR" in line and any(word in line.lower() for word in SAYS[fault]):
            return line
    return None


def daemon_vault_deleted(target: Target, rounds: int) -> tuple[list[str], list[float]]:
    """rm -rf the vault under the daemon: it must say so and exit 1, never re-create it;
    restored, a new daemon indexes what changed."""
    failures: list[str] = []
    recoveries: list[float] = []
    for number in range(rounds):
        daemon = DaemonRun(target, f"deleted-{number}")
        try:
            if not daemon.ready():
                failures.append(f"daemon round {number}: did not start: {daemon.text()[-500:]}")
                continue
            target.break_()
            exited = _wait(lambda: daemon.process.poll() is not None)  # noqa: B023
            log = daemon.text()
            if not exited:
                failures.append(f"daemon round {number}: still running with its vault gone")
            elif daemon.process.returncode != 1:
                failures.append(
                    f"daemon round {number}: exit status {daemon.process.returncode}, not 1"
                )
            if not re.search(r"ERROR .*vault folder .* was deleted or moved", log):
                failures.append(f"daemon round {number}: no clear log line: {log[-300:]!r}")
            if "Traceback" in log:
                failures.append(f"daemon round {number}: a traceback in its log")
            if target.root.exists():
                failures.append(f"daemon round {number}: re-created the deleted vault folder")
        finally:
            daemon.stop()
        token = f"zqback{number}x{os.getpid() % 1000}"
        started = time.monotonic()
        target.mend()
        session = target.mirror().create_session(f"Restored {token}")
        session.add_message("user", f"after the restore {token}")
        again = DaemonRun(target, f"restored-{number}")
        try:
            if again.ready() and _wait(lambda: again.recovered(token)):  # noqa: B023
                recoveries.append(time.monotonic() - started)
            else:
                failures.append(f"daemon round {number}: the restored vault was not indexed")
        finally:
            if again.stop() != 0:
                failures.append(f"daemon round {number}: restarted daemon did not stop cleanly")
    problems = parses(target) + strays(target.real)
    failures += [f"daemon: after recovery: {p}" for p in problems]
    return failures, recoveries


# -- the run -----------------------------------------------------------------------------------
def user_env(base: Path) -> dict[str, str]:
    """Config and cache folders under ``base``, the installed model linked into the cache."""
    config, cache = base / "xdg-config", base / "xdg-cache"
    model = default_model_dir(user_cache_dir())
    models = cache / "amos-vault" / "models"
    models.mkdir(parents=True)
    if model.is_dir():
        (models / DEFAULT_MODEL_NAME).symlink_to(model)
    config.mkdir(mode=0o700)
    return {"XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(cache)}


def run_fault(
    fault: str, plan: Plan, base: Path, env: dict[str, str], ops: list[str], rounds: int
) -> dict[str, Any]:
    """One fault: the CLI part, then the daemon part, each on its own vault."""
    started = time.monotonic()
    mechanism = plan.of(fault)
    messages: dict[str, str] = {}
    result: dict[str, Any] = {
        "mechanism": mechanism,
        "failures": [],
        "recovery_seconds": {},
        "cli_messages": messages,
    }
    parts: list[tuple[str, Callable[[Target], tuple[list[str], list[float]]]]] = []
    if ops:
        parts.append(("cli", lambda t: _cli_part(t, ops, messages)))
    if rounds:
        parts.append(("daemon", lambda t: daemon_rounds(t, rounds)))
    for name, part in parts:
        target = Target(fault, mechanism, base / f"{fault}-{name}", env, plan.prefix)
        try:
            failures, times = part(target)
        except Exception as exc:  # the harness itself failed: that is a failure, said plainly
            failures, times = [f"{name}: harness error {type(exc).__name__}: {exc}"], []
        finally:
            target.close()
        result["failures"] += failures
        result["recovery_seconds"][name] = [round(t, 3) for t in times]
    result["ok"] = not result["failures"]
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _cli_part(
    target: Target, ops: list[str], messages: dict[str, str]
) -> tuple[list[str], list[float]]:
    cli = CliRound(target, ops)
    try:
        cli.run()
    finally:
        messages.update(cli.messages)
    return cli.failures, cli.recoveries


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="soak.py faults", description=__doc__.split("\n")[0])
    parser.add_argument("--faults", default=",".join(FAULTS), help="Comma-separated faults.")
    parser.add_argument("--ops", default=",".join(OPS), help="CLI operations ('' for none).")
    parser.add_argument("--rounds", type=int, default=3, help="Daemon fault cycles per fault.")
    parser.add_argument(
        "--mechanism",
        choices=("auto", "inject"),
        default="auto",
        help="auto: real faults where this machine allows; inject: always injected errors.",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="Faults run at the same time (each on its own vault)."
    )
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    ops = [o for o in args.ops.split(",") if o]
    unknown = sorted(set(faults) - set(FAULTS)) + sorted(set(ops) - set(OPS))
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            base = Path(tempfile.mkdtemp(prefix="faults-", dir=args.keep))
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="amos-faults-")))
        env = user_env(base)
        plan = Plan.choose(base, args.mechanism == "inject")
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # own vault each
            running = {
                f: pool.submit(run_fault, f, plan, base, env, ops, args.rounds) for f in faults
            }
            results = {f: job.result() for f, job in running.items()}
    times = [
        t
        for r in results.values()
        for name, ts in r["recovery_seconds"].items()
        for t in ts
        if name == "daemon"
    ]
    figures = {
        "faults": results,
        "mechanisms": {f: plan.of(f) for f in faults},
        "ops": ops,
        "rounds": args.rounds,
        "daemon_recovery_median_seconds": round(statistics.median(times), 2) if times else None,
        "daemon_recovery_max_seconds": round(max(times), 2) if times else None,
        "wall_seconds": round(time.monotonic() - started, 1),
        "ok": all(r["ok"] for r in results.values()),
    }
    for fault, result in results.items():
        for failure in result["failures"]:
            print(f"  {fault}: {failure}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    states = " ".join(f"{f}={'ok' if r['ok'] else 'FAIL'}" for f, r in results.items())
    how = ", ".join(f"{f}:{plan.of(f)}" for f in faults)
    median = figures["daemon_recovery_median_seconds"]
    worst = figures["daemon_recovery_max_seconds"]
    recovery = f"recovery median {median} s, max {worst} s" if times else "no recovery timed"
    print(f"faults: {states} ({recovery}; {how}; {figures['wall_seconds']} s)")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
