"""`amosvault chat` as a person uses it: paused sessions, leaving, and links that resolve."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import RunCli

NO_MODEL = {"OLLAMA_HOST": "http://127.0.0.1:9"}


def test_chat_on_a_paused_session_refuses_with_the_command_to_resume(
    run_cli: RunCli,
) -> None:
    made = json.loads(run_cli("new", "Paused one", "--json").stdout)
    assert run_cli("pause", made["id"]).returncode == 0
    done = run_cli("chat", "--session", made["id"], input="hello\n", env=NO_MODEL)
    assert done.returncode == 1
    assert f"session {made['id']} is paused" in done.stderr
    assert f"amosvault resume {made['id']}" in done.stderr
    shown = json.loads(run_cli("show", made["id"], "--json").stdout)
    assert shown["session"]["status"] == "paused" and shown["messages"] == []


def test_leaving_chat_says_how_to_continue(run_cli: RunCli, vault_root: Path) -> None:
    left = run_cli("chat", "--title", "Left", input="", env=NO_MODEL)  # Ctrl-D
    assert left.returncode == 0
    session_id = re.search(r"Session (\w+):", left.stdout).group(1)  # type: ignore[union-attr]
    assert f"Continue later: amosvault chat --session {session_id}" in left.stdout

    # Ctrl-C at the `you>` prompt.
    proc = subprocess.Popen(
        [sys.executable, "-m", "amos_vault", "--vault", str(vault_root), "chat", "--title", "C"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **NO_MODEL},
    )
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"you" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.read1(4096)
        assert b"you" in seen, seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert b"Continue later: amosvault chat --session " in seen + out


def test_chat_writes_the_id_of_a_hand_typed_source_before_linking_to_it(
    run_cli: RunCli, vault_root: Path
) -> None:
    notes = vault_root / "sessions" / "bees.md"
    notes.write_text(
        "---\nid: bees0001\ntitle: Bees\nstatus: active\n---\n\n"
        "**user** · 2026-11-20 10:00:00Z\n\nI keep two beehives on the roof in Lyon.\n"
    )
    done = run_cli("chat", "--title", "Ask", input="where do I keep beehives\n", env=NO_MODEL)
    assert done.returncode == 0, done.stderr
    chat = next(s for s in json.loads(run_cli("list", "--json").stdout) if s["title"] == "Ask")
    answer = json.loads(run_cli("show", chat["id"], "--json").stdout)["messages"][-1]
    source = "[[sessions/bees#^"  # the file's path in the vault: exactly one file answers
    links = [link for link in answer["metadata"]["sources"] if link.startswith(source)]
    assert links, answer["metadata"]["sources"]
    message_id = links[0].removeprefix(source).removesuffix("]]")
    header = notes.read_text().splitlines()[6]
    assert header == f"**user** · 2026-11-20 10:00:00Z ^{message_id}"  # the link resolves
