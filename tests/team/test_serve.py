"""The team server as a team runs it: a real PostgreSQL (tests/postgres.py), a real
`amosvault serve` subprocess on 127.0.0.1, real HTTP requests and a real MCP client over
streamable HTTP, tokens made and revoked with the real `amosvault token` commands.

Two identities, Ana and Ben, each with a vault indexed into the database by the real sync
path: each sees their own text and what the other shared with the team (``shared: team``),
never the other's private text, through the JSON API and through MCP; a revoked token and
no token are refused; a database restarted while the server answers gives 503 and then
answers again.
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

from amos_vault.files.identity import load_identity
from amos_vault.runtime.tokens import secret_hash
from tests.conftest import wait_for
from tests.postgres import PostgresCluster
from tests.team.conftest import TeamVault, share

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
def team(team_vault: TeamVault, postgres_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Ana's and Ben's vaults indexed into one database by the real sync path (with the real
    embedding model), a token each, and a running server."""
    ana, ben = team_vault("ana"), team_vault("ben")
    ana.create_session("Garage").add_message("user", ANA_SECRET)
    ana.create_session("Lunch").add_message("user", "Ana ate soup at the Bluebird cafe.")
    (ana.vault.memory_dir / "people.md").write_text(
        "# People\n\n- Ana prefers green tea in the morning.\n", encoding="utf-8"
    )
    ben.create_session("Salary").add_message("user", BEN_SECRET)
    deploy = ben.create_session("Deploy rules")
    deploy.add_message("user", BEN_SHARED)
    share(deploy)
    for mirror in (ana, ben):
        report = mirror.index()
        assert not report.errors, report.errors
    ana_id = load_identity(ana.vault.identity_path).identity_id
    ben_id = load_identity(ben.vault.identity_path).identity_id
    tokens = {
        "ana": create_token(postgres_url, ana_id, "ana laptop"),
        "ben": create_token(postgres_url, ben_id),
    }
    server = TeamServer(postgres_url, tmp_path / "serve.log")
    try:
        server.wait_ready()
        yield {
            "server": server,
            "url": postgres_url,
            "ana": ana_id,
            "ben": ben_id,
            "tokens": tokens,
        }
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


def test_search_context_and_ask_answer_from_what_the_token_may_see(team: dict[str, Any]) -> None:
    server, tokens = team["server"], team["tokens"]
    status, found, _ = server.call("POST", "/api/search", tokens["ana"], {"query": "Bluebird"})
    assert status == 200, found
    assert found["mode"] == "hybrid" and found["identity"] == team["ana"]
    hits = [hit["text"] for hit in found["hits"]]
    assert BEN_SHARED in hits and "Ana ate soup at the Bluebird cafe." in hits
    assert BEN_SECRET not in json.dumps(found)
    status, found, _ = server.call("POST", "/api/search", tokens["ben"], {"query": "Bluebird"})
    assert status == 200 and BEN_SECRET in [hit["text"] for hit in found["hits"]]
    assert "soup" not in json.dumps(found)

    question = {"question": "What is happening with Bluebird?"}
    status, context, _ = server.call("POST", "/api/context", tokens["ana"], question)
    assert status == 200 and any(p["text"] == BEN_SHARED for p in context["pieces"])
    assert BEN_SECRET not in json.dumps(context)
    status, answer, _ = server.call("POST", "/api/ask", tokens["ana"], question)
    assert status == 200 and answer["engine"] == "extractive" and answer["notice"]
    assert BEN_SHARED in answer["answer"] and BEN_SECRET not in json.dumps(answer)

    # Bad input: one line saying what to do, never a traceback.
    for body, words in (
        ({"query": ""}, "the query is empty"),
        ({"query": "x", "k": 0}, "'k' must be a whole number"),
        ({"query": "x", "kinds": ["poem"]}, "unknown kind"),
        ({"query": "x" * 300_000}, "the body is over 256 KiB"),
    ):
        status, refused, raw = server.call("POST", "/api/search", tokens["ana"], body)
        assert status == 400 and words in refused["error"], raw
    request = urllib.request.Request(server.base + "/api/search", data=b"{not json", method="POST")
    request.add_header("Authorization", f"Bearer {tokens['ana']}")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 400 and "not JSON" in json.loads(raised.value.read())["error"]


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
                searched = await session.call_tool("search_memory", {"query": "Bluebird"})
                read_text += "".join(b.text for b in searched.content if isinstance(b, TextContent))
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
    assert BEN_SHARED in read and BEN_SECRET not in read
    _tools, ben, read = anyio.run(listed, tokens["ben"])
    assert "Salary" in ben and "Garage" not in ben and "Lunch" not in ben
    assert BEN_SECRET in read and "soup" not in read


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
    # Restarted between two requests: the pool checks each connection before use, so the
    # next request does not even see it.
    postgres_cluster.restart()
    assert server.call("POST", "/api/search", token, {"query": "garage"})[0] == 200


def test_token_commands_say_what_to_do(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = amosvault(
        "token",
        "create",
        "--url",
        postgres_url,
        "--identity",
        "mdna_usr_a",
        "--name",
        "ci",
        "--json",
    )
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    assert made["secret"].startswith("amv_") and made["identity"] == "mdna_usr_a"
    create_token(postgres_url, "mdna_usr_b", "ci")
    twice = amosvault("token", "revoke", "--url", postgres_url, "ci")
    assert twice.returncode == 1 and "2 tokens are named 'ci'" in twice.stderr
    assert "by its id" in twice.stderr
    assert amosvault("token", "revoke", "--url", postgres_url, made["id"]).returncode == 0
    again = amosvault("token", "revoke", "--url", postgres_url, made["id"])
    assert again.returncode == 0  # revoking twice changes nothing
    unknown = amosvault("token", "revoke", "--url", postgres_url, "t-00000000")
    assert unknown.returncode == 1 and "token list" in unknown.stderr
    listed = amosvault("token", "list", "--url", postgres_url)
    assert "revoked" in listed.stdout and "live" in listed.stdout
    assert made["secret"] not in listed.stdout
    blank = amosvault("token", "create", "--url", postgres_url, "--identity", " ")
    assert blank.returncode == 1 and "--identity" in blank.stderr

    monkeypatch.delenv("AMOS_DATABASE_URL", raising=False)
    nowhere = amosvault("token", "list")
    assert nowhere.returncode == 1 and "AMOS_DATABASE_URL" in nowhere.stderr
    down = amosvault("serve", "--url", "postgresql://amos:secret@127.0.0.1:1/amos")
    assert down.returncode == 1 and "cannot reach PostgreSQL" in down.stderr
    assert "secret" not in down.stderr and "Traceback" not in down.stderr
