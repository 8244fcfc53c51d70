"""`amosvault import chatgpt|claude|jsonl PATH`: bring chat history from other assistants."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from amos_vault.interfaces.cli.app import SINCE, VaultCommand, emit_json, main, open_mirror

# A line on stderr every this many conversations, when stderr is not a terminal.
PROGRESS_EVERY = 1000


@main.group("import")
def import_group() -> None:
    """Import conversations from ChatGPT, Claude or a JSON lines file into sessions.

    Each conversation becomes a completed session (each edited prompt or regenerated answer
    a child session linked to it). Importing the same export again writes nothing; a newer
    export appends only the new messages, never over your edits.
    """


def _import_command(kind: str, what: str) -> click.Command:
    @click.command(kind, cls=VaultCommand, help=what)
    @click.argument("path", type=click.Path(path_type=Path))
    @click.option("--dry-run", is_flag=True, help="Say what would be imported; write nothing.")
    @click.option(
        "--since",
        type=SINCE,
        metavar="DATE",
        help="Only conversations with activity on or after DATE.",
    )
    @click.option(
        "--include-tools", is_flag=True, help="Keep tool messages (code runs, browsing...)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.pass_context
    def command(
        ctx: click.Context,
        path: Path,
        dry_run: bool,
        since: dt.datetime | None,
        include_tools: bool,
        as_json: bool,
    ) -> None:
        mirror = open_mirror(ctx)
        progress, close = _import_progress()
        try:
            report = mirror.import_export(
                path,
                kind,
                dry_run=dry_run,
                since=since,
                include_tools=include_tools,
                progress=progress,
            )
        finally:
            close()
        if as_json:
            emit_json(report.to_dict())
        else:
            _print_report(report)
        if report.problems:
            sys.exit(1)

    command.name = kind
    return command


def _import_progress() -> tuple[Any, Any]:
    """A progress callback (a bar on a terminal's stderr, else a line now and then), and a
    closer."""
    state: dict[str, Any] = {}
    terminal = sys.stderr.isatty()

    def progress(report: Any) -> None:
        if not terminal:
            if report.conversations and report.conversations % PROGRESS_EVERY == 0:
                click.echo(f"  {report.conversations} conversations read...", err=True)
            return
        if "bar" not in state:
            state["bar"] = click.progressbar(
                length=max(report.bytes_total, 1),
                label="Importing",
                file=sys.stderr,
                show_eta=True,
                item_show_func=lambda _item: state.get("info"),
            )
            state["bar"].__enter__()
            state["done"] = 0
        state["info"] = f"{report.conversations} conversations"
        state["bar"].update(report.bytes_read - state["done"], None)
        state["done"] = report.bytes_read

    def close() -> None:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)

    return progress, close


def _print_report(report: Any) -> None:
    from amos_vault.admin.importers import NAME_OF_KIND

    done = "would be" if report.dry_run else "were"
    if report.dry_run:
        click.echo("Dry run: nothing was written.")
    click.echo(f"{NAME_OF_KIND[report.kind]} export {report.path}:")
    click.echo(f"  conversations read: {report.conversations}")
    branches = f" ({report.branches_created} of them branches)" if report.branches_created else ""
    click.echo(
        f"  sessions: {report.sessions_created} {done} created{branches}, "
        f"{report.sessions_updated} updated, {report.sessions_unchanged} unchanged"
    )
    click.echo(
        f"  messages: {report.messages_created} in new sessions, "
        f"{report.messages_appended} appended to sessions imported before"
    )
    for title, counts in (
        ("messages left out", report.messages_left_out),
        ("conversations skipped", report.conversations_skipped),
    ):
        if counts:
            listed = ", ".join(f"{n} {why}" for why, n in counts.most_common())
            click.echo(f"  {title}: {listed}")
    if report.problems:
        click.echo(f"Problems ({len(report.problems)}):", err=True)
        for line in report.problems:
            click.echo(f"  {line}", err=True)


import_group.add_command(
    _import_command("chatgpt", "Import a ChatGPT data export: its .zip or conversations.json.")
)
import_group.add_command(
    _import_command("claude", "Import a Claude data export: its .zip or conversations.json.")
)
import_group.add_command(
    _import_command("jsonl", "Import JSON lines: one message a line (see the README).")
)
