"""The daemon as users run it: a real subprocess, real watchdog events, the real socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amos_vault.files.vault import Vault, is_noise
from amos_vault.index.query import MemoryQuery
from amos_vault.index.search import SearchEngine
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime import systemd
from amos_vault.runtime.systemd import render_unit
from tests.conftest import DaemonProcess, RunCli, wait_for

SESSION = """---
id: {id}
title: {title}
status: active
---

**user** · 2026-11-20 10:00:00Z ^m-00000001

{text}
"""


@pytest.fixture
def daemon(vault_root: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(vault_root)
    process.wait_ready()
    yield process
    process.stop(signal.SIGKILL)


def texts(hits: list[dict[str, Any]]) -> list[str]:
    return [h["text"] for h in hits]


def test_live_changes_of_every_kind_reach_search(daemon: DaemonProcess, vault_root: Path) -> None:
    sessions = vault_root / "sessions"
    plain = sessions / "plain.md"
    plain.write_text(
        SESSION.format(id="live0001", title="Plain", text="The axolotl regrows limbs.")
    )
    daemon.wait_found("axolotl", lambda hits: any("axolotl" in t for t in texts(hits)))

    # An editor that writes a temp file and renames it over the original.
    tmp = sessions / ".plain.md.tmp123"
    tmp.write_text(SESSION.format(id="live0001", title="Plain", text="The okapi is shy."))
    os.replace(tmp, plain)
    daemon.wait_found("okapi", lambda hits: any("okapi" in t for t in texts(hits)))
    assert not any("axolotl" in t for t in texts(daemon.search("axolotl")))

    # vim: move the original to a backup, write a new file, delete the backup.
    backup = sessions / "plain.md~"
    os.replace(plain, backup)
    (sessions / "4913").write_text("")
    (sessions / "4913").unlink()
    plain.write_text(SESSION.format(id="live0001", title="Plain", text="The quokka smiles."))
    backup.unlink()
    daemon.wait_found("quokka", lambda hits: any("quokka" in t for t in texts(hits)))

    # A folder moved, then deleted.
    folder = sessions / "2025"
    folder.mkdir()
    (folder / "a.md").write_text(SESSION.format(id="live0002", title="A", text="Narwhal tusks."))
    daemon.wait_found("narwhal", lambda hits: any("Narwhal" in t for t in texts(hits)))
    folder.rename(sessions / "2024")
    daemon.wait_found("narwhal", lambda hits: any(h["path"] == "sessions/2024/a.md" for h in hits))
    shutil.rmtree(sessions / "2024")
    daemon.wait_found("narwhal", lambda hits: not any("Narwhal" in t for t in texts(hits)))

    plain.unlink()
    daemon.wait_found("quokka", lambda hits: not any("quokka" in t for t in texts(hits)))
    assert daemon.status()["failures"] == 0  # type: ignore[index]


def test_a_bad_file_is_counted_and_the_loop_goes_on(
    daemon: DaemonProcess, vault_root: Path
) -> None:
    bad = vault_root / "sessions" / "bad.md"
    bad.write_bytes(b"---\ntitle: [unclosed\n---\nThe pangolin note survives.\n")
    daemon.wait_found("pangolin", lambda hits: any(h["path"] == "sessions/bad.md" for h in hits))
    # The file is searchable once its batch commits; the error is recorded when the sync ends.
    wait_for(
        lambda: "sessions/bad.md" in ((daemon.status() or {}).get("errors") or {}),
        what="the bad file in the daemon's status",
    )
    good = vault_root / "sessions" / "good.md"
    good.write_text(SESSION.format(id="good0001", title="Good", text="Tardigrades survive space."))
    daemon.wait_found("tardigrades", lambda hits: any("Tardigrades" in t for t in texts(hits)))
    assert bad.read_bytes().startswith(b"---\ntitle: [unclosed")


def test_a_burst_of_changes_indexes_each_file_once(daemon: DaemonProcess, vault_root: Path) -> None:
    folder = vault_root / "sessions" / "burst"
    folder.mkdir()
    before = daemon.status()["files_indexed"]  # type: ignore[index]
    for n in range(1000):
        (folder / f"s{n:04d}.md").write_text(
            SESSION.format(id=f"burst{n:04d}", title=f"Burst {n}", text=f"Burst message {n}.")
        )
    # "files" counts a file once its batch is applied; "files_indexed" once its sync is over.
    wait_for(
        lambda: (daemon.status() or {}).get("files_indexed", 0) - before >= 1000,
        180,
        "1000 files indexed",
    )
    wait_for(lambda: (daemon.status() or {}).get("queue") == 0, 30, "the queue to drain")
    assert daemon.status()["files"] == 1000  # type: ignore[index]
    indexed = daemon.status()["files_indexed"] - before  # type: ignore[index]
    assert 1000 <= indexed <= 1010, indexed  # every file, and (almost) never twice


def test_one_daemon_per_vault_and_a_clean_stop(daemon: DaemonProcess, run_cli: RunCli) -> None:
    second = run_cli("daemon")
    assert second.returncode == 1
    assert f"a daemon (pid {daemon.proc.pid}) already serves this vault" in second.stderr
    socket_file = daemon.amos / "daemon.sock"
    assert oct(socket_file.stat().st_mode & 0o777) == "0o600"
    status = run_cli("status")
    assert status.returncode == 0 and f"Daemon running (pid {daemon.proc.pid})" in status.stdout
    assert daemon.stop(signal.SIGTERM) == 0
    assert not socket_file.exists() and not (daemon.amos / "daemon.pid").exists()
    stopped = run_cli("status")
    assert "No daemon is running" in stopped.stdout


def test_cli_search_goes_through_the_daemon(
    daemon: DaemonProcess, run_cli: RunCli, vault_root: Path
) -> None:
    (vault_root / "sessions" / "x.md").write_text(
        SESSION.format(id="cli00001", title="Via daemon", text="Capybaras are calm.")
    )
    daemon.wait_found("capybaras", lambda hits: bool(hits))
    found = run_cli("search", "capybaras", "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["hits"][0]["title"] == "Via daemon"
    assert daemon.status()["queries"] >= 2  # type: ignore[index]
    context = run_cli("context", "capybaras", "--json")
    assert context.returncode == 0 and any(
        "Capybaras" in p["text"] for p in json.loads(context.stdout)["pieces"]
    )
    reindexed = run_cli("index", "--json")
    assert reindexed.returncode == 0 and json.loads(reindexed.stdout)["status"]["files"] == 1


def test_the_daemon_consolidates_on_schedule_and_facts_become_searchable(
    vault_root: Path, run_cli: RunCli
) -> None:
    config = vault_root / ".amos" / "config.toml"
    config.write_text('[consolidation]\nschedule = "every 2s"\n')
    (vault_root / "sessions" / "done.md").write_text(
        SESSION.format(
            id="sched001", title="Scheduled", text="My favorite snack is roasted chestnuts."
        ).replace("status: active", "status: completed")
    )
    process = DaemonProcess(vault_root)
    try:
        process.wait_ready()
        wait_for(
            lambda: any(
                h["kind"] == "fact" and "chestnuts" in h["text"]
                for h in process.search("favorite snack", kinds=["fact"])
            ),
            timeout=60,
            what="the consolidated fact in search",
        )
        status = process.status()
        assert status is not None and status["jobs"]["consolidate"]["ok"] is True
        assert status["jobs"]["consolidate"]["schedule"] == "every 2s"
        listing = run_cli("jobs")
        assert "consolidate  every 2s" in listing.stdout
        # The last run's result: this session's fact, or nothing due when the job has run
        # again since (every 2 s; a loaded machine can take that long to start the CLI).
        assert any(
            result in listing.stdout for result in ("1 session(s): 1 fact(s) new", "no session due")
        )
    finally:
        assert process.stop(signal.SIGTERM) == 0


def test_bad_requests_get_errors_not_crashes(daemon: DaemonProcess) -> None:
    import socket as sockets

    for raw in [
        b"not json\n",
        b"[1, 2]\n",
        b'{"op": "search"}\n',
        b'{"op": "search", "query": {"text": 5}}\n',
        b'{"op": "nope"}\n',
        b'{"op": "search", "query": {"text": "x", "k": -1}}\n',
    ]:
        client = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        client.settimeout(10)
        client.connect(str(daemon.amos / "daemon.sock"))
        client.sendall(raw)
        answer = json.loads(client.makefile("rb").readline())
        client.close()
        assert answer["ok"] is False and answer["error"]
    assert daemon.status()["phase"] == "watching"  # type: ignore[index]


def results(engine: SearchEngine, queries: list[str]) -> list[list[str]]:
    return [[h.chunk_id for h in engine.search(MemoryQuery(q, k=5)).hits] for q in queries]


def test_kill_9_mid_indexing_then_restart_matches_a_fresh_rebuild(
    vault_root: Path, mirror: ActiveMirror
) -> None:
    words = [
        "otter",
        "heron",
        "salmon",
        "maple",
        "cedar",
        "granite",
        "comet",
        "lantern",
        "violin",
        "harbor",
    ]
    for n in range(400):
        (vault_root / "sessions" / f"k{n:03d}.md").write_text(
            SESSION.format(
                id=f"kill{n:04d}",
                title=f"Kill {n}",
                text=f"{words[n % 10]} and {words[(n * 3) % 10]} number {n}",
            )
        )
    first = DaemonProcess(vault_root)
    manifest = vault_root / ".amos" / "index" / "files.json"
    sidecar = vault_root / ".amos" / "index" / "vectors" / "manifest.json"
    wait_for(
        lambda: manifest.exists() or sidecar.exists() or first.proc.poll() is not None,
        120,
        "indexing to commit something",
    )
    first.stop(signal.SIGKILL)  # mid-indexing: some files committed, others not
    second = DaemonProcess(vault_root)
    second.wait_ready()
    assert second.stop(signal.SIGTERM) == 0
    queries = ["otter heron", "granite comet", "number 7", "violin harbor maple"]
    recovered = SearchEngine(Vault.open(vault_root), mirror.cache_dir)
    assert recovered.status()["files"] == 400 and recovered.status()["chunks"] == 800
    copy = vault_root.parent / "fresh"
    shutil.copytree(vault_root, copy, ignore=shutil.ignore_patterns("index", "locks", "daemon.*"))
    fresh = SearchEngine(Vault.open(copy), mirror.cache_dir)
    fresh.sync()
    assert results(recovered, queries) == results(fresh, queries)


def test_noise_is_ignored() -> None:
    for path in [
        "sessions/.a.md.swp",
        "sessions/a.md~",
        "sessions/4913",
        ".git/HEAD",
        ".amos/x",
        "sessions/.obsidian/w.json",
        ".trash/a.md",
        "sessions/#a.md#",
        "sessions/.a.md.tmp1",
    ]:
        assert is_noise(path), path
    for path in ["sessions/a.md", "memory/facts.md", "sessions/2026/"]:
        assert not is_noise(path), path


def test_the_service_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    verify = shutil.which("systemd-analyze")
    assert verify, "systemd-analyze is needed for this test (Debian package systemd)"
    unit = tmp_path / "amos-vault-test.service"
    unit.write_text(render_unit(tmp_path / "my vault"))
    done = subprocess.run([verify, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Restart=on-failure" in unit.read_text()


def test_service_install_without_a_user_manager_says_what_to_run(
    vault_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd runs the machine (faked: its runtime folder), but no user manager answers.
    booted = tmp_path / "run-systemd-system"
    booted.mkdir()
    monkeypatch.setattr(systemd, "SYSTEMD_RUNTIME", booted)
    monkeypatch.setattr(systemd, "user_manager_running", lambda: False)
    monkeypatch.setenv("USER", "")
    report = systemd.install(vault_root, tmp_path / "cfg")
    units = list((tmp_path / "cfg" / "systemd" / "user").glob("amos-vault-*.service"))
    assert units == [report.unit]
    assert any("systemctl --user enable --now" in line for line in report.todo)
    linger = next(line for line in report.todo if line.startswith("loginctl enable-linger"))
    assert linger.split()[2] not in ("", "#", "$USER")  # never an empty or unexpanded name
    path, installed, _text = systemd.status(vault_root, tmp_path / "cfg")
    assert installed and path == units[0]
    systemd.uninstall(vault_root, tmp_path / "cfg")
    assert not units[0].exists()


def test_service_install_where_systemd_does_not_run_says_how_to_run_the_daemon(
    vault_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from amos_vault.interfaces.cli import main

    monkeypatch.setattr(systemd, "SYSTEMD_RUNTIME", tmp_path / "no-such-folder")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    done = CliRunner().invoke(main, ["--vault", str(vault_root), "service", "install"])
    assert done.exit_code == 1
    assert "no service manager is available here" in done.output
    assert f"amosvault --vault {vault_root} daemon" in done.output
    assert "$USER" not in done.output and "this is a bug" not in done.output
    assert not (tmp_path / "cfg" / "systemd").exists()


def test_the_daemon_takes_vault_after_the_command(vault_root: Path, run_cli: RunCli) -> None:
    (vault_root / "sessions" / "late.md").write_text(
        SESSION.format(id="late0001", title="Named last", text="Wombats dig burrows.")
    )
    process = DaemonProcess(vault_root, vault_after_command=True)
    try:
        assert process.wait_ready()["vault"] == str(vault_root.resolve())
        process.wait_found("wombats", lambda hits: any(h["title"] == "Named last" for h in hits))
        elsewhere = vault_root.parent  # no vault above it: only --vault names it
        status = run_cli("daemon", "status", "--vault", str(vault_root), vault=False, cwd=elsewhere)
        assert status.returncode == 0, status.stderr
        assert f"Daemon running (pid {process.proc.pid})" in status.stdout
    finally:
        assert process.stop(signal.SIGTERM) == 0
    assert "Traceback" not in process.log.read_text()


def test_sigterm_during_a_long_consolidation_exits_promptly_and_a_restart_carries_on(
    vault_root: Path,
) -> None:
    config = vault_root / ".amos" / "config.toml"
    config.write_text('[consolidation]\nschedule = "every 1s"\nbatch_sessions = 2\n')
    total = 80
    for n in range(total):
        (vault_root / "sessions" / f"c{n:03d}.md").write_text(
            SESSION.format(
                id=f"cons{n:04d}",
                title=f"Trip {n}",
                text=f"I visited Porto in May number {n}. My favorite dish there was bacalhau.",
            ).replace("status: active", "status: completed")
        )
    summaries = vault_root / "memory" / "summaries"

    def written() -> list[Path]:
        return sorted(summaries.glob("*.md")) if summaries.is_dir() else []

    first = DaemonProcess(vault_root)
    first.wait_ready()
    wait_for(lambda: len(written()) >= 2, 120, "the first batch written")

    def progress() -> dict[str, Any] | None:
        jobs = (first.status() or {}).get("jobs") or {}
        running = jobs.get("consolidate", {}).get("running") or {}
        return running if running.get("done") else None

    running = wait_for(progress, 60, "the consolidation's progress in status")
    assert running["total"] == total and 0 < running["done"] < total
    assert running["eta_seconds"] is not None
    stopping = time.monotonic()
    assert first.stop(signal.SIGTERM) == 0
    assert time.monotonic() - stopping < 10
    kept = {path.name: path.read_bytes() for path in written()}
    assert 2 <= len(kept) < total  # stopped mid-way, with whole batches kept

    second = DaemonProcess(vault_root)
    try:
        second.wait_ready()
        wait_for(lambda: len(written()) == total, 180, "every session consolidated")
    finally:
        assert second.stop(signal.SIGTERM) == 0
    assert all((summaries / name).read_bytes() == data for name, data in kept.items())
    log = first.log.read_text() + second.log.read_text()
    assert "Traceback" not in log
