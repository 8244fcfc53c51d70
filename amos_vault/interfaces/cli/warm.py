"""The thin path of a warm `amosvault search`: when a daemon serves the vault, this process
sends the question and prints the answer, importing nothing else: no click, no settings, no
index code (the full command line's imports cost several times the daemon's whole answer).

It takes only the plain form, ``amosvault [--vault PATH] search WORDS... [-k N] [--json]``,
and only when a daemon answers it. Anything else (another option, ``--help``, a query without
words, no daemon, an answer that is an error) returns False, and the full command line does
the work: it asks the daemon the same question, or searches in this process, and reports
errors in its one way. Both print through `render.print_search`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ANSWERED, NOT_PLAIN, DAEMON_SILENT = "answered", "not plain", "daemon silent"


def _plain_search(args: list[str]) -> tuple[Path | None, str, int, bool] | None:
    """``(--vault, words, k, --json)`` of a plain search command line, else None."""
    vault: Path | None = None
    command: str | None = None
    words: list[str] = []
    k, as_json = 10, False
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if token == "--vault" and rest:
            vault = Path(rest.pop(0)).expanduser()
        elif token.startswith("--vault="):
            vault = Path(token.split("=", 1)[1]).expanduser()
        elif command is None:
            if token != "search":
                return None
            command = token
        elif token == "--json":
            as_json = True
        elif token == "-k" and rest and _whole(rest[0]) and 1 <= int(rest[0]) <= 1000:
            k = int(rest.pop(0))
        elif token.startswith("-"):
            return None  # any other option: the full command line knows it (or refuses it)
        else:
            words.append(token)
    text = " ".join(words)
    # `index.query.has_words`, without importing the index package for it.
    if command is None or not any(character.isalnum() for character in text):
        return None
    return vault, text, k, as_json


def _whole(text: str) -> bool:
    return text.isascii() and text.isdigit()


def answer_from_daemon(args: list[str]) -> str:
    """Answer a plain ``search`` through the vault's daemon and print it.

    Returns "answered"; or "not plain" (not a plain search, no vault, no daemon: the full
    command line does it all); or "daemon silent" (a daemon is there but did not answer in
    time: the full command line searches in this process without asking it again).
    An error the daemon answers with is printed as the full command line prints one, and
    the process exits 1."""
    plain = _plain_search(args)
    if plain is None:
        return NOT_PLAIN
    from amos_vault.core.errors import AmosError
    from amos_vault.files.location import locate_vault
    from amos_vault.runtime import ipc

    vault, text, k, as_json = plain
    if vault is None and os.environ.get("AMOS_VAULT"):
        vault = Path(os.environ["AMOS_VAULT"]).expanduser()
    # The smallest query `index.query.parse_query` reads: the text and k, no filters.
    message = {"op": "search", "query": {"text": text, "k": k}}
    try:
        root = vault.resolve() if vault else locate_vault(Path.cwd())
    except OSError:  # the current folder is gone: the full command line says so
        return NOT_PLAIN
    if root is None or not ipc.socket_path(root / ".amos").exists():
        return NOT_PLAIN
    from amos_vault.interfaces.cli.render import discard_output, echo, print_search

    try:
        answer = ipc.request(root / ".amos", message, timeout=ipc.ANSWER_TIMEOUT)
    except ipc.DaemonUnavailable as exc:
        return NOT_PLAIN if exc.before_asking else DAEMON_SILENT
    except AmosError as exc:  # the daemon's own error: as `app.fail` prints one
        echo(f"error: {exc.message}", err=True)
        if exc.hint:
            echo(f"  {exc.hint}", err=True)
        sys.exit(1)

    try:
        print_search(answer, as_json)
    except BrokenPipeError:  # `amosvault search x | head -1`: the reader has what it wanted
        discard_output()
    return ANSWERED
