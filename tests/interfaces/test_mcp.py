"""The MCP server as clients run it: `amosvault mcp` in a real subprocess, driven over stdio by
the SDK's own client (ClientSession + stdio_client); one server for most of the module."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from amos_vault.admin.scaffold import init_vault
from amos_vault.mirror import ActiveMirror
from tests.conftest import DaemonProcess, user_env, wait_for

CALL_TIMEOUT = 120.0  # generous: the first search loads the model and builds the index
TOOLS = {
    "search_memory",
    "build_context",
    "list_sessions",
    "read_session",
    "start_session",
    "append_message",
    "remember_fact",
    "forget",
    "recent_activity",
    "import_export",
    "list_facts",
}


class Client:
    """A connected MCP client session, called from plain (sync) tests through a portal."""

    def __init__(self, portal: BlockingPortal, session: ClientSession, errlog: Path) -> None:
        self.portal = portal
        self.session = session
        self.errlog = errlog

    def _run(self, method: str, *args: Any) -> Any:
        async def bounded() -> Any:
            with anyio.fail_after(CALL_TIMEOUT):
                return await getattr(self.session, method)(*args)

        return self.portal.call(bounded)

    def call(self, name: str, **arguments: Any) -> CallToolResult:
        result = self._run("call_tool", name, arguments)
        assert isinstance(result, CallToolResult)
        return result

    def ok(self, name: str, **arguments: Any) -> dict[str, Any]:
        """A tool's structured result; fails the test with the server's words on an error."""
        result = self.call(name, **arguments)
        assert not result.is_error, f"{name}: {text_of(result)}\n{self.errlog.read_text()}"
        assert result.structured_content is not None
        return result.structured_content

    def error(self, name: str, **arguments: Any) -> str:
        """A tool's error message (the call must fail, and cleanly)."""
        result = self.call(name, **arguments)
        assert result.is_error, f"{name} should have failed: {text_of(result)}"
        message = text_of(result)
        assert "Traceback" not in message and 'File "' not in message
        return message

    def list_tools(self) -> list[Any]:
        return list(self._run("list_tools").tools)

    def list_resources(self) -> list[Any]:
        return list(self._run("list_resources").resources)

    def read(self, uri: str) -> str:
        contents = self._run("read_resource", uri).contents
        assert len(contents) == 1 and isinstance(contents[0], TextResourceContents)
        return contents[0].text


def text_of(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


@contextlib.contextmanager
def mcp_client(vault: Path, env: dict[str, str]) -> Iterator[Client]:
    """`python -m amos_vault mcp --vault VAULT` over stdio, initialised, for the block."""
    errlog = vault.parent / f"mcp-{threading.get_ident()}-{os.getpid()}.log"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "amos_vault", "mcp", "--vault", str(vault)],
        env=env,
        cwd=str(vault.parent),
    )

    @contextlib.asynccontextmanager
    async def connected() -> AsyncIterator[ClientSession]:
        with errlog.open("w") as err:
            async with (
                stdio_client(params, errlog=err) as (read, write),
                ClientSession(read, write) as session,
            ):
                with anyio.fail_after(60):
                    await session.initialize()
                yield session

    with start_blocking_portal() as portal, portal.wrap_async_context_manager(connected()) as s:
        yield Client(portal, s, errlog)


