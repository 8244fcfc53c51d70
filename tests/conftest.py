"""Shared fixtures: real vaults in temp folders, keys kept in a temp config dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from amos_vault.admin.scaffold import init_vault
from amos_vault.core.environment import user_cache_dir
from amos_vault.index.models import DEFAULT_MODEL_NAME, default_model_dir, model_problems
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime import ipc
from tests.postgres import PostgresCluster

ROOT = Path(__file__).resolve().parent.parent
# The real embedding model, installed by `make test` (amosvault model install) before pytest.
REAL_MODEL = default_model_dir(user_cache_dir())


def user_env(base: Path) -> dict[str, str]:
    """User config and cache folders under ``base`` (the real model linked into the cache),
    as the environment variables that name them."""
    config = base / "xdg-config"
    cache = base / "xdg-cache"
    if REAL_MODEL.is_dir():  # the same model, seen from the temp cache folder
        models = cache / "amos-vault" / "models"
        models.mkdir(parents=True)
        (models / DEFAULT_MODEL_NAME).symlink_to(REAL_MODEL)
    return {"XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(cache)}


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user's config and cache folders at temp folders, for every test."""
    for key, value in user_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AMOS_VAULT", raising=False)
    monkeypatch.delenv("AMOS_DEBUG", raising=False)
    return tmp_path / "xdg-config" / "amos-vault"


@pytest.fixture
def vault_root(tmp_path: Path, user_dirs: Path) -> Path:
    """A fresh vault made by `init`."""
    root = tmp_path / "vault"
    init_vault(root, "Tester", user_dirs)
    return root


@pytest.fixture
def mirror(vault_root: Path, user_dirs: Path) -> ActiveMirror:
    """The vault opened through the library API."""
    return ActiveMirror(vault_root, key_dir=user_dirs)


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(vault_root: Path) -> RunCli:
    """Run the real `amosvault` (as `python -m amos_vault`) in a subprocess."""

    def run(
        *args: str,
        input: str | None = None,
        cwd: Path | None = None,
        vault: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "amos_vault"]
        if vault:
            command += ["--vault", str(vault_root)]
        return subprocess.run(
            [*command, *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            cwd=cwd or vault_root,
            env={**os.environ, **(env or {})},
            timeout=60,
        )

    return run


@pytest.fixture
def model_dir() -> Path:
    """The real embedding model; a clear failure (not a skip) when it is not installed."""
    problems = model_problems(REAL_MODEL)
    assert not problems, f"the embedding model is missing ({problems[0]}): run `make test`"
    return REAL_MODEL


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class DaemonProcess:
    def __init__(self, vault_root: Path, *, vault_after_command: bool = False) -> None:
        self.vault_root = vault_root
        self.amos = vault_root / ".amos"
        self.log = vault_root.parent / f"daemon-{time.monotonic_ns()}.log"
        vault = ["--vault", str(vault_root)]
        command = ["daemon", *vault] if vault_after_command else [*vault, "daemon"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amos_vault", *command],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )

    def status(self) -> dict[str, Any] | None:
        try:
            return ipc.request(self.amos, {"op": "status"}, timeout=5)["status"]
        except ipc.DaemonUnavailable:
            return None

    def wait_ready(self) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            assert self.proc.poll() is None, self.log.read_text()
            status = self.status()
            return status if status and status["phase"] == "watching" else None

        return wait_for(ready, what="the daemon to be ready")

    def search(self, text: str, **query: Any) -> list[dict[str, Any]]:
        message = {"op": "search", "query": {"text": text, "k": 10, **query}}
        return ipc.request(self.amos, message, timeout=30)["hits"]

    def wait_found(self, text: str, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
        wait_for(lambda: predicate(self.search(text)), what=f"search for {text!r}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL with pgvector (tests/postgres.py), started once per test session
    (bounded start-up) and stopped at its end."""
    cluster = PostgresCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The superuser's URL of a fresh database of its own for this test (dropped after it)."""
    if not postgres_cluster.is_running():  # a test that stopped it leaves it for the next
        postgres_cluster.start()
    name = postgres_cluster.create_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)
