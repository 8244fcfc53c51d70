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
from pathlib import Path


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
    if command is None or not any(character.isalnum() for character in text):
        return None
    return vault, text, k, as_json


def _whole(text: str) -> bool:
    return text.isascii() and text.isdigit()


def answer_from_daemon(args: list[str]) -> bool:
    """Answer a plain ``search`` through the vault's daemon and print it; True when done."""
    plain = _plain_search(args)
    if plain is None:
        return False
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
        if root is None:
            return False
        answer = ipc.request(root / ".amos", message, timeout=ipc.ANSWER_TIMEOUT)
    except (AmosError, OSError):
        # No daemon, an error answer, a folder gone: the full command line says what is
        # wrong, in its one way.
        return False
    from amos_vault.interfaces.cli.render import print_search

    try:
        print_search(answer, as_json)
    except BrokenPipeError:  # `amosvault search x | head -1`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    return True