SEED = {
    "trip": ("Trip to Lisbon", ["travel"], [
        ("user", "Where should we eat in Lisbon?"),
        ("assistant", "Grilled sardines at a tasca in Alfama, and pastel de nata in Belém."),
    ]),
    "mvp": ("Plan the MVP", ["work"], [
        ("user", "What should the MVP contain?"),
        ("assistant", "Three parts: storage in Markdown, hybrid search, and a daemon."),
    ]),
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A seeded vault and one MCP server over it, shared by the module's tests."""
    base = tmp_path_factory.mktemp("mcp")
    env = user_env(base)
    root = base / "vault"
    init_vault(root, "Tester", Path(env["XDG_CONFIG_HOME"]) / "amos-vault")
    mirror = ActiveMirror(root, key_dir=Path(env["XDG_CONFIG_HOME"]) / "amos-vault")
    ids = {}
    for key, (title, tags, messages) in SEED.items():
        session = mirror.create_session(title, tags=tags)
        for role, content in messages:
            session.add_message(role, content)
        ids[key] = session.id
    done = mirror.create_session("Finished work")
    done.add_message("user", "All wrapped up.")
    done.complete()
    ids["done"] = done.id
    (root / "memory" / "people.md").write_text(
        "# People\n\n- Ana's sister Rita lives in Porto.\n", encoding="utf-8"
    )
    with mcp_client(root, env) as client:
        yield {"client": client, "root": root, "ids": ids, "mirror": mirror, "env": env}


def test_tools_have_typed_schemas_and_hints(world: dict[str, Any]) -> None:
    tools = {tool.name: tool for tool in world["client"].list_tools()}
    assert set(tools) == TOOLS
    search = tools["search_memory"].input_schema
    assert search["required"] == ["query"]
    assert search["properties"]["k"]["maximum"] == 100
    assert "session" in search["properties"] and "role" in search["properties"]
    append = tools["append_message"].input_schema
    assert sorted(append["required"]) == ["content", "role", "session"]
    assert tools["search_memory"].annotations.read_only_hint is True
    assert tools["forget"].annotations.destructive_hint is True
    assert all(tool.description for tool in tools.values())


def test_search_returns_snippets_with_file_line_and_message_link(world: dict[str, Any]) -> None:
    client, root, ids = world["client"], world["root"], world["ids"]
    found = client.ok("search_memory", query="where to eat sardines", k=5)
    assert found["served_by"] == "in-process" and found["mode"] == "hybrid"
    top = found["hits"][0]
    assert top["session_id"] == ids["trip"] and top["role"] == "assistant"
    assert "sardines" in top["snippet"]
    target = top["path"].removesuffix(".md")  # the vault path: exactly one file answers it
    assert top["link"] == f"[[{target}#^{top['message_id']}]]"
    assert top["uri"] == f"amos://session/{ids['trip']}"
    header = (root / top["path"]).read_text(encoding="utf-8").splitlines()[top["line"] - 1]
    assert header.startswith("**assistant**") and header.endswith(f"^{top['message_id']}")

    # The filters of the CLI's search, and the role.
    only_user = client.ok("search_memory", query="sardines Lisbon", role="user")["hits"]
    assert only_user and {h["role"] for h in only_user} == {"user"}
    in_mvp = client.ok("search_memory", query="sardines", session=ids["mvp"][:6])["hits"]
    assert {h["session_id"] for h in in_mvp} <= {ids["mvp"]}
    tagged = client.ok("search_memory", query="what goes in it", tags=["#work"])["hits"]
    assert tagged and {h["session_id"] for h in tagged} == {ids["mvp"]}
    sessions = client.ok("search_memory", query="Lisbon", kinds=["session"])["hits"]
    assert sessions and {h["kind"] for h in sessions} == {"session"}
    old = client.ok("search_memory", query="sardines", kinds=["message"], until="2000-01-01")
    assert old["hits"] == []  # (undated chunks, like notes, pass date filters)
    assert client.ok("search_memory", query="sardines", kinds=["message"], since="2000-01-01")[
        "hits"
    ]
    facts = client.ok("search_memory", query="Rita Porto", kinds=["fact"])["hits"]
    assert facts[0]["path"] == "memory/people.md" and facts[0]["uri"] == "amos://memory/people"


def test_bad_arguments_and_missing_sessions_are_clear_errors(world: dict[str, Any]) -> None:
    client, ids = world["client"], world["ids"]
    too_many = client.error("search_memory", query="x", k=5000)
    assert "bad arguments for search_memory: k:" in too_many and "5000" in too_many
    assert "query: Field required" in client.error("search_memory", k=3)
    assert "kinds.0" in client.error("search_memory", query="x", kinds=["bogus"])
    assert "role" in client.error("append_message", session=ids["trip"], role="bot", content="hi")
    assert "give since as YYYY-MM-DD" in client.error("search_memory", query="x", since="yesterday")
    for tool, arguments in (
        ("read_session", {"session": "zzzz"}),
        ("append_message", {"session": "zzzz", "role": "user", "content": "hello"}),
        ("search_memory", {"query": "x", "session": "zzzz"}),
        ("build_context", {"question": "x", "session": "zzzz"}),
        ("start_session", {"title": "Child", "parent": "zzzz"}),
    ):
        message = client.error(tool, **arguments)
        assert "no session matches 'zzzz'" in message and "call list_sessions" in message
    closed = client.error("append_message", session=ids["done"], role="user", content="more")
    assert "is completed" in closed and "start a new session" in closed
    assert "the query is empty" in client.error("search_memory", query="   ")
    assert "Unknown tool: nope" in client.error("nope")
    # Still serving after all of that.
    assert client.ok("list_sessions")["total"] >= 3


def test_sessions_are_written_to_the_vault_and_found_by_search(world: dict[str, Any]) -> None:
    client, root, ids = world["client"], world["root"], world["ids"]
    made = client.ok("start_session", title="Aquarium notes", tags=["fish"], parent=ids["trip"])
    path = root / made["path"]
    assert path.is_file() and made["parent_id"] == ids["trip"] and made["tags"] == ["fish"]
    question = client.ok(
        "append_message", session=made["id"][:6], role="user", content="Do axolotls regrow limbs?"
    )
    answer = client.ok(
        "append_message",
        session=made["id"],
        role="assistant",
        content="Yes: an axolotl regrows whole limbs, even parts of its heart.",
    )
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for written in (question, answer):
        target = made["path"].removesuffix(".md")
        assert written["link"] == f"[[{target}#^{written['message_id']}]]"
        assert lines[written["line"] - 1].endswith(f"^{written['message_id']}")
    assert "an axolotl regrows whole limbs" in text
    # The library reads what the server wrote.
    stored = ActiveMirror(root).load_session(made["id"])
    assert [m.id for m in stored.messages] == [question["message_id"], answer["message_id"]]

    hits = client.ok("search_memory", query="axolotl regrows limbs")["hits"]
    assert {h["message_id"] for h in hits[:2]} == {question["message_id"], answer["message_id"]}
    read = client.ok("read_session", session=made["id"])
    assert [m["content"] for m in read["messages"]][1].startswith("Yes: an axolotl")
    assert client.ok("read_session", session=made["id"], last=1)["shown"] == 1
    listed = client.ok("list_sessions", tag="fish")
    assert [s["id"] for s in listed["sessions"]] == [made["id"]]
    assert client.ok("list_sessions", status="completed")["sessions"][0]["id"] == ids["done"]
    recent = client.ok("recent_activity", limit=2, messages=1)["sessions"]
    assert recent[0]["id"] == made["id"]
    assert [m["id"] for m in recent[0]["recent_messages"]] == [answer["message_id"]]


def test_appends_from_the_server_and_another_process_never_lose_a_message(
    world: dict[str, Any],
) -> None:
    client, root = world["client"], world["root"]
    session = client.ok("start_session", title="Busy session")
    other = ActiveMirror(root).load_session(session["id"])

    def from_library() -> None:
        for n in range(15):
            other.add_message("assistant", f"library turn {n}")

    writer = threading.Thread(target=from_library)
    writer.start()
    for n in range(15):
        client.ok("append_message", session=session["id"], role="user", content=f"mcp turn {n}")
    writer.join(timeout=60)
    contents = [m.content for m in ActiveMirror(root).load_session(session["id"]).messages]
    assert sorted(contents) == sorted(
        [f"mcp turn {n}" for n in range(15)] + [f"library turn {n}" for n in range(15)]
    )


def test_build_context_gives_pieces_with_provenance(world: dict[str, Any]) -> None:
    client, ids = world["client"], world["ids"]
    context = client.ok(
        "build_context", question="Which pastry did we want in Belém?", session=ids["mvp"]
    )
    assert context["served_by"] == "in-process"
    sections = {piece["section"] for piece in context["pieces"]}
    assert {"identity", "metadata", "immediate", "long_term"} <= sections
    lisbon = [p for p in context["pieces"] if p["session_id"] == ids["trip"]]
    assert lisbon and lisbon[0]["link"].startswith("[[") and lisbon[0]["cite"]
    assert context["tokens"] <= context["budget"]
    alone = client.ok("build_context", question="sardines")
    assert alone["question"] == "sardines" and "immediate" not in {
        p["section"] for p in alone["pieces"]
    }


def test_resources_list_and_read_sessions_and_memory_notes(world: dict[str, Any]) -> None:
    client, root, ids = world["client"], world["root"], world["ids"]
    uris = {resource.uri: resource for resource in client.list_resources()}
    for session_id in ids.values():
        assert f"amos://session/{session_id}" in uris
    assert uris["amos://memory/people"].mime_type == "text/markdown"
    assert uris[f"amos://session/{ids['trip']}"].title == "Trip to Lisbon"

    trip = ActiveMirror(root).load_session(ids["trip"])
    assert trip.path is not None
    assert client.read(f"amos://session/{ids['trip']}") == trip.path.read_text(encoding="utf-8")
    assert client.read(f"amos://session/{ids['trip'][:5]}") == trip.path.read_text()
    assert "Rita lives in Porto" in client.read("amos://memory/people")
    assert "Rita lives in Porto" in client.read("amos://memory/people.md")
    for missing in ("amos://session/zzzz", "amos://memory/nobody", "amos://memory/../identity"):
        with pytest.raises(MCPError) as caught:
            client.read(missing)
        assert "Traceback" not in str(caught.value)


def test_remember_fact_is_searchable_and_forget_removes_it(world: dict[str, Any]) -> None:
    client, root, ids = world["client"], world["root"], world["ids"]
    trip = ActiveMirror(root).load_session(ids["trip"])
    source = f"{ids['trip']}#{trip.messages[1].id}"
    fact = client.ok(
        "remember_fact",
        text="The user loves grilled sardines.",
        type="preference",
        confidence=0.9,
        source=source,
    )
    assert re.fullmatch(r"f-[0-9a-f]{8}", fact["id"]) and fact["type"] == "preference"
    assert "loves grilled sardines" in (root / fact["note"]).read_text(encoding="utf-8")
    assert fact["uri"] and "loves grilled sardines" in client.read(fact["uri"])
    hits = client.ok("search_memory", query="loves grilled sardines", kinds=["fact"])["hits"]
    assert any("loves grilled sardines" in h["text"] for h in hits)
    hits = client.ok("search_memory", query="loves grilled sardines", k=1)["hits"]
    assert [(h["rank"], h["kind"], h["message_id"]) for h in hits] == [
        (1, "message", trip.messages[1].id),
        (1, "fact", fact["id"]),  # found with the message it came from: one result
    ]
    assert hits[1]["attached_to"] and not hits[0]["attached_to"]

    assert "confidence" in client.error("remember_fact", text="x", confidence=2)
    assert "type" in client.error("remember_fact", text="x", type="rumour")

    gone = client.ok("forget", target=fact["id"])
    assert gone["facts"] == [fact["id"]] and fact["note"] in gone["files"]
    hits = client.ok("search_memory", query="loves grilled sardines", kinds=["fact"])["hits"]
    assert not any("loves grilled sardines" in h["text"] for h in hits)
    assert client.error("forget", target=fact["id"])  # nothing left to forget


def test_forget_a_session_removes_its_file_and_its_messages(world: dict[str, Any]) -> None:
    client, root = world["client"], world["root"]
    made = client.ok("start_session", title="Secret plans")
    client.ok("append_message", session=made["id"], role="user", content="The quetzal code.")
    assert client.ok("search_memory", query="quetzal code")["hits"]
    assert "full id" in client.error("forget", target=made["id"][:8])
    gone = client.ok("forget", target=made["id"])
    assert gone["sessions"] == [made["id"]] and made["path"] in gone["files"]
    assert not (root / made["path"]).exists()
    hits = client.ok("search_memory", query="quetzal code")["hits"]
    assert not any(h["session_id"] == made["id"] for h in hits)
    assert "no session matches" in client.error("read_session", session=made["id"])


def test_with_a_daemon_search_and_context_go_through_its_socket(vault_root: Path) -> None:
    daemon = DaemonProcess(vault_root)
    try:
        daemon.wait_ready()
        env = {k: os.environ[k] for k in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
        with mcp_client(vault_root, env) as client:
            made = client.ok("start_session", title="Pond life")
            client.ok("append_message", session=made["id"], role="user", content="The newt hid.")
            before = daemon.status()["queries"]  # type: ignore[index]
            found = client.ok("search_memory", query="newt hid")  # no wait: ours are synced
            assert found["served_by"] == "daemon"
            assert found["hits"][0]["session_id"] == made["id"]
            assert daemon.status()["queries"] == before + 1  # type: ignore[index]
            context = client.ok("build_context", question="what hid?", session=made["id"])
            assert context["served_by"] == "daemon"
            assert any(p["text"] == "The newt hid." for p in context["pieces"])
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log.read_text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_http_serves_on_loopback(vault_root: Path) -> None:
    port = _free_port()
    errlog = vault_root.parent / "mcp-http.log"
    with errlog.open("wb") as err:
        command = ["mcp", "--vault", str(vault_root), "--http", "--port", str(port)]
        server = subprocess.Popen(
            [sys.executable, "-m", "amos_vault", *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:

        def listening() -> bool:
            assert server.poll() is None, errlog.read_text()
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, what="the HTTP server to listen")

        async def talk() -> tuple[set[str], dict[str, Any]]:
            with anyio.fail_after(60):
                url = f"http://127.0.0.1:{port}/mcp"
                async with (
                    streamable_http_client(url) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    tools = {tool.name for tool in (await session.list_tools()).tools}
                    result = await session.call_tool("start_session", {"title": "Over HTTP"})
                    assert result.structured_content is not None
                    return tools, result.structured_content

        tools, made = anyio.run(talk)
        assert tools == TOOLS
        assert (vault_root / made["path"]).is_file()
        assert f"http://127.0.0.1:{port}/mcp" in errlog.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_import_export_tool_imports_a_jsonl_file_once(
    world: dict[str, Any], tmp_path: Path
) -> None:
    client, root = world["client"], world["root"]
    chats = tmp_path / "chats.jsonl"
    chats.write_text(
        '{"conversation": "c1", "title": "Boat trip", "role": "user", '
        '"time": "2024-05-01T10:00:00Z", "text": "The ferry to Ischia leaves at nine."}\n'
    )
    first = client.ok("import_export", path=str(chats), kind="jsonl")
    assert first["sessions_created"] == 1, first
    again = client.ok("import_export", path=str(chats), kind="jsonl")
    assert again["sessions_created"] == 0 and again["messages_created"] == 0
    assert any("Boat trip" in p.read_text() for p in (root / "sessions").rglob("*.md"))
    assert "kind" in client.error("import_export", path=str(chats), kind="myspace")
