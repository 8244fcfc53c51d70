"""How a search answer is printed, without click.

The full `search` command and the warm path (`warm`) both print through `print_search`, so
the two print the same. Styles are ANSI codes as click writes them, dropped when the stream
is not a terminal (as `click.echo` does).
"""

from __future__ import annotations

import json
import os
import re
import sys

# `typing` is not imported at run time: these modules are on the warm search path
# (`interfaces/cli/warm.py`), where its import alone costs more than the rest.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")
_COLOURS = {"cyan": 36, "yellow": 33}


def style(text: str, *, bold: bool = False, fg: str | None = None) -> str:
    """``text`` with ANSI styles (the codes ``click.style`` writes)."""
    codes = ([f"\033[{_COLOURS[fg]}m"] if fg else []) + (["\033[1m"] if bold else [])
    return "".join(codes) + text + "\033[0m"


def echo(line: str = "", *, err: bool = False) -> None:
    """Print one line on stdout (stderr with ``err``), plain unless it goes to a terminal."""
    stream = sys.stderr if err else sys.stdout
    if not stream.isatty():
        line = _ANSI.sub("", line)
    try:
        stream.write(line + "\n")
    except UnicodeEncodeError:  # a stream that cannot say it (ASCII): its bytes as UTF-8
        stream.flush()
        stream.buffer.write((line + "\n").encode("utf-8", "replace"))
    stream.flush()


def discard_output() -> None:
    """Send what is still buffered for stdout nowhere: its reader is gone (`| head`)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_search(answer: dict[str, Any], as_json: bool) -> None:
    """A search answer (``mode``, ``notice``, ``hits``): as JSON, or the notice on stderr and
    each hit as title, place and highlighted snippet."""
    if as_json:
        print_json({key: answer.get(key) for key in ("mode", "notice", "hits")})
        return
    if answer.get("notice"):
        echo(f"note: {answer['notice']}", err=True)
    if not answer["hits"]:
        echo("No matches.")
    number = 0
    for hit in answer["hits"]:
        if hit.get("attached_to"):  # a fact learned from the message above: part of its result
            anchor = f"  ^{hit['message_id']}" if hit.get("message_id") else ""
            echo(f"   fact: {hit['text']}" + style(f"  ({hit['path']}{anchor})", fg="cyan"))
            continue
        number += 1
        when = (hit.get("timestamp") or "")[:10]
        who = hit.get("author") or hit["kind"]
        echo(
            style(f"{number}. {hit['title']}", bold=True)
            + f"  {when}  {who}  (score {hit['score']:.2f})"
        )
        anchor = f"  ^{hit['message_id']}" if hit.get("message_id") else ""
        echo(style(f"   {hit['path']}:{hit['lines'][0]}{anchor}", fg="cyan"))
        # Newlines become spaces (same length, so the highlight offsets still hold).
        ranges = tuple(tuple(r) for r in hit.get("highlights") or ())
        echo("   " + _highlight(hit["snippet"].replace("\n", " "), ranges))


def _highlight(text: str, ranges: tuple[tuple[int, ...], ...]) -> str:
    out, last = [], 0
    for start, end in ranges:
        out += [text[last:start], style(text[start:end], bold=True, fg="yellow")]
        last = end
    return "".join([*out, text[last:]])
