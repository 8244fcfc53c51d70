"""The real `amosvault` command in subprocesses: output, errors, exit codes, discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from amos_vault.admin.scaffold import template_dir
from amos_vault.core.config import render_default_config
from tests.conftest import DaemonProcess, RunCli


def test_version_and_help_are_fast_and_import_nothing_heavy() -> None:
    code = (
        "import sys; from amos_vault.interfaces.cli import main\n"
        "heavy = {'cryptography', 'yaml', 'tantivy', 'onnxruntime', 'watchdog', 'apscheduler',\n"
        "         'mcp', 'pydantic', 'anyio'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    version = subprocess.run(
        [sys.executable, "-m", "amos_vault", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("amosvault, version ")


def test_each_command_loads_only_its_module_and_the_map_of_commands_is_complete() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import amos_vault.interfaces.cli as cli\n"
        "from amos_vault.interfaces.cli.app import COMMAND_MODULES, main\n"
        "import click\n"
        "ctx = click.Context(main)\n"
        "main.get_command(ctx, 'search')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('amos_vault.interfaces.cli.'))\n"
        "print(loaded)\n"
        "for info in pkgutil.iter_modules(cli.__path__):\n"
        "    importlib.import_module('amos_vault.interfaces.cli.' + info.name)\n"
        "defined = {name: c.callback.__module__ if c.callback else None\n"
        "           for name, c in main.commands.items()}\n"
        "print(sorted(set(defined) ^ set(COMMAND_MODULES)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, unmapped = out.stdout.splitlines()
    assert loaded == (
        "['amos_vault.interfaces.cli.app', 'amos_vault.interfaces.cli.render', "
        "'amos_vault.interfaces.cli.search']"
    )
    assert unmapped == "[]", "every command is in COMMAND_MODULES, and nothing else"


def test_a_whole_session_from_the_command_line(run_cli: RunCli, vault_root: Path) -> None:
    made = run_cli("new", "Plan the MVP", "--tag", "work", "--json")
    assert made.returncode == 0, made.stderr
    session_id = json.loads(made.stdout)["id"]
    assert run_cli("add", session_id[:5], "What goes in the MVP?").returncode == 0
    piped = run_cli(
        "add", session_id, "--role", "assistant", "--meta", "model=x", input="Three parts.\n"
    )
    assert piped.returncode == 0, piped.stderr
    child = run_cli("new", "Follow-up", "--parent", session_id, "--json")
    child_id = json.loads(child.stdout)["id"]

    shown = json.loads(run_cli("show", session_id, "--json").stdout)
    assert [m["content"] for m in shown["messages"]] == ["What goes in the MVP?", "Three parts."]
    assert shown["messages"][1]["metadata"] == {"model": "x"}
    text = run_cli("show", session_id).stdout
    assert "Plan the MVP" in text and "Three parts." in text

    listed = run_cli("list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].split() == [
        "ID",
        "STATUS",
        "CREATED",
        "MSGS",
        "TAGS",
        "TITLE",
    ]
    assert session_id in listed.stdout and child_id in listed.stdout
    assert [s["id"] for s in json.loads(run_cli("list", "--tag", "work", "--json").stdout)] == [
        session_id
    ]

    assert run_cli("pause", session_id).returncode == 0
    refused = run_cli("pause", session_id)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: cannot pause session {session_id}: it is paused",
        "  from paused you can: resume, complete",
    ]
    assert run_cli("complete", session_id).returncode == 0
    assert (
        json.loads(run_cli("list", "--status", "completed", "--json").stdout)[0]["id"] == session_id
    )

    linked = run_cli("link", child_id, "--none")
    assert linked.returncode == 0 and "no parent" in linked.stdout
    exported = run_cli("export", session_id, "--format", "txt")
    assert "user:\nWhat goes in the MVP?" in exported.stdout
    out_file = vault_root.parent / "export.json"
    assert run_cli("export", session_id, "--format", "json", "-o", str(out_file)).returncode == 0
    assert json.loads(out_file.read_text())["session"]["id"] == session_id

    assert run_cli("delete", child_id).returncode != 0  # no terminal to confirm on, no --yes
    deleted = run_cli("delete", child_id, "--yes")
    assert deleted.returncode == 0
    assert run_cli("doctor").stdout.startswith("No problems found")


def test_errors_are_one_line_without_traceback_unless_debug(run_cli: RunCli) -> None:
    missing = run_cli("show", "nosuchsession")
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[0] == "error: no session matches 'nosuchsession'"
    assert "Traceback" not in missing.stderr
    debug = run_cli("show", "nosuchsession", env={"AMOS_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    outside = run_cli("show", "../../etc/passwd")
    assert outside.returncode == 1 and "outside the vault" in outside.stderr


def test_vault_discovery_walks_up_and_honours_amos_vault(run_cli: RunCli, vault_root: Path) -> None:
    nested = vault_root / "sessions" / "deep" / "er"
    nested.mkdir(parents=True)
    assert run_cli("new", "Found from below", cwd=nested, vault=False).returncode == 0
    elsewhere = vault_root.parent / "elsewhere"
    elsewhere.mkdir()
    lost = run_cli("list", cwd=elsewhere, vault=False)
    assert lost.returncode == 1 and "amosvault init" in lost.stderr
    via_env = run_cli("list", cwd=elsewhere, vault=False, env={"AMOS_VAULT": str(vault_root)})
    assert via_env.returncode == 0 and "Found from below" in via_env.stdout


def test_init_never_overwrites_and_opens_cleanly(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    first = run_cli("init", str(target), "--name", "Ana", vault=False)
    assert first.returncode == 0, first.stderr
    for relative in (
        "README.md",
        "identity.md",
        "memory/README.md",
        ".amos/config.toml",
        ".gitignore",
    ):
        assert (target / relative).is_file(), relative
    assert (target / "sessions").is_dir()
    assert oct((target / "identity.md").stat().st_mode & 0o777) == "0o600"
    (target / "README.md").write_text("my own notes\n")
    identity = (target / "identity.md").read_bytes()
    second = run_cli("init", str(target), vault=False)
    assert second.returncode == 0
    assert (target / "README.md").read_text() == "my own notes\n"
    assert (target / "identity.md").read_bytes() == identity
    assert "identity_id: mdna_usr_" in identity.decode()
    gitignore = (target / ".gitignore").read_text()
    assert ".amos/*" in gitignore and "!.amos/config.toml" in gitignore


def test_template_config_lists_every_setting_with_its_default() -> None:
    shipped = (template_dir() / ".amos" / "config.toml").read_text()
    assert shipped == render_default_config(), (
        "regenerate it: python -m amos_vault.core.config > vault_template/.amos/config.toml"
    )


def test_template_links_resolve_in_obsidian() -> None:
    import re

    root = template_dir()
    notes = {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.md")}
    notes.add("identity")  # written by init
    for note in root.rglob("*.md"):
        # Obsidian does not follow links inside code fences or code spans.
        text = re.sub(r"```.*?```", "", note.read_text(), flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in re.findall(r"\[\[([^\]|#]+)", text):
            assert target in notes or target.split("/")[-1] in notes, (note, target)


def test_vault_is_accepted_after_the_command(run_cli: RunCli, vault_root: Path) -> None:
    elsewhere = vault_root.parent  # no vault above it: only --vault names it
    vault = ["--vault", str(vault_root)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = run_cli(*args, vault=False, cwd=elsewhere)
        assert done.returncode == 0, (args, done.stderr)
        return done

    made = json.loads(run("new", "Named after", *vault, "--json").stdout)
    run("add", made["id"], "Okapis live in forests.", *vault)
    assert made["id"] in run("list", *vault).stdout
    found = json.loads(run("search", *vault, "okapis", "--json").stdout)
    assert found["hits"] and "Okapis" in found["hits"][0]["text"]
    for command in (["status"], ["daemon", "status"]):
        stopped = run_cli(*command, *vault, vault=False, cwd=elsewhere)
        assert stopped.returncode == 3 and "No daemon is running" in stopped.stdout
    assert "no daemon runs" in run("jobs", *vault).stdout
    # Before the command it works as before; after it, the last one given wins.
    assert made["id"] in run(*vault, "list").stdout
    assert made["id"] in run("--vault", str(elsewhere), "list", *vault).stdout


def test_dates_are_checked_with_a_clear_message(run_cli: RunCli) -> None:
    bad = run_cli("list", "--since", "yesterday")
    assert bad.returncode == 2
    assert "'yesterday' is not a date (use YYYY-MM-DD or ISO 8601)" in bad.stderr
    assert run_cli("list", "--since", "2000-01-01", "--until", "2999-12-31").returncode == 0


def long_session(vault_root: Path) -> str:
    """A session whose `show` output (about 1 MB) fills a pipe many times over."""
    from amos_vault.mirror import ActiveMirror

    session = ActiveMirror(vault_root).create_session("Long")
    line = "The quick brown fox jumps over the lazy dog. " * 20
    for number in range(10):
        session.add_message("user", f"Part {number}\n\n" + "\n".join([line] * 110))
    return session.id


def test_output_piped_to_head_ends_quietly(vault_root: Path) -> None:
    session_id = long_session(vault_root)
    command = (
        f"{sys.executable} -m amos_vault --vault {vault_root} show {session_id} | head -1; "
        'echo "status=${PIPESTATUS[0]}" >&2'
    )
    piped = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, cwd=vault_root, timeout=60
    )
    assert piped.stdout == "Long\n"
    assert piped.stderr == "status=0\n"


def test_output_to_a_closed_reader_ends_quietly(run_cli: RunCli, vault_root: Path) -> None:
    session_id = long_session(vault_root)
    assert run_cli("remember", "Okapis are related to giraffes.").returncode == 0
    for args in (["show", session_id], ["facts"], ["context", "okapis"], ["list"]):
        reader = subprocess.Popen(
            [sys.executable, "-m", "amos_vault", "--vault", str(vault_root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=vault_root,
        )
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.close()  # the reader is gone before the first line is written
        errors = reader.stderr.read().decode()
        assert reader.wait(timeout=60) == 0, (args, errors)
        assert errors == "", (args, errors)


def test_status_tells_running_not_running_and_no_vault_apart(
    run_cli: RunCli, vault_root: Path, tmp_path: Path
) -> None:
    stopped = run_cli("status")
    assert stopped.returncode == 3 and "No daemon is running" in stopped.stdout
    assert run_cli("status", "--json").returncode == 3
    missing = tmp_path / "gone"
    for env in ({"AMOS_VAULT": str(missing)},):
        done = run_cli("status", vault=False, env=env, cwd=tmp_path)
        assert done.returncode == 1 and "No daemon" not in done.stdout
        assert f"the vault folder {missing} does not exist" in done.stderr
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a vault")
    done = run_cli("status", vault=False, env={"AMOS_VAULT": str(a_file)}, cwd=tmp_path)
    assert done.returncode == 1 and "is a file, not a vault folder" in done.stderr
    assert f"amosvault init {a_file}" not in done.stderr
    named = run_cli("--vault", str(a_file), "status", vault=False, cwd=tmp_path)
    assert named.returncode == 1 and "is a file, not a vault folder" in named.stderr


def test_show_and_list_give_times_in_utc_with_the_zone_as_json_does(
    run_cli: RunCli, vault_root: Path
) -> None:
    (vault_root / "sessions" / "zoned.md").write_text(
        "---\nid: zoned0001\ntitle: Zoned\nstatus: active\n"
        "created: 2026-11-28T19:10:00+01:00\n---\n\n"
        "**user** · 2026-11-28T19:15:00+01:00 ^m-00000001\n\nA message sent in Paris.\n"
    )
    shown = run_cli("show", "zoned0001")
    assert "[2026-11-28 18:15:00Z] user" in shown.stdout and "19:15" not in shown.stdout
    data = json.loads(run_cli("show", "zoned0001", "--json").stdout)
    assert data["messages"][0]["timestamp"].startswith("2026-11-28")
    assert "18:15:00" in data["messages"][0]["timestamp"]
    listed = run_cli("list").stdout
    assert "2026-11-28 18:10:00Z" in listed


# The warm path prints through the daemon without click; the full command line (click) asks
# the same daemon. Both are run here, with the module list of the warm one.
WARM = (
    "import sys; from amos_vault.interfaces.cli import run; run(); "
    "print(sorted(m for m in sys.modules if m.split('.')[0] in "
    "{'click', 'numpy', 'yaml', 'tantivy', 'onnxruntime'}), file=sys.stderr)"
)
FULL = "import sys; from amos_vault.interfaces.cli import main; main(prog_name='amosvault')"


def test_a_warm_search_prints_what_the_full_command_prints_without_importing_click(
    vault_root: Path,
) -> None:
    from amos_vault.mirror import ActiveMirror

    session = ActiveMirror(vault_root).create_session("Kyoto")
    session.add_message("user", "We booked the ryokan in Kyoto for the knee recovery trip.")
    daemon = DaemonProcess(vault_root)
    try:
        daemon.wait_ready()
        daemon.wait_found("ryokan", lambda hits: bool(hits))

        def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-c", code, *args],
                capture_output=True,
                text=True,
                cwd=vault_root,
                timeout=60,
            )

        for args in (["search", "ryokan"], ["search", "-k", "1", "ryokan", "--json"]):
            warm, full = run(WARM, *args), run(FULL, *args)
            assert warm.returncode == 0 and full.returncode == 0, warm.stderr + full.stderr
            assert "ryokan" in warm.stdout and warm.stdout == full.stdout
            assert warm.stderr.strip() == "[]", "the warm path imports none of these"
        # Another option, or no words: the full command line answers (it exits, so the
        # module list is never printed).
        kinds = run(WARM, "search", "ryokan", "--kind", "message")
        assert kinds.returncode == 0 and "ryokan" in kinds.stdout and not kinds.stderr
        nothing = run(WARM, "search", "?!")
        assert "no words to search for" in nothing.stderr and "No matches." in nothing.stdout
    finally:
        daemon.stop()


def test_a_warm_search_prints_the_daemons_error_once_and_falls_back_when_none_listens(
    vault_root: Path,
) -> None:
    import socket
    import threading

    from amos_vault.runtime import ipc

    requests: list[bytes] = []
    path = ipc.socket_path(vault_root / ".amos")
    with ipc.unix_address(path) as address:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(address)
    server.listen()

    def answer_with_an_error() -> None:  # a daemon that refuses every search
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection, connection.makefile("rb") as stream:
                requests.append(stream.readline())
                connection.sendall(ipc.encode({"ok": False, "error": "boom", "hint": "do x"}))

    threading.Thread(target=answer_with_an_error, daemon=True).start()
    command = [sys.executable, "-m", "amos_vault", "--vault", str(vault_root), "search", "word"]
    try:
        refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept; the socket file stays
        server.close()
    assert refused.returncode == 1 and refused.stderr == "error: boom\n  do x\n"
    assert len(requests) == 1, "the daemon is asked once"
    # Its socket left behind, nobody listening: searched in this process instead.
    alone = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stderr
    assert "No matches." in alone.stdout or "nothing in the vault" in alone.stderr
