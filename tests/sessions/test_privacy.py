"""Privacy and user control: no network but the configured model host, private sessions kept
from remote models and out of logs, export of everything, forget down to the sidecar, and a
daemon socket only its owner can use."""

from __future__ import annotations

import json
import os
import signal
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amos_vault.core.errors import AmosError
from amos_vault.index.chunks import content_hash
from amos_vault.index.query import MemoryQuery
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime import ipc
from amos_vault.runtime.daemon import _same_user
from amos_vault.sessions.privacy import is_loopback
from tests.conftest import DaemonProcess, RunCli, wait_for

# Loaded before anything else in the child process: every outbound connection is checked,
# recorded, and refused unless it goes to the one allowed address.
BLOCKER = """
import json, os, socket
_allowed = os.environ["AMOS_TEST_ALLOWED"]
_log = os.environ["AMOS_TEST_NETLOG"]
_connect = socket.socket.connect
def _record(what):
    with open(_log, "a") as handle:
        handle.write(json.dumps(what) + "\\n")
def connect(self, address):
    if self.family == socket.AF_UNIX:
        return _connect(self, address)
    _record([str(address[0]), int(address[1])])
    if f"{address[0]}:{address[1]}" != _allowed:
        raise OSError(101, "network blocked by the test")
    return _connect(self, address)
socket.socket.connect = connect
_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1", None):
        _record(["dns", str(host)])
        raise socket.gaierror(-2, "name resolution blocked by the test")
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
"""


