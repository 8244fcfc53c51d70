"""The team server as a team runs it: a real PostgreSQL (tests/postgres.py), a real
`amosvault serve` subprocess on 127.0.0.1, real HTTP requests and a real MCP client over
streamable HTTP, tokens made and revoked with the real `amosvault token` commands.

Two identities, Ana and Ben, each with a vault: each sees their own text and what the other
shared with the team, never the other's private text; a revoked token and no token are
refused; a database restarted while the server answers gives 503 and then answers again.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from amos_vault.admin.scaffold import init_vault
from amos_vault.files.vault import Vault
from amos_vault.index.engines.postgres.connection import connect
from amos_vault.index.engines.postgres.migrations import migrate
from amos_vault.index.sync import chunk_file, indexed_files
from amos_vault.mirror import ActiveMirror
from amos_vault.runtime.tokens import secret_hash
from tests.conftest import wait_for
from tests.postgres import PostgresCluster

ANA_SECRET = "Ana's garage door code is 4711, keep it between us."
BEN_SECRET = "Ben's salary talk with Bluebird is on Friday, nobody else may know."
BEN_SHARED = "Team rule: deploys of the Bluebird service happen on Tuesday mornings."


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def amosvault(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess (this environment: PYTHONPATH, XDG dirs)."""
    return subprocess.run(
        [sys.executable, "-m", "amos_vault", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def make_vault(root: Path, name: str, key_dir: Path, sessions: list[tuple[str, str]]) -> str:
    """A vault of ``name`` with one session per (title, text); its identity id."""
    init_vault(root, name, key_dir)
    mirror = ActiveMirror(root, key_dir=key_dir)
    for title, text in sessions:
        mirror.create_session(title).add_message("user", text)
    assert mirror.identity is not None
    return mirror.identity.identity_id


def load_vault(url: str, root: Path, owner: str, shared: tuple[str, ...] = ()) -> None:
    """Write a vault's chunks into the team database as their owner (titles in ``shared``:
    shared with the team), through the request role and its row-level security."""
    vault = Vault.open(root)
    with psycopg.connect(url) as connection, connection.transaction():
        connection.execute("SET LOCAL ROLE amos_request")
        connection.execute("SELECT set_config('amos.identity', %s, true)", (owner,))
        connection.execute("SELECT set_config('amos.vault', %s, true)", (owner,))
        for rel, path in indexed_files(vault).items():
            chunks, _error = chunk_file(vault, rel, path.read_bytes())
            for c in chunks:
                connection.execute(
                    "INSERT INTO chunks (vault_id, key, owner, shared, chunk_id, kind, path,"
                    " session_key, session_id, message_id, status, role, author, tags, sources,"
                    " title, text, stamp, line_start, line_end, content_hash, context_terms,"
                    " own_terms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s, %s, %s, %s, %s, %s, to_tsvector('english', %s),"
                    " to_tsvector('english', %s))",
                    (
                        owner,
                        c.key,
                        owner,
                        c.title in shared,
                        c.chunk_id,
                        c.kind,
                        c.path,
                        c.session_key,
                        c.session_id,
                        c.message_id,
                        c.status,
                        c.role,
                        c.author,
                        list(c.tags),
                        list(c.sources),
                        c.title,
                        c.text,
                        int(c.timestamp.timestamp()) if c.timestamp else 0,
                        c.line_start,
                        c.line_end,
                        c.hash,
                        c.context_text,
                        c.text,
                    ),
                )


class TeamServer:
    """`amosvault serve` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amos_vault", "serve", "--url", url, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
        )

    def wait_ready(self) -> None:
        def up() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            with contextlib.suppress(OSError):
                return self.call("GET", "/health")[0] == 200
            return False

        wait_for(up, timeout=60, what="the team server to answer")

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any, str]:
        """(status, JSON body, raw body) of one request."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read().decode()
                return response.status, json.loads(raw), raw
        except urllib.error.HTTPError as error:
            raw = error.read().decode()
            return error.code, json.loads(raw), raw

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def create_token(url: str, identity: str, name: str = "") -> str:
    done = amosvault("token", "create", "--url", url, "--identity", identity, "--name", name)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def team(postgres_url: str, tmp_path: Path, user_dirs: Path) -> Iterator[dict[str, Any]]:
    """Ana's and Ben's vaults in one database, a token each, and a running server."""
    with connect(postgres_url) as connection:
        migrate(connection)
    ana = make_vault(
        tmp_path / "ana", "Ana", user_dirs, [("Garage", ANA_SECRET), ("Lunch", "Ana ate soup.")]
    )
    ben = make_vault(
        tmp_path / "ben",
        "Ben",
        user_dirs,
        [("Salary", BEN_SECRET), ("Deploy rules", BEN_SHARED)],
    )
    (tmp_path / "ana" / "memory" / "people.md").write_text(
        "# People\n\n- Ana prefers green tea in the morning.\n", encoding="utf-8"
    )
    load_vault(postgres_url, tmp_path / "ana", ana)
    load_vault(postgres_url, tmp_path / "ben", ben, shared=("Deploy rules",))
    tokens = {
        "ana": create_token(postgres_url, ana, "ana laptop"),
        "ben": create_token(postgres_url, ben),
    }
    server = TeamServer(postgres_url, tmp_path / "serve.log")
    try:
        server.wait_ready()
        yield {"server": server, "url": postgres_url, "ana": ana, "ben": ben, "tokens": tokens}
    finally:
        server.stop()


def texts(listing: dict[str, Any], key: str = "sessions") -> list[str]:
    return sorted(row.get("title") or row.get("text") for row in listing[key])


def test_each_identity_sees_its_own_and_shared_text_never_the_others(team: dict[str, Any]) -> None:
    server, tokens = team["server"], team["tokens"]
    status, ana, _ = server.call("GET", "/api/sessions", tokens["ana"])
    assert status == 200
    assert texts(ana) == ["Deploy rules", "Garage", "Lunch"]
    status, ben, _ = server.call("GET", "/api/sessions", tokens["ben"])
    assert texts(ben) == ["Deploy rules", "Salary"]

    shared = next(row for row in ana["sessions"] if row["title"] == "Deploy rules")
    assert shared["owner"] == team["ben"] and shared["shared"] is True
    status, read, _ = server.call("GET", f"/api/sessions/{shared['id']}", tokens["ana"])
    assert status == 200 and [m["content"] for m in read["messages"]] == [BEN_SHARED]

    # Ben's private session is not there for Ana, even by its exact id.
    salary = next(row for row in ben["sessions"] if row["title"] == "Salary")
    status, refused, _ = server.call("GET", f"/api/sessions/{salary['id']}", tokens["ana"])
    assert status == 404 and "list_sessions" in refused["hint"]
    assert BEN_SECRET not in json.dumps(refused)

    status, facts, _ = server.call("GET", "/api/facts", tokens["ana"])
    assert status == 200 and texts(facts, "facts") == ["Ana prefers green tea in the morning."]
    status, facts, _ = server.call("GET", "/api/facts", tokens["ben"])
    assert status == 200 and facts["facts"] == []


def test_mcp_over_http_answers_as_the_tokens_identity(team: dict[str, Any]) -> None:
    server, tokens = team["server"], team["tokens"]

    async def listed(token: str) -> tuple[set[str], str, str]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(f"{server.base}/mcp", http_client=http) as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            with anyio.fail_after(60):
                await session.initialize()
                tools = {tool.name for tool in (await session.list_tools()).tools}
                result = await session.call_tool("list_sessions", {})
                body = "".join(b.text for b in result.content if isinstance(b, TextContent))
                shared = next(
                    s["id"] for s in json.loads(body)["sessions"] if s["title"] == "Deploy rules"
                )
                read_result = await session.call_tool("read_session", {"session": shared})
                read_text = "".join(
                    b.text for b in read_result.content if isinstance(b, TextContent)
                )
        return tools, body, read_text

    tools, ana, read = anyio.run(listed, tokens["ana"])
    # The reading tools only: writing happens in each person's own vault.
    assert tools == {
        "search_memory",
        "list_facts",
        "build_context",
        "list_sessions",
        "read_session",
        "recent_activity",
    }
    assert "Garage" in ana and "Deploy rules" in ana and "Salary" not in ana
    assert BEN_SHARED in read
    _tools, ben, _read = anyio.run(listed, tokens["ben"])
    assert "Salary" in ben and "Garage" not in ben and "Lunch" not in ben


def test_no_token_or_a_refused_one_is_401_with_what_to_do(team: dict[str, Any]) -> None:
    server, tokens, url = team["server"], team["tokens"], team["url"]
    status, body, raw = server.call("GET", "/api/sessions")
    assert status == 401 and body["error"] == "no bearer token"
    assert "amosvault token create" in body["hint"] and "\n" not in raw
    status, body, _ = server.call("GET", "/api/sessions", "amv_" + "x" * 43)
    assert status == 401 and "unknown" in body["error"]
    status, body, _ = server.call("POST", "/mcp", None, {"jsonrpc": "2.0", "id": 1})
    assert status == 401

    listed = amosvault("token", "list", "--url", url, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {row["name"] for row in rows} == {"ana laptop", ""}
    assert tokens["ana"] not in listed.stdout  # the secret is shown once, at creation only
    revoked = amosvault("token", "revoke", "--url", url, "ana laptop")
    assert revoked.returncode == 0, revoked.stderr
    status, body, _ = server.call("GET", "/api/sessions", tokens["ana"])
    assert status == 401 and "revoked" in body["error"] and "token create" in body["hint"]
    assert server.call("GET", "/api/sessions", tokens["ben"])[0] == 200

    # The database keeps the SHA-256 of the secret, never the secret.
    with psycopg.connect(url) as connection:
        stored = connection.execute("SELECT secret_sha256 FROM amos_tokens").fetchall()
    assert bytes(secret_hash(tokens["ana"])) in {bytes(row[0]) for row in stored}
    # The request role cannot read the tokens.
    with psycopg.connect(url) as connection, connection.transaction():
        connection.execute("SET LOCAL ROLE amos_request")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("SELECT count(*) FROM amos_tokens")


def test_database_restart_while_serving_gives_503_then_recovers(
    team: dict[str, Any], postgres_cluster: PostgresCluster
) -> None:
    server, token = team["server"], team["tokens"]["ana"]
    assert server.call("GET", "/api/sessions", token)[0] == 200
    postgres_cluster.stop()
    try:
        status, body, raw = server.call("GET", "/api/sessions", token)
        assert status == 503, raw
        assert "PostgreSQL at 127.0.0.1" in body["error"] and "\n" not in raw
        assert "database server" in body["hint"]
        assert server.call("GET", "/health")[0] == 503
    finally:
        postgres_cluster.start()
    # The same server process answers again: its pool replaced the broken connections.
    deadline = time.monotonic() + 30
    while server.call("GET", "/api/sessions", token)[0] != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.2)
    assert server.proc.poll() is None
    status, listing, _ = server.call("GET", "/api/sessions", token)
    assert texts(listing) == ["Deploy rules", "Garage", "Lunch"]
