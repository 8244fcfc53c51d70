"""Importing a large ChatGPT export, measured: rate, peak memory, and the index catching up.

Generates a ChatGPT ``conversations.json`` of realistic sizes (default 10,000 conversations:
4 to 40 messages each, answers of a few paragraphs, one conversation in eight with an edited
prompt or a regenerated answer, some code-interpreter runs and images, a hidden system
message in each), then, each as its own process:
  1. `amosvault import chatgpt`: messages/s and peak RSS (target <= 300 MB whatever the size
     of the export: it is streamed one conversation at a time);
  2. the same import again: the time to find that nothing is new (nothing is written);
  3. `amosvault index`: the time for the index to catch up with the imported sessions.

Usage: python scripts/bench_import.py [--conversations N] [--work DIR] [--no-index] [--json OUT]
The machine may be shared: figures vary from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from bench_scale import TOPICS, message_text

T0 = 1_600_000_000.0


def _node(node_id: str, parent: str | None, message: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": node_id, "message": message, "parent": parent, "children": []}


def _message(
    node_id: str, role: str, content: dict[str, Any], when: float, **extra: Any
) -> dict[str, Any]:
    name, recipient = extra.pop("name", None), extra.pop("recipient", "all")
    return {
        "id": node_id,
        "author": {"role": role, "name": name, "metadata": {}},
        "create_time": when,
        "update_time": None,
        "content": content,
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": {"model_slug": "gpt-4o", "request_id": "8c1f0e2b9a7d", **extra},
        "recipient": recipient,
    }


def _text(parts: list[Any]) -> dict[str, Any]:
    return {"content_type": "text" if all(isinstance(p, str) for p in parts) else
            "multimodal_text", "parts": parts}  # fmt: skip


def conversation(rng: random.Random, number: int) -> tuple[dict[str, Any], int]:
    """One conversation of the export, and how many of its messages are visible."""
    topic = rng.choice(list(TOPICS))
    when = T0 + number * 3600.0
    conv_id = f"6{number:07d}-bench-4c1e-9a2f-{rng.getrandbits(48):012x}"
    nodes = [_node("root", None, None)]
    system = _message("sys", "system", _text([""]), when, is_visually_hidden_from_conversation=True)
    nodes.append(_node("sys", "root", system))
    parent, visible = "sys", 0
    for turn in range(rng.randint(2, 20)):
        when += rng.uniform(5, 120)
        parts: list[Any] = [message_text(rng, topic, "user")]
        if rng.random() < 0.03:
            pointer = {"content_type": "image_asset_pointer", "width": 1024, "height": 768,
                       "asset_pointer": f"file-service://file-{rng.getrandbits(64):x}"}  # fmt: skip
            parts.insert(0, pointer)
        user = f"u{turn}"
        nodes.append(_node(user, parent, _message(user, "user", _text(parts), when)))
        if rng.random() < 0.05:  # a code-interpreter run: tool plumbing, left out by default
            code = {"content_type": "code", "language": "python", "text": "print(sum(range(10)))"}
            out = {"content_type": "execution_output", "text": "45"}
            nodes.append(_node(f"c{turn}", user, _message(f"c{turn}", "assistant", code, when,
                                                          recipient="python")))  # fmt: skip
            nodes.append(_node(f"o{turn}", f"c{turn}", _message(f"o{turn}", "tool", out, when,
                                                                name="python")))  # fmt: skip
            user = f"o{turn}"
        answer = "\n\n".join(
            message_text(rng, topic, "assistant") for _ in range(rng.randint(1, 5))
        )
        nodes.append(_node(f"a{turn}", user, _message(f"a{turn}", "assistant", _text([answer]),
                                                      when + 8)))  # fmt: skip
        visible += 2
        if rng.random() < 0.01:  # a regenerated answer
            again = message_text(rng, topic, "assistant")
            nodes.append(_node(f"r{turn}", user, _message(f"r{turn}", "assistant",
                                                          _text([again]), when + 30)))  # fmt: skip
            visible += 1
        parent = f"a{turn}"
    if rng.random() < 0.05:  # an edited first prompt, with its own answer
        edit = message_text(rng, topic, "user")
        nodes.append(_node("e0", "sys", _message("e0", "user", _text([edit]), when + 60)))
        nodes.append(_node("ea0", "e0", _message("ea0", "assistant", _text([edit]), when + 70)))
        visible += 2
    mapping = {node["id"]: node for node in nodes}
    for node in nodes:
        if node["parent"] is not None:
            mapping[node["parent"]]["children"].append(node["id"])
    data = {
        "title": f"{topic.capitalize()} / question {number}",
        "create_time": T0 + number * 3600.0,
        "update_time": when,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": parent,
        "plugin_ids": None,
        "conversation_id": conv_id,
        "id": conv_id,
        "default_model_slug": "gpt-4o",
    }
    return data, visible


def write_export(out: TextIO, conversations: int, seed: int = 7) -> int:
    """Write the export, one conversation at a time; returns the visible messages."""
    rng = random.Random(seed)
    visible = 0
    out.write("[")
    for number in range(conversations):
        data, count = conversation(rng, number)
        visible += count
        out.write(("," if number else "") + json.dumps(data, ensure_ascii=False))
    out.write("]")
    return visible


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command``; its wall time (s), peak RSS (MB) and stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {status})")
    return elapsed, usage.ru_maxrss / 1024, stdout.decode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--work", type=Path, help="folder for the export and the vault")
    parser.add_argument("--no-index", action="store_true", help="skip the index step")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="amos-import-"))
    work.mkdir(parents=True, exist_ok=True)
    export, vault = work / "conversations.json", work / "vault"
    # Keys in the work folder; the cache (the embedding model) stays the user's.
    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "config")}
    amos = [sys.executable, "-m", "amos_vault", "--vault", str(vault)]
    out: dict[str, Any] = {"conversations": options.conversations}

    started = time.perf_counter()
    with export.open("w", encoding="utf-8") as handle:
        out["visible_messages"] = write_export(handle, options.conversations)
    out["export_mb"] = round(export.stat().st_size / 2**20, 1)
    print(
        f"export: {options.conversations} conversations, {out['visible_messages']} visible "
        f"messages, {out['export_mb']} MB, written in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    run([*amos, "init"], env)

    seconds, rss, stdout = run([*amos, "import", "chatgpt", str(export), "--json"], env)
    report = json.loads(stdout)
    written = report["messages_created"]
    out.update(
        import_s=round(seconds, 1),
        import_messages_per_s=round(written / seconds),
        import_peak_rss_mb=round(rss),
        sessions_created=report["sessions_created"],
        branches_created=report["branches_created"],
        messages_created=written,
        messages_left_out=report["messages_left_out"],
    )
    print(
        f"import: {report['sessions_created']} sessions ({report['branches_created']} "
        f"branches), {written} messages in {seconds:.1f} s = {written / seconds:.0f} messages/s, "
        f"peak RSS {rss:.0f} MB (target <= 300 MB)",
        file=sys.stderr,
    )

    seconds, rss, stdout = run([*amos, "import", "chatgpt", str(export), "--json"], env)
    again = json.loads(stdout)
    assert again["sessions_created"] == again["sessions_updated"] == 0, again
    out.update(reimport_s=round(seconds, 1), reimport_peak_rss_mb=round(rss))
    print(f"import again: nothing new, {seconds:.1f} s, peak RSS {rss:.0f} MB", file=sys.stderr)

    if not options.no_index:
        seconds, rss, stdout = run([*amos, "index", "--json"], env)
        out.update(index_s=round(seconds, 1), index_peak_rss_mb=round(rss))
        indexed = json.loads(stdout)
        out["index_report"] = indexed
        print(f"index caught up in {seconds:.1f} s, peak RSS {rss:.0f} MB", file=sys.stderr)
    print(json.dumps(out, indent=2))
    if options.json:
        options.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
