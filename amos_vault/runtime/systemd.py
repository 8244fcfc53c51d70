"""Run the daemon as a systemd user service: write, enable and remove its unit."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amos_vault.core.errors import AmosError
from amos_vault.files.vault import atomic_write
from amos_vault.sessions.manager import slugify

# systemd creates this folder when it boots the machine (sd_booted(3) checks the same).
SYSTEMD_RUNTIME = Path("/run/systemd/system")


class NoServiceManagerError(AmosError):
    """This machine runs no systemd, so no unit can start the daemon."""


@dataclass(frozen=True)
class ServiceReport:
    """What a service command did, and what the user may still have to run."""

    unit: Path
    done: list[str]
    todo: list[str]


def unit_name(vault_root: Path) -> str:
    """``amos-vault-<folder>-<hash>.service``: one unit per vault."""
    digest = hashlib.sha256(str(vault_root).encode()).hexdigest()[:8]
    return f"amos-vault-{slugify(vault_root.name, 24)}-{digest}.service"


def unit_dir(config_home: Path) -> Path:
    """Where systemd looks for user units."""
    return config_home / "systemd" / "user"


def _quote(arg: str) -> str:
    arg = arg.replace("%", "%%").replace("$", "$$")  # systemd would expand these
    if arg and all(c.isalnum() or c in "/._-+=:@%$" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(
    vault_root: Path, python: str | None = None, environment: dict[str, str] | None = None
) -> str:
    """The unit file's text: the daemon for ``vault_root``, restarted on failure, logging to
    the journal. ``environment`` (e.g. XDG_CACHE_HOME, where the model is) is passed on."""
    command = [python or sys.executable, "-m", "amos_vault", "--vault", str(vault_root), "daemon"]
    extra = "".join(
        f"Environment={_quote(f'{key}={value}')}\n"
        for key, value in sorted((environment or {}).items())
    )
    return (
        "[Unit]\n"
        f"Description=amos-vault daemon for {str(vault_root).replace('%', '%%')}\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(_quote(a) for a in command)}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "Environment=PYTHONUNBUFFERED=1\n"
        f"{extra}"
        "StandardOutput=journal\n"
        "StandardError=journal\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    """Run ``systemctl --user ARGS``; None when there is no user manager to talk to."""
    if shutil.which("systemctl") is None:
        return None
    try:
        done = subprocess.run(
            ["systemctl", "--user", *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 and "Failed to connect" in (done.stderr or ""):
        return None
    return done


def user_manager_running() -> bool:
    """Whether a systemd user manager answers."""
    done = _systemctl("is-system-running")
    return done is not None and done.stdout.strip() not in ("", "offline")


def systemd_booted() -> bool:
    """Whether systemd runs this machine (PID 1); in a container or under another init it
    does not, and a user unit would never start."""
    return SYSTEMD_RUNTIME.is_dir()


def _init_name() -> str:
    try:
        return Path("/proc/1/comm").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _user_name() -> str:
    """The login name for `loginctl enable-linger` (never empty)."""
    try:
        return os.environ.get("USER") or pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def install(vault_root: Path, config_home: Path) -> ServiceReport:
    """Write the unit; enable and start it where a user manager runs.

    Refused (`NoServiceManagerError`, nothing written) where systemd does not run the machine.
    """
    if not systemd_booted():
        raise NoServiceManagerError(
            f"no service manager is available here: systemd does not run this machine "
            f"(PID 1 is {_init_name()!r}), so a service unit would never start",
            hint=f"run the daemon yourself instead: `amosvault --vault {vault_root} daemon` "
            "(in a terminal, tmux or your login script); it stops cleanly on Ctrl-C or SIGTERM",
        )
    name = unit_name(vault_root)
    path = unit_dir(config_home) / name
    passed = {
        k: v
        for k, v in os.environ.items()
        if k in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "OLLAMA_HOST")
    }
    atomic_write(path, render_unit(vault_root, environment=passed).encode())
    done, todo = [f"wrote {path}"], []
    steps = [("daemon-reload",), ("enable", "--now", name)]
    if user_manager_running():
        for step in steps:
            result = _systemctl(*step)
            if result is None or result.returncode != 0:
                todo.append("systemctl --user " + " ".join(step))
            else:
                done.append("systemctl --user " + " ".join(step))
    else:
        todo += ["systemctl --user " + " ".join(step) for step in steps]
    if todo:
        todo.append(f"loginctl enable-linger {_user_name()}   # to run without a login")
    return ServiceReport(path, done, todo)


def uninstall(vault_root: Path, config_home: Path) -> ServiceReport:
    """Stop, disable and remove the unit (where systemd does not run the machine, nothing
    runs it: removing its file is all there is to do)."""
    name = unit_name(vault_root)
    path = unit_dir(config_home) / name
    done: list[str] = []
    todo: list[str] = []
    managed = systemd_booted()
    if managed and user_manager_running():
        result = _systemctl("disable", "--now", name)
        (done if result is not None and result.returncode == 0 else todo).append(
            f"systemctl --user disable --now {name}"
        )
    elif managed:
        todo.append(f"systemctl --user disable --now {name}")
    if path.exists():
        path.unlink()
        done.append(f"removed {path}")
    if user_manager_running():
        _systemctl("daemon-reload")
    return ServiceReport(path, done, todo)


def status(vault_root: Path, config_home: Path) -> tuple[Path, bool, str]:
    """The unit's path, whether it is installed, and what systemd says of it."""
    name = unit_name(vault_root)
    path = unit_dir(config_home) / name
    result = _systemctl("status", "--no-pager", name) if path.exists() else None
    text = result.stdout.strip() if result is not None else "no systemd user manager is running"
    return path, path.exists(), text
