"""Search commands: index, search. Both go to the daemon when one runs (it is the index's one
writer and has the model warm), and do the work here otherwise."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import click

from amos_vault.interfaces.cli.app import (
    SESSION,
    SINCE,
    UNTIL,
    client,
    emit_json,
    load_session,
    main,
    print_notes,
)


@contextlib.contextmanager
def index_progress(show: bool) -> Iterator[Callable[[int, int, Any], None] | None]:
    """A progress callback drawing a bar on stderr (files, chunks, rate, ETA), or None when
    not ``show`` or stderr is not a terminal; the bar is closed at the end of the block."""
    state: dict[str, Any] = {"started": time.monotonic()}

    def progress(done: int, total: int, report: Any) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(
                length=total,
                label="Indexing",
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
                item_show_func=lambda _item: state.get("info"),
            )
            state["bar"].__enter__()
            state["done"] = 0
        elapsed = max(time.monotonic() - state["started"], 1e-6)
        state["info"] = (
            f"{report.chunks} chunks, {report.embedded} embedded, {report.chunks / elapsed:.0f}/s"
        )
        state["bar"].update(done - state["done"], None)
        state["done"] = done

    try:
        yield progress if show and sys.stderr.isatty() else None
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


@main.command("index")
@click.option("--rebuild", is_flag=True, help="Delete the derived index and build it again.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def index_command(ctx: click.Context, rebuild: bool, as_json: bool) -> None:
    """Bring the search index up to date with the vault's files."""
    from types import SimpleNamespace

    with index_progress(not as_json) as progress:
        answer = client(ctx).reindex(rebuild, progress)
    report, status = SimpleNamespace(**answer["report"]), answer["status"]
    if answer["served_by"] == "in-process":
        print_notes(status.get("notices") or ())
    if as_json:
        emit_json({"report": report.__dict__, "status": status})
        return
    rate = f", {report.chunks / report.seconds:.0f} chunks/s" if report.seconds > 1 else ""
    click.echo(
        f"Indexed {report.files} changed file(s) ({report.chunks} chunks, {report.embedded} "
        f"embedded, {report.reused} reused), removed {report.deleted}, in "
        f"{report.seconds:.1f} s{rate}."
    )
    click.echo(
        f"The index holds {status['files']} files, {status['chunks']} chunks "
        f"({status['mode']} search)."
    )
    for rel, error in report.errors:
        click.echo(f"  read as plain text: {rel}: {error}", err=True)


@main.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(["message", "session", "fact", "note"])
)
@click.option("--since", type=SINCE, help="Only chunks dated on or after (YYYY-MM-DD or ISO 8601).")
@click.option("--until", type=UNTIL, help="Only chunks dated on or before.")
@click.option("--tag", "tags", multiple=True, help="Only sessions with this tag (repeatable).")
@click.option("--session", "session_ref", metavar=SESSION, help="Only this session.")
@click.option(
    "--as-of",
    "as_of",
    type=UNTIL,
    help="Search the vault as it stood then: its last git commit on or before (YYYY-MM-DD: "
    "the end of that day).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search_command(
    ctx: click.Context,
    query: tuple[str, ...],
    k: int,
    kinds: tuple[str, ...],
    since: dt.datetime | None,
    until: dt.datetime | None,
    tags: tuple[str, ...],
    session_ref: str | None,
    as_of: dt.datetime | None,
    as_json: bool,
) -> None:
    """Search the vault (full text and meaning); the index is updated first.

    With --as-of DATE, the vault is searched as its last git commit on or before DATE left it
    (a vault that is not a git repository has no past to search, and says so)."""
    from amos_vault.index.query import NO_WORDS, MemoryQuery, has_words

    sessions = (load_session(ctx, session_ref).id,) if session_ref else ()
    request = MemoryQuery(
        " ".join(query),
        k=k,
        kinds=kinds,
        sessions=sessions,
        tags=tuple(t.lstrip("#") for t in tags),
        since=since,
        until=until,
    )
    if not has_words(request.text):
        # Nothing to look up (``?!...``): no hits, and why, without opening the index.
        answer: dict[str, Any] = {"mode": None, "notice": NO_WORDS, "hits": [], "served_by": None}
    else:
        # Through the daemon when one runs (warm model, no heavy imports here), else in-process.
        with index_progress(not as_json) as progress:
            answer = client(ctx).search(request, progress, as_of)
    if answer["served_by"] == "in-process" and as_of is None:
        # The index's notes, said as it is brought up to date, not as part of the answer.
        print_notes([answer["notice"]] if answer["notice"] else ())
        answer["notice"] = None
        if answer["indexed"] and not as_json:
            click.echo(f"(indexed {answer['indexed']} changed file(s) first)", err=True)
        if answer["index_busy"]:
            print_notes(["another process is updating the index; searching it as it is"])
    if as_json:
        emit_json({key: answer.get(key) for key in ("mode", "notice", "hits")})
        return
    print_notes([answer["notice"]] if answer["notice"] else ())
    if not answer["hits"]:
        click.echo("No matches.")
    number = 0
    for hit in answer["hits"]:
        if hit.get("attached_to"):  # a fact learned from the message above: part of its result
            anchor = f"  ^{hit['message_id']}" if hit.get("message_id") else ""
            click.echo(
                f"   fact: {hit['text']}" + click.style(f"  ({hit['path']}{anchor})", fg="cyan")
            )
            continue
        number += 1
        when = (hit.get("timestamp") or "")[:10]
        who = hit.get("author") or hit["kind"]
        click.echo(
            click.style(f"{number}. {hit['title']}", bold=True)
            + f"  {when}  {who}  (score {hit['score']:.2f})"
        )
        anchor = f"  ^{hit['message_id']}" if hit.get("message_id") else ""
        click.echo(click.style(f"   {hit['path']}:{hit['lines'][0]}{anchor}", fg="cyan"))
        # Newlines become spaces (same length, so the highlight offsets still hold).
        ranges = tuple(tuple(r) for r in hit.get("highlights") or ())
        click.echo("   " + _highlight(hit["snippet"].replace("\n", " "), ranges))


def _highlight(text: str, ranges: tuple[tuple[int, ...], ...]) -> str:
    out, last = [], 0
    for start, end in ranges:
        out += [text[last:start], click.style(text[start:end], bold=True, fg="yellow")]
        last = end
    return "".join([*out, text[last:]])