def test_nothing_goes_out_but_to_the_configured_model_host(
    vault_root: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    netlog = tmp_path / "net.log"
    with socket.socket() as probe:  # a closed port: the model is "not running"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (vault_root / ".amos" / "config.toml").write_text(f'[llm]\nhost = "http://127.0.0.1:{port}"\n')
    env = {
        "PYTHONPATH": str(blocker),
        "AMOS_TEST_ALLOWED": f"127.0.0.1:{port}",
        "AMOS_TEST_NETLOG": str(netlog),
        "OLLAMA_HOST": "",
    }
    made = run_cli("new", "Offline", "--json", env=env)
    assert made.returncode == 0, made.stderr
    session_id = json.loads(made.stdout)["id"]
    steps = [
        ("add", session_id, "My favorite mountain is the Matterhorn."),
        ("complete", session_id),
        ("index",),
        ("search", "Matterhorn"),
        ("consolidate",),
        ("ask", "which mountain do I like?"),
        ("export", "--format", "zip", "-o", str(tmp_path / "out.zip")),
    ]
    for step in steps:
        result = run_cli(*step, env=env)
        assert result.returncode == 0, (step, result.stderr)
    asked = run_cli("ask", "which mountain do I like?", env=env)
    assert "Matterhorn" in asked.stdout  # answered from the vault, with no model running
    attempts = [json.loads(line) for line in netlog.read_text().splitlines()]
    assert attempts, "the ask should have tried the configured model host"
    assert all(a == ["127.0.0.1", port] for a in attempts), attempts


class RecordingProvider:
    """A provider that records what it would send; its host is set per test."""

    name = "recording"
    model = "recorder"

    def __init__(self, host: str) -> None:
        self.host = host
        self.sent: list[str] = []

    def chat(self, messages: Any, **_options: Any) -> Iterator[str]:
        self.sent.append(json.dumps(list(messages)))
        yield "An answer."

    def models(self) -> list[str]:
        return [self.model]


def _private_and_public(mirror: ActiveMirror) -> tuple[Any, Any]:
    secret = mirror.create_session("Diary")
    mirror.sessions.set_field(secret, "private", True)
    secret.add_message("user", "My favorite hiding place is the old lighthouse.")
    open_one = mirror.create_session("Public")
    open_one.add_message("user", "My favorite hiking trail is the coastal path.")
    mirror.index()
    return secret, open_one


def test_loopback_hosts() -> None:
    assert is_loopback("http://127.0.0.1:11434") and is_loopback("localhost:11434")
    assert is_loopback("http://[::1]:11434") and is_loopback("http://127.8.9.10")
    assert not is_loopback("http://10.0.0.5:11434") and not is_loopback("https://models.example")
    assert not is_loopback(None)


def test_a_private_session_never_reaches_a_remote_model(mirror: ActiveMirror) -> None:
    secret, _public = _private_and_public(mirror)
    remote = RecordingProvider("http://10.0.0.5:11434")
    orchestrator = mirror.orchestrator(use_model=False)
    orchestrator.provider = remote
    answer = orchestrator.answer("where is my favorite place?")
    sent = "".join(remote.sent)
    assert "coastal path" in sent and "lighthouse" not in sent
    assert answer.model == "recorder"
    inside = orchestrator.answer("where is my favorite place?", mirror.load_session(secret.id))
    assert len(remote.sent) == 1  # the private session's own question was not sent
    assert "private" in (inside.notice or "") and answer.text

    local = RecordingProvider("http://127.0.0.1:11434")  # a model on this machine sees all
    orchestrator.provider = local
    orchestrator.answer("where is my favorite place?")
    assert "lighthouse" in "".join(local.sent)


def test_facts_from_a_private_session_stay_private(mirror: ActiveMirror, vault_root: Path) -> None:
    secret, _ = _private_and_public(mirror)
    mirror.memory.consolidate([secret.id])
    line = next(
        ln
        for ln in (vault_root / "memory" / "preference.md").read_text().splitlines()
        if "lighthouse" in ln
    )
    assert "[private:: true]" in line
    mirror.index()
    remote = RecordingProvider("http://10.0.0.5:11434")
    orchestrator = mirror.orchestrator(use_model=False)
    orchestrator.provider = remote
    orchestrator.answer("what is my favorite hiding place?")
    assert remote.sent and "lighthouse" not in "".join(remote.sent)


def test_private_content_never_appears_in_the_daemon_log(vault_root: Path) -> None:
    (vault_root / ".amos" / "config.toml").write_text('[consolidation]\nschedule = "every 1s"\n')
    mirror = ActiveMirror(vault_root)
    secret = mirror.create_session("Diary")
    mirror.sessions.set_field(secret, "private", True)
    secret.add_message("user", "I love the zanzibarcode recipe my grandmother kept.")
    secret.complete()
    daemon = DaemonProcess(vault_root)
    try:
        daemon.wait_ready()
        wait_for(lambda: daemon.search("zanzibarcode", kinds=["fact"]), timeout=60, what="the fact")
        with pytest.raises(AmosError):  # a failing request is logged: still no content
            ipc.request(daemon.amos, {"op": "search", "query": {"text": 42}}, timeout=10)
    finally:
        assert daemon.stop(signal.SIGTERM) == 0
    log = daemon.log.read_text()
    assert "job consolidate" in log and "zanzibarcode" not in log.lower()


def test_export_json_and_zip_hold_everything_but_derived_state(
    mirror: ActiveMirror, vault_root: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    session = mirror.create_session("Exported")
    session.add_message("user", "My favorite tea is genmaicha.")
    session.complete()
    mirror.memory.consolidate()
    mirror.index()
    result = run_cli("export")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "amos-vault-export" and data["version"] == 1
    assert data["identity"]["identity_id"].startswith("mdna_usr_")
    assert "private" not in json.dumps(data["identity"]).lower()
    assert data["sessions"][0]["messages"][0]["content"] == "My favorite tea is genmaicha."
    assert data["facts"][0]["text"] == "Tester's favorite tea is genmaicha."
    assert data["facts"][0]["sources"][0].endswith(session.messages[0].id)

    target = tmp_path / "vault.zip"
    zipped = run_cli("export", "--format", "zip", "-o", str(target))
    assert zipped.returncode == 0, zipped.stderr
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        assert "export.json" in names and "identity.md" in names
        assert session.relative_path in names and "memory/preference.md" in names
        assert not [n for n in names if n.startswith(".amos")]
        assert json.loads(archive.read("export.json"))["facts"][0]["id"]
    assert run_cli("export", "--format", "txt").returncode == 2  # a vault is json or zip


def test_forget_leaves_nothing_in_files_index_or_sidecar(
    mirror: ActiveMirror, vault_root: Path
) -> None:
    session = mirror.create_session("To forget")
    session.add_message("user", "My favorite secret word is quillbright.")
    session.complete()
    fact = mirror.memory.consolidate().added[0]
    mirror.index()
    engine = mirror.engine
    assert engine.vectors is not None
    assert engine.vectors.vector_for(content_hash(fact.text)) is not None
    mirror.memory.forget(session.id)
    mirror.index()
    for path in vault_root.rglob("*"):
        if path.is_file() and ".amos" not in path.parts:
            assert "quillbright" not in path.read_text(errors="replace").lower(), path
    hits = mirror.search(MemoryQuery("quillbright", k=50)).hits
    assert not [h for h in hits if "quillbright" in h.text.lower()]
    assert engine.vectors.vector_for(content_hash(fact.text)) is None
    assert engine.vectors.vector_for(content_hash(session.messages[0].content)) is None


def test_the_daemon_socket_is_its_owners_only(vault_root: Path) -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert _same_user(left)
    daemon = DaemonProcess(vault_root)
    try:
        daemon.wait_ready()
        sock = daemon.amos / "daemon.sock"
        assert sock.stat().st_mode & 0o777 == 0o600
        assert daemon.amos.stat().st_mode & 0o777 == 0o700
        if os.getuid() == 0:  # act as another user: the socket refuses
            child = os.fork()
            if child == 0:  # pragma: no cover - the child only reports through its status
                code = 3
                try:
                    os.setuid(65534)  # nobody
                    with socket.socket(socket.AF_UNIX) as other:
                        other.settimeout(5)
                        other.connect(str(sock))
                    code = 1  # connected: wrong
                except PermissionError:
                    code = 0
                finally:
                    os._exit(code)
            _pid, status = os.waitpid(child, 0)
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        daemon.stop(signal.SIGTERM)


def test_files_the_tool_creates_are_owner_only(mirror: ActiveMirror) -> None:
    session = mirror.create_session("Modes")
    session.add_message("user", "hello")
    assert session.path is not None
    assert session.path.stat().st_mode & 0o777 == 0o600
    assert session.path.parent.stat().st_mode & 0o777 == 0o700
