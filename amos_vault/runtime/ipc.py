"""The daemon's local API: newline-delimited JSON over a Unix socket in `.amos/`.

A request is one JSON object on one line (``{"op": "search", ...}``); the answer is one JSON
object on one line (``{"ok": true, ...}`` or ``{"ok": false, "error": ..., "hint": ...}``).
The socket file is mode 0600, so only its owner can connect; there is no TCP port.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from amos_vault.core.errors import AmosError

# `typing` is not imported at run time: these modules are on the warm search path
# (`interfaces/cli/warm.py`), where its import alone costs more than the rest.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SOCKET_NAME = "daemon.sock"
MAX_MESSAGE = 1 << 20  # a request or answer longer than this is refused


class DaemonUnavailable(AmosError):
    """No daemon answers on this vault's socket: none listens (``before_asking``), or the
    request was sent and no proper answer came (a timeout, a crash)."""

    def __init__(self, message: str, *, before_asking: bool = True) -> None:
        super().__init__(message)
        self.before_asking = before_asking


def socket_path(amos_dir: Path) -> Path:
    """Where the daemon of a vault listens."""
    return amos_dir / SOCKET_NAME


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for ``path`` short enough for a Unix socket (108 bytes at most): the path
    itself, or, for long paths, the folder opened and named through /proc/self/fd."""
    if len(os.fsencode(str(path))) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def read_message(stream: Any) -> dict[str, Any] | None:
    """Read one JSON line from a file-like socket stream (None at end of stream)."""
    line = stream.readline(MAX_MESSAGE + 1)
    if not line:
        return None
    if len(line) > MAX_MESSAGE:
        raise ValueError("message too long")
    try:
        value = json.loads(line)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("a message must be a JSON object")
    return value


def encode(message: dict[str, Any]) -> bytes:
    """One JSON line (text that is not valid Unicode, such as a lone surrogate echoed back in
    an error, is written as a JSON escape)."""
    text = json.dumps(message, ensure_ascii=False, default=str)
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:
        return json.dumps(message, default=str).encode() + b"\n"


ANSWER_TIMEOUT = 300.0  # seconds a client waits for an answer (a first search loads the model)


def request(amos_dir: Path, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to the vault's daemon and return its answer.

    Raises `DaemonUnavailable` when no daemon listens, and `AmosError` with the daemon's own
    message when it answers with an error.
    """
    path = socket_path(amos_dir)
    if not path.exists():
        raise DaemonUnavailable("no daemon is running for this vault")
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        with unix_address(path) as address:
            client.connect(address)
    except (ConnectionRefusedError, FileNotFoundError):
        client.close()
        raise DaemonUnavailable("the daemon's socket is there but nobody answers") from None
    except OSError as exc:
        client.close()
        raise DaemonUnavailable(f"the daemon's socket cannot be reached: {exc}") from None
    try:
        client.sendall(encode(message))
        with client.makefile("rb") as stream:
            answer = read_message(stream)
    except (OSError, ValueError) as exc:
        raise DaemonUnavailable(
            f"the daemon did not answer properly: {exc}", before_asking=False
        ) from None
    finally:
        client.close()
    if answer is None:
        raise DaemonUnavailable(
            "the daemon closed the connection without answering", before_asking=False
        )
    if not answer.get("ok"):
        raise AmosError(
            str(answer.get("error", "the daemon refused the request")), hint=answer.get("hint")
        )
    return answer
