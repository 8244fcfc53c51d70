"""The Ollama provider, with the real `ollama` client, against the stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from amos_vault.llm.providers import (
    LLMError,
    ModelMissingError,
    ModelUnreachableError,
    OllamaProvider,
)
from tests.conftest import RunCli
from tests.ollama_standin import OllamaStandIn


@pytest.fixture
def standin() -> Iterator[OllamaStandIn]:
    server = OllamaStandIn().start()
    yield server
    server.stop()


def test_streams_the_reply_in_pieces(standin: OllamaStandIn) -> None:
    standin.script.reply = lambda request: "Sardines, grilled, by the river."
    provider = OllamaProvider(standin.url, "standin:latest", timeout=10)
    pieces = list(provider.chat([{"role": "user", "content": "What should I eat?"}]))
    assert len(pieces) > 1 and "".join(pieces) == "Sardines, grilled, by the river."
    request = standin.script.requests[-1]
    assert request["path"] == "/api/chat" and request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": "What should I eat?"}]
    assert provider.models() == ["standin:latest"]


def test_structured_output_schema_reaches_the_server(standin: OllamaStandIn) -> None:
    standin.script.reply = lambda request: '{"facts": []}'
    schema = {"type": "object", "properties": {"facts": {"type": "array"}}}
    provider = OllamaProvider(standin.url, "standin:latest", timeout=10)
    assert (
        "".join(provider.chat([{"role": "user", "content": "x"}], format=schema)) == '{"facts": []}'
    )
    assert standin.script.requests[-1]["format"] == schema


def test_a_missing_model_says_to_pull_it(standin: OllamaStandIn) -> None:
    provider = OllamaProvider(standin.url, "llama9:70b", timeout=10)
    with pytest.raises(ModelMissingError) as info:
        list(provider.chat([{"role": "user", "content": "hi"}]))
    assert info.value.hint and "ollama pull llama9:70b" in info.value.hint


def test_an_unreachable_server_names_the_address() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OllamaProvider(f"http://127.0.0.1:{port}", "standin:latest", timeout=5)
    with pytest.raises(ModelUnreachableError) as info:
        list(provider.chat([{"role": "user", "content": "hi"}]))
    assert f"127.0.0.1:{port}" in (info.value.hint or "") and "ollama serve" in (
        info.value.hint or ""
    )


def test_a_slow_server_times_out_with_a_clear_error(standin: OllamaStandIn) -> None:
    standin.script.delay = 1.5
    provider = OllamaProvider(standin.url, "standin:latest", timeout=0.5)
    with pytest.raises(LLMError, match="did not answer within"):
        list(provider.chat([{"role": "user", "content": "hi"}]))


def test_a_dropped_connection_keeps_what_was_received(standin: OllamaStandIn) -> None:
    standin.script.reply = lambda request: "one two three four five six"
    standin.script.drop_after = 2
    provider = OllamaProvider(standin.url, "standin:latest", timeout=10)
    received: list[str] = []
    with pytest.raises(LLMError, match="dropped"):
        for piece in provider.chat([{"role": "user", "content": "hi"}]):
            received.append(piece)
    assert "".join(received) == "one two th"


def test_a_server_error_is_reported(standin: OllamaStandIn) -> None:
    standin.script.status = 500
    provider = OllamaProvider(standin.url, "standin:latest", timeout=10)
    with pytest.raises(LLMError, match="answered with an error"):
        list(provider.chat([{"role": "user", "content": "hi"}]))


@pytest.mark.parametrize("address", ["http://127.0.0.1:99999", "http://[::1"])
def test_a_malformed_ollama_host_still_answers_from_the_vault(
    run_cli: RunCli, address: str
) -> None:
    # `import ollama` itself parses OLLAMA_HOST: a bad one used to escape as a ValueError.
    made = json.loads(run_cli("new", "Trip", "--json").stdout)
    run_cli("add", made["id"], "I love grilled sardines.")
    asked = run_cli("ask", "what do I love to eat", env={"OLLAMA_HOST": address})
    assert asked.returncode == 0, asked.stderr
    assert "sardines" in asked.stdout and "this is a bug" not in asked.stderr
    assert f"the Ollama address {address!r} is not valid" in asked.stderr

    chatted = run_cli("chat", "--title", "Bad host", input="hello\n", env={"OLLAMA_HOST": address})
    assert chatted.returncode == 0, chatted.stderr
    assert "this is a bug" not in chatted.stderr
    chat = next(s for s in json.loads(run_cli("list", "--json").stdout) if s["title"] == "Bad host")
    shown = json.loads(run_cli("show", chat["id"], "--json").stdout)
    assert [m["content"] for m in shown["messages"]][:1] == ["hello"]
